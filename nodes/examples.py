"""Example inputs that need no files: a synthetic clip of textured shapes moving along known tracks.

It is the kind of video the built-in demo model was trained on, so the example workflows run as
they are: its first frame is a start image, its caption a prompt the demo's text encoder knows,
its frames a reference video for motion transfer, and its ground-truth tracks a drag to follow.
"""

from __future__ import annotations

import torch
from comfy_api.latest import io

from .common import pack_tracks
from .types import CATEGORY, TracksType


class MotionStreamExampleClip(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamExampleClip",
            display_name="MotionStream Example Clip",
            category=f"{CATEGORY}/examples",
            description="A synthetic clip (shapes moving over a textured background) with its caption and exact "
                        "point tracks. Same seed, same clip.",
            inputs=[
                io.Int.Input("seed", default=7, min=0, max=2**31 - 1, control_after_generate=True),
                io.Int.Input("width", default=128, min=16, max=2048, step=16),
                io.Int.Input("height", default=128, min=16, max=2048, step=16),
                io.Int.Input("num_frames", default=49, min=1, max=1000),
                io.Int.Input("num_points", default=64, min=1, max=1024, tooltip="Ground-truth tracks to output."),
            ],
            outputs=[
                io.Image.Output(display_name="start_image"),
                io.Image.Output(display_name="frames"),
                io.String.Output(display_name="caption"),
                TracksType.Output(display_name="tracks"),
                io.Float.Output(display_name="fps"),
            ],
        )

    @classmethod
    def execute(cls, seed=7, width=128, height=128, num_frames=49, num_points=64) -> io.NodeOutput:
        try:
            from motionstream_core.train.synthetic import SyntheticClipConfig, make_clip
        except ImportError as e:
            raise RuntimeError(f"the example clip needs the Python package {e.name!r}, which is not installed in "
                               "ComfyUI's Python: pip install -r ComfyUI-MotionStream/requirements.txt") from None
        clip = make_clip(seed, SyntheticClipConfig(height=height, width=width, num_frames=num_frames, fps=16,
                                                   num_points=num_points))
        frames = torch.from_numpy(clip.frames).float() / 255.0
        return io.NodeOutput(frames[:1].clone(), frames, clip.caption, pack_tracks(clip.tracks()), float(clip.fps))


NODES = [MotionStreamExampleClip]

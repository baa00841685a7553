"""Example inputs that need no files.

* Example Clip: a synthetic clip of textured shapes moving along known tracks -- the held-out kind of clip the
  built-in demo model is measured on (``motionstream eval``): its first frame is a start image, its caption a
  prompt, its frames a reference video for motion transfer, and its ground-truth tracks a drag to follow.
* Demo Photo: the demo model's own sample (``motionstream_core.demo``, what ``motionstream demo`` streams): a real
  photo with a drag on it and background pins, and its prompt.
"""

from __future__ import annotations

import torch
from comfy_api.latest import io

from .sockets import pack_tracks
from .types import CATEGORY, TracksType

from .preview import DEFAULTS, LIMITS, make_example_clip, preview_params, start_image_png  # noqa: F401


def _int_input(name: str, **kw):
    lo, hi, step = LIMITS[name]
    return io.Int.Input(name, default=DEFAULTS[name], min=lo, max=hi, step=step, **kw)


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
                _int_input("seed", control_after_generate=True),
                _int_input("width"),
                _int_input("height"),
                _int_input("num_frames"),
                _int_input("num_points", tooltip="Ground-truth tracks to output."),
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
        clip = make_example_clip(seed, width, height, num_frames, num_points)
        frames = torch.from_numpy(clip.frames).float() / 255.0
        return io.NodeOutput(frames[:1].clone(), frames, clip.caption, pack_tracks(clip.tracks()), float(clip.fps))


def demo_photo_png() -> bytes:
    """The Demo Photo's picture, the file as shipped (for the editor before the first run)."""
    from motionstream_core.pipeline import DEMO_ASSETS

    return DEMO_ASSETS["image"].read_bytes()


class MotionStreamDemoPhoto(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamDemoPhoto",
            display_name="MotionStream Demo Photo",
            category=f"{CATEGORY}/examples",
            description="The built-in demo model's sample: a real photo (scikit-learn's flower.jpg, CC-BY 2.0, "
                        "vultilion) at the model's size, a drag on the flower with pins on the background, and its "
                        "prompt. The same inputs `motionstream demo` streams.",
            inputs=[],
            outputs=[
                io.Image.Output(display_name="start_image"),
                TracksType.Output(display_name="tracks"),
                io.String.Output(display_name="prompt"),
            ],
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        from motionstream_core.pipeline import load_demo_sample

        sample = load_demo_sample()
        return io.NodeOutput(torch.from_numpy(sample.image)[None].clone(), pack_tracks(sample.tracks), sample.prompt)


NODES = [MotionStreamExampleClip, MotionStreamDemoPhoto]

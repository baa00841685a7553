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

# (min, max, step) of each input: the node's widgets and the start-image preview route check the same
LIMITS = {"seed": (0, 2**31 - 1, 1), "width": (16, 2048, 16), "height": (16, 2048, 16), "num_frames": (1, 1000, 1),
          "num_points": (1, 1024, 1)}
DEFAULTS = {"seed": 7, "width": 128, "height": 128, "num_frames": 49, "num_points": 64}
PREVIEW_MAX_PIXELS = 64 * 2**20  # width x height x num_frames the preview route renders (~0.2 GB of frames)


def _int_input(name: str, **kw):
    lo, hi, step = LIMITS[name]
    return io.Int.Input(name, default=DEFAULTS[name], min=lo, max=hi, step=step, **kw)


def make_example_clip(seed: int, width: int, height: int, num_frames: int, num_points: int):
    """The synthetic clip for these inputs (same inputs, same clip)."""
    try:
        from motionstream_core.synthetic import SyntheticClipConfig, make_clip
    except ImportError as e:
        raise RuntimeError(f"the example clip needs the Python package {e.name!r}, which is not installed in "
                           "ComfyUI's Python: pip install -r ComfyUI-MotionStream/requirements.txt") from None
    return make_clip(seed, SyntheticClipConfig(height=height, width=width, num_frames=num_frames, fps=16,
                                               num_points=num_points))


def preview_params(payload) -> dict:
    """Validate a POST /motionstream/example_image body (the node's widget values); ValueError says what."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object of the Example Clip node's inputs")
    out = {}
    for name, (lo, hi, step) in LIMITS.items():
        v = payload.get(name, DEFAULTS[name])
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi or (v - lo) % step:
            raise ValueError(f"{name} must be an integer from {lo} to {hi}" + (f" in steps of {step}" if step > 1 else "")
                             + f"; got {v!r}")
        out[name] = v
    pixels = out["width"] * out["height"] * out["num_frames"]
    if pixels > PREVIEW_MAX_PIXELS:
        raise ValueError(f"a {out['width']}x{out['height']} clip of {out['num_frames']} frames is too large to preview "
                         "before it runs; queue the workflow once to see its start image")
    return out


def start_image_png(payload) -> bytes:
    """The Example Clip's start image (its first frame, exactly) as PNG, for the editor before the first run."""
    from PIL import Image
    import io as _io

    clip = make_example_clip(**preview_params(payload))
    buf = _io.BytesIO()
    Image.fromarray(clip.frames[0]).save(buf, format="PNG")
    return buf.getvalue()


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

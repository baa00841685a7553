"""The Example Clip's start image before any run (POST /motionstream/example_image), without ComfyUI.

Only frame 0 is rendered (exactly the clip's frame 0), one render at a time however many requests arrive
together, and the last few answers are kept by their inputs: a request costs at most one frame's memory.
"""

from __future__ import annotations

import functools
import threading

# (min, max, step) of each input: the node's widgets and the start-image preview route check the same
LIMITS = {"seed": (0, 2**31 - 1, 1), "width": (16, 2048, 16), "height": (16, 2048, 16), "num_frames": (1, 1000, 1),
          "num_points": (1, 1024, 1)}
DEFAULTS = {"seed": 7, "width": 128, "height": 128, "num_frames": 49, "num_points": 64}
PREVIEW_CACHE = 4  # start images kept by their inputs (PNG bytes, at most a few MB each)
_render_lock = threading.Lock()  # one preview render at a time, however many requests arrive together


def make_example_clip(seed: int, width: int, height: int, num_frames: int, num_points: int, *,
                      first_frame_only: bool = False):
    """The synthetic clip for these inputs (same inputs, same clip); ``first_frame_only``: frame 0 alone."""
    try:
        from motionstream_core.synthetic import SyntheticClipConfig, make_clip
    except ImportError as e:
        raise RuntimeError(f"the example clip needs the Python package {e.name!r}, which is not installed in "
                           "ComfyUI's Python: pip install -r ComfyUI-MotionStream/requirements.txt") from None
    return make_clip(seed, SyntheticClipConfig(height=height, width=width, num_frames=num_frames, fps=16,
                                               num_points=num_points), first_frame_only=first_frame_only)


def preview_params(payload) -> dict:
    """Validate a POST /motionstream/example_image body (the node's widget values); ValueError says what."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object of the Example Clip node's inputs")
    out = {}
    for name, (lo, hi, step) in LIMITS.items():
        v = payload.get(name, DEFAULTS[name])
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi or (v - lo) % step:
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
            raise ValueError(f"{name} must be an integer from {lo} to {hi}" + (f" in steps of {step}" if step > 1 else "")
                             + f"; got {shown}")
        out[name] = v
    return out


def start_image_png(payload) -> bytes:
    """The Example Clip's start image (its first frame, exactly) as PNG, for the editor before the first run."""
    params = preview_params(payload)
    with _render_lock:  # a request waiting here for the same inputs finds them cached
        return _start_image_png(*(params[k] for k in LIMITS))


@functools.lru_cache(maxsize=PREVIEW_CACHE)
def _start_image_png(seed: int, width: int, height: int, num_frames: int, num_points: int) -> bytes:
    import io as _io

    from PIL import Image

    clip = make_example_clip(seed, width, height, num_frames, num_points, first_frame_only=True)
    buf = _io.BytesIO()
    Image.fromarray(clip.frames[0]).save(buf, format="PNG")
    return buf.getvalue()

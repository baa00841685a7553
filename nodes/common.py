"""Pure conversions between ComfyUI values and the core's types (no ComfyUI import here).

* ``TRACKS`` sockets carry ComfyUI's core track dict ``{"track_path": [T, N, 2] px,
  "track_visibility": [T, N] bool}`` so that other packs' nodes read them, plus the full
  ``Tracks`` (fps, size, kinds) under ``"motionstream"`` for our own nodes.
* ``CONDITIONING`` from the stock Wan text encoder -> ``TextCondition`` (context [1, L, 4096],
  padded to the model's text length as Wan does; CLIP-vision tokens when given).
* ``editor_state`` (the widget's JSON) -> the drawn ``Tracks``.
* Frames -> JPEG data URLs for the browser.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from dataclasses import dataclass

import numpy as np
import torch

from motionstream_core import track_formats
from motionstream_core.stream import PromptSwitch, TextCondition
from motionstream_core.tracks import TrackError, Tracks

log = logging.getLogger("motionstream")

TRACKS_KEY = "motionstream"
EDITOR_VERSION = 1


# -- TRACKS sockets ------------------------------------------------------------------------------

def pack_tracks(tracks: Tracks) -> dict:
    """Tracks -> the value a TRACKS socket carries (ComfyUI's dict + our full Tracks)."""
    value = track_formats.to_comfy(tracks)
    value[TRACKS_KEY] = tracks
    return value


def unpack_tracks(value, width: int | None = None, height: int | None = None, fps: float = 16.0) -> Tracks:
    """A TRACKS socket value -> Tracks. ComfyUI's own dicts (no size or rate stored) are taken to be in
    pixels of ``width`` x ``height`` at ``fps``; ours keep theirs unless the dict was edited since."""
    if isinstance(value, Tracks):
        return value
    if not isinstance(value, dict):
        raise TrackError(f"a TRACKS input must be a ComfyUI track dict; got {type(value).__name__}")
    ours = value.get(TRACKS_KEY)
    if isinstance(ours, Tracks) and _same_as_dict(ours, value):
        return ours
    if isinstance(ours, Tracks):  # edited by another node: keep our size/rate, take its numbers
        width, height, fps = ours.width, ours.height, ours.fps
    if width is None or height is None:
        raise TrackError("these TRACKS come without an image size: connect an image (or set width/height)")
    return track_formats.from_comfy(value, fps=fps, width=width, height=height)


def _same_as_dict(tracks: Tracks, value: dict) -> bool:
    path = value.get("track_path")
    try:
        arr = path.detach().cpu().numpy() if isinstance(path, torch.Tensor) else np.asarray(path)
    except Exception:
        return False
    return arr.shape == tracks.path.shape and np.array_equal(arr, tracks.path)


# -- the widget's editor_state -------------------------------------------------------------------

@dataclass
class EditorState:
    tracks: Tracks | None  # None: nothing drawn
    grid_spacing: int = 32
    duration_frames: int = 49
    prompts: tuple[PromptSwitch, ...] = ()  # a recorded prompt schedule (live switches), chunk 0 first


def default_editor_state(width: int = 832, height: int = 480, fps: int = 16) -> str:
    doc = {"format": "motionstream-tracks", "version": 1, "width": width, "height": height, "fps": fps,
           "num_frames": 1, "tracks": []}
    return json.dumps({"version": EDITOR_VERSION, "tracks": doc, "grid_spacing": 32, "duration_frames": 49})


def parse_editor_state(text: str | None) -> EditorState:
    """The widget's JSON -> EditorState; one clear error for anything malformed."""
    if text is None or not str(text).strip():
        return EditorState(None)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TrackError(f"editor_state is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(doc, dict):
        raise TrackError(f"editor_state must be a JSON object; got {type(doc).__name__}")
    version = doc.get("version", EDITOR_VERSION)
    if version != EDITOR_VERSION:
        raise TrackError(f"editor_state version {version!r} is not supported (this pack reads version 1)")
    spacing = _positive_int(doc.get("grid_spacing", 32), "grid_spacing")
    duration = _positive_int(doc.get("duration_frames", 49), "duration_frames")
    prompts = _prompt_schedule(doc.get("prompts"))
    tracks_doc = doc.get("tracks")
    if tracks_doc is None or tracks_doc == "" or tracks_doc == []:
        return EditorState(None, spacing, duration, prompts)
    if isinstance(tracks_doc, dict) and tracks_doc.get("tracks") == []:
        return EditorState(None, spacing, duration, prompts)
    try:
        tracks = track_formats.from_json(tracks_doc, allow_empty=True)
    except TrackError as e:
        raise TrackError(f"editor_state tracks: {e}") from None
    return EditorState(tracks if tracks.num_tracks else None, spacing, duration, prompts)


def _prompt_schedule(doc) -> tuple[PromptSwitch, ...]:
    """editor_state "prompts": [{"chunk": int >= 0, "text": str}, ...] in increasing chunk order."""
    if doc is None or doc == []:
        return ()
    if not isinstance(doc, list):
        raise TrackError(f"editor_state prompts must be a list of {{\"chunk\", \"text\"}}; got {type(doc).__name__}")
    out: list[PromptSwitch] = []
    for i, p in enumerate(doc):
        chunk = p.get("chunk") if isinstance(p, dict) else None
        text = p.get("text") if isinstance(p, dict) else None
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 0 or not isinstance(text, str):
            raise TrackError(f"editor_state prompts[{i}] must be {{\"chunk\": int >= 0, \"text\": str}}; got {p!r}")
        if out and chunk <= out[-1].chunk:
            raise TrackError(f"editor_state prompts[{i}]: chunks must increase ({chunk} after {out[-1].chunk})")
        out.append(PromptSwitch(chunk, text))
    return tuple(out)


def _positive_int(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or int(v) != v:
        raise TrackError(f"editor_state {name} must be a positive integer; got {v!r}")
    return int(v)


# -- CONDITIONING -> TextCondition ----------------------------------------------------------------

def text_condition(conditioning, *, text_dim: int, text_len: int, clip_dim: int | None,
                   clip_vision_output=None) -> TextCondition:
    """Stock CONDITIONING ``[[cond [1, L, D], {...}], ...]`` (+ optional CLIP_VISION_OUTPUT) -> TextCondition.

    The first entry is used (a warning names the rest). ``clip_dim`` None: the model has no
    CLIP-vision branch and any CLIP input is ignored.
    """
    if not isinstance(conditioning, (list, tuple)) or not conditioning:
        raise ValueError("positive: expected CONDITIONING (a non-empty list of [tensor, dict]) from a text encoder")
    entry = conditioning[0]
    if not isinstance(entry, (list, tuple)) or len(entry) < 1 or not isinstance(entry[0], torch.Tensor):
        raise ValueError("positive: malformed CONDITIONING entry (expected [tensor [1, L, D], dict])")
    if len(conditioning) > 1:
        log.warning("MotionStream: CONDITIONING has %d entries; only the first is used", len(conditioning))
    cond = entry[0]
    extras = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
    if cond.ndim == 2:
        cond = cond[None]
    if cond.ndim != 3:
        raise ValueError(f"positive: the text embedding must be [1, L, {text_dim}]; got {tuple(cond.shape)}")
    if cond.shape[-1] != text_dim:
        hint = " (use CLIPLoader with type 'wan' and the umT5-XXL text encoder)" if text_dim == 4096 else ""
        raise ValueError(f"positive: the text embedding has width {cond.shape[-1]} but this model takes "
                         f"{text_dim}{hint}")
    context = cond[:1].float()
    if context.shape[1] < text_len:  # Wan pads the umT5 context with zeros to text_len
        context = torch.cat([context, context.new_zeros(1, text_len - context.shape[1], text_dim)], 1)
    clip_out = clip_vision_output if clip_vision_output is not None else extras.get("clip_vision_output")
    clip = None
    if clip_out is not None:
        if clip_dim is None:
            log.info("MotionStream: this model has no CLIP-vision branch; the CLIP vision output is ignored")
        else:
            clip = _clip_tokens(clip_out, clip_dim)
    return TextCondition(context, clip)


def _clip_tokens(clip_out, clip_dim: int) -> torch.Tensor:
    tokens = getattr(clip_out, "penultimate_hidden_states", None)
    if tokens is None and hasattr(clip_out, "get"):
        tokens = clip_out.get("penultimate_hidden_states")
    if not isinstance(tokens, torch.Tensor):
        raise ValueError("clip_vision_output has no penultimate_hidden_states (use CLIPVisionEncode)")
    if tokens.ndim == 2:
        tokens = tokens[None]
    if tokens.shape[-1] != clip_dim:
        raise ValueError(f"clip_vision_output has width {tokens.shape[-1]} but this model takes {clip_dim} "
                         "(Wan uses CLIP ViT-H: clip_vision_h.safetensors)")
    return tokens[:1].float()


# -- images ---------------------------------------------------------------------------------------

def start_image(image: torch.Tensor) -> torch.Tensor:
    """IMAGE [B, H, W, C] -> the first image [H, W, 3] float in [0, 1] (alpha dropped)."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise ValueError(f"image: expected an IMAGE [B, H, W, C]; got {getattr(image, 'shape', type(image))}")
    if image.shape[0] > 1:
        log.warning("MotionStream: the start image is a batch of %d; the first one is used", image.shape[0])
    if image.shape[-1] < 3:
        image = image[..., :1].expand(*image.shape[:-1], 3)
    return image[0, ..., :3].float().clamp(0, 1).cpu()


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    return (frames.detach().float().clamp(0, 1).mul(255).round()).to(torch.uint8).cpu().numpy()


def jpeg_data_url(frame: np.ndarray, quality: int = 85, max_side: int | None = None) -> str:
    """uint8 [H, W, 3] -> "data:image/jpeg;base64,..." (PIL)."""
    from PIL import Image

    img = Image.fromarray(frame)
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

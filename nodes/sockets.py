"""ComfyUI socket values <-> the core's types (pure Python: no ComfyUI import here).

* ``TRACKS`` sockets carry ComfyUI's core track dict ``{"track_path": [T, N, 2] px,
  "track_visibility": [T, N] bool}`` so that other packs' nodes read them, plus the full
  ``Tracks`` (fps, size, kinds) under ``"motionstream"`` for our own nodes.
* ``CONDITIONING`` from the stock Wan text encoder -> ``TextCondition`` (context [1, L, 4096],
  padded to the model's text length as Wan does; CLIP-vision tokens when given).
* ``IMAGE`` [B, H, W, C] -> the start image [H, W, 3].
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from motionstream_core import track_formats
from motionstream_core.pipeline import TextCondition
from motionstream_core.tracks import TrackError, Tracks

log = logging.getLogger("motionstream")

TRACKS_KEY = "motionstream"


# -- TRACKS ----------------------------------------------------------------------------------------

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


# -- IMAGE -> the start image ---------------------------------------------------------------------

def start_image(image: torch.Tensor) -> torch.Tensor:
    """IMAGE [B, H, W, C] -> the first image [H, W, 3] float in [0, 1] (alpha dropped)."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise ValueError(f"image: expected an IMAGE [B, H, W, C]; got {getattr(image, 'shape', type(image))}")
    if image.shape[0] > 1:
        log.warning("MotionStream: the start image is a batch of %d; the first one is used", image.shape[0])
    if image.shape[-1] < 3:
        image = image[..., :1].expand(*image.shape[:-1], 3)
    return image[0, ..., :3].float().clamp(0, 1).cpu()

"""What a stream hands out and takes besides the model: text conditions, prompt switches, chunks and their timing,
and the checks of a run's start image and tracks. ``stream.py`` re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .tracks import Tracks


@dataclass
class TextCondition:
    """Text context [1, L, text_dim] (umT5 for Wan; the demo's own encoder) + optional CLIP tokens."""

    context: Tensor
    clip: Tensor | None = None


@dataclass(frozen=True)
class PromptSwitch:
    """From chunk ``chunk`` on, the stream uses ``text`` (a TextCondition, or a prompt string for models
    with their own text encoder)."""

    chunk: int
    text: TextCondition | str


@dataclass(frozen=True)
class ChunkTiming(Mapping):
    """Seconds spent on one chunk. Also a read-only mapping of the measured figures (``total_s``
    included, ``recache_s`` only when a prompt switch re-encoded the window), as events and logs
    carry them as JSON."""

    denoise_s: float  # denoising passes + the cache-writing pass (or the prefill of an image start)
    decode_s: float
    recache_s: float | None = None  # re-encoding the rolling window under a new prompt, before the chunk

    @property
    def total_s(self) -> float:
        """Denoise + decode (the re-cache is reported on its own)."""
        return self.denoise_s + self.decode_s

    def __getitem__(self, key: str) -> float:
        value = getattr(self, key) if key in _TIMING_KEYS else None
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return (k for k in _TIMING_KEYS if getattr(self, k) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_TIMING_KEYS = ("denoise_s", "decode_s", "total_s", "recache_s")


@dataclass
class StreamChunk:
    index: int
    start_frame: int  # index of this chunk's first output frame in the video
    frames: Tensor  # [F, H, W, 3] float32 in [0, 1], CPU
    latents: Tensor  # [1, C, chunk_frames, h, w] model-space latents (on the model's device)
    timing: ChunkTiming


def frames_to_chunks(num_frames: int, chunk_latents: int, pack: int = 4) -> int:
    """Chunks needed for ``num_frames`` output frames (chunk 0 gives 1 + pack*(C-1), later ones pack*C)."""
    first = 1 + pack * (chunk_latents - 1)
    return 1 if num_frames <= first else 1 + math.ceil((num_frames - first) / (pack * chunk_latents))


def _prompt_schedule(prompts) -> dict[int, TextCondition | str]:
    schedule: dict[int, TextCondition | str] = {}
    for p in prompts:
        if not isinstance(p, PromptSwitch) or p.chunk < 0:
            raise ValueError(f"prompts must be PromptSwitch(chunk >= 0, text), got {p!r}")
        if p.chunk in schedule:
            raise ValueError(f"two prompt switches at chunk {p.chunk}")
        schedule[p.chunk] = p.text
    return schedule


def _image_tensor(image) -> Tensor:
    """[H, W, 3] or [1, H, W, 3] (float in [0, 1] or uint8) -> [1, 3, H, W] float32."""
    t = torch.as_tensor(np.asarray(image) if not isinstance(image, Tensor) else image)
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"the start image must be a single image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.ndim != 3 or t.shape[-1] != 3:
        raise ValueError(f"the start image must be [H, W, 3] (RGB), got shape {tuple(t.shape)}")
    t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    return t.permute(2, 0, 1)[None].contiguous()


def _check_tracks_fit(tracks: Tracks, width: int, height: int, fps: float) -> None:
    if (tracks.width, tracks.height) != (width, height):
        raise ValueError(f"tracks are for a {tracks.width}x{tracks.height} image but the start image is "
                         f"{width}x{height}: resample them with Tracks.resample(width=..., height=...)")
    if abs(tracks.fps - fps) > 1e-6:
        raise ValueError(f"tracks are at {tracks.fps} fps but the model runs at {fps} fps: resample them with "
                         "Tracks.resample(fps=...)")

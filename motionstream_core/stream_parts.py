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


def start_image(image) -> Tensor:
    """[H, W, 3] or [1, H, W, 3] (float in [0, 1] or uint8; array or tensor) -> [H, W, 3] float32 on the CPU."""
    t = image if isinstance(image, Tensor) else torch.from_numpy(np.ascontiguousarray(image))
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"the start image must be a single image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.ndim != 3 or t.shape[-1] != 3:
        raise ValueError(f"the start image must be [H, W, 3] (RGB), got shape {tuple(t.shape)}")
    return (t.float() / 255.0 if t.dtype == torch.uint8 else t.float()).cpu()


def _check_tracks_fit(tracks: Tracks, width: int, height: int, fps: float) -> None:
    if (tracks.width, tracks.height) != (width, height):
        raise ValueError(f"tracks are for a {tracks.width}x{tracks.height} image but the start image is "
                         f"{width}x{height}: resample them with Tracks.resample(width=..., height=...)")
    if abs(tracks.fps - fps) > 1e-6:
        raise ValueError(f"tracks are at {tracks.fps} fps but the model runs at {fps} fps: resample them with "
                         "Tracks.resample(fps=...)")


@dataclass(frozen=True)
class StreamInputs:
    """A run's inputs, checked (``stream_inputs``): the only thing a ``StreamSession`` takes.

    ``image`` [H, W, 3] float32 in [0, 1] (CPU), or None (a text-to-video model streaming from the
    prompt alone at ``width`` x ``height``); ``text`` a prompt for models with a built-in text encoder,
    else a TextCondition; ``tracks`` at the image's size and the model's frame rate (None: no tracks);
    ``source_tracks`` how many tracks each source contributed, in order (source i's first track is
    slot ``sum(source_tracks[:i])``); ``prompts`` prompt switches to replay.
    """

    image: Tensor | None
    width: int
    height: int
    text: TextCondition | str
    tracks: Tracks | None
    num_frames: int | None
    seed: int
    source_tracks: tuple[int, ...] = ()
    prompts: tuple[PromptSwitch, ...] = ()


def check_image_size(config, width: int, height: int) -> None:
    """The model's size rules (``ModelConfig.check_size``), with the nearest size that fits."""
    try:
        config.check_size(height, width)
    except ValueError as e:
        m = config.spatial_stride * config.dit.patch_size[1]
        w2, h2 = max(m, round(width / m) * m), max(m, round(height / m) * m)
        raise ValueError(f"image: {e}. Resize or crop the start image first (e.g. to {w2}x{h2}).") from None


def stream_inputs(config, warp: bool, image, text: TextCondition | str, tracks: Tracks | None = None,
                  num_frames: int | None = None, seed: int = 0, size: tuple[int, int] | None = None,
                  prompts=(), source_tracks: tuple[int, ...] = ()) -> StreamInputs:
    """The one door into a stream: a model ``config``'s run (``warp``: its drags move the start image) checked once
    -- the start image (or ``size`` (width, height) without one), the model's size rules, the frame count, whether
    the model takes tracks and whether they fit the image and frame rate, the prompt switches. One clear error each.
    """
    img = None if image is None else start_image(image)
    if img is None:
        if config.takes_tracks:
            raise ValueError(f"model {config.name!r} needs a start image")
        width, height = (int(v) for v in (size or (config.width, config.height)))
    else:
        height, width = int(img.shape[0]), int(img.shape[1])
        if size is not None and tuple(size) != (width, height):
            raise ValueError(f"size {size[0]}x{size[1]} differs from the start image's {width}x{height}")
    check_image_size(config, width, height)
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames must be >= 1 or None (until stopped), got {num_frames}")
    if tracks is not None:
        if not (config.takes_tracks or warp):
            raise ValueError(f"model {config.name!r} takes no tracks: it is a text-to-video causal student (it "
                             "streams from the prompt and, optionally, a start image); remove the tracks")
        if img is None:
            raise ValueError("drags need a start image (warp mode moves it; a region drag cuts its region from it)")
        _check_tracks_fit(tracks, width, height, config.stream.fps)
    _prompt_schedule(prompts)
    return StreamInputs(img, width, height, text, tracks, num_frames, int(seed), tuple(source_tracks), tuple(prompts))

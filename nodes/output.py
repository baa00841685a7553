"""Where a run's frames go besides the browser, in constant memory for any length.

Every frame is written, as it is made, to an MP4 in ComfyUI's output folder (``output/motionstream/``;
the Generate node's ``video`` output, the host's VIDEO type, points at it), and the run's record (the
tracks it used) next to it at the end (``<video>.tracks.json``). Only the newest ``KEEP_FRAMES`` are held
in memory, in one float32 ring allocated at the first frames that becomes the node's ``frames`` IMAGE
output in place. So an endless stream (``frames`` = 0) or a long one never grows the process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from pathlib import Path

import numpy as np
import torch

from motionstream_core.video_io import FrameRing, VideoWriter

from .frames import to_uint8

# Frames in the IMAGE output at most: 30 s at 16 fps. Held as float32 from the first frames (~94 MB at
# 128x128, ~2.3 GB at 832x480): the IMAGE output is that size at the end anyway, so the peak is no higher.
KEEP_FRAMES = 480
PREFIX = "motionstream/MotionStream"
TRIM_EVERY_S = 5.0


def _malloc_trim():
    """glibc's malloc_trim, or None elsewhere (macOS, Windows, musl)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Give freed heap memory back to the OS. Every chunk makes mid-sized buffers (frames, JPEGs, video
    packets) on two threads; glibc keeps what is freed in arenas. Since the kept frames live in one ring the
    benchmark grows as little without it (+0.6% over 50,000 frames, +0.1% with it:
    bench/bench_endless_memory.py --no-trim); it stays for the host's own churn, at one call every 5 s."""
    if _TRIM is not None:
        _TRIM(0)


def output_folder() -> str:
    import folder_paths

    return folder_paths.get_output_directory()


def _next_path(folder: str, prefix: str, width: int, height: int) -> tuple[Path, str]:
    """A fresh ``<prefix>_<counter>_.mp4`` (ComfyUI's own numbering) and its subfolder for /view."""
    import folder_paths

    full, name, counter, subfolder, _ = folder_paths.get_save_image_path(prefix, folder, width, height)
    return Path(full) / f"{name}_{counter:05}_.mp4", subfolder


class RunOutput:
    """The file and the bounded in-memory tail of one run. ``path``: where the video goes (or None to
    pick one in ComfyUI's output folder at the first frames)."""

    def __init__(self, fps: float, keep: int = KEEP_FRAMES, path: str | os.PathLike | None = None,
                 folder: str | None = None, prefix: str = PREFIX):
        self.fps, self.keep = fps, keep
        self._path = None if path is None else Path(path)
        self._folder, self._prefix = folder, prefix
        self.subfolder = ""
        self.writer: VideoWriter | None = None
        self.ring = FrameRing(keep)
        self._trimmed = time.monotonic()

    def add(self, frames: torch.Tensor) -> np.ndarray:
        """[T, H, W, 3] frames in [0, 1], in stream order. Returns them as uint8 (made once, for the file
        and for the browser)."""
        if self.writer is None:
            if self._path is None:
                h, w = int(frames.shape[1]), int(frames.shape[2])
                self._path, self.subfolder = _next_path(self._folder or output_folder(), self._prefix, w, h)
            self.writer = VideoWriter(self._path, self.fps)
        data = to_uint8(frames)
        self.writer.write(data)
        self.ring.add(frames)
        if time.monotonic() - self._trimmed > TRIM_EVERY_S:
            release_freed_memory()
            self._trimmed = time.monotonic()
        return data

    def close(self) -> Path | None:
        return None if self.writer is None else self.writer.close()

    @property
    def frames_written(self) -> int:
        return 0 if self.writer is None else self.writer.frames_written

    def image(self) -> torch.Tensor:
        """The kept frames as IMAGE [T, H, W, 3] float32 in [0, 1] (the newest ``keep``): the ring itself,
        put in order in place (no copy)."""
        return torch.from_numpy(self.ring.take())

    def tracks_path(self) -> Path | None:
        """Where the run's record goes: ``<video>.tracks.json`` next to the video (None before any frame)."""
        return None if self.writer is None else self._path.with_suffix(".tracks.json")

    def file_info(self, path: Path | None = None) -> dict | None:
        """The video (or ``path`` beside it) as ComfyUI names saved files ({filename, subfolder, type}),
        None before any frame."""
        if self._path is None or self.writer is None:
            return None
        return {"filename": (path or self._path).name, "subfolder": self.subfolder, "type": "output"}

    def video(self):
        """The host's VIDEO value for the file (None where the host has no such type or there is no file)."""
        if self.writer is None:
            return None
        try:
            from comfy_api.latest import InputImpl
        except ImportError:
            return None
        return InputImpl.VideoFromFile(str(self._path))

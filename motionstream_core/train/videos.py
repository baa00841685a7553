"""Real videos for training: listing them with captions and track files, cutting fixed-length clips, tracks.

* ``list_videos``: a folder (every video file in it, recursively) or a list file (one path a line), with
  captions from a sidecar ``<video>.txt``, or a JSONL file of ``{"video": ..., "caption": ...,
  "tracks": ...}`` lines (relative paths are relative to the JSONL file). Track files the user brings
  (CoTracker ``.npy``/``.npz``/``.pt`` of [T, N, 2] + visibility, in the video's pixels and frames) sit
  beside the video as ``<video>.tracks.<ext>`` or are named in the JSONL.
* ``read_clips``: PyAV decodes only as far as the clips need (bounded memory), resamples to the
  model's frame rate (the latest source frame at or before each clip time), scales to cover the
  model's size and centre-crops. Returns the clips and the mapping from source to clip coordinates.
* ``clip_tracks``: the clip's ground-truth tracks: the user's file mapped through that same mapping
  (points outside the crop are hidden), else a dense grid tracked by the project's own tracker
  (``motion.transfer.track_points``). Always ``points`` tracks, padded with hidden ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..motion.transfer import track_points
from ..track_formats import load as load_tracks

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif")
TRACK_EXTS = (".npy", ".npz", ".pt")


class VideoError(ValueError):
    """A video that cannot become a training clip (the message is the reason; the caller names the file)."""


@dataclass(frozen=True)
class VideoItem:
    video: str
    caption: str
    tracks: str | None = None  # a user's track file for this video


def _sidecar_tracks(video: Path) -> str | None:
    for ext in TRACK_EXTS:
        cand = video.with_name(video.name + ".tracks" + ext)
        if cand.is_file():
            return str(cand)
    return None


def _sidecar_caption(video: Path) -> str:
    txt = video.with_suffix(".txt")
    return txt.read_text(encoding="utf-8").strip() if txt.is_file() else ""


def list_videos(source: str | os.PathLike) -> list[VideoItem]:
    """The videos of a folder, a list file (.txt, one path a line) or a JSONL file, in a stable order."""
    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.suffix.lower() in VIDEO_EXTS and p.is_file())
        return [VideoItem(str(p), _sidecar_caption(p), _sidecar_tracks(p)) for p in files]
    if not src.is_file():
        raise FileNotFoundError(f"no such video folder or list: {src}")
    items = []
    for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if src.suffix.lower() == ".jsonl":
            try:
                row = json.loads(line)
                video = src.parent / row["video"]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{src}:{n}: expected a JSON object with a 'video' field ({e})") from None
            tracks = row.get("tracks")
            items.append(VideoItem(str(video), str(row.get("caption", _sidecar_caption(video))),
                                   str(src.parent / tracks) if tracks else _sidecar_tracks(video)))
        else:
            video = src.parent / line
            items.append(VideoItem(str(video), _sidecar_caption(video), _sidecar_tracks(video)))
    return items


@dataclass(frozen=True)
class ClipGeometry:
    """Where a clip came from: its source frame indices and the pixel mapping x_clip = x_src * scale - offset."""
    frames: tuple[int, ...]
    scale: float
    offset_x: float
    offset_y: float
    source_size: tuple[int, int]  # (width, height)
    source_fps: float


def read_clips(path: str | os.PathLike, num_frames: int, fps: float, width: int, height: int,
               max_clips: int = 1) -> list[tuple[np.ndarray, ClipGeometry]]:
    """Up to ``max_clips`` consecutive clips of ``num_frames`` frames at ``fps``, [T, height, width, 3] uint8.

    Raises ``VideoError`` when the file cannot be decoded or is shorter than one clip.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError("no such file")
    want = [k / fps for k in range(num_frames * max_clips)]  # clip times, seconds from the first frame
    picked: list[np.ndarray | None] = [None] * len(want)
    index: list[int] = [0] * len(want)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError("no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            src_fps = float(rate) if rate else fps
            t0, k, n = None, 0, -1
            prev = None
            for frame in container.decode(stream):
                n += 1
                t = float(frame.time) if frame.time is not None else n / src_fps
                t0 = t if t0 is None else t0
                rel = t - t0
                while k < len(want) and want[k] < rel - 1e-6:  # frame n is past want[k]: the previous one holds
                    picked[k], index[k] = prev[0] if prev else None, prev[1] if prev else 0
                    k += 1
                if k >= len(want):
                    break
                prev = (frame.to_ndarray(format="rgb24"), n)
            if k < len(want) and prev is not None:  # the last decoded frame covers what remains of its duration
                last_end = (prev[1] + 1) / src_fps
                while k < len(want) and want[k] < last_end - 1e-6:
                    picked[k], index[k] = prev
                    k += 1
    except VideoError:
        raise
    except Exception as e:  # av.error.InvalidDataError and friends: not a video, truncated file
        raise VideoError(f"cannot decode ({type(e).__name__}: {str(e).replace(str(path), 'the file')})") from None
    whole = sum(picked[c * num_frames + num_frames - 1] is not None for c in range(max_clips))
    if whole == 0:
        got = sum(p is not None for p in picked)
        raise VideoError(f"too short: {got} frames at {fps:g} fps, a clip needs {num_frames}")
    src_h, src_w = picked[0].shape[:2]
    scale = max(width / src_w, height / src_h)
    rw, rh = max(width, round(src_w * scale)), max(height, round(src_h * scale))
    ox, oy = (rw - width) // 2, (rh - height) // 2
    out = []
    for c in range(whole):
        sel = range(c * num_frames, (c + 1) * num_frames)
        frames = np.stack([cv2.resize(picked[i], (rw, rh), interpolation=cv2.INTER_AREA)[oy:oy + height, ox:ox + width]
                           for i in sel])
        geo = ClipGeometry(tuple(index[i] for i in sel), rw / src_w, ox, oy, (src_w, src_h), src_fps)
        out.append((frames, geo))
    return out


def grid(width: int, height: int, points: int) -> np.ndarray:
    """About ``points`` start points on a regular grid over the frame, [N, 2] pixel centres (N <= points)."""
    side = max(1, int(np.floor(np.sqrt(points * width / height))))
    rows = max(1, points // side)
    xs = (np.arange(side) + 0.5) * width / side
    ys = (np.arange(rows) + 0.5) * height / rows
    return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2).astype(np.float32)


def clip_tracks(frames: np.ndarray, geo: ClipGeometry, points: int, track_file: str | None = None,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The clip's tracks: path [T, points, 2] float32 (clip pixels), visible [T, points] bool.

    From ``track_file`` (mapped into the clip; a random subset when it has more than ``points``),
    else a grid tracked through ``frames``. Rows beyond the available tracks are hidden.
    """
    t, h, w = frames.shape[:3]
    if track_file is not None:
        sw, sh = geo.source_size
        tr = load_tracks(track_file, width=sw, height=sh, fps=geo.source_fps)
        if len(tr.path) <= max(geo.frames):
            raise VideoError(f"{track_file}: {len(tr.path)} frames of tracks, the clip needs source frame "
                             f"{max(geo.frames)}")
        idx = np.asarray(geo.frames)
        path = np.asarray(tr.path, np.float32)[idx] * geo.scale - np.array([geo.offset_x, geo.offset_y], np.float32)
        vis = np.asarray(tr.visible, bool)[idx]
        vis &= (path[..., 0] >= 0) & (path[..., 0] <= w) & (path[..., 1] >= 0) & (path[..., 1] <= h)
        if path.shape[1] > points:
            keep = np.sort(np.random.default_rng(seed).choice(path.shape[1], points, replace=False))
            path, vis = path[:, keep], vis[:, keep]
    else:
        path, vis = track_points(frames, grid(w, h, points))
    n = path.shape[1]
    out_p = np.zeros((t, points, 2), np.float32)
    out_v = np.zeros((t, points), bool)
    out_p[:, :n], out_v[:, :n] = path, vis
    return out_p, out_v

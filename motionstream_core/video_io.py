"""Reading images and writing videos (OpenCV / PyAV), for the CLI, the demo and the nodes.

Videos are read by ``read_video`` (motion transfer reads its files with it). PyAV is imported when a video is read
or written, not with this module: the re-tracker and the evals, which import it, run where PyAV is not installed."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from .tracks import TrackError

MAX_VIDEO_BYTES = 4 << 30  # the most decoded frames a video file may give the tracker (grey: 1 byte a pixel)


def read_video(path: str | os.PathLike, max_frames: int | None = None, gray: bool = False,
               max_bytes: int | None = None) -> tuple[np.ndarray, float]:
    """Decode a video file with PyAV -> (uint8 frames [T, H, W, 3] RGB, or [T, H, W] grey with ``gray``; fps).
    ``max_bytes``: refuse (naming it) a video whose decoded frames would take more, as soon as they do."""
    if not os.path.isfile(path):
        raise TrackError(f"no such video file: {path}")
    import av

    frames = []
    size = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise TrackError(f"{path} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 16.0
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                frames.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if gray else rgb)  # grey as _gray_frames makes it
                size += frames[-1].nbytes
                if max_bytes is not None and size > max_bytes:
                    raise TrackError(f"{path}: {len(frames)} decoded frames of {frame.width}x{frame.height} already "
                                     f"take more than {max_bytes / (1 << 30):.0f} GiB (MAX_VIDEO_BYTES): read fewer "
                                     "frames (max_frames / --max-frames) or a smaller video")
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except TrackError:
        raise
    except Exception as e:  # av.error.* : not a video, broken file
        raise TrackError(f"cannot read video {path}: {e}") from None
    if not frames:
        raise TrackError(f"{path} has no frames")
    return np.stack(frames), fps


def read_image(path: str | os.PathLike, width: int | None = None, height: int | None = None) -> np.ndarray:
    """An RGB image as float32 [H, W, 3] in [0, 1], resized (area / cubic) to width x height if given."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}: missing or not an image file")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if width and height and (rgb.shape[1], rgb.shape[0]) != (width, height):
        shrink = width < rgb.shape[1]
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return rgb.astype(np.float32) / 255.0


def to_uint8(frames) -> np.ndarray:
    """[T, H, W, 3] float in [0, 1] (tensor or array) or uint8 -> uint8 array."""
    arr = frames.detach().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames)
    if arr.dtype == np.uint8:
        return arr
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# extension -> (codec, pixel format, encoder options with crf filled in)
_CODECS = {
    ".mp4": ("libx264", "yuv420p", lambda crf: {"crf": str(crf)}),
    ".webm": ("libvpx-vp9", "yuv420p", lambda crf: {"crf": str(crf + 12), "b": "0"}),
    ".gif": ("gif", "rgb8", lambda crf: {}),
}


class VideoWriter:
    """Writes frames to a video file as they come (H.264 MP4, VP9 WebM or GIF, by extension), so a
    stream of any length is written in constant memory. The file is opened at the first frames (their
    size fixes the video's); frames are [T, H, W, 3] float in [0, 1] or uint8. 4:2:0 codecs need even
    sizes: odd ones are padded by edge replication. Use as a context manager or call ``close``."""

    def __init__(self, path: str | os.PathLike, fps: float, crf: int = 18):
        self.path = Path(path)
        if self.path.suffix.lower() not in _CODECS:
            raise ValueError(f"unsupported video extension {self.path.suffix!r}: use .mp4, .webm or .gif")
        self.fps, self.crf = fps, crf
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (height, width) of the frames given
        self._container = None
        self._stream = None

    def _open(self, h: int, w: int) -> None:
        codec, pix_fmt, options = _CODECS[self.path.suffix.lower()]
        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w")
        self._stream = self._container.add_stream(codec, rate=int(round(self.fps)))
        even = pix_fmt == "yuv420p"
        self._stream.width, self._stream.height = (w + w % 2, h + h % 2) if even else (w, h)
        self._stream.pix_fmt = pix_fmt
        self._stream.options = options(self.crf)
        self.size = (h, w)

    def write(self, frames) -> None:
        import av

        data = to_uint8(frames)
        if data.ndim != 4 or data.shape[-1] != 3:
            raise ValueError(f"VideoWriter needs frames [T, H, W, 3], got {data.shape}")
        if self._stream is None:
            self._open(*data.shape[1:3])
        elif tuple(data.shape[1:3]) != self.size:
            raise ValueError(f"frames of {data.shape[2]}x{data.shape[1]} in a {self.size[1]}x{self.size[0]} video")
        ph, pw = self._stream.height - data.shape[1], self._stream.width - data.shape[2]
        if ph or pw:
            data = np.pad(data, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
        for frame in data:
            for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                self._container.mux(packet)
        self.frames_written += len(data)

    def close(self) -> Path | None:
        """Flush and close; returns the path, or None when no frame was written (no file is made)."""
        if self._container is None:
            return None
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None
        return self.path

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(path: str | os.PathLike, frames, fps: float, crf: int = 18) -> Path:
    """Write [T, H, W, 3] frames as H.264 MP4 (or .webm VP9 / .gif by extension). Returns the path."""
    data = to_uint8(frames)
    if data.ndim != 4 or data.shape[-1] != 3 or len(data) == 0:
        raise ValueError(f"write_video needs frames [T, H, W, 3] with T >= 1, got {data.shape}")
    with VideoWriter(path, fps, crf) as writer:
        writer.write(data)
    return writer.path


class FrameRing:
    """The newest ``keep`` frames of a stream in one float32 buffer [keep, H, W, 3], allocated at the
    first frames and written in place: no allocation per chunk, and ``take()`` turns it into the
    frames in order without a copy (what a node's IMAGE output holds at the end anyway, so keeping
    float32 from the start saves the uint8 -> float copy at the end)."""

    def __init__(self, keep: int):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.keep = keep
        self.seen = 0  # frames offered in total
        self._buf: np.ndarray | None = None
        self._next = 0  # where the next frame goes

    def add(self, frames) -> None:
        """[T, H, W, 3] float in [0, 1] (tensor of any float dtype, or array; clamped to [0, 1] as it is
        copied in)."""
        arr = frames.detach().float().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames)
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise ValueError(f"FrameRing needs frames [T, H, W, 3], got {arr.shape}")
        if self._buf is None:
            self._buf = np.empty((self.keep, *arr.shape[1:]), np.float32)
        elif arr.shape[1:] != self._buf.shape[1:]:
            raise ValueError(f"frames of {arr.shape[2]}x{arr.shape[1]} in a ring of "
                             f"{self._buf.shape[2]}x{self._buf.shape[1]} frames")
        self.seen += len(arr)
        arr = arr[-self.keep:]
        while len(arr):
            n = min(len(arr), self.keep - self._next)
            np.clip(arr[:n], 0.0, 1.0, out=self._buf[self._next:self._next + n])
            self._next = (self._next + n) % self.keep
            arr = arr[n:]

    def __len__(self) -> int:
        return min(self.seen, self.keep)

    @property
    def first_kept(self) -> int:
        """Index (in the stream) of the oldest frame kept."""
        return self.seen - len(self)

    def take(self) -> np.ndarray:
        """[T, H, W, 3] float32 of the kept frames, oldest first (T = 0 when none): the buffer itself,
        put in order in place (frames added later overwrite the oldest of it, as before)."""
        if self._buf is None:
            return np.zeros((0, 0, 0, 3), np.float32)
        if self.seen < self.keep:
            return self._buf[:self.seen]
        _rotate_left(self._buf, self._next)
        self._next = 0
        return self._buf


def _rotate_left(a: np.ndarray, k: int) -> None:
    """a[i] <- a[(i + k) % n] along the first axis, in place with one row of scratch (cycle leader)."""
    n = len(a)
    k %= n
    if k == 0:
        return
    row = np.empty_like(a[0])
    for start in range(math.gcd(n, k)):
        row[...] = a[start]
        i = start
        while (j := (i + k) % n) != start:
            a[i] = a[j]
            i = j
        a[i] = row

"""Reading images and writing videos (OpenCV / PyAV), for the CLI and the demo.

Videos are read by ``motionstream_core.motion.transfer.read_video``."""

from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import numpy as np


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


def write_video(path: str | os.PathLike, frames, fps: float, crf: int = 18) -> Path:
    """Write [T, H, W, 3] frames as H.264 MP4 (or .webm VP9 / .gif by extension). Returns the path."""
    path = Path(path)
    data = to_uint8(frames)
    if data.ndim != 4 or data.shape[-1] != 3 or len(data) == 0:
        raise ValueError(f"write_video needs frames [T, H, W, 3] with T >= 1, got {data.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    codec, pix_fmt, options = {
        ".mp4": ("libx264", "yuv420p", {"crf": str(crf)}),
        ".webm": ("libvpx-vp9", "yuv420p", {"crf": str(crf + 12), "b": "0"}),
        ".gif": ("gif", "rgb8", {}),
    }.get(path.suffix.lower(), (None, None, None))
    if codec is None:
        raise ValueError(f"unsupported video extension {path.suffix!r}: use .mp4, .webm or .gif")
    h, w = data.shape[1:3]
    if pix_fmt == "yuv420p" and (h % 2 or w % 2):  # 4:2:0 needs even sizes: pad by edge replication
        data = np.pad(data, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=int(round(fps)))
        stream.width, stream.height, stream.pix_fmt = data.shape[2], data.shape[1], pix_fmt
        stream.options = options
        for frame in data:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path

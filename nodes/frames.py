"""Frames for the browser: float frames -> uint8 -> JPEG data URLs."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch


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

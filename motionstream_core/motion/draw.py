"""Drawing tracks over frames, for previews and debugging.

Each track has a stable colour, ``PALETTE[i % len(PALETTE)]`` (the JS widget mirrors this list),
a dot where it is visible and a trail over its last ``trail`` frames that fades with age. Hidden
points are not drawn, nor are trail segments that touch a hidden point.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..tracks import Tracks, TrackError

# Fixed track colours (RGB hex), indexed by track number modulo the length. Mirrored by js/.
PALETTE = [
    "#ff3b30", "#0a84ff", "#30d158", "#ffd60a", "#bf5af2", "#64d2ff", "#ff9f0a", "#ff375f",
    "#a4de02", "#5e5ce6", "#00c7be", "#ff8fa3", "#b08968", "#f4a261", "#2ec4b6", "#e76f51",
    "#90be6d", "#f15bb5", "#00bbf9", "#fee440",
]

_SHIFT = 4  # sub-pixel drawing: coordinates in 1/16 pixel


def track_color(i: int) -> tuple[int, int, int]:
    """The (r, g, b) colour of track ``i``."""
    h = PALETTE[int(i) % len(PALETTE)]
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


def _as_uint8_frames(frames: Any) -> np.ndarray:
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu()
        frames = frames.float().numpy() if frames.dtype.is_floating_point else frames.numpy()
    f = np.asarray(frames)
    if f.ndim == 3:
        f = f[None]
    if f.ndim != 4 or f.shape[-1] != 3:
        raise TrackError(f"frames must be [T, H, W, 3] (or one [H, W, 3] image); got {tuple(f.shape)}")
    if f.dtype == np.uint8:
        return f.copy()
    if f.dtype.kind != "f":
        raise TrackError(f"frames must be uint8 or float in 0..1; got dtype {f.dtype}")
    return np.clip(np.rint(np.nan_to_num(f) * 255.0), 0, 255).astype(np.uint8)


def draw_tracks(frames: Any, tracks: Tracks, trail: int = 8, radius: int | None = None,
                thickness: int | None = None) -> np.ndarray:
    """Tracks drawn over ``frames`` -> uint8 [T, H, W, 3].

    ``frames`` is uint8 or float 0..1, [T, H, W, 3] with T = tracks.num_frames, or one image (drawn
    on for every frame). Frames of another size than the tracks get the coordinates scaled to them.
    """
    if not isinstance(tracks, Tracks):
        raise TrackError(f"draw_tracks needs Tracks; got {type(tracks).__name__}")
    if isinstance(trail, bool) or not isinstance(trail, (int, np.integer)) or trail < 0:
        raise TrackError(f"trail must be a non-negative integer; got {trail!r}")
    out = _as_uint8_frames(frames)
    t = tracks.num_frames
    if len(out) == 1 and t > 1:
        out = np.repeat(out, t, axis=0)
    if len(out) != t:
        raise TrackError(f"{len(out)} frames but the tracks have {t}; slice or resample one of them")
    h, w = out.shape[1:3]
    r = max(2, round(min(h, w) / 100)) if radius is None else int(radius)
    th = max(1, r // 2) if thickness is None else int(thickness)
    scale = np.array([w / tracks.width, h / tracks.height])
    # drawing coordinates: OpenCV pixel centres, fixed point
    pts = np.rint(((tracks.path.astype(np.float64) * scale) - 0.5) * (1 << _SHIFT)).astype(np.int64)
    pts = np.clip(pts, -(1 << 28), 1 << 28)
    vis = tracks.visible
    colors = [track_color(i) for i in range(tracks.num_tracks)]
    for f in range(t):
        layer = np.zeros((h, w, 3), np.uint8)
        alpha = np.zeros((h, w), np.uint8)
        for age in range(min(trail, f), 0, -1):  # oldest first; newer segments overwrite
            a, b = f - age, f - age + 1
            level = int(round(255 * (1 - (age - 1) / trail)))
            both = np.flatnonzero(vis[a] & vis[b])
            for i in both:
                p0, p1 = tuple(int(v) for v in pts[a, i]), tuple(int(v) for v in pts[b, i])
                cv2.line(layer, p0, p1, colors[i], th + 1, cv2.LINE_8, _SHIFT)
                cv2.line(alpha, p0, p1, level, th, cv2.LINE_AA, _SHIFT)
        for i in np.flatnonzero(vis[f]):
            c = tuple(int(v) for v in pts[f, i])
            cv2.circle(layer, c, (r + 1) << _SHIFT, colors[i], -1, cv2.LINE_8, _SHIFT)
            cv2.circle(alpha, c, r << _SHIFT, 255, -1, cv2.LINE_AA, _SHIFT)
        if alpha.any():
            m = alpha[..., None].astype(np.float32) / 255.0
            out[f] = np.rint(out[f] * (1 - m) + layer * m).astype(np.uint8)
    return out

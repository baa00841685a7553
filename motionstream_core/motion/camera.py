"""Camera control -> tracks.

Grid points of the first frame are unprojected with a depth map (constant depth by default) and
reprojected through a moving pinhole camera (a few lines of pinhole geometry in numpy). The result is a Tracks of kind
"camera"; combine it with drags through ``Tracks.concat``.

Conventions (OpenCV camera: x right, y down, z forward; the first frame's camera is the world):

* the intrinsics have focal ``f = (W / 2) / tan(fov / 2)`` and principal point (W/2, H/2);
* depth is normalised so its median is 1 (the *reference depth*); with no depth map every point is at 1;
* every amount ramps from 0 at ``start`` to its full value at ``end`` (fractions of the clip), linearly
  or eased; amounts of several :class:`CameraPath` in a list add up (zooms multiply), which is how
  motions combine and follow each other over time.

Points behind the camera or out of the frame are hidden; a hidden point that is behind the camera or
beyond the validation margin keeps its previous position (a hidden point's coordinates carry no
meaning). Points do not occlude one another.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np

from ..tracks import DEFAULT_MARGIN, DEFAULT_MAX_TRACKS, Tracks, TrackError, check_track_budget

EASINGS = ("linear", "ease")


@dataclass(frozen=True)
class CameraPath:
    """One camera motion; every amount is reached at ``end`` (0 at ``start``).

    pan_x:  camera moves right by this fraction of the frame width, measured at the reference depth
            (the scene there shifts left by ``pan_x * W`` pixels).
    pan_y:  camera moves up by this fraction of the frame height (the scene shifts down).
    tilt:   degrees the camera pitches up (the scene moves down).
    yaw:    degrees the camera turns right, a rotating pan (the scene moves left).
    roll:   degrees the camera rolls clockwise (the scene turns counter-clockwise).
    zoom:   focal-length factor (2 = twice as close; about the principal point; interpolated geometrically).
    dolly:  camera moves forward by this fraction of the reference depth (< 1; negative = backwards).
    orbit:  degrees the camera circles to the right around the point at the image centre and reference
            depth, keeping it in view.
    """

    pan_x: float = 0.0
    pan_y: float = 0.0
    tilt: float = 0.0
    yaw: float = 0.0
    roll: float = 0.0
    zoom: float = 1.0
    dolly: float = 0.0
    orbit: float = 0.0
    start: float = 0.0
    end: float = 1.0
    easing: str = "linear"

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "easing":
                continue
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TrackError(f"CameraPath.{f.name} must be a finite number; got {v!r}")
        if self.zoom <= 0:
            raise TrackError(f"CameraPath.zoom must be > 0; got {self.zoom!r}")
        if self.dolly >= 1:
            raise TrackError(f"CameraPath.dolly must be < 1 (1 reaches the reference depth); got {self.dolly!r}")
        if not 0 <= self.start < self.end <= 1:
            raise TrackError(f"CameraPath needs 0 <= start < end <= 1; got start={self.start}, end={self.end}")
        if self.easing not in EASINGS:
            raise TrackError(f"CameraPath.easing must be one of {', '.join(EASINGS)}; got {self.easing!r}")

    def progress(self, u: np.ndarray) -> np.ndarray:
        """How much of this motion is done at clip fractions ``u`` (0..1)."""
        s = np.clip((np.asarray(u, np.float64) - self.start) / (self.end - self.start), 0.0, 1.0)
        return s * s * (3 - 2 * s) if self.easing == "ease" else s


def grid_points(width: int, height: int, spacing: float) -> np.ndarray:
    """Cell centres of a regular grid with the given spacing (pixels), [N, 2] (x, y), row-major."""
    if not spacing > 0:
        raise TrackError(f"grid_spacing must be positive; got {spacing!r}")
    xs = np.arange(spacing / 2, width, spacing)
    ys = np.arange(spacing / 2, height, spacing)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], -1)


def _depth_at(depth: Any, pts: np.ndarray, width: int, height: int, disparity: bool) -> np.ndarray:
    """Depth (median-normalised) at the points, from a depth image of any size."""
    import cv2
    d = depth.detach().cpu().float().numpy() if hasattr(depth, "detach") else np.asarray(depth, np.float32)
    d = d.astype(np.float32)
    if d.ndim == 4 and d.shape[0] == 1:  # ComfyUI IMAGE [1, H, W, C]
        d = d[0]
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    if d.ndim == 3 and d.shape[2] in (1, 3, 4):
        d = d[..., :3].mean(-1)
    if d.ndim != 2:
        raise TrackError(f"depth must be an image [H, W] (or [H, W, C], [1, H, W, C]); got {tuple(np.shape(depth))}")
    if not np.isfinite(d).all():
        r, c = np.argwhere(~np.isfinite(d))[0]
        raise TrackError(f"depth is not finite at row {r}, column {c}")
    if disparity:
        if d.max() <= 0:
            raise TrackError("disparity map has no positive value")
        d = 1.0 / np.maximum(d, 0.01 * d.max())  # zero disparity (sky) becomes 100x the nearest depth
    elif (d <= 0).any():
        r, c = np.argwhere(d <= 0)[0]
        raise TrackError(f"depth must be positive; found {d[r, c]:g} at row {r}, column {c} "
                         "(pass disparity=True for inverse-depth maps)")
    d = cv2.resize(d, (width, height), interpolation=cv2.INTER_LINEAR) if d.shape != (height, width) else d
    mx = np.clip(pts[:, 0] - 0.5, 0, width - 1).astype(np.float32)
    my = np.clip(pts[:, 1] - 0.5, 0, height - 1).astype(np.float32)
    z = cv2.remap(d, mx[None], my[None], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
    return z / float(np.median(d))


def _rot(axis: int, deg: np.ndarray) -> np.ndarray:
    """Right-handed rotations by ``deg`` degrees about the x (0), y (1) or z (2) axis: [T, 3, 3]."""
    a = np.radians(np.asarray(deg, np.float64))
    c, s = np.cos(a), np.sin(a)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]  # the plane the rotation turns: i -> j
    r = np.zeros(a.shape + (3, 3))
    r[:, axis, axis] = 1
    r[:, i, i], r[:, j, j], r[:, i, j], r[:, j, i] = c, c, -s, s
    return r


def camera_tracks(path: CameraPath | Sequence[CameraPath], width: int, height: int, num_frames: int,
                  fps: float = 16, grid_spacing: float = 32, depth: Any = None, *, fov: float = 60.0,
                  disparity: bool = False) -> Tracks:
    """Tracks of grid points seen by a moving camera (kind "camera").

    ``path`` is one :class:`CameraPath` or a list (amounts add up, each over its own time window).
    ``depth`` is an optional depth image of any size (larger = farther; numpy or torch, [H, W],
    [H, W, C] or a ComfyUI IMAGE [1, H, W, C], channels averaged); ``disparity=True`` reads it as
    inverse depth (values below 1% of the largest are raised to it, so zero disparity such as sky
    becomes 100x the nearest depth). ``fov`` is the horizontal field of view in degrees.
    """
    paths = [path] if isinstance(path, CameraPath) else list(path)
    if not paths or not all(isinstance(p, CameraPath) for p in paths):
        raise TrackError("path must be a CameraPath or a non-empty list of CameraPath")
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames <= 0:
        raise TrackError(f"num_frames must be a positive integer; got {num_frames!r}")
    if not 0 < fov < 180:
        raise TrackError(f"fov must be between 0 and 180 degrees; got {fov!r}")
    w, h, t = int(width), int(height), int(num_frames)
    if not grid_spacing > 0:
        raise TrackError(f"grid_spacing must be positive; got {grid_spacing!r}")
    n = len(np.arange(grid_spacing / 2, w, grid_spacing)) * len(np.arange(grid_spacing / 2, h, grid_spacing))
    if n > DEFAULT_MAX_TRACKS:
        raise TrackError(f"too many tracks: {n} > limit {DEFAULT_MAX_TRACKS} (increase grid_spacing)")
    check_track_budget(t, n, "Camera Tracks (num_frames x grid points)")
    pts = grid_points(w, h, grid_spacing)
    z = np.ones(len(pts)) if depth is None else _depth_at(depth, pts, w, h, disparity).astype(np.float64)

    u = np.zeros(1) if t == 1 else np.arange(t) / (t - 1)
    amount = {k: np.zeros(t) for k in ("pan_x", "pan_y", "tilt", "yaw", "roll", "dolly", "orbit")}
    log_zoom = np.zeros(t)
    for p in paths:
        s = p.progress(u)
        for k in amount:
            amount[k] += getattr(p, k) * s
        log_zoom += math.log(p.zoom) * s
    a = amount

    f0 = (w / 2) / math.tan(math.radians(fov) / 2)
    world = np.concatenate([(pts - [w / 2, h / 2]) / f0, np.ones((len(pts), 1))], 1) * z[:, None]  # [N, 3]

    # camera-to-world: T_orbit @ T_translate @ R(yaw) R(tilt) R(roll); world-to-camera is its inverse
    r_orbit = _rot(1, -a["orbit"])
    pivot = np.array([0.0, 0.0, 1.0])
    c_orbit = pivot - r_orbit @ pivot
    local_t = np.stack([a["pan_x"] * w / f0, -a["pan_y"] * h / f0, a["dolly"]], -1)
    rot = r_orbit @ _rot(1, a["yaw"]) @ _rot(0, a["tilt"]) @ _rot(2, a["roll"])
    centre = c_orbit + (r_orbit @ local_t[:, :, None])[..., 0]
    focal = f0 * np.exp(log_zoom)

    out = np.empty((t, len(pts), 2), np.float32)
    inside = np.empty((t, len(pts)), bool)
    prev = pts.astype(np.float32)
    for i in range(t):  # frame by frame: memory stays at the output's size
        cam = (world - centre[i]) @ rot[i]  # R^T (X - C), row vectors
        front = cam[:, 2] > 1e-3
        zc = np.where(front, cam[:, 2], 1.0)
        xy = cam[:, :2] / zc[:, None] * focal[i] + [w / 2, h / 2]
        inside[i] = front & (xy[:, 0] >= 0) & (xy[:, 0] <= w) & (xy[:, 1] >= 0) & (xy[:, 1] <= h)
        ok = front & (np.abs(xy[:, 0] - w / 2) <= (0.5 + DEFAULT_MARGIN) * w) \
            & (np.abs(xy[:, 1] - h / 2) <= (0.5 + DEFAULT_MARGIN) * h)
        # meaningless positions (behind the camera, far away) hold the previous one
        prev = out[i] = np.where(ok[:, None], xy, prev)
    return Tracks(out, inside, fps, w, h, ("camera",) * len(pts))

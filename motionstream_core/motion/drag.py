"""Drag paths: a few key points with times -> smooth tracks.

Times are frame indices by default (``time_unit="frame"``, fractional allowed) or seconds
(``time_unit="second"``, converted with ``fps``). Before the first key time a point holds its first
position, after the last key time its last one (visible throughout).

Interpolations:

* ``linear``: constant speed between key points.
* ``ease``: each segment eases in and out (smoothstep 3u^2 - 2u^3): the point stops at every key point.
* ``spline``: a natural cubic spline through all key points (C2-smooth, parametrised by time);
  with two key points it is linear.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..tracks import Tracks, TrackError

INTERPOLATIONS = ("linear", "ease", "spline")


def _key_arrays(keypoints: Sequence[Sequence[float]], fps: float, time_unit: str) -> tuple[np.ndarray, np.ndarray]:
    if time_unit not in ("frame", "second"):
        raise TrackError(f"time_unit must be 'frame' or 'second'; got {time_unit!r}")
    try:
        k = np.asarray(keypoints, dtype=np.float64)
    except (TypeError, ValueError):
        raise TrackError("keypoints must be a list of (time, x, y)") from None
    if k.ndim != 2 or k.shape[1] != 3 or k.shape[0] == 0:
        raise TrackError(f"keypoints must be a non-empty list of (time, x, y); got shape {k.shape}")
    if not np.isfinite(k).all():
        i = int(np.argwhere(~np.isfinite(k))[0, 0])
        raise TrackError(f"keypoint {i} is not finite: {tuple(k[i].tolist())}")
    times = k[:, 0] * (fps if time_unit == "second" else 1.0)
    if (np.diff(times) <= 0).any():
        i = int(np.flatnonzero(np.diff(times) <= 0)[0]) + 1
        raise TrackError(f"keypoint {i}: times must increase strictly ({k[i - 1, 0]:g} then {k[i, 0]:g})")
    return times, k[:, 1:]


def _natural_spline(tk: np.ndarray, yk: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Natural cubic spline through (tk, yk) [K], [K, D], evaluated at t (clamped to [tk0, tkK])."""
    kn = len(tk)
    h = np.diff(tk)
    m = np.zeros((kn,) + yk.shape[1:])  # second derivatives; natural ends m0 = mK = 0
    if kn > 2:
        a = np.zeros((kn - 2, kn - 2))
        idx = np.arange(kn - 2)
        a[idx, idx] = 2 * (h[:-1] + h[1:])
        a[idx[1:], idx[:-1]] = h[1:-1]
        a[idx[:-1], idx[1:]] = h[1:-1]
        slope = np.diff(yk, axis=0) / h[:, None]
        m[1:-1] = np.linalg.solve(a, 6 * np.diff(slope, axis=0))
    t = np.clip(t, tk[0], tk[-1])
    seg = np.clip(np.searchsorted(tk, t, side="right") - 1, 0, kn - 2)
    hs = h[seg][:, None]
    u0 = (tk[seg + 1][:, None] - t[:, None])
    u1 = (t[:, None] - tk[seg][:, None])
    return (m[seg] * u0 ** 3 / (6 * hs) + m[seg + 1] * u1 ** 3 / (6 * hs)
            + (yk[seg] / hs - m[seg] * hs / 6) * u0 + (yk[seg + 1] / hs - m[seg + 1] * hs / 6) * u1)


def interpolate_keypoints(times: np.ndarray, xy: np.ndarray, frames: np.ndarray, interpolation: str) -> np.ndarray:
    """Positions [F, 2] at frame positions ``frames`` from key times [K] and positions [K, 2]."""
    if interpolation not in INTERPOLATIONS:
        raise TrackError(f"unknown interpolation {interpolation!r} (known: {', '.join(INTERPOLATIONS)})")
    if len(times) == 1:
        return np.repeat(xy[:1], len(frames), axis=0)
    f = np.clip(frames.astype(np.float64), times[0], times[-1])
    if interpolation == "spline":
        return _natural_spline(times, xy, f)
    seg = np.clip(np.searchsorted(times, f, side="right") - 1, 0, len(times) - 2)
    u = (f - times[seg]) / (times[seg + 1] - times[seg])
    if interpolation == "ease":
        u = u * u * (3 - 2 * u)
    return xy[seg] + (xy[seg + 1] - xy[seg]) * u[:, None]


def drag_track(keypoints: Sequence[Sequence[float]], num_frames: int, interpolation: str = "linear", *,
               width: int, height: int, fps: float = 16, time_unit: str = "frame", kind: str = "drag") -> Tracks:
    """One track through ``keypoints`` = [(time, x, y), ...] over ``num_frames`` frames."""
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames <= 0:
        raise TrackError(f"num_frames must be a positive integer; got {num_frames!r}")
    times, xy = _key_arrays(keypoints, float(fps), time_unit)
    path = interpolate_keypoints(times, xy, np.arange(num_frames), interpolation)
    return Tracks(path[:, None, :], np.ones((num_frames, 1), bool), fps, width, height, (kind,))


def static_points(points: Sequence[Sequence[float]], num_frames: int, *, width: int, height: int,
                  fps: float = 16) -> Tracks:
    """Anchors: points that stay where they are (kind "static"), telling the model "this does not move"."""
    p = np.asarray(points, dtype=np.float32)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
        raise TrackError(f"points must be a non-empty list of (x, y); got shape {p.shape}")
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames <= 0:
        raise TrackError(f"num_frames must be a positive integer; got {num_frames!r}")
    path = np.broadcast_to(p[None], (num_frames,) + p.shape)
    return Tracks(path, np.ones(path.shape[:2], bool), fps, width, height, ("static",) * len(p))


def group_drag(points: Sequence[Sequence[float]], keypoints: Sequence[Sequence[float]], num_frames: int,
               interpolation: str = "linear", *, width: int, height: int, fps: float = 16,
               time_unit: str = "frame") -> Tracks:
    """Several points dragged together: each moves by the handle's displacement.

    The handle follows ``keypoints`` = [(time, x, y), ...]; at frame t every point is at
    ``point + handle(t) - handle(first key)`` (a rigid translation, e.g. all points on one object).
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
        raise TrackError(f"points must be a non-empty list of (x, y); got shape {p.shape}")
    handle = drag_track(keypoints, num_frames, interpolation, width=width, height=height, fps=fps,
                        time_unit=time_unit).path[:, 0].astype(np.float64)
    _, xy = _key_arrays(keypoints, float(fps), time_unit)
    path = p[None] + (handle - xy[0])[:, None, :]
    return Tracks(path, np.ones(path.shape[:2], bool), fps, width, height, ("drag",) * len(p))

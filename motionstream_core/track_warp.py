"""Dense motion from sparse tracks: the start image warped along the tracks (a rubber-sheet drag).

Every pixel moves by a kernel-weighted mean of the tracks' displacements since frame 0 (Nadaraya-Watson
regression with a Gaussian of ``radius`` px around each track's current position), shrunk towards a still
anchor: a pixel about two radii or more from every track stays where it is, so pinned points hold the
background and a drag carries the neighbourhood of its points. No learning: the reference a generator that
reads tracks is measured against (``motionstream eval --photos``: the ``warp`` row), the classic
point-based image deformation of drag editors, for the video case.

Layouts: image float/uint8 [H, W, C]; path float [T, N, 2] in pixels (x, y); visible bool [T, N].
"""

from __future__ import annotations

import cv2
import numpy as np

# the still anchor's weight: the Gaussian weight of a track two radii away (exp(-2^2 / 2))
STILL_WEIGHT = float(np.exp(-2.0))


def track_displacement(points: np.ndarray, now: np.ndarray, start: np.ndarray, radius: float) -> np.ndarray:
    """float32 [P, 2]: the backward displacement (where each of ``points`` [P, 2] came from is ``points -
    result``) given tracks at ``now`` [N, 2] that started at ``start`` [N, 2] (only tracks visible in both)."""
    assert radius > 0, f"radius must be positive, got {radius}"
    assert now.shape == start.shape and now.ndim == 2 and now.shape[1] == 2, (now.shape, start.shape)
    if len(now) == 0:
        return np.zeros((len(points), 2), np.float32)
    d2 = ((points[:, None, :] - now[None, :, :]) ** 2).sum(-1)  # [P, N]
    w = np.exp(-d2 / (2 * radius ** 2))
    moved = w @ (now - start)  # [P, 2]
    return (moved / (w.sum(1, keepdims=True) + STILL_WEIGHT)).astype(np.float32)


def warp_image(image: np.ndarray, path: np.ndarray, visible: np.ndarray, radius: float) -> np.ndarray:
    """[T, H, W, C] of ``image``'s dtype: frame t is ``image`` warped by the tracks' motion from frame 0 to t
    (frame 0 is the image itself; a track counts in frame t when it is visible in frame 0 and in t)."""
    assert path.ndim == 3 and path.shape[2] == 2, f"path must be [T, N, 2], got {path.shape}"
    assert visible.shape == path.shape[:2], f"visible {visible.shape} must be path's [T, N] {path.shape[:2]}"
    H, W = image.shape[:2]
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    grid = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1)  # pixel centres, the tracks' convention
    out = [image]
    for t in range(1, len(path)):
        keep = visible[0] & visible[t]
        d = track_displacement(grid, path[t, keep], path[0, keep], radius).reshape(H, W, 2)
        out.append(cv2.remap(image, xs - d[..., 0], ys - d[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT).reshape(image.shape))
    return np.stack(out)

"""Dense motion from sparse tracks: the start image warped along the tracks (a rubber-sheet drag).

Every pixel moves by a kernel-weighted mean of the tracks' displacements since frame 0 (Nadaraya-Watson
regression with a Gaussian of ``radius`` px around each track's current position), shrunk towards a still
anchor: a pixel about two radii or more from every track stays where it is, so pinned points hold the
background and a drag carries the neighbourhood of its points. No learning: the classic point-based image
deformation of drag editors, for the video case. Two uses: the reference a generator that reads tracks is
measured against (``warp_image``; ``motionstream eval --photos``: the ``warp`` row), and a model's image slot:
its start image warped along its tracks (``warp_frames``; the ``warp`` reference of a parameterisation), so that the change it learns
is zero wherever the drag is such a move.

A track that hides (occluded, or off the frame) holds its last visible point (``hold_hidden``): what it carried
stays where it left it instead of snapping back to the start image.

Layouts: image uint8/float [H, W, C]; path float [T, N, 2] in pixels (x, y); visible bool [T, N].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


# the still anchor's weight: the Gaussian weight of a track two radii away (exp(-2^2 / 2))
STILL_WEIGHT = float(np.exp(-2.0))


def track_displacement(points: Tensor, now: Tensor, start: Tensor, radius: float) -> Tensor:
    """float32 [P, 2]: the backward displacement (where each of ``points`` [P, 2] came from is ``points -
    result``) given tracks at ``now`` [N, 2] that started at ``start`` [N, 2] (pass only the tracks that count)."""
    assert radius > 0, f"radius must be positive, got {radius}"
    assert now.shape == start.shape and now.ndim == 2 and now.shape[1] == 2, (tuple(now.shape), tuple(start.shape))
    points, now, start = points.float(), now.float().to(points.device), start.float().to(points.device)
    if len(now) == 0:
        return points.new_zeros(len(points), 2)
    w = torch.exp(-torch.cdist(points, now).pow(2) / (2 * radius ** 2))  # [P, N]
    return (w @ (now - start)) / (w.sum(1, keepdim=True) + STILL_WEIGHT)


def hold_hidden(path: Tensor, visible: Tensor, last: Tensor | None = None, have: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Tracks that hide keep what they carried where they last put it: path [T, N, 2] px, visible [T, N] -> (path
    [T, N, 2] with every hidden frame of a track that has been visible at its last visible point, counts [T, N]: the
    frames from each track's first visible one on, last [N, 2], have [N]: each track's last visible point after these
    frames and whether it has one). ``last`` / ``have``: the same before these frames (a stream's earlier chunks;
    None: the first frames of the video). A hidden track that reappears moves on from where it reappears."""
    T, N = visible.shape
    assert path.shape == (T, N, 2), f"path {tuple(path.shape)} must be [T, N, 2] for visible {tuple(visible.shape)}"
    cur = path.new_zeros(N, 2).float() if last is None else last.to(path.device).float().clone()
    got = torch.zeros(N, dtype=torch.bool, device=visible.device) if have is None else have.to(visible.device).clone()
    held, counts = [], []
    for t in range(T):
        v = visible[t]
        cur = torch.where(v[:, None], path[t].float(), cur)
        got = got | v
        held.append(cur)
        counts.append(got)
    return torch.stack(held), torch.stack(counts), cur, got


def warp_frames(image: Tensor, path: Tensor, visible: Tensor, anchor: Tensor, seen: Tensor, radius: float) -> Tensor:
    """``image`` [3, H, W] float warped along the tracks to each of their frames -> [3, T, H, W].

    path [T, N, 2] px, visible [T, N]; anchor [N, 2]: where each track started (its first visible point), ``seen``
    [N]: whether it has started. In frame t a track counts when it has started and is visible in t; every pixel moves
    by ``track_displacement`` (bilinear, the border mirrored)."""
    _, H, W = image.shape
    T = path.shape[0]
    assert visible.shape == path.shape[:2], \
        f"visible {tuple(visible.shape)} must be path's [T, N] {tuple(path.shape[:2])}"
    dev = image.device
    ys, xs = torch.meshgrid(torch.arange(H, device=dev) + 0.5, torch.arange(W, device=dev) + 0.5, indexing="ij")
    pixels = torch.stack([xs.flatten(), ys.flatten()], 1)  # [H * W, 2]: pixel centres, the tracks' convention
    path, visible, anchor, seen = path.to(dev).float(), visible.to(dev), anchor.to(dev).float(), seen.to(dev)
    src = torch.stack([pixels - track_displacement(pixels, path[t, visible[t] & seen], anchor[visible[t] & seen],
                                                   radius) for t in range(T)])  # [T, H * W, 2]
    grid = torch.stack([src[..., 0] / W * 2 - 1, src[..., 1] / H * 2 - 1], -1).view(T, H, W, 2)
    moved = F.grid_sample(image.float()[None].expand(T, -1, -1, -1), grid, mode="bilinear",
                          padding_mode="reflection", align_corners=False)  # [T, 3, H, W]
    return moved.transpose(0, 1)


def warp_image(image: np.ndarray, path: np.ndarray, visible: np.ndarray, radius: float) -> np.ndarray:
    """[T, H, W, C] of ``image``'s dtype: frame t is ``image`` [H, W, C] warped by the tracks' motion from frame 0 to
    t (``warp_frames`` with the tracks visible in frame 0 anchored there: frame 0 is the image itself; a track that
    hides holds its last visible point, ``hold_hidden``)."""
    assert path.ndim == 3 and path.shape[2] == 2, f"path must be [T, N, 2], got {path.shape}"
    assert visible.shape == path.shape[:2], f"visible {visible.shape} must be path's [T, N] {path.shape[:2]}"
    path, visible = torch.tensor(np.asarray(path, np.float32)), torch.tensor(np.asarray(visible, bool))
    img = torch.from_numpy(np.ascontiguousarray(image)).float().permute(2, 0, 1)  # [C, H, W]
    start, seen = path[0], visible[0]
    path, visible, _, _ = hold_hidden(path, visible)
    out = warp_frames(img, path, visible & seen, start, seen, radius).permute(1, 2, 3, 0).numpy()  # [T, H, W, C]
    if np.issubdtype(image.dtype, np.integer):
        out = np.clip(np.rint(out), np.iinfo(image.dtype).min, np.iinfo(image.dtype).max)
    return out.astype(image.dtype)

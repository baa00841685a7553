"""Dense motion from sparse tracks: the start image warped along the tracks (a rubber-sheet drag).

Every pixel moves by a kernel-weighted mean of the tracks' displacements since frame 0 (Nadaraya-Watson
regression with a Gaussian of ``radius`` px around each track's current position), shrunk towards a still
anchor: a pixel about two radii or more from every track stays where it is, so pinned points hold the
background and a drag carries the neighbourhood of its points. No learning: the classic point-based image
deformation of drag editors, for the video case. Two uses: the reference a generator that reads tracks is
measured against (``warp_image``; ``motionstream eval --photos``: the ``warp`` row), and a model's image slot
warped along its tracks (``warp_latent``; ``ModelConfig.slot_warp``), so that the change it learns is zero
wherever the drag is such a move.

Layouts: image uint8/float [H, W, C]; path float [T, N, 2] in pixels (x, y); visible bool [T, N].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .track_head import first_visible

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


def warp_image(image: np.ndarray, path: np.ndarray, visible: np.ndarray, radius: float) -> np.ndarray:
    """[T, H, W, C] of ``image``'s dtype: frame t is ``image`` warped by the tracks' motion from frame 0 to t
    (frame 0 is the image itself; a track counts in frame t when it is visible in frame 0 and in t)."""
    import cv2

    assert path.ndim == 3 and path.shape[2] == 2, f"path must be [T, N, 2], got {path.shape}"
    assert visible.shape == path.shape[:2], f"visible {visible.shape} must be path's [T, N] {path.shape[:2]}"
    H, W = image.shape[:2]
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    grid = torch.from_numpy(np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1))  # pixel centres, the tracks' convention
    path = torch.tensor(np.asarray(path, np.float32))  # a copy: the caller's array may be read-only
    out = [image]
    for t in range(1, len(path)):
        keep = torch.as_tensor(visible[0] & visible[t])
        d = track_displacement(grid, path[t, keep], path[0, keep], radius).reshape(H, W, 2).numpy()
        out.append(cv2.remap(image, xs - d[..., 0], ys - d[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT).reshape(image.shape))
    return np.stack(out)


def warp_latent(image_latent: Tensor, path: Tensor, visible: Tensor, anchor: Tensor, seen: Tensor, height: int,
                width: int, radius: float, starts_video: bool, pack: int) -> Tensor:
    """The start image's latent [C, h, w] (covering height x width px) warped along the tracks to each latent frame
    of a run of pixel frames -> [C, T_latent, h, w] float32 (``ModelConfig.slot_warp``).

    path [T, N, 2] px and visible [T, N] cover exactly the pixel frames of the latent frames wanted
    (``track_head.pixel_range``), as for the track head; anchor [N, 2] px: where each track started (its first
    visible point), ``seen`` [N]: whether it has started. A latent frame moves by the mean of its ``pack`` pixel
    frames' displacement fields at the latent cells' centres (with ``starts_video`` latent frame 0 is pixel frame
    0 alone: the image itself); bilinear, the border repeated.
    """
    C, h, w = image_latent.shape
    T = path.shape[0]
    assert visible.shape == path.shape[:2], \
        f"visible {tuple(visible.shape)} must be path's [T, N] {tuple(path.shape[:2])}"
    assert (T - (1 if starts_video else 0)) % pack == 0, f"{T} pixel frames do not pack into latent frames of {pack}"
    dev = image_latent.device
    ys, xs = torch.meshgrid((torch.arange(h, device=dev) + 0.5) * (height / h),
                            (torch.arange(w, device=dev) + 0.5) * (width / w), indexing="ij")
    cells = torch.stack([xs.flatten(), ys.flatten()], 1)  # [h * w, 2] px
    path, visible, anchor, seen = path.to(dev).float(), visible.to(dev), anchor.to(dev).float(), seen.to(dev)
    shifts = torch.stack([track_displacement(cells, path[t, visible[t] & seen], anchor[visible[t] & seen], radius)
                          for t in range(T)])  # [T, h * w, 2]
    frames = []
    if starts_video:
        frames.append(image_latent.float())
        shifts = shifts[1:]
    if len(shifts):
        mean = shifts.view(-1, pack, h * w, 2).mean(1)  # [F, h * w, 2]
        src = cells[None] - mean
        grid = torch.stack([src[..., 0] / width * 2 - 1, src[..., 1] / height * 2 - 1], -1).view(-1, h, w, 2)
        moved = F.grid_sample(image_latent.float()[None].expand(len(grid), -1, -1, -1), grid, mode="bilinear",
                              padding_mode="border", align_corners=False)  # [F, C, h, w]
        frames.extend(moved.unbind(0))
    return torch.stack(frames, 1)


class TrackAnchors:
    """A stream's per-slot track anchors (first visible point), fixed the first time a slot is visible, so that
    warping chunk by chunk gives what ``first_visible`` over the whole video gives. ``slots`` at most."""

    def __init__(self, slots: int, device=None):
        self.xy = torch.zeros(slots, 2, device=device)
        self.seen = torch.zeros(slots, dtype=torch.bool, device=device)

    def update(self, path: Tensor, visible: Tensor) -> tuple[Tensor, Tensor]:
        """The next pixel frames' tracks, path [T, N, 2] px, visible [T, N] -> (anchor [N, 2], seen [N])."""
        N = path.shape[1]
        visible = visible.to(self.seen.device)
        new = ~self.seen[:N] & visible.any(0)
        if bool(new.any()):
            xy, _ = first_visible(path.to(self.seen.device, torch.float32)[:, new], visible[:, new])
            self.xy[new.nonzero().flatten()] = xy
            self.seen[:N] |= new
        return self.xy[:N], self.seen[:N]

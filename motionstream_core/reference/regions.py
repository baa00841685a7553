"""Cut-and-drag references in pixels: regions moved along their tracks, the rest by the kernel warp, holes marked.

Frame t of a reference (Time-to-Move's crude animation, arXiv 2511.08633) is made in three layers:

1. the start image moved by the kernel warp (``kernel.warp_frames``) along every visible track without a
   region -- drags, pins and camera tracks (a camera path's grid of tracks is a dense field, so the whole
   frame follows it; where no camera track lands, e.g. what a pan brings in, is a hole);
2. each region (a polygon in pixels of the start image, ``Tracks.regions``) cut from the start image and
   pasted where its tracks moved it: tracks with the same polygon form one region; one visible track
   translates it by its displacement since its first visible point, two give the similarity (rotation and
   scale about them) that carries the first two to where they are; with none visible the region stays
   where it was last moved;
3. holes -- the pixels a region left that no moved region covers -- filled with a blur of their
   surroundings (normalised convolution), so the reference says "background" there without a copy of
   the region.

Alongside, per pixel frame: ``held`` (what the drags placed: the moved regions, pixels the kernel warp moved
by half a pixel or more, everything a camera path covers) and ``holes``. The dual clock holds ``held`` to the
reference down to t_strong and frees the rest from t_weak (``stream``).

Layouts: image float [3, H, W] in [0, 1]; path [T, N, 2] px, visible [T, N] bool; masks bool [T, H, W].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .kernel import STILL_WEIGHT, track_displacement

MOVED_PX = 0.5  # a kernel-warped pixel is held when it moved at least this far


def polygon_mask(polygon: np.ndarray, height: int, width: int) -> Tensor:
    """bool [H, W]: the pixels whose centres lie inside ``polygon`` [K, 2] px (even-odd rule)."""
    ys, xs = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    inside = np.zeros((height, width), bool)
    p = np.asarray(polygon, np.float64)
    for (x0, y0), (x1, y1) in zip(p, np.roll(p, -1, 0)):
        if y0 == y1:
            continue
        crosses = (ys >= min(y0, y1)) & (ys < max(y0, y1))
        x_at = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xs < x_at)
    return torch.from_numpy(inside)


def region_groups(regions) -> list[tuple[np.ndarray, list[int]]]:
    """Tracks sharing one polygon form one region: [(polygon, track indices)], in order of first appearance."""
    groups: dict[bytes, tuple[np.ndarray, list[int]]] = {}
    for i, r in enumerate(regions):
        if r is not None:
            key = np.ascontiguousarray(r, np.float32).tobytes()
            groups.setdefault(key, (np.asarray(r, np.float32), []))[1].append(i)
    return list(groups.values())


def similarity(anchors: Tensor, now: Tensor) -> Tensor:
    """The 2x3 forward map [[a, -b, tx], [b, a, ty]] taking ``anchors`` [k, 2] to ``now`` [k, 2]: k = 1 a translation,
    k >= 2 the similarity of the first two (a translation when they started at one point)."""
    a0, n0 = anchors[0].double(), now[0].double()
    s = torch.tensor([1.0, 0.0], dtype=torch.float64)
    if len(anchors) >= 2:
        da, dn = anchors[1].double() - a0, now[1].double() - n0
        if float(da.pow(2).sum()) > 1e-12:  # (dn / da) as complex numbers
            s = torch.stack([dn[0] * da[0] + dn[1] * da[1], dn[1] * da[0] - dn[0] * da[1]]) / da.pow(2).sum()
    a, b = s
    t = n0 - torch.stack([a * a0[0] - b * a0[1], b * a0[0] + a * a0[1]])
    return torch.stack([torch.stack([a, -b, t[0]]), torch.stack([b, a, t[1]])])


def _inverse(m: Tensor) -> Tensor:
    full = torch.cat([m, torch.tensor([[0.0, 0.0, 1.0]], dtype=m.dtype)])
    return torch.linalg.inv(full)[:2]


def _sample(x: Tensor, src: Tensor, mode: str, padding: str = "zeros") -> Tensor:
    """``x`` [C, H, W] sampled at pixel positions ``src`` [H, W, 2] (x, y px, centres at +0.5); outside: zeros, or
    (``padding="reflection"``) the image mirrored at its border, as the kernel warp samples."""
    _, H, W = x.shape
    grid = torch.stack([src[..., 0] / W * 2 - 1, src[..., 1] / H * 2 - 1], -1)[None].to(x.dtype)
    return F.grid_sample(x[None], grid, mode=mode, padding_mode=padding, align_corners=False)[0]


def fill_holes(image: Tensor, holes: Tensor, scale: int = 8) -> Tensor:
    """``image`` [3, H, W] with the pixels of ``holes`` [H, W] replaced by a blur of the pixels around them
    (normalised convolution at 1/``scale`` size, blurred until every hole is reached)."""
    if not holes.any():
        return image
    _, H, W = image.shape
    keep = (~holes).to(image.dtype)[None]
    num = F.avg_pool2d((image * keep)[None], scale, ceil_mode=True)
    den = F.avg_pool2d(keep[None], scale, ceil_mode=True)
    for _ in range(max(num.shape[-2:])):
        if bool((den > 1e-6).all()):
            break
        num = F.avg_pool2d(num, 3, 1, 1, count_include_pad=False)
        den = F.avg_pool2d(den, 3, 1, 1, count_include_pad=False)
    blur = F.interpolate(num / den.clamp(min=1e-6), size=(H, W), mode="bilinear", align_corners=False)[0]
    return torch.where(holes[None], blur.clamp(0, 1), image)


class RegionLayer:
    """The regions of one run's tracks: their source masks made once (``regions``: ``Tracks.regions`` per slot).
    ``transforms`` remembers each region's last move, so a region whose tracks all hide stays where it was."""

    def __init__(self, regions, height: int, width: int, previous: "RegionLayer | None" = None, device=None):
        self.regions = tuple(None if r is None else np.ascontiguousarray(r, np.float32).tobytes() for r in regions)
        groups = region_groups(regions)
        self.keys = [np.ascontiguousarray(p, np.float32).tobytes() for p, _ in groups]
        self.groups = [(polygon_mask(p, height, width).to(device), idx) for p, idx in groups]
        self.last = [None] * len(self.groups)
        if previous is not None:  # more slots (a live region appeared): the regions moved so far keep their moves
            for g, key in enumerate(self.keys):
                if key in previous.keys:
                    self.last[g] = previous.last[previous.keys.index(key)]
        ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
        self.pixels = torch.stack([xs, ys], -1).double().to(device)  # [H, W, 2]: pixel centres

    @property
    def tracks(self) -> set[int]:
        return {i for _, idx in self.groups for i in idx}

    def frame(self, image: Tensor, base: Tensor, path: Tensor, visible: Tensor, anchor: Tensor, seen: Tensor
              ) -> tuple[Tensor, Tensor, Tensor]:
        """One pixel frame: ``base`` [3, H, W] (the kernel-warped layer) with every region pasted where its tracks
        (path [N, 2], visible [N] in this frame; anchor [N, 2], seen [N]) put it -> (frame, moved [H, W], left
        [H, W]): the pasted pixels and the pixels regions left."""
        dev = image.device
        out = base.clone()
        moved = torch.zeros(base.shape[1:], dtype=torch.bool, device=dev)
        left = torch.zeros_like(moved)
        for g, (mask, idx) in enumerate(self.groups):
            on = [i for i in idx if i < len(visible) and bool(visible[i]) and bool(seen[i])]
            if on:
                self.last[g] = similarity(anchor[on].cpu(), path[on].cpu())
            m = self.last[g]
            if m is None:  # not started: the region is where it is in the start image, unmoved
                continue
            m = m.to(dev)
            src = (self.pixels.to(dev) - m[:, 2]) @ _inverse(m)[:, :2].T  # backward map: where each pixel came from
            cut = _sample(mask[None].to(dev, image.dtype), src, "nearest")[0] > 0.5
            pixels = _sample(image, src, "bilinear")
            out = torch.where(cut[None], pixels, out)
            moved |= cut
            left |= mask.to(dev)
        return out, moved, left & ~moved


def reference_frames(image: Tensor, path: Tensor, visible: Tensor, anchor: Tensor, seen: Tensor, radius: float,
                     layer: RegionLayer, camera: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Frames ``[3, T, H, W]``, held ``[T, H, W]`` and holes ``[T, H, W]`` for path [T, N, 2] / visible [T, N]
    (anchor [N, 2], seen [N]: where each track started). ``layer``: the run's regions (its tracks are left out of
    the kernel warp); ``camera`` bool [N]: the camera tracks (their field covers the frame; uncovered is a hole)."""
    _, H, W = image.shape
    T, N = visible.shape
    dev = image.device
    # the tracks are small: indexed on the CPU, moved to the image's device where they meet pixels
    path, visible, anchor, seen = path.cpu().float(), visible.cpu(), anchor.cpu().float(), seen.cpu()
    pixels = layer.pixels.float().view(-1, 2).to(dev)
    free = torch.ones(N, dtype=torch.bool)
    for i in layer.tracks:
        free[i] = False
    camera = torch.zeros(N, dtype=torch.bool) if camera is None else camera.cpu()
    frames, held, holes = [], [], []
    spacing = _spacing(anchor[camera & seen]) if bool((camera & seen).any()) else 0.0
    for t in range(T):
        use = visible[t] & seen & free
        drag, cam = use & ~camera, use & camera
        disp = track_displacement(pixels, path[t, drag], anchor[drag], radius)  # [H * W, 2]
        hold = (disp.norm(dim=1) >= MOVED_PX).view(H, W)
        gap = torch.zeros(H, W, dtype=torch.bool, device=dev)
        if cam.any():  # the camera moves everything: its grid's field, interpolated without the still anchor
            now = path[t, cam].float().to(dev)
            w = torch.exp(-torch.cdist(pixels, now).pow(2) / (2 * spacing ** 2))  # [H * W, n]
            total = w.sum(1, keepdim=True)
            disp = disp + (w @ (now - anchor[cam].to(dev))) / total.clamp(min=1e-12)
        src = (pixels - disp).view(H, W, 2)
        if cam.any():  # what no camera track lands near, or what comes from outside the image, is a hole
            covered = (total[:, 0] >= STILL_WEIGHT).view(H, W)
            outside = (src[..., 0] < 0) | (src[..., 0] > W) | (src[..., 1] < 0) | (src[..., 1] > H)
            gap = ~covered | outside
            hold = ~gap
        # a camera path brings in what lies outside the image (holes); the kernel warp mirrors at the border
        base = _sample(image, src, "bilinear", "zeros" if cam.any() else "reflection")
        frame, moved, left = layer.frame(image, base, path[t], visible[t], anchor, seen)
        hole = (left | gap) & ~moved
        frames.append(fill_holes(frame, hole))
        held.append((hold & ~hole) | moved)
        holes.append(hole)
    return torch.stack(frames, 1), torch.stack(held), torch.stack(holes)



def _spacing(points: Tensor) -> float:
    """The median distance from each point to its nearest neighbour (a camera grid's spacing), at least 1 px."""
    if len(points) < 2:
        return 1e6  # one camera point: a translation of the whole frame
    d = torch.cdist(points.float(), points.float())
    d.fill_diagonal_(float("inf"))
    return max(float(d.min(1).values.median()), 1.0)

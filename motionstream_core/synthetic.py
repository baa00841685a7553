"""Synthetic training clips for the embedded demo model: textured shapes moving along known tracks.

Every clip is a pure function of ``(seed, config)``. A clip is a textured background (smooth noise,
stripes, checker, dots or a shaded gradient, in one colour and its tints) seen by a camera that may
pan, zoom and roll, with 1-4 textured shapes drawn over it in a fixed order (the first shape is the
lowest layer). Shapes move along varied paths (still, linear, curved, bouncing, accelerating, orbit,
leaving or entering the frame), may rotate and grow, pass over one another and leave the frame.

Ground truth is exact because the renderer and the tracks share one affine map per layer and frame:
each layer is a sprite (RGB texture + antialiased alpha, drawn supersampled) warped with bilinear
interpolation, and a point on a layer is tracked by applying that same map to its sprite coordinate.

Conventions (those of ``Tracks``): pixel (row i, column j) covers [j, j+1) x [i, i+1), so its centre
is (j + 0.5, i + 0.5) -- add 0.5 to OpenCV coordinates. A point is *in frame* when 0 <= x < W and
0 <= y < H; it is *visible* when it is in frame and no layer above its own has alpha >= 0.5 at its
position (alpha sampled bilinearly, exactly as the layer is rendered).
Tracks are shuffled, so their first k columns are a random subset; ``owner`` says which shape each
track belongs to (-1: background).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Optional

import cv2
import numpy as np
import torch

from .tracks import Tracks

from .synthetic_draw import (CAPTION_MIN_PIXELS, CAPTION_WORDS, COLOURS, MOTIONS, PATTERNS,  # noqa: F401
                             SHAPE_COLOURS, SHAPES, _RGB, _Layer, _alpha_at, _background, _centre_path, _direction,
                             _smooth_noise, _sprite_alpha)


@dataclass(frozen=True)
class SyntheticClipConfig:
    """What the generator draws. Speeds are pixels per frame at 128 px and scale with min(H, W)."""

    height: int = 128
    width: int = 128
    num_frames: int = 33
    fps: int = 16
    min_shapes: int = 1
    max_shapes: int = 4
    num_points: int = 64  # tracks per clip (fixed, so clips batch)
    background_point_fraction: float = 0.3
    camera_motion_prob: float = 0.35
    occlusion_prob: float = 0.5  # probability that one shape is aimed to cross another mid-clip
    rotation_prob: float = 0.35
    scale_change_prob: float = 0.2
    min_speed: float = 0.4
    max_speed: float = 3.0
    shape_radius: tuple[float, float] = (0.1, 0.2)  # as a fraction of min(H, W)
    motion_weights: tuple[tuple[str, float], ...] = (
        ("still", 0.6), ("linear", 2.0), ("curved", 2.0), ("bouncing", 1.5), ("accelerating", 1.0),
        ("orbit", 1.0), ("exit", 0.8), ("enter", 0.8))
    texture_strength: float = 1.0  # 0 gives flat shapes and backgrounds (untrackable; for ablations)
    # cell size (px at 128 px) of the fine texture on shapes and backgrounds. Coarser than the 8x latent
    # grid's Nyquist limit on purpose: a tiny autoencoder cannot rebuild 2-4 px speckle, and the blurred
    # shapes it returns instead are flat blobs no tracker can follow (the eval measures exactly that).
    texture_cell: float = 6.0
    supersample: int = 4  # shape masks are drawn this many times larger, then area-downsampled

    def __post_init__(self) -> None:
        def check(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(f"SyntheticClipConfig: {msg}")
        for name in ("height", "width", "num_frames", "fps", "min_shapes", "max_shapes", "num_points", "supersample"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, f"{name} must be a positive integer, got {value!r}")
        check(self.height >= 16 and self.width >= 16, f"size {self.width}x{self.height} is too small (min 16x16)")
        check(self.min_shapes <= self.max_shapes <= len(SHAPES), f"needs min_shapes <= max_shapes <= {len(SHAPES)}")
        for name in [f.name for f in fields(self) if f.name.endswith(("_prob", "_fraction"))]:
            check(0.0 <= getattr(self, name) <= 1.0, f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        check(0 <= self.min_speed <= self.max_speed, "needs 0 <= min_speed <= max_speed")
        check(self.texture_cell > 0, f"texture_cell must be positive, got {self.texture_cell!r}")
        lo, hi = self.shape_radius
        check(0 < lo <= hi <= 0.4, f"shape_radius must satisfy 0 < lo <= hi <= 0.4, got {self.shape_radius}")
        w = dict(self.motion_weights)
        check(set(w) <= set(MOTIONS) and min(w.values()) >= 0 and max(w.values()) > 0,
              f"motion_weights must give non-negative weights (some positive) to motions among {MOTIONS}")

    @property
    def unit(self) -> float:
        """Pixels per pixel-at-128: speeds, radii and texture cells scale with min(H, W)."""
        return min(self.height, self.width) / 128.0

    @classmethod
    def for_model(cls, model_config: Any, num_frames: int = 33, **overrides: Any) -> "SyntheticClipConfig":
        """Match a ``ModelConfig``'s output size and frame rate."""
        return cls(height=model_config.height, width=model_config.width, fps=model_config.stream.fps,
                   num_frames=num_frames, **overrides)


@dataclass(frozen=True)
class ShapeInfo:
    kind: str
    colour: str
    rgb: tuple[int, int, int]
    motion: str
    radius: float


@dataclass
class SyntheticClip:
    """One clip: frames uint8 [T,H,W,3], path float32 [T,N,2] px, visible bool [T,N], owner int16 [N]."""

    frames: np.ndarray
    path: np.ndarray
    visible: np.ndarray
    caption: str
    fps: int
    owner: np.ndarray
    shapes: tuple[ShapeInfo, ...]
    background: tuple[str, str]  # (pattern, colour)
    camera_motion: bool
    seed: int
    layers: Optional[np.ndarray] = field(default=None, repr=False)  # int8 [T,H,W] top layer, -1 bg

    height = property(lambda self: int(self.frames.shape[1]))
    width = property(lambda self: int(self.frames.shape[2]))

    def tracks(self):
        """The ground truth as the project's ``Tracks`` type."""
        return Tracks(path=self.path, visible=self.visible, fps=self.fps, width=self.width, height=self.height)


def _choose_colours(rng, n: int, avoid: tuple[np.ndarray, ...]) -> list[str]:
    """Up to n shape colours, far (in RGB) from the background's two colours and from each other."""
    chosen: list[str] = []
    for c in map(str, rng.permutation(SHAPE_COLOURS)):
        if all(np.linalg.norm(_RGB[c] - x) > 110 for x in [*avoid, *(_RGB[o] for o in chosen)]):
            chosen.append(c)
    return chosen[:n]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption_for(shapes: tuple[ShapeInfo, ...], background: tuple[str, str]) -> str:
    parts = [f"{_article(s.colour)} {s.colour} {s.kind}" for s in shapes]
    scene = f"{background[0]} {background[1]} background"
    if not parts:
        return f"{_article(scene)} {scene}"
    things = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{things} on {_article(scene)} {scene}"


def _select(rng, vis: np.ndarray, need: int) -> np.ndarray:
    """Pick `need` candidate columns: visible in frame 0 first, then visible somewhere; random within."""
    key = np.where(vis[0], 0, np.where(vis.any(0), 1, 2)) + rng.random(vis.shape[1])
    order = np.argsort(key, kind="stable")
    return order[:need][vis[:, order[:need]].any(0)]


def _make_layers(rng, cfg: SyntheticClipConfig, t: np.ndarray, bg_rgb) -> tuple[list[_Layer], list[ShapeInfo]]:
    """The shapes, bottom layer first: sprites, poses over time, and what the caption says of them."""
    H, W, T, unit = cfg.height, cfg.width, cfg.num_frames, cfg.unit
    n_shapes = int(rng.integers(cfg.min_shapes, cfg.max_shapes + 1))
    colours = _choose_colours(rng, n_shapes, bg_rgb)
    kinds = rng.choice(SHAPES, size=len(colours), replace=False)
    names, weights = zip(*cfg.motion_weights)
    probs = np.array(weights, np.float64) / sum(weights)
    layers, infos = [], []
    for kind, colour in zip(kinds, colours):
        r = rng.uniform(*cfg.shape_radius) * min(H, W)
        motion = str(names[rng.choice(len(names), p=probs)])
        centre = _centre_path(rng, motion, t, r, cfg, unit)
        spin = rng.uniform(0.01, 0.06) * rng.choice([-1, 1]) if rng.random() < cfg.rotation_prob else 0.0
        angle = rng.uniform(0, 2 * np.pi) + spin * t
        grow = rng.uniform(-0.25, 0.25) if rng.random() < cfg.scale_change_prob else 0.0
        scale = 1.0 + grow * t / max(T - 1, 1)
        alpha = _sprite_alpha(str(kind), r, cfg.supersample)
        s = alpha.shape[0]
        cell = cfg.texture_cell * unit
        # high-contrast blotches: texture that survives the autoencoder and gives a tracker a hold inside the shape
        pattern = np.tanh(2.5 * _smooth_noise(rng, s, s, rng.uniform(1.0, 1.5) * cell))
        rgb = _RGB[colour] + cfg.texture_strength * rng.uniform(40, 55) * pattern[..., None]
        layers.append(_Layer(np.clip(rgb, 0, 255).astype(np.float32), alpha, centre, angle, scale))
        infos.append(ShapeInfo(str(kind), colour, COLOURS[colour], motion, float(r)))
    if len(layers) > 1 and rng.random() < cfg.occlusion_prob:  # aim an upper shape through a lower one
        i, j = sorted(rng.choice(len(layers), size=2, replace=False))
        c = layers[i].centre
        ok = np.nonzero((c[:, 0] >= 0) & (c[:, 0] <= W - 1) & (c[:, 1] >= 0) & (c[:, 1] <= H - 1))[0]
        if len(ok):  # pass over shape i's centre at a frame where that centre is on screen
            tm = float(ok[int(rng.uniform(0.3, 0.7) * (len(ok) - 1))])
            v = _direction(rng) * rng.uniform(max(cfg.min_speed, 1.0), max(cfg.max_speed, 1.0)) * unit
            lj = layers[j]
            layers[j] = _Layer(lj.rgb, lj.alpha, c[int(tm)] + v * (t - tm)[:, None], lj.angle, lj.scale)
            infos[j] = ShapeInfo(infos[j].kind, infos[j].colour, infos[j].rgb, "crossing", infos[j].radius)
    return layers, infos


def make_clip(seed: int, config: Optional[SyntheticClipConfig] = None, *, heldout: bool = False,
              with_layers: bool = False, first_frame_only: bool = False) -> SyntheticClip:
    """The clip for ``seed`` (any int). ``heldout`` draws from a disjoint random stream (evaluation).
    ``with_layers`` also returns the top-layer index of every pixel (alpha >= 0.5), for tests.
    ``first_frame_only`` renders frame 0 alone (exactly the full clip's frame 0; tracks for every frame; the
    caption names what frame 0 shows): a start image without the memory of the whole clip."""
    cfg = config or SyntheticClipConfig()
    rng = np.random.default_rng(np.random.SeedSequence(int(seed) % (1 << 64), spawn_key=(1 if heldout else 0,)))
    H, W, T = cfg.height, cfg.width, cfg.num_frames
    t = np.arange(T, dtype=np.float64)
    camera = bool(rng.random() < cfg.camera_motion_prob)
    tex, background, cam, bg_rgb = _background(rng, cfg, camera)

    layers, infos = _make_layers(rng, cfg, t, bg_rgb)

    # Tracks: candidates on each shape's interior and on the background, then visibility.
    def visibility(x: np.ndarray, above: list[_Layer]) -> np.ndarray:
        vis = (x[..., 0] >= -0.5) & (x[..., 0] < W - 0.5) & (x[..., 1] >= -0.5) & (x[..., 1] < H - 0.5)
        for layer in above:
            vis &= _alpha_at(layer.alpha, layer.to_sprite(x)) < 0.5
        return vis

    n_bg = int(round(cfg.num_points * cfg.background_point_fraction)) if layers else cfg.num_points
    area = np.array([l.alpha.sum() for l in layers])
    quota = np.floor((cfg.num_points - n_bg) * area / max(area.sum(), 1e-6)).astype(int)
    if np.maximum(quota, 2).sum() <= cfg.num_points:
        quota = np.maximum(quota, 2)  # every shape gets a few tracks, however small
    paths, vises, owners = [], [], []
    for k, (layer, q) in enumerate(zip(layers, quota)):
        solid = (layer.alpha > 0.99).astype(np.uint8)  # points keep >= 2 px (else 1, 0) from the shape's edge
        if not solid.any():  # a shape too small (at a tiny frame size) for a fully covered pixel
            solid = (layer.alpha >= 0.9 * layer.alpha.max()).astype(np.uint8)
        for size in (5, 3, 1):
            ys, xs = np.nonzero(cv2.erode(solid, np.ones((size, size), np.uint8)))
            if len(xs) >= 4:
                break
        pick = rng.choice(len(xs), size=min(len(xs), max(4 * q, 32)), replace=False)
        cand = np.stack([xs[pick], ys[pick]], -1) + rng.uniform(-0.5, 0.5, size=(len(pick), 2))
        x = layer.to_screen(cand)
        vis = visibility(x, layers[k + 1:])
        keep = _select(rng, vis, q)
        paths.append(x[:, keep]), vises.append(vis[:, keep]), owners.append(np.full(len(keep), k))
    need = cfg.num_points - sum(len(o) for o in owners)  # the rest go on the background
    screen0 = rng.uniform([-0.5, -0.5], [W - 0.5, H - 0.5], size=(4 * need + 8, 2))
    inv0 = cv2.invertAffineTransform(cam[0])
    tex_pts = screen0 @ inv0[:, :2].T + inv0[:, 2]  # background points live in texture coordinates
    x = np.einsum("tij,nj->tni", cam[:, :, :2], tex_pts) + cam[:, None, :, 2]
    vis = visibility(x, layers)
    keep = _select(rng, vis, need)
    if len(keep) < need:  # shapes cover everything: allow never-visible background points
        keep = np.argsort(~vis.any(0), kind="stable")[:need]
    paths.append(x[:, keep]), vises.append(vis[:, keep]), owners.append(np.full(len(keep), -1))
    perm = rng.permutation(cfg.num_points)
    path = (np.concatenate(paths, 1)[:, perm] + 0.5).astype(np.float32)  # pixel centres -> Tracks' corners
    visible = np.concatenate(vises, 1)[:, perm]
    owner = np.concatenate(owners)[perm].astype(np.int16)

    shown_cam = cam[:1] if first_frame_only else cam
    canvas = [cv2.warpAffine(tex, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
              if camera else tex.copy() for m in shown_cam]
    label = np.full((len(canvas), H, W), -1, np.int8)
    for k, layer in enumerate(layers):
        _draw(canvas, layer, label, k)
    frames = np.stack([cv2.convertScaleAbs(c) for c in canvas])  # rounds; values already lie in [0, 255]
    shown = [int(np.count_nonzero(label == k, axis=(1, 2)).max()) >= CAPTION_MIN_PIXELS for k in range(len(layers))]
    caption = caption_for(tuple(s for s, on in zip(infos, shown) if on), background)
    return SyntheticClip(frames=frames, path=path, visible=visible, caption=caption,
                         fps=cfg.fps, owner=owner, shapes=tuple(infos), background=background, camera_motion=camera,
                         seed=int(seed), layers=label if with_layers else None)


def _draw(frames: list[np.ndarray], layer: _Layer, label: np.ndarray, k: int) -> None:
    """Alpha-blend one layer's sprite into every frame (float32 [H,W,3]) in the region it can reach."""
    H, W = frames[0].shape[:2]
    boxes = layer.box.clip(0, [W, H, W, H]).astype(int).tolist()
    rois = layer.fwd.copy()
    rois[:, :, 2] -= layer.box[:, :2].clip(0, [W, H])
    for f, (x0, y0, x1, y1) in enumerate(boxes[:len(frames)]):
        if x1 <= x0 or y1 <= y0:
            continue
        warped = cv2.warpAffine(layer.rgba, rois[f], (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        a = warped[..., 3:4]
        region = frames[f][y0:y1, x0:x1]
        region += (warped[..., :3] - region) * a
        label[f, y0:y1, x0:x1][a[..., 0] >= 0.5] = k


class SyntheticVideoDataset(torch.utils.data.IterableDataset):
    """Item i is ``make_clip(seed * 1_000_003 + i, config)``.

    Indexable (``ds[i]``) and iterable. Iteration covers items 0..length-1 (forever when ``length`` is
    None), split without overlap across DataLoader workers and, when torch.distributed is
    initialised, across ranks. Use ``collate_clips`` as the DataLoader's collate_fn.
    """

    def __init__(self, config: Optional[SyntheticClipConfig] = None, seed: int = 0, length: Optional[int] = None):
        self.config = config or SyntheticClipConfig()
        self.seed, self.length = int(seed), length
        if length is not None and length < 0:
            raise ValueError(f"SyntheticVideoDataset length must be >= 0, got {length}")

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("this SyntheticVideoDataset is endless (length=None)")
        return self.length

    def __getitem__(self, i: int) -> SyntheticClip:
        if i < 0 or (self.length is not None and i >= self.length):
            raise IndexError(f"SyntheticVideoDataset index {i} out of range (length {self.length})")
        return make_clip(self.seed * 1_000_003 + i, self.config)

    def __iter__(self) -> Iterator[SyntheticClip]:
        worker = torch.utils.data.get_worker_info()
        shard, shards = (worker.id, worker.num_workers) if worker else (0, 1)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            shard, shards = rank * shards + shard, world * shards
        i = shard
        while self.length is None or i < self.length:
            yield self[i]
            i += shards


def heldout_clips(n: int, config: Optional[SyntheticClipConfig] = None, start: int = 0) -> list[SyntheticClip]:
    """``n`` evaluation clips from a random stream disjoint from every training seed."""
    return [make_clip(start + i, config, heldout=True) for i in range(n)]


def collate_clips(clips: list[SyntheticClip]) -> dict[str, Any]:
    """Batch clips: frames uint8 [B,T,H,W,3], path float32 [B,T,N,2], visible bool [B,T,N],
    owner int16 [B,N] (as tensors), caption list[str], fps int."""
    fps = {c.fps for c in clips}
    if len(fps) != 1:
        raise ValueError(f"cannot batch clips with different fps: {sorted(fps)}")
    batch: dict[str, Any] = {k: torch.from_numpy(np.stack([getattr(c, k) for c in clips]))
                             for k in ("frames", "path", "visible", "owner")}
    return {**batch, "caption": [c.caption for c in clips], "fps": fps.pop()}

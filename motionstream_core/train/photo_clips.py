"""FlyingChairs-style training clips with natural-image statistics.

A clip is a photo background seen by a camera that may pan and zoom, with 1-3 layers moving over it
along random smooth paths (rotating and scaling a little). A layer is a region cut from a real photo
(or a tinted texture / smooth colour field) by a random antialiased blob, ellipse or rounded-box
mask. Ground truth is exact, as in ``motionstream_core.synthetic``: each layer (the background included) is a
sprite warped by one affine map per frame, and a tracked point is its sprite coordinate pushed
through the same map.

* Tracks: ``num_points`` per clip, ``background_point_fraction`` of them static points of the
  background (they move only with the camera), the rest inside the layers (where the mask is
  nearly opaque). ``owner`` says which layer a track belongs to (-1: background).
* Visibility: a point is visible when it is in frame (0 <= x < W, 0 <= y < H) and no layer above
  its own has alpha >= 0.5 at its position (alpha sampled bilinearly, as it is rendered).
* Scene and motion are drawn from separate seeds (``make_photo_clip(seed, motion_seed=...)``): the
  same scene (same first frame) with different motions is what tells apart a model that reads its
  tracks from one that memorised a clip's motion from its first frame (the overfit probe).

Conventions are those of ``Tracks``: pixel (row i, column j) covers [j, j+1) x [i, i+1).
Photos: the bundled images of scikit-image (``TRAIN_PHOTOS``, all CC0 or public domain; ``chelsea``
is left out: it is the shipped demo photo), plus those of a photo folder when ``photo_dir`` names one
(``photo_folder``: more photos, and RGBA cut-outs that become layers with real outlines). Evaluation
photos come from other packages (``eval_photos``).
Layout of the product: frames uint8 [T, H, W, 3], path float32 [T, N, 2] px, visible bool [T, N].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import cv2
import numpy as np

from .photo_folder import PhotoFolder, open_photo_folder

# scikit-image's bundled photos used for training, with their licences (skimage.data docstrings).
TRAIN_PHOTOS: dict[str, str] = {
    "astronaut": "public domain (NASA)", "coffee": "CC0 (Rachel Michetti)", "rocket": "public domain (SpaceX)",
    "hubble_deep_field": "public domain (NASA)", "retina": "CC0 (Mikael Haggstrom)",
    "camera": "CC0 (Lav Varshney)", "coins": "no known copyright restrictions (Brooklyn Museum)",
}
# Grey CC0 textures of the same package: tinted, they are the procedural-texture layers.
TRAIN_TEXTURES = ("brick", "grass", "gravel")


@dataclass(frozen=True)
class PhotoClipConfig:
    """What the renderer draws. Lengths are pixels at 128 px and scale with min(H, W) / 128."""

    height: int = 128
    width: int = 128
    num_frames: int = 33
    fps: int = 16
    num_points: int = 64
    min_layers: int = 1
    max_layers: int = 3
    background_point_fraction: float = 0.3
    camera_motion_prob: float = 0.5
    still_layer_prob: float = 0.15
    texture_layer_prob: float = 0.25
    min_size: float = 28.0  # layer diameter range, px at 128
    max_size: float = 64.0
    max_travel: float = 48.0  # a layer's end-to-end displacement over the clip, px at 128
    max_pan: float = 1.0  # camera pan speed, px a frame at 128
    photos: tuple[str, ...] = tuple(TRAIN_PHOTOS)
    # a folder of more photos and RGBA cut-outs (``photo_folder``): its photos join ``photos`` (backgrounds and
    # crops); a layer is one of its cut-outs (a real object's outline) with ``cutout_layer_prob``
    photo_dir: str = ""
    cutout_layer_prob: float = 0.4

    def __post_init__(self) -> None:
        if self.height < 16 or self.width < 16:
            raise ValueError(f"PhotoClipConfig: frames must be at least 16x16, got {self.width}x{self.height}")
        if self.num_frames < 2 or self.num_points < 1:
            raise ValueError("PhotoClipConfig: num_frames must be >= 2 and num_points >= 1")
        if not 1 <= self.min_layers <= self.max_layers:
            raise ValueError(f"PhotoClipConfig: need 1 <= min_layers <= max_layers, got {self.min_layers}, "
                             f"{self.max_layers}")
        if not self.photos:
            raise ValueError("PhotoClipConfig.photos is empty")
        if self.photo_dir:
            open_photo_folder(self.photo_dir)  # fails here, naming the folder, rather than mid-render

    @property
    def unit(self) -> float:
        return min(self.height, self.width) / 128.0

    @classmethod
    def for_model(cls, model_config, num_frames: int = 33, **overrides) -> "PhotoClipConfig":
        return cls(height=model_config.height, width=model_config.width, num_frames=num_frames,
                   fps=model_config.stream.fps, **overrides)


@dataclass
class PhotoClip:
    """One clip: frames uint8 [T,H,W,3], path float32 [T,N,2] px, visible bool [T,N], owner int16 [N]."""

    frames: np.ndarray
    path: np.ndarray
    visible: np.ndarray
    owner: np.ndarray
    caption: str
    fps: int
    seed: int
    motion_seed: int
    layers: Optional[np.ndarray] = None  # int8 [T, H, W]: the top layer with alpha >= 0.5 (-1: background)

    height = property(lambda self: int(self.frames.shape[1]))
    width = property(lambda self: int(self.frames.shape[2]))


# -- photos ---------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def train_photo(name: str) -> np.ndarray:
    """A bundled scikit-image photo as uint8 RGB [H, W, 3] (grey ones repeated to 3 channels)."""
    try:
        import skimage.data
    except ImportError as e:  # a training-only dependency
        raise ImportError("photo clips need scikit-image: pip install 'comfyui-motionstream[train]'") from e
    if name not in TRAIN_PHOTOS and name not in TRAIN_TEXTURES:
        raise ValueError(f"unknown training photo {name!r}; known: {', '.join(TRAIN_PHOTOS + TRAIN_TEXTURES)}")
    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def eval_photos() -> dict[str, tuple[np.ndarray, str]]:
    """Held-out photos from sources the training never reads: {name: (uint8 RGB, licence)}."""
    import matplotlib.cbook
    from sklearn.datasets import load_sample_image

    hopper = cv2.cvtColor(cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))),
                          cv2.COLOR_BGR2RGB)
    return {"china": (load_sample_image("china.jpg"), "CC-BY 2.0, danielbuechele (scikit-learn sample)"),
            "flower": (load_sample_image("flower.jpg"), "CC-BY 2.0, vultilion (scikit-learn sample)"),
            "grace_hopper": (hopper, "public domain, US Navy (matplotlib sample)")}


def _folder(cfg: PhotoClipConfig) -> Optional[PhotoFolder]:
    return open_photo_folder(cfg.photo_dir) if cfg.photo_dir else None


def _pick_photo(srng: np.random.Generator, cfg: PhotoClipConfig) -> np.ndarray:
    """A photo drawn uniformly from the bundled ``cfg.photos`` and the photo folder's photos."""
    folder = _folder(cfg)
    if folder is None:
        return train_photo(str(srng.choice(cfg.photos)))
    k = int(srng.integers(len(cfg.photos) + len(folder.photos)))
    return train_photo(cfg.photos[k]) if k < len(cfg.photos) else folder.photo(k - len(cfg.photos))


# -- layers ---------------------------------------------------------------------------------------

class _Layer:
    """A sprite (premultiplied RGB float [h, w, 3], alpha [h, w]) and its per-frame affine maps
    ``x = A[t] q + b[t]`` from sprite to screen coordinates (both with pixel centres at +0.5)."""

    def __init__(self, rgb: np.ndarray, alpha: np.ndarray, A: np.ndarray, b: np.ndarray, border: int):
        self.rgb, self.alpha, self.A, self.b, self.border = rgb, alpha, A, b, border

    def to_screen(self, q: np.ndarray) -> np.ndarray:
        """Sprite points [N, 2] -> screen [T, N, 2]."""
        return np.einsum("tij,nj->tni", self.A, q) + self.b[:, None]

    def to_sprite(self, x: np.ndarray, t: int) -> np.ndarray:
        return (x - self.b[t]) @ np.linalg.inv(self.A[t]).T

    def warp(self, t: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(premultiplied rgb [H, W, 3], alpha [H, W]) on screen at frame t."""
        A, b = self.A[t], self.b[t]
        m = np.concatenate([A, (b + A @ np.array([0.5, 0.5]) - 0.5)[:, None]], 1)  # to integer pixel centres
        rgba = np.concatenate([self.rgb, self.alpha[..., None]], 2)
        out = cv2.warpAffine(rgba, m, size, flags=cv2.INTER_LINEAR, borderMode=self.border, borderValue=0)
        return out[..., :3], out[..., 3]


def _alpha_at(alpha: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bilinear alpha [H, W] at screen points [N, 2] (zero outside)."""
    h, w = alpha.shape
    p = np.pad(alpha, 1)
    u, v = x[:, 0] - 0.5 + 1, x[:, 1] - 0.5 + 1
    u, v = np.clip(u, 0, w + 1 - 1e-4), np.clip(v, 0, h + 1 - 1e-4)
    i, j = np.floor(v).astype(int), np.floor(u).astype(int)
    i1, j1 = np.minimum(i + 1, h + 1), np.minimum(j + 1, w + 1)
    fv, fu = v - i, u - j
    return ((1 - fv) * ((1 - fu) * p[i, j] + fu * p[i, j1]) + fv * ((1 - fu) * p[i1, j] + fu * p[i1, j1]))


def _mask(rng: np.random.Generator, size: int, ss: int = 4) -> np.ndarray:
    """An antialiased random mask [size, size] in [0, 1]: a wobbly blob, an ellipse or a rounded box."""
    n = size * ss
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / n * 2 - 1
    kind = rng.integers(3)
    rot = rng.uniform(0, np.pi)
    xr, yr = xx * np.cos(rot) + yy * np.sin(rot), -xx * np.sin(rot) + yy * np.cos(rot)
    if kind == 0:
        r, phi = np.hypot(xx, yy), np.arctan2(yy, xx)
        edge = 0.8 * (1 + sum(rng.uniform(0, 0.12) * np.cos(k * phi + rng.uniform(0, 2 * np.pi)) for k in range(2, 6)))
        inside = r < edge
    elif kind == 1:
        a = rng.uniform(0.55, 0.95)
        inside = (xr / 0.95) ** 2 + (yr / a) ** 2 < 1
    else:
        a, rc = rng.uniform(0.45, 0.85), rng.uniform(0.1, 0.35)
        qx, qy = np.maximum(np.abs(xr) - (0.8 - rc), 0), np.maximum(np.abs(yr) - (a - rc), 0)
        inside = np.hypot(qx, qy) < rc
    return cv2.resize(inside.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


def _crop(rng: np.random.Generator, img: np.ndarray, frac: tuple[float, float], out: int) -> np.ndarray:
    """A random square crop of ``img`` covering ``frac`` of its short side, resized to ``out`` x ``out``."""
    h, w = img.shape[:2]
    side = max(8, int(min(h, w) * rng.uniform(*frac)))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = img[y:y + side, x:x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(np.ascontiguousarray(crop), (out, out), interpolation=cv2.INTER_AREA).astype(np.float32)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A tinted grey texture or a smooth random colour field, float RGB [size, size, 3] 0..255."""
    if rng.random() < 0.6:
        grey = _crop(rng, train_photo(str(rng.choice(TRAIN_TEXTURES))), (0.1, 0.4), size)[..., :1] / 255.0
        lo, hi = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        return lo + (hi - lo) * grey
    cells = int(rng.integers(2, 6))
    field = rng.uniform(0, 255, (cells, cells, 3)).astype(np.float32)
    return cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 255)


def _cutout(rng: np.random.Generator, folder: PhotoFolder, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A random cut-out of ``folder`` (flipped half the time), its long side scaled to ``size`` and centred in a
    ``size`` x ``size`` sprite: (float RGB [size, size, 3] 0..255 colour-jittered, float alpha [size, size])."""
    rgb, alpha = folder.cutout(int(rng.integers(len(folder.cutouts))))
    if rng.random() < 0.5:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
    h, w = alpha.shape
    s = size / max(h, w)
    nw, nh = max(1, min(size, round(w * s))), max(1, min(size, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    x0, y0 = (size - nw) // 2, (size - nh) // 2
    out_rgb = np.zeros((size, size, 3), np.float32)
    out_alpha = np.zeros((size, size), np.float32)
    out_rgb[y0:y0 + nh, x0:x0 + nw] = cv2.resize(np.ascontiguousarray(rgb), (nw, nh), interpolation=interp)
    out_alpha[y0:y0 + nh, x0:x0 + nw] = cv2.resize(np.ascontiguousarray(alpha), (nw, nh), interpolation=interp)
    return _jitter(rng, out_rgb), out_alpha.clip(0, 1)


def _jitter(rng: np.random.Generator, rgb: np.ndarray) -> np.ndarray:
    """Per-channel gain and a brightness offset, so a photo's colours vary from clip to clip."""
    return np.clip(rgb * rng.uniform(0.85, 1.15, 3) + rng.uniform(-20, 20), 0, 255).astype(np.float32)


_ZOOM = 0.006  # the camera's largest zoom rate (log scale a frame)


def _background(srng, mrng, cfg: PhotoClipConfig, T: int) -> _Layer:
    H, W, u = cfg.height, cfg.width, cfg.unit
    photo = _pick_photo(srng, cfg)
    if srng.random() < 0.5:
        photo = photo[:, ::-1]
    ph, pw = photo.shape[:2]
    cover = srng.uniform(1.25, 2.0) * max(H, W)  # screen pixels the photo's short side spans
    s = cover / min(ph, pw)
    size = (max(int(round(pw * s)), W + 2), max(int(round(ph * s)), H + 2))
    rgb = _jitter(srng, cv2.resize(np.ascontiguousarray(photo), size, interpolation=cv2.INTER_AREA))
    sw, sh = size
    t = np.arange(T, dtype=np.float64)
    moving = mrng.random() < cfg.camera_motion_prob
    pan = mrng.uniform(0, cfg.max_pan * u) * np.array([np.cos(a := mrng.uniform(0, 2 * np.pi)), np.sin(a)])
    zoom = mrng.uniform(-_ZOOM, _ZOOM)
    if not moving:
        pan, zoom = np.zeros(2), 0.0
    scale = np.exp(zoom * t)
    # frame 0 looks at sprite point ``mid`` (drawn from the scene seed alone, so every motion of a scene
    # starts from the same frame); then the view centre moves by -pan a frame, kept inside the sprite
    half = np.array([W, H]) / 2 * np.exp(_ZOOM * (T - 1))  # the widest view any zoom reaches
    extent = np.array([sw, sh], np.float64)
    mid = half + srng.uniform(0, 1, 2) * np.maximum(extent - 2 * half, 0)
    end = np.clip(mid - pan * (T - 1), half, np.maximum(extent - half, half))
    centre = mid[None] + (end - mid)[None] * (t / max(T - 1, 1))[:, None]
    A = scale[:, None, None] * np.eye(2)[None]
    b = np.array([W, H]) / 2 - np.einsum("tij,tj->ti", A, centre)
    return _Layer(rgb, np.ones((sh, sw), np.float32), A, b, cv2.BORDER_REFLECT_101)


def _object(srng, mrng, cfg: PhotoClipConfig, T: int) -> _Layer:
    H, W, u = cfg.height, cfg.width, cfg.unit
    size = int(round(srng.uniform(cfg.min_size, cfg.max_size) * u))
    folder = _folder(cfg)
    if folder is not None and folder.cutouts and srng.random() < cfg.cutout_layer_prob:
        rgb, alpha = _cutout(srng, folder, size)
        if not (alpha > 0.5).any():  # a thin object shrunk to nothing: a blob of it instead
            alpha = _mask(srng, size)
    else:
        if srng.random() < cfg.texture_layer_prob:
            rgb = _texture(srng, size)
        else:
            rgb = _jitter(srng, _crop(srng, _pick_photo(srng, cfg), (0.15, 0.6), size))
        alpha = _mask(srng, size)
    p0 = np.array([srng.uniform(0.15, 0.85) * W, srng.uniform(0.15, 0.85) * H])
    angle0, scale0 = srng.uniform(-0.3, 0.3), 1.0
    s = np.linspace(0.0, 1.0, T) ** mrng.uniform(0.7, 1.4)  # progress along the path (eases in or out)
    if mrng.random() < cfg.still_layer_prob:
        centre = np.repeat(p0[None], T, 0)
    else:
        length = mrng.uniform(4, cfg.max_travel) * u
        d = length * np.array([np.cos(a := mrng.uniform(0, 2 * np.pi)), np.sin(a)])
        bend = mrng.uniform(-0.5, 0.5) * length * np.array([-np.sin(a), np.cos(a)])
        ctrl = p0 + d / 2 + bend  # quadratic Bezier from p0 to p0 + d
        centre = ((1 - s) ** 2)[:, None] * p0 + (2 * s * (1 - s))[:, None] * ctrl + (s ** 2)[:, None] * (p0 + d)
    spin = mrng.uniform(-0.6, 0.6) if mrng.random() < 0.5 else 0.0
    grow = mrng.uniform(-0.3, 0.3) if mrng.random() < 0.3 else 0.0
    ang, sc = angle0 + spin * s, scale0 * np.exp(grow * s)
    A = sc[:, None, None] * np.stack([np.stack([np.cos(ang), -np.sin(ang)], -1),
                                      np.stack([np.sin(ang), np.cos(ang)], -1)], -2)
    b = centre - np.einsum("tij,j->ti", A, np.array([size / 2, size / 2]))
    return _Layer(rgb * alpha[..., None], alpha, A, b, cv2.BORDER_CONSTANT)


def make_photo_clip(seed: int, config: Optional[PhotoClipConfig] = None, motion_seed: Optional[int] = None) -> PhotoClip:
    """Render one clip; a pure function of ``(seed, motion_seed, config)`` (``motion_seed`` defaults
    to ``seed``). The scene (photos, layers, first positions) comes from ``seed`` alone."""
    cfg = config or PhotoClipConfig()
    motion_seed = seed if motion_seed is None else motion_seed
    srng = np.random.default_rng([int(seed) & 0xFFFF_FFFF, 0x5CE7E])
    mrng = np.random.default_rng([int(motion_seed) & 0xFFFF_FFFF, 0x7107])
    T, H, W = cfg.num_frames, cfg.height, cfg.width
    layers = [_background(srng, mrng, cfg, T)]
    for _ in range(int(srng.integers(cfg.min_layers, cfg.max_layers + 1))):
        layers.append(_object(srng, mrng, cfg, T))

    frames = np.zeros((T, H, W, 3), np.float32)
    alphas = np.zeros((len(layers), T, H, W), np.float32)
    for t in range(T):
        for k, layer in enumerate(layers):
            rgb, a = layer.warp(t, (W, H))
            frames[t] = frames[t] * (1 - a[..., None]) + rgb
            alphas[k, t] = a

    # points: background ones uniform over frame 0; layer ones on the nearly opaque part of the sprite
    N = cfg.num_points
    n_bg = int(round(N * cfg.background_point_fraction)) if len(layers) > 1 else N
    counts = [n_bg] + list(np.diff(np.linspace(0, N - n_bg, len(layers)).round().astype(int)))
    paths, owners = [], []
    for k, (layer, n) in enumerate(zip(layers, counts)):
        if n == 0:
            continue
        if k == 0:
            x0 = np.stack([srng.uniform(0, W, n), srng.uniform(0, H, n)], 1)
            q = layer.to_sprite(x0, 0)
        else:
            ys, xs = np.nonzero(layer.alpha > 0.9)
            if len(ys) == 0:
                ys, xs = np.nonzero(layer.alpha > 0.5)
            pick = srng.integers(0, len(ys), n)
            q = np.stack([xs[pick] + srng.uniform(0, 1, n), ys[pick] + srng.uniform(0, 1, n)], 1)
        paths.append(layer.to_screen(q))
        owners.append(np.full(n, k - 1, np.int16))
    path = np.concatenate(paths, 1)
    owner = np.concatenate(owners)
    visible = (path[..., 0] >= 0) & (path[..., 0] < W) & (path[..., 1] >= 0) & (path[..., 1] < H)
    for t in range(T):
        for k in range(1, len(layers)):  # occluded by any layer above its own
            covered = _alpha_at(alphas[k, t], path[t]) >= 0.5
            visible[t] &= ~(covered & (owner < k - 1))
    order = srng.permutation(N)
    top = np.full((T, H, W), -1, np.int8)
    for k in range(1, len(layers)):
        top[alphas[k] >= 0.5] = k - 1
    return PhotoClip(frames=np.clip(frames + 0.5, 0, 255).astype(np.uint8), path=path[:, order].astype(np.float32),
                     visible=visible[:, order], owner=owner[order], caption="", fps=cfg.fps, seed=int(seed),
                     motion_seed=int(motion_seed), layers=top)

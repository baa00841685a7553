"""The synthetic clips' vocabulary (colours, shapes, patterns, motions, caption words) and drawing: sprites and
their poses (``_Layer``), shape outlines, centre paths, textured backgrounds seen by a moving camera.

``synthetic.py`` renders clips with them (and re-exports the vocabulary).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Colour names and their RGB values. Shapes avoid the greys so that every shape colour has a hue.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "orange": (245, 140, 25), "yellow": (240, 220, 40), "green": (50, 170, 60),
    "cyan": (40, 205, 215), "blue": (40, 80, 225), "purple": (140, 60, 205), "pink": (245, 115, 185),
    "brown": (130, 80, 35), "white": (235, 235, 235), "gray": (128, 128, 128), "black": (25, 25, 25),
}
_RGB = {name: np.array(rgb, np.float32) for name, rgb in COLOURS.items()}
SHAPE_COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "white")
SHAPES = ("circle", "square", "triangle", "star", "ring", "hexagon", "diamond", "cross", "pentagon")
PATTERNS = ("cloudy", "striped", "checkered", "dotted", "shaded")
MOTIONS = ("still", "linear", "curved", "bouncing", "accelerating", "orbit", "exit", "enter")
# Every word a caption can contain (the demo text encoder's fixed vocabulary must include them all).
CAPTION_MIN_PIXELS = 12  # a shape is named when, in some frame, it is the top layer of this many pixels
CAPTION_WORDS = frozenset(("a", "an", "and", "on", "background") + tuple(COLOURS) + SHAPES + PATTERNS)


class _Layer:
    """A sprite (rgb float32 [S,S,3], alpha float32 [S,S]) and its pose per frame."""

    def __init__(self, rgb, alpha, centre, angle, scale):
        self.rgb, self.alpha = rgb, alpha
        self.origin = (alpha.shape[1] - 1) / 2.0, (alpha.shape[0] - 1) / 2.0
        self.rgba = np.ascontiguousarray(np.concatenate([rgb, alpha[..., None]], axis=-1))
        cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
        ox, oy = self.origin
        # screen = centre + s R(angle) (q - origin), as one 2x3 matrix per frame
        self.fwd = np.stack([np.stack([cos, -sin, centre[:, 0] - cos * ox + sin * oy], -1),
                             np.stack([sin, cos, centre[:, 1] - sin * ox - cos * oy], -1)], 1)
        self.centre, self.angle, self.scale = centre, angle, scale
        e = alpha.shape[0] - 1
        corners = self.to_screen(np.array([[0, 0], [e, 0], [0, e], [e, e]], np.float64))  # [T,4,2]
        self.box = np.concatenate([np.floor(corners.min(1)) - 1, np.ceil(corners.max(1)) + 2], 1)

    def to_screen(self, q: np.ndarray) -> np.ndarray:
        """Sprite coordinates [n,2] -> screen paths [T,n,2]."""
        return np.einsum("tij,nj->tni", self.fwd[:, :, :2], q) + self.fwd[:, None, :, 2]

    def to_sprite(self, x: np.ndarray) -> np.ndarray:
        """Screen points [T,n,2] -> sprite coordinates [T,n,2]."""
        d = x - self.centre[:, None, :]
        cos, sin = (np.cos(self.angle) / self.scale)[:, None], (np.sin(self.angle) / self.scale)[:, None]
        return np.stack([cos * d[..., 0] + sin * d[..., 1] + self.origin[0],
                         cos * d[..., 1] - sin * d[..., 0] + self.origin[1]], -1)


def _alpha_at(alpha: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Sample an alpha sprite at sprite coordinates q [T,n,2] exactly as warpAffine renders it."""
    q = q.astype(np.float32)
    return cv2.remap(alpha, q[..., 0], q[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _smooth_noise(rng, h: int, w: int, cell: float) -> np.ndarray:
    """Band-limited noise in [-1, 1], [h, w]: a random grid of spacing `cell` upsampled bicubically."""
    grid = rng.uniform(-1.0, 1.0, size=(max(2, int(math.ceil(h / cell)) + 1), max(2, int(math.ceil(w / cell)) + 1)))
    return np.clip(cv2.resize(grid.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC), -1.0, 1.0)


def _regular(n: int, rot: float, radius: float) -> np.ndarray:
    a = rot + np.arange(n) * 2 * np.pi / n
    return np.stack([radius * np.cos(a), radius * np.sin(a)], -1)


def _polygon(kind: str, r: float) -> np.ndarray:
    """Outline of a shape of circumradius r around (0, 0); circles and rings are drawn apart."""
    a, b = 0.36 * r, 0.95 * r
    return {
        "square": lambda: _regular(4, np.pi / 4, 0.95 * r),
        "triangle": lambda: _regular(3, -np.pi / 2, r) + [0, 0.2 * r],
        "pentagon": lambda: _regular(5, -np.pi / 2, r),
        "hexagon": lambda: _regular(6, 0.0, r),
        "diamond": lambda: np.array([[0, -r], [0.62 * r, 0], [0, r], [-0.62 * r, 0]]),
        "star": lambda: np.stack([_regular(5, -np.pi / 2, r), _regular(5, -np.pi * 0.3, 0.48 * r)], 1).reshape(-1, 2),
        "cross": lambda: np.array([[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b], [-a, a],
                                   [-b, a], [-b, -a], [-a, -a]]),
    }[kind]()


def _sprite_alpha(kind: str, r: float, ss: int) -> np.ndarray:
    size = 2 * int(math.ceil(r)) + 5
    big = np.zeros((size * ss, size * ss), np.uint8)
    c = (size * ss - 1) / 2.0
    fix = 16  # cv2 sub-pixel shift of 4 bits
    if kind in ("circle", "ring"):
        centre = (int(round(c * fix)), int(round(c * fix)))
        cv2.circle(big, centre, int(round(r * ss * fix)), 255, -1, cv2.LINE_AA, 4)
        if kind == "ring":
            cv2.circle(big, centre, int(round(0.55 * r * ss * fix)), 0, -1, cv2.LINE_AA, 4)
    else:
        cv2.fillPoly(big, [np.round((_polygon(kind, r) * ss + c) * fix).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return cv2.resize(big.astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_AREA)


def _fold(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect x into [lo, hi] (a bouncing coordinate)."""
    z = np.mod((x - lo) / max(hi - lo, 1e-6), 2.0)
    return lo + np.where(z <= 1.0, z, 2.0 - z) * (hi - lo)


def _direction(rng) -> np.ndarray:
    a = rng.uniform(0, 2 * np.pi)
    return np.array([np.cos(a), np.sin(a)])


def _centre_path(rng, motion: str, t: np.ndarray, r: float, cfg: SyntheticClipConfig, unit: float):
    w, h, n = cfg.width, cfg.height, max(len(t) - 1, 1)
    lo, hi = np.array([r, r]), np.array([w - 1 - r, h - 1 - r])
    c0 = rng.uniform(lo, np.maximum(hi, lo + 1))
    speed = rng.uniform(cfg.min_speed, cfg.max_speed) * unit
    v = _direction(rng) * speed
    tt = t[:, None]
    if motion == "still":
        return np.repeat(c0[None], len(t), 0)
    if motion == "linear":
        return c0 + v * tt
    if motion == "curved":  # quadratic Bezier c0 -> c2 bending through a random control point
        c2 = c0 + v * n
        ctrl = (c0 + c2) / 2 + _direction(rng) * speed * n * rng.uniform(0.3, 0.8)
        u = tt / n
        return (1 - u) ** 2 * c0 + 2 * u * (1 - u) * ctrl + u ** 2 * c2
    if motion == "bouncing":
        p = c0 + v * 1.5 * tt
        return np.stack([_fold(p[:, 0], lo[0], hi[0]), _fold(p[:, 1], lo[1], hi[1])], -1)
    if motion == "accelerating":  # from (nearly) rest to speed, or braking and coming back
        sign = 1.0 if rng.random() < 0.7 else -1.0
        v0 = v * rng.uniform(0.0, 0.3) if sign > 0 else v
        return c0 + v0 * tt + 0.5 * sign * (v / n) * 1.5 * tt ** 2
    if motion == "orbit":
        radius = rng.uniform(0.08, 0.22) * min(w, h)
        omega = np.clip(speed / radius, 0.03, 0.35) * rng.choice([-1.0, 1.0])
        phase = rng.uniform(0, 2 * np.pi)
        return c0 + radius * np.stack([np.cos(omega * t + phase) - np.cos(phase),
                                       np.sin(omega * t + phase) - np.sin(phase)], -1)
    if motion in ("exit", "enter"):  # leave the frame through an edge within the clip
        d = v / speed
        with np.errstate(divide="ignore"):
            dist = np.min(np.where(d > 0, (w - 1 - c0[0], h - 1 - c0[1]) / d, np.where(d < 0, -c0 / d, np.inf)))
        need = (dist + 1.3 * r) / (n * rng.uniform(0.5, 0.9))
        p = c0 + d * max(speed, need) * tt
        return p[::-1].copy() if motion == "enter" else p
    raise ValueError(motion)


def _background(rng, cfg: SyntheticClipConfig, camera: bool):
    """Texture [Ht, Wt, 3] float32, its (pattern, colour), and the per-frame texture->screen maps."""
    H, W, T, unit = cfg.height, cfg.width, cfg.num_frames, cfg.unit
    Ht, Wt = (int(2.25 * H) | 1, int(2.25 * W) | 1) if camera else (H, W)  # a moving camera sees more
    pattern = PATTERNS[rng.integers(len(PATTERNS))]
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    a = _RGB[colour]
    mix = np.float32(255.0 if (rng.random() < 0.5 or colour == "black") and colour != "white" else 0.0)
    b = a + (mix - a) * np.float32(rng.uniform(0.35, 0.6))
    theta, period = float(rng.uniform(0, np.pi)), float(rng.uniform(0.08, 0.2) * min(H, W))
    xs, ys = np.arange(Wt, dtype=np.float32)[None], np.arange(Ht, dtype=np.float32)[:, None]
    u = xs * math.cos(theta) + ys * math.sin(theta)
    v = ys * math.cos(theta) - xs * math.sin(theta)
    soft = lambda z: 0.5 + 0.5 * np.tanh(z)
    if pattern == "cloudy":
        m = 0.5 + 0.35 * _smooth_noise(rng, Ht, Wt, period) + 0.15 * _smooth_noise(rng, Ht, Wt, period / 3)
    elif pattern == "striped":
        m = soft(3.0 * np.sin((2 * np.pi / period) * u))
    elif pattern == "checkered":
        m = soft(3.0 * np.sin((2 * np.pi / period) * u) * np.sin((2 * np.pi / period) * v))
    elif pattern == "dotted":
        du, dv = np.mod(u, period) - period / 2, np.mod(v, period) - period / 2
        m = soft((0.28 * period - np.sqrt(du * du + dv * dv)) * 1.5)
    else:  # shaded: a linear gradient across the frame
        m = np.clip((u - u.mean()) / (1.2 * W) + 0.5, 0.0, 1.0)
    tex = np.clip(a + (b - a) * m[..., None] + cfg.texture_strength * 14.0 * _smooth_noise(rng, Ht, Wt, cfg.texture_cell * unit)[..., None],
                  0, 255)
    # camera: screen = s R(phi) (p - (centre_tex + pan)) + centre_screen
    t = np.linspace(0.0, 1.0, T) if T > 1 else np.zeros(1)
    zoom = np.exp(rng.uniform(-0.15, 0.25) * t) if camera and rng.random() < 0.6 else np.ones(T)
    roll = rng.uniform(-0.1, 0.1) * t if camera and rng.random() < 0.3 else np.zeros(T)
    pan = np.zeros((T, 2))
    if camera and rng.random() < 0.85:  # the texture leaves 0.4 min(H, W) of pan beyond zoom and roll
        total = min(rng.uniform(0.4, 3.0) * (T - 1) * min(H, W) / 128, 0.4 * min(H, W))
        ease = t + rng.uniform(-0.25, 0.25) * np.sin(np.pi * t)
        pan = _direction(rng)[None] * total * ease[:, None]
    cos, sin = np.cos(roll) * zoom, np.sin(roll) * zoom
    cx, cy = (Wt - 1) / 2 + pan[:, 0], (Ht - 1) / 2 + pan[:, 1]
    maps = np.stack([np.stack([cos, -sin, (W - 1) / 2 - cos * cx + sin * cy], -1),
                     np.stack([sin, cos, (H - 1) / 2 - sin * cx - cos * cy], -1)], 1)
    return tex.astype(np.float32), (pattern, colour), maps, (a, b)

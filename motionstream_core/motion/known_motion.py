"""A photo moved by a known smooth motion field: frames and the exact position of any point of the photo
in every frame, to measure a tracker against (``bench/bench_tracks_from_video.py``, the tests).

Frame t shows the photo sampled at ``g_t(x) = x + s_t * d(x)`` (``cv2.remap``, bilinear): ``d`` is a smooth
field (a translation, a small rotation and zoom about the centre, and a few long-wavelength sinusoids), ``s_t``
ramps from 0 to 1 over the clip. The content at photo point p is at ``g_t^-1(p)`` in frame t, found by
fixed-point iteration (the field's gradient is far below 1, so it converges to float precision).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SmoothField:
    """A smooth displacement field over a ``width`` x ``height`` image, ``amplitude`` pixels at most per part."""

    width: int
    height: int
    amplitude: float = 6.0
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        object.__setattr__(self, "_shift", rng.uniform(-1, 1, 2) * self.amplitude)
        object.__setattr__(self, "_turn", rng.uniform(-1, 1) * self.amplitude / max(self.width, self.height))
        object.__setattr__(self, "_zoom", rng.uniform(-1, 1) * self.amplitude / max(self.width, self.height))
        # three sinusoids with wavelengths of 0.6 to 1.5 image widths
        k = rng.uniform(2 * np.pi / 1.5, 2 * np.pi / 0.6, (3, 2)) / max(self.width, self.height)
        object.__setattr__(self, "_waves", (k * rng.choice([-1, 1], (3, 2)), rng.uniform(0, 2 * np.pi, (3, 2)),
                                            rng.uniform(-1, 1, (3, 2)) * self.amplitude / 2))

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        """Displacement [..., 2] at points ``xy`` [..., 2] (pixel-corner coordinates)."""
        xy = np.asarray(xy, np.float64)
        c = xy - [self.width / 2, self.height / 2]
        rot = self._turn * np.stack([-c[..., 1], c[..., 0]], -1) + self._zoom * c
        k, phase, amp = self._waves
        waves = sum(amp[i] * np.sin(xy @ k[i][:, None] + phase[i]) for i in range(3))
        return self._shift + rot + waves


def moved_photo(photo: np.ndarray, num_frames: int = 24, amplitude: float = 6.0, seed: int = 0
                ) -> tuple[np.ndarray, "callable"]:
    """(frames uint8 [T, H, W, 3], ``where(points [N, 2]) -> [T, N, 2]``: the exact positions of photo
    points in every frame) for ``photo`` [H, W, 3] uint8 moved by a :class:`SmoothField`."""
    h, w = photo.shape[:2]
    field = SmoothField(w, h, amplitude, seed)
    ramp = np.linspace(0.0, 1.0, num_frames)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float64) + 0.5, np.arange(h, dtype=np.float64) + 0.5)
    grid = np.stack([gx, gy], -1)
    d = field(grid)
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    for t, s in enumerate(ramp):
        src = grid + s * d - 0.5  # OpenCV samples at pixel centres
        frames[t] = cv2.remap(photo, src[..., 0].astype(np.float32), src[..., 1].astype(np.float32),
                              cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def where(points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, np.float64).reshape(-1, 2)
        out = np.empty((num_frames, len(p), 2))
        for t, s in enumerate(ramp):
            x = p.copy()
            for _ in range(50):  # x = p - s d(x): a contraction
                x = p - s * field(x)
            out[t] = x
        return out.astype(np.float32)

    return frames, where

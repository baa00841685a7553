"""The rubber-sheet warp along tracks (``reference.kernel``): a dense field of tracks translates the image, pins and
hidden tracks leave it as it is, far pixels stay, one track's pull at its own position is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionstream_core.reference import STILL_WEIGHT, track_displacement, warp_image


def _image(size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    import cv2

    return cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (5, 5), 1.5)


def _grid_tracks(size: int, step: int, shift: tuple[float, float], frames: int = 3):
    ys, xs = np.mgrid[step // 2:size:step, step // 2:size:step]
    start = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32) + 0.5
    path = np.stack([start + np.float32(t) * np.float32(shift) for t in range(frames)])
    return path, np.ones(path.shape[:2], bool)


def test_a_dense_field_of_tracks_translates_the_image():
    img = _image()
    path, vis = _grid_tracks(64, 4, (2.0, -1.0))
    video = warp_image(img, path, vis, radius=4.0)
    assert video.shape == (3, 64, 64, 3) and video.dtype == np.uint8 and np.array_equal(video[0], img)
    want = np.roll(img, (-2, 4), axis=(0, 1))  # frame 2: moved 4 px right, 2 px up
    inner = (slice(8, -8), slice(8, -8))
    err = np.abs(video[2][inner].astype(int) - want[inner].astype(int))
    assert err.mean() < 1.5 and np.percentile(err, 99) <= 8, (err.mean(), np.percentile(err, 99))


def test_pins_leave_the_image_as_it_is_and_hidden_tracks_hold_their_last_move():
    img = _image(seed=1)
    pins, vis = _grid_tracks(64, 16, (0.0, 0.0))
    assert all(np.array_equal(f, img) for f in warp_image(img, pins, vis, radius=8.0))
    moving, vis = _grid_tracks(64, 16, (3.0, 0.0), frames=4)
    vis[2] = False  # hidden in frame 2: what it carried stays where frame 1 put it
    video = warp_image(img, moving, vis, radius=8.0)
    assert np.array_equal(video[2], video[1]) and not np.array_equal(video[1], img)
    assert not np.array_equal(video[3], video[1])  # visible again: it moves on


def test_one_tracks_pull_is_its_motion_shrunk_by_the_still_anchor_and_fades_with_distance():
    start, now = torch.tensor([[20.0, 20.0]]), torch.tensor([[26.0, 18.0]])
    d = track_displacement(torch.tensor([[26.0, 18.0], [26.0 + 30, 18.0]]), now, start, radius=5.0).numpy()
    np.testing.assert_allclose(d[0], np.array([6.0, -2.0]) / (1 + STILL_WEIGHT), rtol=1e-6)
    w = np.exp(-30.0 ** 2 / (2 * 5.0 ** 2))
    np.testing.assert_allclose(d[1], np.array([6.0, -2.0]) * w / (w + STILL_WEIGHT), rtol=1e-5)
    assert np.abs(d[1]).max() < 1e-6  # six radii away: it stays
    assert track_displacement(torch.zeros(4, 2), torch.zeros(0, 2), torch.zeros(0, 2), 5.0).abs().sum() == 0


def test_bad_shapes_are_named():
    img = _image()
    with pytest.raises(AssertionError, match=r"path must be \[T, N, 2\], got \(3, 4\)"):
        warp_image(img, np.zeros((3, 4)), np.ones((3, 4), bool), 5.0)
    with pytest.raises(AssertionError, match=r"visible \(3, 5\) must be path's \[T, N\] \(3, 4\)"):
        warp_image(img, np.zeros((3, 4, 2)), np.ones((3, 5), bool), 5.0)
    with pytest.raises(AssertionError, match="radius must be positive, got 0"):
        track_displacement(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2), 0)

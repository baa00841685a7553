"""The photo-clip renderer (the natural-image training data): reproducible, its ground truth
agrees with what it renders, scenes and motions come from separate seeds, evaluation photos are
held out from the training sources."""

import numpy as np
import pytest

import skimage  # noqa: F401  (installed by the [test,wanvae,train] extras)

from motionstream_core.train.photo_clips import (TRAIN_PHOTOS, TRAIN_TEXTURES, PhotoClipConfig,  # noqa: E402
                                                 make_photo_clip)

SHORT = PhotoClipConfig(num_frames=17)


def _colour_error(c, path, own_layer=True):
    """Mean |RGB| difference between each point's frame-0 colour and the colour at ``path`` in later
    frames, over the (frame, track) pairs visible in both frames (with ``own_layer``: and with the
    pixel's 3x3 neighbourhood on the point's own layer, away from antialiased edges)."""
    T, H, W = c.layers.shape
    ix = np.floor(path[..., 0]).astype(int).clip(0, W - 1)
    iy = np.floor(path[..., 1]).astype(int).clip(0, H - 1)
    own = np.ones(c.visible.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            own &= c.layers[np.arange(T)[:, None], (iy + dy).clip(0, H - 1), (ix + dx).clip(0, W - 1)] == c.owner
    ok = c.visible & c.visible[:1] & (own & own[:1] if own_layer else True)
    ok[0] = False
    col = c.frames[np.arange(T)[:, None], iy, ix].astype(float)
    return np.abs(col - col[:1]).mean(-1)[ok]


def test_shapes_and_conventions():
    c = make_photo_clip(3)
    T, H, W = 33, 128, 128
    assert c.frames.shape == (T, H, W, 3) and c.frames.dtype == np.uint8
    assert c.path.shape == (T, 64, 2) and c.path.dtype == np.float32 and c.visible.shape == (T, 64)
    x, y = c.path[..., 0], c.path[..., 1]
    assert not (c.visible & ((x < 0) | (x >= W) | (y < 0) | (y >= H))).any(), "visible points are in frame"
    assert (c.owner == -1).sum() == round(64 * 0.3) and (c.owner >= 0).any()
    assert c.caption == "" and c.fps == 16


def test_tracks_follow_the_rendered_content():
    """Colours along the true tracks stay put (bilinear resampling only); along the still positions
    (frame 0's points held) they change: the tracks carry the motion that is drawn."""
    true_err, still_err = [], []
    for seed in range(6):
        c = make_photo_clip(seed, SHORT)
        true_err.append(_colour_error(c, c.path))
        still_err.append(_colour_error(c, np.broadcast_to(c.path[:1], c.path.shape), own_layer=False))
    true_err, still_err = np.concatenate(true_err), np.concatenate(still_err)
    print(f"colour change along true tracks: median {np.median(true_err):.2f}, mean {np.mean(true_err):.2f}; "
          f"along still positions: mean {np.mean(still_err):.2f}")
    assert np.median(true_err) < 4.0, np.median(true_err)
    assert np.mean(true_err) < 0.4 * np.mean(still_err), (np.mean(true_err), np.mean(still_err))


def test_visible_points_show_their_own_layer():
    for seed in range(6):
        c = make_photo_clip(seed, SHORT)
        T, H, W = c.layers.shape
        ix = np.floor(c.path[..., 0]).astype(int).clip(0, W - 1)
        iy = np.floor(c.path[..., 1]).astype(int).clip(0, H - 1)
        top = c.layers[np.arange(T)[:, None], iy, ix]
        # a point is hidden exactly when a higher layer covers it (alpha >= 0.5, sampled at the point
        # rather than at the pixel, so allow the few points on an antialiased edge)
        assert (top[c.visible] <= c.owner[None].repeat(T, 0)[c.visible]).mean() > 0.98
        inframe = (c.path[..., 0] >= 0) & (c.path[..., 0] < W) & (c.path[..., 1] >= 0) & (c.path[..., 1] < H)
        hidden = inframe & ~c.visible
        if hidden.any():
            assert (top[hidden] > np.broadcast_to(c.owner, top.shape)[hidden]).mean() > 0.9


def test_reproducible_and_scene_and_motion_separate():
    a, b = make_photo_clip(5, SHORT), make_photo_clip(5, SHORT)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.path, b.path)
    other = make_photo_clip(5, SHORT, motion_seed=99)
    assert np.array_equal(other.frames[0], a.frames[0]) and np.array_equal(other.path[0], a.path[0])
    assert np.abs(other.path[-1] - a.path[-1]).max() > 1.0, "another motion seed moves the scene differently"
    assert not np.array_equal(make_photo_clip(6, SHORT).frames[0], a.frames[0])


def test_config_is_validated():
    with pytest.raises(ValueError, match="min_layers"):
        PhotoClipConfig(min_layers=3, max_layers=2)
    with pytest.raises(ValueError, match="at least 16x16"):
        PhotoClipConfig(height=8)


def test_eval_photos_are_not_training_sources():
    import sklearn  # noqa: F401  (installed by the [test,wanvae,train] extras)
    import matplotlib  # noqa: F401  (installed by the [test,wanvae,train] extras)
    from motionstream_core.train.photo_clips import eval_photos

    photos = eval_photos()
    assert set(photos) == {"china", "flower", "grace_hopper"}
    assert not set(photos) & (set(TRAIN_PHOTOS) | set(TRAIN_TEXTURES)) and "chelsea" not in TRAIN_PHOTOS
    for img, licence in photos.values():
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8 and licence

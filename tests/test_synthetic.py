"""The synthetic clip generator: reproducible, and its ground truth agrees with what it renders."""

import time

import cv2
import numpy as np
import pytest
import torch

from motionstream_core.synthetic import (CAPTION_MIN_PIXELS, CAPTION_WORDS, COLOURS, SyntheticClip,
                                                SyntheticClipConfig, SyntheticVideoDataset, collate_clips,
                                                heldout_clips, make_clip)

SHORT = SyntheticClipConfig(num_frames=17)


def _same(a: SyntheticClip, b: SyntheticClip) -> bool:
    return (np.array_equal(a.frames, b.frames) and np.array_equal(a.path, b.path)
            and np.array_equal(a.visible, b.visible) and a.caption == b.caption and np.array_equal(a.owner, b.owner))


def _pixel_index(c: SyntheticClip):
    """Row/column of the pixel that contains each track point (Tracks' pixel-corner convention)."""
    ix = np.floor(c.path[..., 0]).astype(int).clip(0, c.width - 1)
    iy = np.floor(c.path[..., 1]).astype(int).clip(0, c.height - 1)
    return iy, ix


def _uniform_window(c: SyntheticClip, r: int) -> np.ndarray:
    """[T,N]: every pixel within r of the point's pixel shows the point's own layer (and is on screen)."""
    T, H, W = c.layers.shape
    lab = np.pad(c.layers, ((0, 0), (r, r), (r, r)), constant_values=-2)
    ix = np.floor(c.path[..., 0]).astype(int).clip(-r, W + r - 1) + r
    iy = np.floor(c.path[..., 1]).astype(int).clip(-r, H + r - 1) + r
    out = np.ones(c.visible.shape, bool)
    tt = np.arange(T)[:, None]
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            yy, xx = (iy + dy).clip(0, H + 2 * r - 1), (ix + dx).clip(0, W + 2 * r - 1)
            out &= lab[tt, yy, xx] == c.owner[None]
    return out


def test_shapes_dtypes_and_conventions():
    c = make_clip(3)
    T, H, W = 33, 128, 128
    assert c.frames.shape == (T, H, W, 3) and c.frames.dtype == np.uint8
    assert c.path.shape == (T, 64, 2) and c.path.dtype == np.float32
    assert c.visible.shape == (T, 64) and c.visible.dtype == np.bool_
    assert c.owner.shape == (64,) and c.fps == 16 and np.isfinite(c.path).all()
    x, y = c.path[..., 0], c.path[..., 1]
    assert not (c.visible & ((x < 0) | (x >= W) | (y < 0) | (y >= H))).any(), "visible points are in frame"
    assert c.visible.any(0).mean() > 0.9, "almost every track is visible somewhere"
    assert (c.owner == -1).any() and (c.owner >= 0).any()


def test_reproducible_and_seed_dependent():
    a, b = make_clip(11, SHORT), make_clip(11, SHORT)
    assert _same(a, b)
    assert not np.array_equal(a.frames, make_clip(12, SHORT).frames)
    assert not np.array_equal(a.frames, make_clip(11, SHORT, heldout=True).frames), "held-out stream is separate"
    assert make_clip(-5, SHORT).frames.shape == a.frames.shape  # any int is a seed


def test_dataset_items_and_heldout():
    ds = SyntheticVideoDataset(SHORT, seed=2, length=3)
    assert len(ds) == 3 and _same(ds[1], make_clip(2 * 1_000_003 + 1, SHORT))
    assert [c.seed for c in ds] == [2 * 1_000_003 + i for i in range(3)]
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(TypeError):
        len(SyntheticVideoDataset(SHORT))
    endless = iter(SyntheticVideoDataset(SHORT, seed=1))
    assert [next(endless).seed for _ in range(2)] == [1_000_003, 1_000_004]
    held = heldout_clips(2, SHORT)
    assert _same(held[0], make_clip(0, SHORT, heldout=True)) and not _same(held[0], make_clip(0, SHORT))
    batch = collate_clips([ds[0], ds[1]])
    assert batch["frames"].shape == (2, 17, 128, 128, 3) and batch["frames"].dtype == torch.uint8
    assert batch["path"].shape == (2, 17, 64, 2) and batch["visible"].dtype == torch.bool
    assert batch["caption"] == [ds[0].caption, ds[1].caption] and batch["fps"] == 16


def test_dataloader_workers_split_without_overlap():
    ds = SyntheticVideoDataset(SyntheticClipConfig(num_frames=5, height=32, width=32), seed=0, length=5)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, collate_fn=lambda c: c.seed)
    assert sorted(loader) == list(range(5))


def test_track_points_sit_on_their_shape_colour():
    hits, total = 0, 0
    for seed in range(8):
        c = make_clip(seed, SHORT, with_layers=True)
        iy, ix = _pixel_index(c)
        ok = c.visible & _uniform_window(c, 1) & (c.owner[None] >= 0)
        t, n = np.nonzero(ok)
        pix = c.frames[t, iy[t, n], ix[t, n]].astype(float)
        own = np.array([c.shapes[k].rgb for k in c.owner[n]], float)
        assert np.abs(pix - own).max(-1).mean() < 40, "the texture stays close to the shape's colour"
        for k, shape in enumerate(c.shapes):  # nearest to its own colour among the clip's shape colours
            sel = c.owner[n] == k
            if not sel.any() or len(c.shapes) < 2:
                continue
            dist = np.stack([np.linalg.norm(pix[sel] - np.array(s.rgb), axis=-1) for s in c.shapes], -1)
            hits += int((dist.argmin(-1) == k).sum())
            total += int(sel.sum())
    assert total > 500 and hits / total > 0.98


def test_colour_is_constant_along_tracks():
    c = make_clip(4, SHORT)
    frames = c.frames.astype(np.float32)
    vals = np.stack([cv2.remap(f, (p[:, 0] - 0.5)[None], (p[:, 1] - 0.5)[None], cv2.INTER_LINEAR)[0]
                     for f, p in zip(frames, c.path)])  # [T,N,3]
    both = c.visible & c.visible[:1]
    along = np.abs(vals - vals[:1]).mean(-1)[both].mean()
    shuffled = np.abs(vals - vals[:1, np.random.default_rng(0).permutation(vals.shape[1])]).mean(-1)[both].mean()
    assert along < 6 and shuffled > 4 * along


def test_occlusion_visibility_matches_render_exactly():
    cfg = SyntheticClipConfig(num_frames=17, min_shapes=3, occlusion_prob=1.0, camera_motion_prob=0.5)
    checked = occluded = out = 0
    for seed in range(10):
        c = make_clip(seed, cfg, with_layers=True)
        iy, ix = _pixel_index(c)
        x, y = c.path[..., 0], c.path[..., 1]
        in_frame = (x >= 0) & (x < c.width) & (y >= 0) & (y < c.height)
        assert not (c.visible & ~in_frame).any()
        out += int((~in_frame).sum())
        # where the 3x3 pixels around a point all show one layer, that layer decides visibility
        lab = np.pad(c.layers, ((0, 0), (1, 1), (1, 1)), mode="edge")
        tt = np.arange(c.layers.shape[0])[:, None]
        near = np.stack([lab[tt, iy + dy, ix + dx] for dy in range(3) for dx in range(3)], -1)
        clear = (near == near[..., :1]).all(-1) & in_frame
        top = c.layers[tt, iy, ix]
        assert np.array_equal(c.visible[clear], (top == c.owner[None])[clear])
        checked += int(clear.sum())
        occluded += int((clear & ~c.visible).sum())
    assert checked > 5000 and occluded > 200 and out > 50, (checked, occluded, out)


def _lk_error(c: SyntheticClip) -> np.ndarray:
    """Chain pyramidal Lucas-Kanade from frame 0 to the end; error at the last frame, per track.
    Only tracks visible throughout whose 17x17 neighbourhood is their own layer (what LK with a
    9x9 window on 2 pyramid levels sees) are re-tracked: others mix in another layer's motion."""
    ok = (c.visible & _uniform_window(c, 8)).all(0)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in c.frames]
    cur = (c.path[0, ok] - 0.5).reshape(-1, 1, 2).astype(np.float32)
    for a, b in zip(gray[:-1], gray[1:]):
        cur, _, _ = cv2.calcOpticalFlowPyrLK(a, b, cur, None, winSize=(9, 9), maxLevel=1)
    return np.linalg.norm(cur.reshape(-1, 2) + 0.5 - c.path[-1, ok], axis=-1)


def test_lucas_kanade_retracking_agrees_with_ground_truth():
    errs, moved = [], []
    for seed in range(16):
        c = make_clip(seed, SHORT, with_layers=True)
        errs.append(_lk_error(c))
    err = np.concatenate(errs)
    assert len(err) > 100 and err.mean() < 1.0, (len(err), err.mean())
    cam = SyntheticClipConfig(num_frames=17, camera_motion_prob=1.0, max_shapes=1)
    for seed in range(6):  # background tracks under pan / zoom / roll
        c = make_clip(seed, cam, with_layers=True)
        ok = (c.visible & _uniform_window(c, 8)).all(0)
        moved.append(np.linalg.norm(c.path[-1, ok] - c.path[0, ok], axis=-1))
        errs.append(_lk_error(c))
    err, moved = np.concatenate(errs), np.concatenate(moved)
    assert err.mean() < 1.0 and moved.mean() > 3.0, (err.mean(), moved.mean())


def test_captions_name_the_shapes_present():
    for seed in range(24):
        c = make_clip(seed, SHORT, with_layers=True)
        words = c.caption.split()
        assert set(w.strip(",") for w in words) <= CAPTION_WORDS, c.caption
        assert c.caption.endswith(f"{c.background[0]} {c.background[1]} background")
        for k, s in enumerate(c.shapes):
            pixels = (c.layers == k).sum((1, 2)).max()  # the most pixels shape k covers in one frame
            named = f"{s.colour} {s.kind}" in c.caption
            assert named == (pixels >= CAPTION_MIN_PIXELS), (c.caption, s, pixels)
            if (c.owner == k).any() and c.visible[:, c.owner == k].any():
                assert named
        colours = [s.colour for s in c.shapes]
        assert len(set(colours)) == len(colours), "shape colours are distinct"
        for s in c.shapes:
            assert s.colour in COLOURS and s.rgb == COLOURS[s.colour]


def test_other_sizes_lengths_and_config_errors():
    c = make_clip(0, SyntheticClipConfig(height=96, width=160, num_frames=49, num_points=100, max_shapes=2))
    assert c.frames.shape == (49, 96, 160, 3) and c.path.shape == (49, 100, 2)
    assert make_clip(1, SyntheticClipConfig(num_frames=1)).frames.shape[0] == 1
    for bad in (dict(height=8), dict(num_frames=0), dict(min_shapes=3, max_shapes=2), dict(camera_motion_prob=2.0),
                dict(motion_weights=(("teleport", 1.0),)), dict(shape_radius=(0.2, 0.1))):
        with pytest.raises(ValueError):
            SyntheticClipConfig(**bad)


def test_converts_to_tracks():
    import motionstream_core.tracks as tracks_mod
    c = make_clip(5, SHORT)
    t = c.tracks()
    assert isinstance(t, tracks_mod.Tracks) and t.width == 128 and t.height == 128 and t.fps == 16
    assert np.array_equal(t.path, c.path) and np.array_equal(t.visible, c.visible)


def test_generation_is_fast():
    cfg = SyntheticClipConfig()
    make_clip(0, cfg)
    start = time.perf_counter()
    for seed in range(10):
        make_clip(seed, cfg)
    per_clip = (time.perf_counter() - start) / 10
    assert per_clip < 0.25, f"{per_clip * 1000:.0f} ms per 33-frame clip"  # ~20 ms when the machine is idle


def test_first_frame_only_is_the_full_clips_first_frame():
    """The start-image preview renders frame 0 alone: the same pixels as the whole clip's frame 0, with and
    without camera motion, and the same tracks."""
    cfg = SyntheticClipConfig(height=64, width=96, num_frames=12, num_points=16)
    cameras = set()
    for seed in range(12):
        full, first = make_clip(seed, cfg), make_clip(seed, cfg, first_frame_only=True)
        cameras.add(full.camera_motion)
        assert first.frames.shape == (1, 64, 96, 3)
        np.testing.assert_array_equal(first.frames[0], full.frames[0])
        np.testing.assert_array_equal(first.path, full.path)
        np.testing.assert_array_equal(first.visible, full.visible)
    assert cameras == {True, False}, "both kinds of clip are compared"

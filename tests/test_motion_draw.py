"""Drawing tracks: stable colours, fading trails, hidden points not drawn."""
import re

import numpy as np
import pytest
import torch

from motionstream_core.motion.draw import PALETTE, draw_tracks, track_color
from motionstream_core.tracks import Tracks, TrackError

W, H, T = 64, 48, 6


def _tracks(vis=None):
    k = np.arange(T, dtype=np.float32)
    path = np.stack([np.stack([10 + 6 * k, 10 + 0 * k], -1), np.stack([10 + 0 * k, 20 + 4 * k], -1)], 1)
    return Tracks(path, np.ones((T, 2), bool) if vis is None else vis, 16, W, H)


def test_palette_is_a_fixed_list_of_hex_colours():
    assert len(PALETTE) >= 12 and len(set(PALETTE)) == len(PALETTE)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in PALETTE)
    assert track_color(0) == tuple(int(PALETTE[0][i:i + 2], 16) for i in (1, 3, 5))
    assert track_color(len(PALETTE) + 3) == track_color(3)


def test_points_drawn_in_their_colour_and_frames_untouched():
    frames = np.full((T, H, W, 3), 40, np.uint8)
    keep = frames.copy()
    out = draw_tracks(frames, _tracks(), trail=3)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    assert (frames == keep).all()  # the input is not modified
    for t in range(T):
        # the pixel under each point (x - 0.5, y - 0.5 in OpenCV's pixel centres) has the track's colour
        x0, y0 = int(10 + 6 * t - 0.5), int(10 - 0.5)
        assert tuple(out[t, y0, x0]) == track_color(0)
        x1, y1 = int(10 - 0.5), int(20 + 4 * t - 0.5)
        assert tuple(out[t, y1, x1]) == track_color(1)
    assert (out[0, 40:, 40:] == 40).all()  # far from every track: unchanged


def test_hidden_points_and_their_segments_are_not_drawn():
    vis = np.ones((T, 2), bool)
    vis[3:, 1] = False
    blank = np.zeros((T, H, W, 3), np.uint8)
    out = draw_tracks(blank, _tracks(vis), trail=1)
    only0 = draw_tracks(blank, _tracks(vis).select([0]), trail=1)
    np.testing.assert_array_equal(out[3:], only0[3:])  # no dot, and the segment into a hidden point is skipped
    assert not (out[2] == only0[2]).all()
    long = draw_tracks(blank, _tracks(vis), trail=8)[3]
    assert long[int(32 - 0.5), int(10 - 0.5)].sum() == 0  # the hidden point itself (x 10, y 32) is not drawn
    assert long[int(22 - 0.5), int(10 - 0.5)].sum() > 0  # its visible past stays as a trail


def test_trails_fade_with_age():
    blank = np.zeros((T, H, W, 3), np.uint8)
    tr = _tracks().select([0])  # moves +6 px per frame along y = 10
    out = draw_tracks(blank, tr, trail=4, radius=1, thickness=1)
    row = out[5, int(10 - 0.5)].astype(int).sum(-1)  # frame 5: the dot at x = 40, trail back to x = 16
    old, new = row[19], row[33]  # on the oldest segment (x 16..22) and the newest (x 34..40)
    assert new > old > 0
    assert row[5] == 0  # beyond the trail (x = 10 was 5 frames ago)
    assert draw_tracks(blank, tr, trail=0)[5, :, :25].sum() == 0  # no trail at all


def test_float_frames_single_image_and_other_sizes():
    img = torch.full((H * 2, W * 2, 3), 0.5)
    out = draw_tracks(img, _tracks(), trail=2)  # one image for every frame, at twice the size
    assert out.shape == (T, H * 2, W * 2, 3) and out.dtype == np.uint8
    x, y = int(2 * (10 + 6 * 2) - 0.5), int(2 * 10 - 0.5)
    assert tuple(out[2, y, x]) == track_color(0)
    assert out[0, -1, -1].tolist() == [128, 128, 128]
    assert draw_tracks(np.zeros((T, H, W, 3), np.uint8), Tracks.empty(T, 16, W, H)).sum() == 0


def test_draw_errors():
    with pytest.raises(TrackError, match="4 frames but the tracks have 6; slice or resample one of them"):
        draw_tracks(np.zeros((4, H, W, 3), np.uint8), _tracks())
    with pytest.raises(TrackError, match=r"frames must be \[T, H, W, 3\]"):
        draw_tracks(np.zeros((T, H, W)), _tracks())
    with pytest.raises(TrackError, match="trail must be a non-negative integer; got -1"):
        draw_tracks(np.zeros((T, H, W, 3), np.uint8), _tracks(), trail=-1)

"""Tracks made from a small description (a shared workflow's editor state, a tracks file, a camera grid) are
refused before anything big is allocated: counts and lengths are checked first, fps has a minimum, the resampled
length is computed (and refused past MAX_FRAMES) before it is made, and frames x tracks has one budget,
MAX_TRACK_POINTS. Each case measures the peak of Python's allocations (numpy's included) while it is refused."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from motionstream_core import track_formats
from motionstream_core.motion.camera import CameraPath, camera_tracks
from motionstream_core.tracks import MAX_FRAMES, MAX_TRACK_POINTS, MIN_FPS, TrackError, Tracks, fit_tracks

MB = 1 << 20


def _refused_within(limit_bytes: int, fn, match: str) -> None:
    """``fn()`` raises a TrackError matching ``match`` and allocates at most ``limit_bytes`` on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(TrackError, match=match):
            fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit_bytes, f"{peak / MB:.1f} MB allocated before the refusal"


def _editor_state(fps, num_frames, tracks) -> str:
    return json.dumps({"version": 1, "grid_spacing": 32, "duration_frames": 49,
                       "tracks": {"format": "motionstream-tracks", "version": 1, "width": 832, "height": 480,
                                  "fps": fps, "num_frames": num_frames, "tracks": tracks}})


def test_a_tiny_editor_state_at_a_vanishing_fps_is_refused_by_name():
    """16 two-point tracks at fps 1e-5 (a 753-byte state) used to fit to 16 fps as 1.6 million frames."""
    from nodes.editor_state import parse_editor_state

    state = _editor_state(1e-5, 2, [{"points": [[100 + i, 100], [200 + i, 120]]} for i in range(16)])
    assert len(state) < 1000
    _refused_within(1 * MB, lambda: parse_editor_state(state), r"fps 1e-05 is below MIN_FPS = 1")


def test_fitting_to_the_models_rate_refuses_past_max_frames_before_resampling():
    slow = Tracks(np.zeros((MAX_FRAMES // 4, 1, 2), np.float32), np.ones((MAX_FRAMES // 4, 1), bool), MIN_FPS, 64, 64)
    # 25,000 frames at 1 fps are 399,985 frames at 16 fps: refused by length, nothing of it made
    _refused_within(1 * MB, lambda: fit_tracks(slow, 64, 64, 16.0),
                    r"25000 frames at 1 fps resampled to 16 fps would be 399985 frames, more than MAX_FRAMES = 100000")
    ok = fit_tracks(slow.slice_frames(0, 101), 64, 64, 16.0)  # the computed length is the one made
    assert ok.num_frames == 1601 and ok.fps == 16.0


def test_a_track_without_points_is_refused_before_the_arrays_are_allocated():
    """num_frames 100,000 and 160 tracks (16M points, within budget) whose first has no points: the arrays
    (~140 MB) are never allocated."""
    tracks = [{"kind": "drag"}] + [{"points": []} for _ in range(159)]
    state = _editor_state(16, MAX_FRAMES, tracks)
    from nodes.editor_state import parse_editor_state
    _refused_within(2 * MB, lambda: parse_editor_state(state), r"track 0 has no 'points' list")


def test_too_many_tracks_are_refused_before_their_points_are_read():
    doc = {"format": "motionstream-tracks", "version": 1, "width": 64, "height": 64, "fps": 16, "num_frames": 1,
           "tracks": [{"points": [[1, 1]]}] * 9000}
    _refused_within(2 * MB, lambda: track_formats.from_json(doc), r"too many tracks: 9000 > limit 8192")
    _refused_within(2 * MB, lambda: track_formats.from_json({**doc, "tracks": doc["tracks"][:100]}, max_tracks=64),
                    r"too many tracks: 100 > limit 64")


def test_frames_times_tracks_has_one_budget_named_in_the_error():
    doc = {"format": "motionstream-tracks", "version": 1, "width": 64, "height": 64, "fps": 16,
           "num_frames": MAX_FRAMES, "tracks": [{"points": []}] * 200}
    _refused_within(2 * MB, lambda: track_formats.from_json(doc),
                    r"100000 frames x 200 tracks = 20000000 points is more than MAX_TRACK_POINTS = 16777216")


def test_camera_tracks_at_the_nodes_limits_are_refused_by_the_budget():
    """8192 x 8192 at grid spacing 91 (8,100 tracks) over 100,000 frames would need ~80 GB."""
    _refused_within(2 * MB, lambda: camera_tracks(CameraPath(pan_x=0.1), 8192, 8192, 100_000, grid_spacing=91),
                    r"Camera Tracks \(num_frames x grid points\): 100000 frames x 8100 tracks = 810000000 points "
                    r"is more than MAX_TRACK_POINTS")
    # the largest grid the budget allows over these frames is made, and in bounded memory
    tracemalloc.start()
    tr = camera_tracks(CameraPath(pan_x=0.1), 8192, 8192, 2000, grid_spacing=91)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert tr.num_frames * tr.num_tracks == 16_200_000 <= MAX_TRACK_POINTS
    out_bytes = tr.path.nbytes + tr.visible.nbytes
    # the output, its validated copy and the validation masks
    assert peak < 2.5 * out_bytes, f"{peak / MB:.0f} MB peak for {out_bytes / MB:.0f} MB of tracks"


def test_resampling_and_holding_past_the_budget_are_refused():
    tr = Tracks(np.zeros((2, 256, 2), np.float32), np.ones((2, 256), bool), 16, 64, 64)
    _refused_within(1 * MB, lambda: tr.resample(num_frames=MAX_TRACK_POINTS // 256 + 1), r"MAX_TRACK_POINTS")
    _refused_within(1 * MB, lambda: tr.hold_to(MAX_FRAMES + 1), r"more than MAX_FRAMES = 100000")
    _refused_within(1 * MB, lambda: tr.resample(fps=1e300), r"more than MAX_FRAMES")


def test_coord_str_and_ati_are_counted_before_allocation():
    many = json.dumps([[{"x": 1, "y": 1}]] * 9000)
    _refused_within(8 * MB, lambda: track_formats.from_coord_str(many, 64, 64), r"too many tracks: 9000 > limit 8192")
    _refused_within(8 * MB, lambda: track_formats.from_ati_json(many, 64, 64), r"too many tracks: 9000 > limit 8192")
    big = np.broadcast_to(np.zeros((1, 1, 2), np.float32), (MAX_FRAMES, 200, 2))  # a view: no memory of its own
    _refused_within(1 * MB, lambda: track_formats.from_array(big, width=64, height=64), r"MAX_TRACK_POINTS")

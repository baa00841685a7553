"""Drag paths: key points with times -> smooth tracks; anchors; group drags."""
import numpy as np
import pytest

from motionstream_core.motion.drag import drag_track, group_drag, static_points
from motionstream_core.tracks import TrackError

W, H = 128, 96


def test_linear_hits_key_points_at_constant_speed():
    tr = drag_track([(2, 10, 10), (12, 30, 20)], 16, width=W, height=H)
    assert (tr.num_frames, tr.num_tracks, tr.kinds) == (16, 1, ("drag",))
    p = tr.path[:, 0]
    np.testing.assert_allclose(p[:3], [[10, 10]] * 3)            # held before the first key
    np.testing.assert_allclose(p[7], [20, 15])                   # halfway
    np.testing.assert_allclose(np.diff(p[2:13], axis=0), [[2, 1]] * 10, atol=1e-5)
    np.testing.assert_allclose(p[12:], [[30, 20]] * 4)           # held after the last key
    assert tr.visible.all()


def test_times_in_seconds():
    tr = drag_track([(0.0, 0, 0), (0.5, 16, 8)], 12, width=W, height=H, fps=16, time_unit="second")
    np.testing.assert_allclose(tr.path[8, 0], [16, 8], atol=1e-5)   # 0.5 s at 16 fps = frame 8
    np.testing.assert_allclose(tr.path[4, 0], [8, 4], atol=1e-5)


def test_ease_stops_at_key_points():
    keys = [(0, 10, 10), (8, 50, 10), (16, 50, 50)]
    ease = drag_track(keys, 17, "ease", width=W, height=H).path[:, 0]
    lin = drag_track(keys, 17, "linear", width=W, height=H).path[:, 0]
    np.testing.assert_allclose(ease[[0, 4, 8, 12, 16]], lin[[0, 4, 8, 12, 16]], atol=1e-5)  # smoothstep(.5) = .5
    np.testing.assert_allclose(ease[2, 0], 10 + 40 * (3 * 0.25 ** 2 - 2 * 0.25 ** 3), atol=1e-4)
    speed = np.linalg.norm(np.diff(ease, axis=0), axis=1)
    linear_speed = 40 / 8
    assert speed[0] < 0.35 * linear_speed and speed[7] < 0.35 * linear_speed  # slow near the key points
    assert speed[3] > 1.4 * linear_speed and speed[4] > 1.4 * linear_speed   # fast between them


def test_spline_is_the_natural_cubic_spline():
    import scipy.interpolate as interpolate
    keys = [(0, 10, 80), (5, 40, 20), (9, 70, 60), (15, 100, 30)]
    tr = drag_track(keys, 16, "spline", width=W, height=H)
    k = np.array(keys, float)
    ref = interpolate.CubicSpline(k[:, 0], k[:, 1:], bc_type="natural")(np.arange(16))
    np.testing.assert_allclose(tr.path[:, 0], ref, atol=1e-4)


def test_spline_through_keys_and_two_keys_is_linear():
    keys = [(0, 10, 80), (5, 40, 20), (9, 70, 60), (15, 100, 30)]
    p = drag_track(keys, 16, "spline", width=W, height=H).path[:, 0]
    for t, x, y in keys:
        np.testing.assert_allclose(p[t], [x, y], atol=1e-4)
    two = [(0, 10, 10), (10, 60, 30)]
    np.testing.assert_allclose(drag_track(two, 11, "spline", width=W, height=H).path,
                               drag_track(two, 11, width=W, height=H).path, atol=1e-5)
    one = drag_track([(3, 7, 9)], 5, "spline", width=W, height=H)
    assert (one.path[:, 0] == [7, 9]).all()


def test_static_points_and_group_drag():
    s = static_points([(10, 10), (50, 60)], 6, width=W, height=H)
    assert s.kinds == ("static", "static") and (s.path == s.path[:1]).all()
    g = group_drag([(20, 20), (30, 25), (25, 40)], [(0, 25, 30), (10, 45, 20)], 11, width=W, height=H)
    assert g.num_tracks == 3
    disp = g.path - g.path[:1]
    np.testing.assert_allclose(disp[:, 0], disp[:, 1], atol=1e-5)  # all move together
    np.testing.assert_allclose(disp[-1, 2], [20, -10], atol=1e-5)
    np.testing.assert_allclose(g.path[0], [(20, 20), (30, 25), (25, 40)])
    both = g.concat(s.hold_to(11).slice_frames(0, 11))
    assert both.kinds == ("drag",) * 3 + ("static",) * 2


@pytest.mark.parametrize("call, message", [
    (lambda: drag_track([(5, 1, 1), (5, 2, 2)], 8, width=W, height=H),
     "keypoint 1: times must increase strictly (5 then 5)"),
    (lambda: drag_track([(0, 1, 1)], 8, "bouncy", width=W, height=H),
     "unknown interpolation 'bouncy' (known: linear, ease, spline)"),
    (lambda: drag_track([(0, 1)], 8, width=W, height=H),
     "keypoints must be a non-empty list of (time, x, y); got shape (1, 2)"),
    (lambda: drag_track([(0, 1, float("nan"))], 8, width=W, height=H), "keypoint 0 is not finite: (0.0, 1.0, nan)"),
    (lambda: drag_track([(0, 1, 1)], 0, width=W, height=H), "num_frames must be a positive integer; got 0"),
    (lambda: drag_track([(0, 1, 1)], 4, width=W, height=H, time_unit="ms"),
     "time_unit must be 'frame' or 'second'; got 'ms'"),
    (lambda: static_points([], 4, width=W, height=H), "points must be a non-empty list of (x, y); got shape (0,)"),
])
def test_drag_errors(call, message):
    with pytest.raises(TrackError) as e:
        call()
    assert str(e.value) == message

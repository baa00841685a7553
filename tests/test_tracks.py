"""The Tracks type: construction, validation (exact messages), resampling, slicing, combining."""
import json

import numpy as np
import pytest
import torch

from motionstream_core import track_formats
from motionstream_core.tracks import DEFAULT_MAX_TRACKS, KINDS, TrackError, Tracks

W, H = 64, 48


def make(t=4, n=2, value=10.0, fps=16, **kw):
    return Tracks(np.full((t, n, 2), value, np.float32), np.ones((t, n), bool), fps, W, H, **kw)


def linear_x(t=17, fps=16.0):
    """One track moving +1 px per frame in x, +0.5 in y."""
    k = np.arange(t, dtype=np.float32)
    path = np.stack([10 + k, 20 + 0.5 * k], -1)[:, None]
    return Tracks(path, np.ones((t, 1), bool), fps, W, H)


def _json(**over):
    doc = {"format": "motionstream-tracks", "version": 1, "width": W, "height": H, "fps": 16, "num_frames": 2,
           "tracks": [{"points": [[1, 2], [3, 4]]}]}
    doc.update(over)
    return json.dumps(doc)


def _track(**over):
    tr = {"points": [[1, 2], [3, 4]]}
    tr.update(over)
    return _json(tracks=[tr])


BAD_INPUTS = [
    ("json not JSON", lambda: track_formats.from_json("{oops"),
     "motionstream-tracks is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ("coord_str not JSON", lambda: track_formats.from_coord_str("[{x: 1}]", W, H),
     "coord_str is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 3"),
    ("coord_str blank", lambda: track_formats.from_coord_str("   ", W, H), "coord_str is empty (no JSON at all)"),
    ("coord_str a number", lambda: track_formats.from_coord_str("42", W, H),
     'coord_str must be a list of tracks (lists of {"x", "y"} points) or one list of points; got int'),
    ("empty track list", lambda: track_formats.from_coord_str("[]", W, H), "no tracks: the track list is empty"),
    ("empty track", lambda: track_formats.from_coord_str('[[{"x": 1, "y": 2}], []]', W, H), "track 1 is empty (no points)"),
    ("ragged lengths", lambda: track_formats.from_coord_str(
        '[[{"x": 1, "y": 2}, {"x": 1, "y": 2}, {"x": 1, "y": 2}], [{"x": 1, "y": 2}, {"x": 1, "y": 2}]]', W, H),
     "track 1 has 2 points, but track 0 has 3; all tracks need the same number of frames"),
    ("point without y", lambda: track_formats.from_coord_str('[{"x": 1, "y": 2}, {"x": 3}]', W, H),
     "track 0, frame 1: point has no 'y'"),
    ("x is a string", lambda: track_formats.from_coord_str('[{"x": "5", "y": 2}]', W, H),
     "track 0, frame 0: x is not a number ('5')"),
    ("NaN", lambda: track_formats.from_coord_str('[{"x": 1, "y": 2}, {"x": NaN, "y": 2}]', W, H),
     "track 0, frame 1: x is NaN"),
    ("infinity", lambda: track_formats.from_array(np.where(np.arange(16).reshape(4, 2, 2) == 13, np.inf, 5.0),
                                           width=W, height=H),
     "track 0, frame 3: y is infinite"),
    ("far outside", lambda: track_formats.from_coord_str('[{"x": 1, "y": 10}, {"x": 200, "y": 10}]', W, H),
     "track 0, frame 1: point (200, 10) is far outside the 64x48 frame (visible points must lie within "
     "x in [-32, 96], y in [-24, 72])"),
    ("too many tracks", lambda: track_formats.from_array(np.full((2, 5, 2), 10.0), width=W, height=H, max_tracks=4),
     "too many tracks: 5 > limit 4"),
    ("unknown version", lambda: track_formats.from_json(_json(version=7)),
     "unknown motionstream-tracks version 7; supported versions: 1"),
    ("missing version", lambda: track_formats.from_json(json.dumps({"format": "motionstream-tracks"})),
     "motionstream-tracks JSON has no 'version'"),
    ("other format", lambda: track_formats.from_json(_json(format="other")),
     "not a motionstream-tracks JSON: 'format' is 'other'"),
    ("unknown key", lambda: track_formats.from_json(_json(colour="red")),
     "unknown key 'colour' in motionstream-tracks JSON (known: format, fps, height, meta, num_frames, tracks, "
     "version, width)"),
    ("points vs num_frames", lambda: track_formats.from_json(_json(num_frames=3)), "track 0 has 2 points but num_frames is 3"),
    ("visible length", lambda: track_formats.from_json(_track(visible=[1])),
     "track 0: 'visible' has length 1 but 'points' has length 2"),
    ("visible value", lambda: track_formats.from_json(_track(visible=[2, 1])),
     "track 0, frame 0: visible must be 0 or 1; got 2"),
    ("bad kind", lambda: track_formats.from_json(_track(kind="wiggle")),
     "track 0: unknown kind 'wiggle' (known: drag, static, live, camera, transfer)"),
    ("point not a pair", lambda: track_formats.from_json(_track(points=[[1, 2], [1]])),
     "track 0, frame 1: a point must be [x, y]; got [1]"),
    ("wrong array shape", lambda: track_formats.from_array(np.zeros((4, 2, 3)), width=W, height=H),
     "path must have shape [T, N, 2] (or [1, T, N, 2]); got (4, 2, 3)"),
    ("batch of two", lambda: track_formats.from_array(np.zeros((2, 4, 2, 2)), width=W, height=H),
     "path has a batch of 2 track sets; pass one (B=1)"),
    ("visibility shape", lambda: track_formats.from_array(np.zeros((4, 2, 2)), np.ones((4, 3), bool), width=W, height=H),
     "visibility must have shape [T, N] = [4, 2]; got (4, 3)"),
    ("fps zero", lambda: make(fps=0), "fps must be a positive finite number; got 0"),
    ("fps a string", lambda: track_formats.from_json(_json(fps="16")), "fps must be a positive finite number; got '16'"),
    ("negative width", lambda: Tracks(np.zeros((2, 1, 2)), np.ones((2, 1), bool), 16, -5, H),
     "width must be a positive integer; got -5"),
    ("ATI too long", lambda: track_formats.from_ati_json(json.dumps([[{"x": 1, "y": 1}] * 122]), W, H),
     "ATI track 0 has 122 points; the ATI format holds at most 121 (5 s at 24 fps)"),
    ("comfy without size", lambda: track_formats.from_comfy({"track_path": torch.zeros(2, 1, 2)}),
     "ComfyUI TRACKS needs width and height: it stores pixels but not the image size"),
    ("constructor with no tracks", lambda: Tracks(np.zeros((3, 0, 2)), np.zeros((3, 0), bool), 16, W, H),
     "no tracks: the track list is empty"),
    ("no frames", lambda: Tracks(np.zeros((0, 1, 2)), np.zeros((0, 1), bool), 16, W, H),
     "tracks have no frames (num_frames is 0)"),
]


@pytest.mark.parametrize("make_bad, message", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises_one_clear_error(make_bad, message):
    with pytest.raises(TrackError) as e:
        make_bad()
    assert str(e.value) == message
    assert isinstance(e.value, ValueError)


def test_table_has_enough_cases():
    assert len(BAD_INPUTS) >= 15


def test_valid_tracks_are_frozen_copies():
    src = np.full((3, 2, 2), 5.0, np.float32)
    tr = Tracks(src, np.ones((3, 2), bool), 16, W, H)
    src[:] = 0
    assert tr.path[0, 0, 0] == 5.0  # copied
    assert tr.path.dtype == np.float32 and tr.visible.dtype == np.bool_
    with pytest.raises(ValueError):
        tr.path[0, 0, 0] = 1.0
    with pytest.raises(AttributeError):
        tr.fps = 8
    assert tr.num_frames == 3 and tr.num_tracks == 2 and tr.kinds == ("drag", "drag")
    assert tr.duration == pytest.approx(2 / 16)


def test_pickle_and_deepcopy_stay_frozen():
    import copy
    import pickle
    tr = make(kinds=("static", "live"))
    for c in (pickle.loads(pickle.dumps(tr)), copy.deepcopy(tr)):
        assert c == tr and not c.path.flags.writeable and not c.visible.flags.writeable
    assert copy.deepcopy(Tracks.empty(3, 16, W, H)).num_tracks == 0


def test_kinds_and_equality():
    a = make(kinds=("static", "camera"))
    assert a == make(kinds=("static", "camera"))
    assert a != make()
    assert set(KINDS) == {"drag", "static", "live", "camera", "transfer"}
    assert "num_tracks=2" in repr(a)


def test_margin_is_configurable_and_hidden_points_are_not_checked():
    tr = Tracks(np.array([[[70.0, 10.0]]]), np.ones((1, 1), bool), 16, W, H)  # within the 50% margin
    with pytest.raises(TrackError) as e:
        tr.validate(margin=0.0)
    assert str(e.value) == ("track 0, frame 0: point (70, 10) is far outside the 64x48 frame (visible points "
                            "must lie within x in [0, 64], y in [0, 48])")
    hidden = Tracks(np.array([[[500.0, -400.0]]]), np.zeros((1, 1), bool), 16, W, H)
    assert hidden.validate(margin=0.0) is hidden


def test_default_track_limit():
    n = DEFAULT_MAX_TRACKS + 1
    with pytest.raises(TrackError, match=f"too many tracks: {n} > limit {DEFAULT_MAX_TRACKS}"):
        Tracks(np.zeros((1, n, 2)), np.ones((1, n), bool), 16, W, H)


def test_resample_fps_keeps_time():
    tr = linear_x(17, fps=16)  # 1 s
    up = tr.resample(fps=24)
    assert up.num_frames == 25 and up.fps == 24
    j = np.arange(25)
    np.testing.assert_allclose(up.path[:, 0, 0], 10 + j * 16 / 24, atol=1e-5)
    np.testing.assert_allclose(up.path[:, 0, 1], 20 + 0.5 * j * 16 / 24, atol=1e-5)
    back = up.resample(fps=16)
    np.testing.assert_allclose(back.path, tr.path, atol=1e-5)


def test_resample_ati_rate_matches_frame_times():
    """121 frames at 24 fps (ATI) -> 81 frames at 16 fps; frame j is at source frame 1.5 j."""
    rng = np.random.default_rng(0)
    path = rng.uniform(0, 48, (121, 3, 2)).astype(np.float32)
    tr = Tracks(path, np.ones((121, 3), bool), 24, W, H)
    r = tr.resample(fps=16)
    assert r.num_frames == 81
    src = 1.5 * np.arange(81)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, 120)
    w = (src - lo)[:, None, None]
    np.testing.assert_allclose(r.path, path[lo] * (1 - w) + path[hi] * w, atol=1e-4)


def test_resample_num_frames_stretches_whole_motion():
    tr = linear_x(5)
    r = tr.resample(num_frames=9)
    assert r.num_frames == 9 and r.fps == 16
    np.testing.assert_allclose(r.path[:, 0, 0], 10 + np.arange(9) * 0.5, atol=1e-6)
    r2 = tr.resample(num_frames=3, fps=8)
    np.testing.assert_allclose(r2.path[:, 0, 0], [10, 12, 14], atol=1e-6)
    assert r2.fps == 8
    one = tr.resample(num_frames=1)
    np.testing.assert_allclose(one.path[0], tr.path[0])
    assert tr.slice_frames(0, 1).resample(num_frames=4).path[:, 0, 0].tolist() == [10, 10, 10, 10]


def test_resample_size_scales_coordinates():
    tr = linear_x(3)
    r = tr.resample(width=128, height=24)
    assert (r.width, r.height) == (128, 24)
    np.testing.assert_allclose(r.path[..., 0], tr.path[..., 0] * 2)
    np.testing.assert_allclose(r.path[..., 1], tr.path[..., 1] * 0.5)
    assert tr.resample() == tr


def test_resample_visibility_needs_both_neighbours():
    vis = np.ones((5, 1), bool)
    vis[2] = False
    tr = Tracks(np.zeros((5, 1, 2)) + 5, vis, 16, W, H)
    r = tr.resample(num_frames=9)  # source positions 0, .5, 1, ..., 4
    assert r.visible[:, 0].tolist() == [True, True, True, False, False, False, True, True, True]


def test_slice_hold_and_their_errors():
    tr = linear_x(6)
    s = tr.slice_frames(2, 5)
    np.testing.assert_allclose(s.path[:, 0, 0], [12, 13, 14])
    assert tr.slice_frames(-2).num_frames == 2
    with pytest.raises(TrackError, match=r"slice_frames\(4, 2\) of 6 frames is empty"):
        tr.slice_frames(4, 2)
    h = tr.hold_to(9)
    assert h.num_frames == 9
    np.testing.assert_allclose(h.path[6:, 0, 0], [15, 15, 15])
    assert h.visible.all()
    assert tr.hold_to(6) == tr
    with pytest.raises(TrackError, match=r"hold_to\(3\) cannot shorten 6 frames; use slice_frames\(0, 3\)"):
        tr.hold_to(3)


def test_concat_combines_tracks_with_same_timing():
    a = make(kinds=("drag", "drag"))
    b = make(n=3, value=20, kinds=("camera",) * 3)
    c = a.concat(b)
    assert c.num_tracks == 5 and c.kinds == ("drag", "drag", "camera", "camera", "camera")
    np.testing.assert_array_equal(c.path[:, 2:], b.path)
    with pytest.raises(TrackError, match=r"concat: num_frames differs \(4 vs 5\); resample one of them first"):
        a.concat(make(t=5))
    with pytest.raises(TrackError, match=r"concat: fps differs \(16 vs 24\); resample one first"):
        a.concat(make(fps=24))


def test_empty_only_through_the_explicit_constructor():
    e = Tracks.empty(5, 16, W, H)
    assert e.num_tracks == 0 and e.num_frames == 5
    both = e.concat(make(t=5))
    assert both.num_tracks == 2
    assert e.hold_to(7).num_tracks == 0
    assert track_formats.from_json(track_formats.to_json(e), allow_empty=True) == e
    with pytest.raises(TrackError, match="no tracks: the track list is empty"):
        track_formats.from_json(track_formats.to_json(e))


def test_select_and_with_kind():
    tr = make(n=3, kinds=("drag", "static", "live"))
    s = tr.select([2, 0])
    assert s.kinds == ("live", "drag") and s.num_tracks == 2
    assert tr.with_kind("live").kinds == ("live",) * 3
    with pytest.raises(TrackError, match="select: index out of range"):
        tr.select([3])


def test_save_and_load_round_trip(tmp_path):
    tr = linear_x(4)
    p = tmp_path / "t.json"
    track_formats.save(tr, p)
    assert track_formats.load(p) == tr

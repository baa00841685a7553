"""Region drags in the tracks: ``"region"`` in our tracks JSON (a polygon in start-image pixels per track), kept by
every Tracks operation (resampling scales it), validated with named errors; the live plan keeps the regions of its
planned tracks and of live points and records them (the record replays); the steer route reads a point's region."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionstream_core import track_formats
from motionstream_core.steering import ControlPlan, LivePoint
from motionstream_core.tracks import MAX_REGION_POINTS, TrackError, Tracks

SQUARE = [[10.0, 10.0], [30.0, 10.0], [30.0, 30.0], [10.0, 30.0]]


def _tracks(regions=(SQUARE, None), T=5) -> Tracks:
    path = np.stack([np.linspace([20, 20], [40, 20], T), np.full((T, 2), 50.0)], 1).astype(np.float32)
    return Tracks(path, np.ones((T, 2), bool), 16, 64, 64, regions=regions)


def test_a_region_round_trips_through_our_json_and_other_formats_carry_none():
    tr = _tracks()
    doc = json.loads(track_formats.to_json(tr))
    assert doc["tracks"][0]["region"] == SQUARE and "region" not in doc["tracks"][1]
    back = track_formats.from_json(json.dumps(doc))
    assert back == tr and back.regions[0].dtype == np.float32 and back.regions[1] is None
    assert back.has_regions and not _tracks((None, None)).has_regions
    assert back != _tracks((SQUARE[::-1], None))  # another polygon is another drag
    plain = track_formats.from_comfy(track_formats.to_comfy(tr), fps=16, width=64, height=64)
    assert plain.regions == (None, None)


def test_operations_keep_regions_and_resampling_scales_them():
    tr = _tracks()
    assert np.array_equal(tr.resample(width=128, height=32).regions[0], np.asarray(SQUARE) * [2.0, 0.5])
    assert tr.resample(fps=32).regions[0] is tr.regions[0] or np.array_equal(tr.resample(fps=32).regions[0], SQUARE)
    assert tr.select([1, 0]).regions[1] is not None and tr.select([1, 0]).regions[0] is None
    both = tr.concat(_tracks((None, SQUARE)))
    assert [r is None for r in both.regions] == [False, True, True, False]
    assert np.array_equal(tr.hold_to(9).regions[0], SQUARE) and tr.slice_frames(1).regions[0] is not None
    import pickle
    assert pickle.loads(pickle.dumps(tr)) == tr


@pytest.mark.parametrize("region,message", [
    ([[1, 1], [2, 2]], "track 0: a region needs 3 to 1024 points; got 2"),
    ([[1, 1, 1], [2, 2, 2], [3, 3, 3]], r"track 0: a region must be a polygon \[\[x, y\], ...\]; got shape \(3, 3\)"),
    ([[1, 1], [2, float("nan")], [3, 3]], "track 0: its region has a coordinate that is not finite"),
    ([[1, 1], [2, 2], [300, 3]], r"track 0: region point 2 \(300, 3\) is far outside the 64x64 frame"),
])
def test_bad_regions_are_named(region, message):
    with pytest.raises(TrackError, match=message):
        _tracks((region, None))


def test_bad_regions_in_json_are_named():
    doc = json.loads(track_formats.to_json(_tracks()))
    doc["tracks"][0]["region"] = [[1, 1]] * (MAX_REGION_POINTS + 1)
    with pytest.raises(TrackError, match=f"track 0: 'region' must be a list of at most {MAX_REGION_POINTS} "
                                         f"\\[x, y\\] points; got {MAX_REGION_POINTS + 1} points"):
        track_formats.from_json(json.dumps(doc))
    doc["tracks"][0]["region"] = [[1, 1], [2, "a"], [3, 3]]
    with pytest.raises(TrackError, match="track 0, region point 1: y is not a number"):
        track_formats.from_json(json.dumps(doc))
    doc["tracks"][0]["region"] = "square"
    with pytest.raises(TrackError, match="track 0: 'region' must be a list of at most 1024 \\[x, y\\] points; got str"):
        track_formats.from_json(json.dumps(doc))
    with pytest.raises(TrackError, match="regions has 1 entries but there are 2 tracks"):
        _tracks((SQUARE,))


def test_the_live_plan_records_planned_and_live_regions():
    plan = ControlPlan(_tracks(), 64, 64, 16)
    plan.frames(0, 5)
    live = [[40.0, 40.0], [60.0, 40.0], [50.0, 60.0]]
    plan.apply_live({"a": LivePoint("a", 50, 45, True, tuple(map(tuple, live))),
                     "track:1": LivePoint("track:1", 52, 50, True, tuple(map(tuple, SQUARE)))})
    plan.frames(5, 9)
    rec = plan.recorded()
    assert rec.num_tracks == 3 and rec.kinds == ("drag", "live", "live")
    assert np.array_equal(rec.regions[0], SQUARE) and np.array_equal(rec.regions[2], live)
    assert np.array_equal(rec.regions[1], SQUARE)  # a takeover of a track without one takes the point's region
    replay = ControlPlan(rec, 64, 64, 16)
    assert replay.frames(0, 9)[0].shape == (9, 3, 2) and replay.recorded() == rec
    plan.apply_live({"a": LivePoint("a", 51, 45, True, ((0.0, 0.0), (5.0, 0.0), (0.0, 5.0)))})
    assert np.array_equal(plan.regions[2], live)  # a slot keeps the region it first had


def test_the_steer_route_reads_a_points_region():
    from nodes.sessions import LiveSession, SteerError

    s = LiveSession(node_id="1", client_id="c", width=64, height=64, offset=0, drawn=0, max_slots=8,
                    reads_prompts=False)
    points, _ = s._validate({"points": [{"id": "p", "x": 20, "y": 20, "region": SQUARE}]})
    assert points[0].region == tuple(map(tuple, SQUARE))
    for region, message in (([[1, 1]], r"points\[0\].region must be a list of 3 to 1024 \[x, y\] points; got 1 "
                                       "points"),
                            ([[1, 1], [2, "x"], [3, 3]], r"points\[0\].region\[1\] must be \[x, y\]"),
                            ([[1, 1], [2, 2], [500, 3]], r"points\[0\].region\[2\] \(500, 3\) is more than 50% "
                                                         "outside the image")):
        with pytest.raises(SteerError, match=message):
            s._validate({"points": [{"id": "p", "x": 20, "y": 20, "region": region}]})

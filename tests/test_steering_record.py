"""The live session's record (steering.ControlPlan): exactly what was handed out, replayable, compact."""

from __future__ import annotations

import numpy as np
import pytest

from motionstream_core.steering import ControlPlan, LivePoint, TrackRecord
from motionstream_core.tracks import Tracks

W, H, FPS = 96, 64, 16


def _plan_tracks(t: int, n: int, seed: int) -> Tracks:
    rng = np.random.default_rng(seed)
    path = rng.uniform(0, [W, H], size=(t, n, 2)).astype(np.float32)
    vis = rng.random((t, n)) > 0.2
    return Tracks(path=path, visible=vis, fps=FPS, width=W, height=H, kinds=("drag",) * n)


def _steered_session(plan: ControlPlan, chunks: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """A user steering for ``chunks`` chunks of 12 frames: a takeover of track 0, new points appearing
    late (widening the record), releases, and a replacement plan mid-run."""
    rng = np.random.default_rng(seed)
    handed = []
    for c in range(chunks):
        points = {}
        if c % 3 == 0:
            points["track:0"] = LivePoint("track:0", *rng.uniform(0, [W, H]), active=c % 9 != 0)
        if c >= 40 and c % 5 == 0:
            points["live:a"] = LivePoint("live:a", *rng.uniform(0, [W, H]))
        if c == 150:
            points["live:b"] = LivePoint("live:b", 3.5, 7.25, active=False)
        if c == 100:
            plan.replace_plan(_plan_tracks(200, 2, seed + 1))
        plan.apply_live(points)
        handed.append(plan.frames(12 * c, 12 * c + 12))
    return handed


def _reference(handed, slots: int, frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The record of the first ``frames`` frames built independently: the chunks as handed out, side by
    side; frames before a slot existed are invisible and hold the slot's first visible position."""
    t = sum(len(v) for _, v in handed)
    path, vis = np.zeros((t, slots, 2), np.float32), np.zeros((t, slots), bool)
    row = 0
    for p, v in handed:
        path[row:row + len(v), :v.shape[1]], vis[row:row + len(v), :v.shape[1]] = p, v
        row += len(v)
    path, vis = path[:frames], vis[:frames]
    for s in range(slots):
        seen = np.flatnonzero(vis[:, s])
        if len(seen):
            path[:seen[0], s] = path[seen[0], s]
    return path, vis


def test_the_record_is_exactly_what_was_handed_out_past_its_initial_capacity():
    plan = ControlPlan(_plan_tracks(30, 2, 0), W, H, FPS)
    handed = _steered_session(plan, chunks=200)  # 2,400 frames: the record doubles twice
    assert len(plan.record) == 2400 and TrackRecord.INITIAL_ROWS < 2400
    rec = plan.recorded()
    assert rec.num_tracks == 4 and rec.kinds == ("live", "drag", "live", "live")
    ref_path, ref_vis = _reference(handed, 4)
    assert np.array_equal(rec.path, ref_path) and np.array_equal(rec.visible, ref_vis)
    assert rec.path.dtype == np.float32 and rec.visible.dtype == bool
    part, (ref_path, ref_vis) = plan.recorded(1000), _reference(handed, 4, 1000)
    assert np.array_equal(part.path, ref_path) and np.array_equal(part.visible, ref_vis)


def test_replaying_the_record_hands_out_the_same_tracks_bit_for_bit():
    plan = ControlPlan(_plan_tracks(30, 2, 0), W, H, FPS)
    handed = _steered_session(plan, chunks=200, seed=3)
    replay = ControlPlan(plan.recorded(), W, H, FPS)  # what re-queueing the recorded run does
    for c, (p, v) in enumerate(handed):
        rp, rv = replay.frames(12 * c, 12 * c + 12)
        assert np.array_equal(rv[:, :v.shape[1]], v) and not rv[:, v.shape[1]:].any(), f"visibility, chunk {c}"
        shown = rv[:, :v.shape[1]]  # positions matter where a track is visible
        assert np.array_equal(rp[:, :p.shape[1]][shown], p[shown]), f"positions, chunk {c}"


@pytest.mark.parametrize("slots", [1, 3, 8])
def test_the_record_costs_at_most_18_bytes_a_slot_a_frame(slots):
    """9 bytes a slot a frame (x, y float32 + visible), at most doubled by the growth's spare capacity."""
    rec = TrackRecord()
    path, vis = np.ones((12, slots, 2), np.float32), np.ones((12, slots), bool)
    for frames in range(12, 30_001, 12):
        rec.append(path, vis)
        if frames > TrackRecord.INITIAL_ROWS:
            assert rec.nbytes <= 2 * 9 * slots * frames, f"{rec.nbytes} bytes after {frames} frames"
    assert len(rec) == 30_000 and rec.slots == slots


def test_a_record_refuses_fewer_slots_than_it_has():
    rec = TrackRecord()
    rec.append(np.zeros((2, 3, 2), np.float32), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="a record of 3 slots cannot take frames of 2 slots"):
        rec.append(np.zeros((2, 2, 2), np.float32), np.ones((2, 2), bool))


def test_a_growing_plan_takes_fresh_slots_and_hides_no_live_point():
    """A live point holds slot 2; a replacement plan with a third track gives that track slot 3: both are
    handed out, and a takeover of planned track 2 moves slot 3, not the live point."""
    first = _plan_tracks(48, 2, 0)
    plan = ControlPlan(first, W, H, FPS)
    plan.apply_live({"live:a": LivePoint("live:a", 10.0, 20.0)})
    plan.frames(0, 12)
    grown = _plan_tracks(48, 3, 1)
    plan.replace_plan(grown)
    path, vis = plan.frames(12, 24)
    assert plan.num_slots == 4
    np.testing.assert_array_equal(path[:, 2], np.tile([10.0, 20.0], (12, 1)))  # the live point, held
    np.testing.assert_array_equal(path[:, [0, 1, 3]], grown.path[12:24])  # every planned track, slot 3 the new one
    np.testing.assert_array_equal(vis[:, [0, 1, 3]], grown.visible[12:24])
    plan.apply_live({"track:2": LivePoint("track:2", 50.0, 40.0)})
    path, _ = plan.frames(24, 36)
    np.testing.assert_array_equal(path[-1, 3], [50.0, 40.0])  # planned track 2 taken over in its slot
    np.testing.assert_array_equal(path[:, 2], np.tile([10.0, 20.0], (12, 1)))
    assert plan.recorded().kinds == ("drag", "drag", "live", "live")
    with pytest.raises(ValueError, match="a replacement plan must keep the 3 existing tracks"):
        plan.replace_plan(first)

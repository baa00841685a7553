"""Live steering: what a user does while the stream runs, and the record of what the stream used.

``Steering`` is the thread-safe mailbox another thread (an HTTP handler, a UI) writes into at any
time; the stream reads a snapshot at each chunk boundary, so the latest state wins and applies
from the next chunk.

``ControlPlan`` turns the planned tracks plus the live points into the pixel-frame tracks of each
chunk, and records every frame it hands out, so ``recorded()`` is a Tracks that replays the live
session exactly (same seed -> same video). Rules, in order:

* track slot i is planned track i (held at its last frame once the plan ends);
* a live point with id ``"track:<i>"`` takes over slot i from the next chunk on; any other id adds
  a new slot (invisible in the frames before it appeared);
* a live slot moves linearly, over the chunk's frames, from where it was to the latest position;
  a released point (``active=False``) moves to where it was let go, then stays there;
* a slot drags the region (``Tracks.regions``) of its planned track, or the region a live point carries
  (``LivePoint.region``: a polygon in start-image pixels); a slot's region is the one it had when it first
  appeared (so the record, which keeps every slot's region, replays the run).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tracks import Tracks

_TAKEOVER = re.compile(r"track:([0-9]{1,9})")  # the widget's rule too (js/lib/steer.js; tests/data/steer_ids.json)


def takeover_slot(point_id: str) -> int | None:
    """The track slot a live point takes over (its id is ``"track:<i>"``, i 1 to 9 ASCII digits), or None
    for a new point."""
    m = _TAKEOVER.fullmatch(point_id)
    return int(m.group(1)) if m else None


def takeover_id(slot: int) -> str:
    """The live point id that takes over track slot ``slot``."""
    return f"track:{int(slot)}"


@dataclass(frozen=True)
class LivePoint:
    id: str
    x: float
    y: float
    active: bool = True
    region: tuple[tuple[float, float], ...] | None = None  # the polygon this point drags (start-image pixels)


@dataclass(frozen=True)
class SteeringSnapshot:
    points: dict[str, LivePoint]
    tracks: Tracks | None  # a replacement plan posted since the last snapshot
    stopped: bool
    text: Any = None  # a new prompt (stream.TextCondition or str) posted since the last snapshot


class Steering:
    """Thread-safe live control of one stream: points, plan replacement, pause/resume/stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[str, LivePoint] = {}
        self._tracks: Tracks | None = None
        self._text: Any = None
        self._stopped = False
        self._running = threading.Event()
        self._running.set()
        self.chunk = 0  # the chunk the stream is at (informational, for the UI)

    def update_points(self, points) -> None:
        """Set the latest position of each given live point (others keep theirs)."""
        with self._lock:
            for p in points:
                self._points[p.id] = p

    def replace_tracks(self, tracks: Tracks) -> None:
        """Replace the planned tracks from the next chunk on."""
        with self._lock:
            self._tracks = tracks

    def switch_prompt(self, text: Any) -> None:
        """Switch to a new prompt (a stream.TextCondition, or a string for models with their own text
        encoder) at the next chunk boundary; the latest one posted before it wins."""
        with self._lock:
            self._text = text

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._running.set()  # a paused stream must wake up to stop

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        with self._lock:
            return self._stopped

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True once running (or stopped), False on timeout."""
        return self._running.wait(timeout)

    def snapshot(self) -> SteeringSnapshot:
        with self._lock:
            snap = SteeringSnapshot(dict(self._points), self._tracks, self._stopped, self._text)
            self._tracks = self._text = None
            return snap


class TrackRecord:
    """Every frame of tracks a ControlPlan handed out, in one growable pair of arrays, so an endless
    stream's record costs 9 bytes a slot a frame (no per-frame objects).

    ``path`` [capacity, slots, 2] float32 and ``visible`` [capacity, slots] bool; the first ``len(self)``
    rows are the frames so far. Rows double when full (amortised O(1) a frame; at most twice the memory in
    use), columns widen when a live point adds a slot (rare; frames before a slot existed read as
    (0, 0), invisible, exactly what was handed out for them: nothing).
    """

    INITIAL_ROWS = 1024  # frames before the first doubling (~1 min at 16 fps)

    def __init__(self):
        self._path = np.zeros((self.INITIAL_ROWS, 0, 2), np.float32)
        self._vis = np.zeros((self.INITIAL_ROWS, 0), bool)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    @property
    def slots(self) -> int:
        return self._vis.shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes held by the record's arrays (allocated capacity included)."""
        return self._path.nbytes + self._vis.nbytes

    def _resize(self, rows: int, slots: int) -> None:
        path = np.zeros((rows, slots, 2), np.float32)
        vis = np.zeros((rows, slots), bool)
        n, k = self._len, self.slots
        path[:n, :k], vis[:n, :k] = self._path[:n], self._vis[:n]
        self._path, self._vis = path, vis

    def append(self, path: np.ndarray, vis: np.ndarray) -> None:
        """Add frames: path [T, N, 2], visible [T, N] (N >= the slots so far: slots only ever grow)."""
        t, n = vis.shape
        if n < self.slots:
            raise ValueError(f"a record of {self.slots} slots cannot take frames of {n} slots")
        rows = len(self._vis)
        if self._len + t > rows or n > self.slots:
            while self._len + t > rows:
                rows *= 2
            self._resize(rows, n)
        self._path[self._len:self._len + t] = path
        self._vis[self._len:self._len + t] = vis
        self._len += t

    def last(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The newest frame's path [slots, 2] and visible [slots] (views), or (None, None) before any."""
        if self._len == 0:
            return None, None
        return self._path[self._len - 1], self._vis[self._len - 1]

    def arrays(self, num_frames: int, slots: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the first ``num_frames`` frames, ``slots`` wide (later slots: zeros, invisible)."""
        path = np.zeros((num_frames, slots, 2), np.float32)
        vis = np.zeros((num_frames, slots), bool)
        k = min(slots, self.slots)
        path[:, :k], vis[:, :k] = self._path[:num_frames, :k], self._vis[:num_frames, :k]
        return path, vis


class ControlPlan:
    """Per-chunk pixel-frame tracks from planned tracks + live points, with a full record."""

    def __init__(self, planned: Tracks | None, width: int, height: int, fps: float):
        self.width, self.height, self.fps = width, height, fps
        self._planned = planned
        self._kinds: list[str] = list(planned.kinds) if planned is not None else []
        # planned track j -> its slot: j for the first plan; a replacement plan's new tracks take fresh slots
        # after those live points already hold, so no planned track is ever hidden behind a live one
        self._planned_slots: list[int] = list(range(planned.num_tracks)) if planned is not None else []
        self._live_slot: dict[str, int] = {}  # live id -> slot
        self._live_target: dict[int, tuple[float, float]] = {}
        self._regions: list = list(planned.regions) if planned is not None else []  # per slot: polygon or None
        self.record = TrackRecord()  # every frame handed out, for recorded()

    @property
    def num_slots(self) -> int:
        return len(self._kinds)

    def replace_plan(self, planned: Tracks) -> None:
        if planned.num_tracks < len(self._planned_slots):
            raise ValueError(f"a replacement plan must keep the {len(self._planned_slots)} existing tracks")
        self._planned = planned
        for kind, region in zip(planned.kinds[len(self._planned_slots):], planned.regions[len(self._planned_slots):]):
            self._planned_slots.append(len(self._kinds))
            self._kinds.append(kind)
            self._regions.append(region)

    def apply_live(self, points: dict[str, LivePoint]) -> None:
        for pid, p in points.items():
            slot = self._live_slot.get(pid)
            if slot is None:
                taken = takeover_slot(pid)  # a planned track's index
                if taken is not None and taken < len(self._planned_slots):
                    slot = self._planned_slots[taken]
                else:
                    slot = len(self._kinds)
                    self._kinds.append("live")
                    self._regions.append(None)
                self._kinds[slot] = "live"
                self._live_slot[pid] = slot
                if p.region is not None and self._regions[slot] is None:
                    self._regions[slot] = np.asarray(p.region, np.float32)
            # A release carries the final position: a drag made and let go between two chunks still counts.
            self._live_target[slot] = (float(p.x), float(p.y))

    def frames(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Tracks for pixel frames [start, stop): path [T, N, 2] float32, visible [T, N] bool."""
        assert start == len(self.record), f"frames must be asked in order: expected {len(self.record)}"
        n, T = self.num_slots, stop - start
        path = np.zeros((T, n, 2), np.float32)
        vis = np.zeros((T, n), bool)
        planned = self._planned
        if planned is not None and planned.num_tracks:
            idx = np.minimum(np.arange(start, stop), planned.num_frames - 1)
            slots = np.asarray(self._planned_slots)
            path[:, slots] = planned.path[idx]
            vis[:, slots] = planned.visible[idx]
        prev_path, prev_vis = self.record.last()
        frac = (np.arange(1, T + 1, dtype=np.float32) / T)[:, None]
        for slot in set(self._live_slot.values()):
            target = self._live_target.get(slot)
            had = prev_path is not None and slot < len(prev_path) and prev_vis[slot]
            if target is None:  # released or never moved: hold where it was
                if had:
                    path[:, slot], vis[:, slot] = prev_path[slot], True
                continue
            target = np.asarray(target, np.float32)
            origin = prev_path[slot] if had else target
            path[:, slot] = origin + (target - origin) * frac
            vis[:, slot] = True
        self.record.append(path, vis)
        return path, vis

    def recorded(self, num_frames: int | None = None) -> Tracks:
        """Everything handed out so far (optionally only the first ``num_frames``) as Tracks."""
        T = len(self.record) if num_frames is None else min(num_frames, len(self.record))
        if T == 0:
            raise ValueError("nothing was generated yet, so there is nothing to record")
        n = self.num_slots
        if n == 0:
            return Tracks.empty(T, self.fps, self.width, self.height)
        path, vis = self.record.arrays(T, n)
        # Frames before a slot existed: hold its first known position (invisible), so the record is valid.
        for slot in range(n):
            seen = np.nonzero(vis[:, slot])[0]
            if len(seen):
                path[:seen[0], slot] = path[seen[0], slot]
        return Tracks(path=path, visible=vis, fps=self.fps, width=self.width, height=self.height,
                      kinds=tuple(self._kinds), regions=tuple(self._regions))

    @property
    def kinds(self) -> tuple[str, ...]:
        """Per slot: its kind (``tracks.KINDS``)."""
        return tuple(self._kinds)

    @property
    def regions(self) -> tuple:
        """Per slot: the polygon it drags (start-image pixels) or None."""
        return tuple(self._regions)

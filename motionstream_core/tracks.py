"""The one track type everything in MotionStream is steered by.

A :class:`Tracks` holds N point trajectories over T frames:

* ``path``    float32 [T, N, 2]: (x, y) in pixels of the output image, ``width`` x ``height``.
  Coordinates are continuous with the pixel-corner convention: pixel (i, j) covers
  [i, i+1) x [j, j+1), so the image spans [0, W] x [0, H] and its centre is (W/2, H/2).
* ``visible`` bool [T, N]: where the point is on screen and un-occluded. Only visible points
  steer the model; the positions of hidden points are kept but carry no meaning.
* ``fps``: frame k is at time k / fps seconds.
* ``kinds``: per track, one of :data:`KINDS` (where it came from; "drag" by default).
* ``regions``: per track, None or a polygon float32 [K, 2] (3 <= K <= :data:`MAX_REGION_POINTS`) in pixels of the
  start image: the region the track drags (cut from the start image where the polygon lies and moved by the
  track's displacement from its first visible point; a second track on the same polygon makes the move a
  similarity, ``reference.regions``). None: the track drags a soft neighbourhood (the kernel warp).

The constructor validates (an invalid Tracks cannot exist) and freezes the arrays. Every file and
socket format is read and written by :mod:`motionstream_core.track_formats`, which depends on this
module (never the reverse). Resampling (frame rate, length, image size) is always explicit:
:meth:`resample`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

KINDS = ("drag", "static", "live", "camera", "transfer")
DEFAULT_MAX_TRACKS = 8192  # the hard ceiling of the constructor; parsers take a stricter max_tracks
DEFAULT_MARGIN = 0.5  # visible points may lie up to 50% of the image size outside [0,W]x[0,H]
MAX_FRAMES = 100_000  # the most frames a tracks file may hold (~1.7 h at 16 fps): readers refuse more unread
MAX_REGION_POINTS = 1024  # the most vertices a track's region polygon may have
MIN_FPS = 1.0  # the slowest frame rate tracks may have (slower would make fitting to the model's rate explode)
# frames x tracks: the most points tracks made from a description may hold (a file, a workflow's editor state, a
# resampling, a camera or video grid); one hour of 256 tracks at 16 fps fits. ~150 MB of path and visibility.
MAX_TRACK_POINTS = 1 << 24


class TrackError(ValueError):
    """The one error for bad tracks: the message says what is wrong and where (track i, frame t)."""


def _check_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) <= 0:
        raise TrackError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def check_fps(fps: Any) -> float:
    """``fps`` as a float, or a TrackError: a finite number of at least :data:`MIN_FPS`."""
    ok = isinstance(fps, (int, float, np.integer, np.floating)) and not isinstance(fps, bool)
    if not ok or not math.isfinite(float(fps)) or float(fps) <= 0:
        raise TrackError(f"fps must be a positive finite number; got {fps!r}")
    if float(fps) < MIN_FPS:
        raise TrackError(f"fps {fps!r} is below MIN_FPS = {MIN_FPS:g}, the slowest frame rate tracks may have")
    return float(fps)


def check_track_count(num_tracks: int, max_tracks: int | None = None) -> None:
    """Refuse more than ``max_tracks`` (default :data:`DEFAULT_MAX_TRACKS`) tracks before any is allocated."""
    limit = DEFAULT_MAX_TRACKS if max_tracks is None else int(max_tracks)
    if num_tracks > limit:
        raise TrackError(f"too many tracks: {num_tracks} > limit {limit}")


def check_track_budget(num_frames: int | float, num_tracks: int | float, what: str = "tracks") -> None:
    """Refuse, before anything is allocated, ``num_frames`` x ``num_tracks`` past :data:`MAX_FRAMES` frames or
    :data:`MAX_TRACK_POINTS` points; the error names ``what`` and the limit."""
    if num_frames > MAX_FRAMES:
        raise TrackError(f"{what}: {num_frames:.0f} frames is more than MAX_FRAMES = {MAX_FRAMES}, the most "
                         "frames tracks may have")
    if num_frames * num_tracks > MAX_TRACK_POINTS:
        raise TrackError(f"{what}: {num_frames:.0f} frames x {num_tracks:.0f} tracks = "
                         f"{num_frames * num_tracks:.0f} points is more than MAX_TRACK_POINTS = {MAX_TRACK_POINTS}, "
                         "the frames x tracks budget: use fewer frames or fewer tracks")


def resampled_length(num_frames: int, fps: float, new_fps: float) -> int:
    """Frames of ``num_frames`` at ``fps`` resampled to ``new_fps`` (the same duration):
    ``round((T - 1) * new_fps / fps) + 1``, refused past :data:`MAX_FRAMES` before it is computed as an int."""
    n = (num_frames - 1) * (check_fps(new_fps) / check_fps(fps))
    if not n + 1 <= MAX_FRAMES:
        raise TrackError(f"{num_frames} frames at {_fmt(fps)} fps resampled to {_fmt(new_fps)} fps would be "
                         f"{n + 1:.0f} frames, more than MAX_FRAMES = {MAX_FRAMES}")
    return int(round(n)) + 1


def numeric_array(x: Any, name: str) -> np.ndarray:
    """``x`` (a torch tensor on any device, an array, nested lists) as a numeric numpy array, or a TrackError
    naming ``name``."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, on any device
        x = x.detach().cpu()
        x = x.float() if x.is_floating_point() else x
        x = x.numpy()
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise TrackError(f"{name} is not a rectangular numeric array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise TrackError(f"{name} must be numeric; got dtype {a.dtype}")
    return a


def _fmt(v: float) -> str:
    return f"{float(v) + 0.0:g}"  # + 0.0 turns -0.0 into 0.0


@dataclass(frozen=True, eq=False)
class Tracks:
    path: np.ndarray
    visible: np.ndarray
    fps: float
    width: int
    height: int
    kinds: tuple[str, ...] | None = None
    regions: tuple[np.ndarray | None, ...] | None = None
    _allow_empty: bool = field(default=False, repr=False, kw_only=True)

    # ------------------------------------------------------------------ construction
    def __post_init__(self) -> None:
        path = np.array(numeric_array(self.path, "path"), dtype=np.float32, copy=True)
        visible = numeric_array(self.visible, "visible")
        if path.ndim != 3 or path.shape[2] != 2:
            raise TrackError(f"path must have shape [T, N, 2]; got {tuple(path.shape)}")
        if visible.shape != path.shape[:2]:
            raise TrackError(f"visible must have shape [T, N] = {list(path.shape[:2])}; got {tuple(visible.shape)}")
        if visible.dtype != np.bool_:
            if visible.dtype.kind not in "biuf" or not np.isin(visible, (0, 1)).all():
                raise TrackError(f"visible must be booleans (or 0/1); got dtype {visible.dtype}")
        visible = np.array(visible, dtype=bool, copy=True)
        path.flags.writeable = False
        visible.flags.writeable = False
        n = path.shape[1]
        kinds = ("drag",) * n if self.kinds is None else tuple(self.kinds)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "visible", visible)
        object.__setattr__(self, "fps", check_fps(self.fps))
        object.__setattr__(self, "width", _check_size("width", self.width))
        object.__setattr__(self, "height", _check_size("height", self.height))
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "regions", _regions(self.regions, n))
        self.validate()

    @classmethod
    def empty(cls, num_frames: int, fps: float, width: int, height: int) -> "Tracks":
        """No tracks at all (N = 0): the only way to make an empty Tracks."""
        t = _check_size("num_frames", num_frames)
        return cls(np.zeros((t, 0, 2), np.float32), np.zeros((t, 0), bool), fps, width, height,
                   _allow_empty=True)

    def _derive(self, path=None, visible=None, fps=None, width=None, height=None, kinds=None,
                regions=None) -> "Tracks":
        return Tracks(self.path if path is None else path, self.visible if visible is None else visible,
                      self.fps if fps is None else fps, self.width if width is None else width,
                      self.height if height is None else height, self.kinds if kinds is None else kinds,
                      self.regions if regions is None else regions, _allow_empty=self._allow_empty)

    @property
    def has_regions(self) -> bool:
        return any(r is not None for r in self.regions)

    # ------------------------------------------------------------------ properties
    @property
    def num_frames(self) -> int:
        return int(self.path.shape[0])

    @property
    def num_tracks(self) -> int:
        return int(self.path.shape[1])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame: (T - 1) / fps."""
        return (self.num_frames - 1) / self.fps

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tracks):
            return NotImplemented
        return (self.path.shape == other.path.shape and np.array_equal(self.path, other.path)
                and np.array_equal(self.visible, other.visible) and self.fps == other.fps
                and self.width == other.width and self.height == other.height and self.kinds == other.kinds
                and len(self.regions) == len(other.regions)
                and all((a is None and b is None) or (a is not None and b is not None and a.shape == b.shape
                                                      and np.array_equal(a, b))
                        for a, b in zip(self.regions, other.regions)))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):  # pickle / deepcopy rebuild through the constructor: validated and frozen again
        return (_rebuild, (self.path, self.visible, self.fps, self.width, self.height, self.kinds, self._allow_empty,
                           self.regions))

    def __repr__(self) -> str:
        return (f"Tracks(num_frames={self.num_frames}, num_tracks={self.num_tracks}, fps={_fmt(self.fps)}, "
                f"size={self.width}x{self.height}, visible={int(self.visible.sum())}/{self.visible.size})")

    # ------------------------------------------------------------------ validation
    def validate(self, max_tracks: int | None = None, margin: float = DEFAULT_MARGIN) -> "Tracks":
        """Raise :class:`TrackError` naming the first problem; return self when valid.

        Checks: at least one frame; at least one track (unless made by :meth:`empty`); at most
        ``max_tracks`` tracks (default :data:`DEFAULT_MAX_TRACKS`); kinds; every coordinate finite;
        every *visible* point within ``margin`` (a fraction of the image size) of the frame.
        """
        t, n = self.path.shape[:2]
        limit = DEFAULT_MAX_TRACKS if max_tracks is None else int(max_tracks)
        if t == 0:
            raise TrackError("tracks have no frames (num_frames is 0)")
        if n == 0 and not self._allow_empty:
            raise TrackError("no tracks: the track list is empty")
        if n > limit:
            raise TrackError(f"too many tracks: {n} > limit {limit}")
        if len(self.kinds) != n:
            raise TrackError(f"kinds has {len(self.kinds)} entries but there are {n} tracks")
        for i, k in enumerate(self.kinds):
            if k not in KINDS:
                raise TrackError(f"track {i}: unknown kind {k!r} (known: {', '.join(KINDS)})")
        bad = ~np.isfinite(self.path)
        if bad.any():
            ft, fi, axis = (int(v) for v in np.argwhere(bad)[0])
            v = self.path[ft, fi, axis]
            what = "NaN" if np.isnan(v) else "infinite"
            raise TrackError(f"track {fi}, frame {ft}: {'xy'[axis]} is {what}")
        for i, r in enumerate(self.regions):
            if r is not None:
                _check_region(r, i, self.width, self.height, margin)
        lo_x, hi_x = -margin * self.width, (1 + margin) * self.width
        lo_y, hi_y = -margin * self.height, (1 + margin) * self.height
        x, y = self.path[..., 0], self.path[..., 1]
        far = self.visible & ((x < lo_x) | (x > hi_x) | (y < lo_y) | (y > hi_y))
        if far.any():
            ft, fi = (int(v) for v in np.argwhere(far)[0])
            raise TrackError(
                f"track {fi}, frame {ft}: point ({_fmt(x[ft, fi])}, {_fmt(y[ft, fi])}) is far outside the "
                f"{self.width}x{self.height} frame (visible points must lie within x in [{_fmt(lo_x)}, "
                f"{_fmt(hi_x)}], y in [{_fmt(lo_y)}, {_fmt(hi_y)}])")
        return self

    # ------------------------------------------------------------------ timing and size
    def resample(self, fps: float | None = None, num_frames: int | None = None,
                 width: int | None = None, height: int | None = None) -> "Tracks":
        """Explicit resampling in time and/or space; the whole motion is always kept.

        * ``fps`` alone: the same duration sampled at the new rate; frame j is at time j / fps,
          ``round(duration * fps) + 1`` frames (the last one clamped to the source's end).
        * ``num_frames`` (with or without ``fps``): the whole motion is stretched over exactly
          ``num_frames`` frames (a speed change); ``fps`` only relabels the rate.
        * ``width`` / ``height``: coordinates are scaled by new / old size along each axis.

        Positions are interpolated linearly between neighbouring frames; a point between two
        frames is visible only when it is visible in both (on a frame exactly, that frame decides).
        To cut or extend instead, use :meth:`slice_frames` / :meth:`hold_to`.
        """
        t = self.num_frames
        new_fps = self.fps if fps is None else check_fps(fps)
        if num_frames is not None:
            n = _check_size("num_frames", num_frames)
            check_track_budget(n, self.num_tracks, "resampled tracks")
            src = np.zeros(1) if n == 1 else np.linspace(0.0, t - 1, n)
        elif fps is not None:
            n = resampled_length(t, self.fps, new_fps)
            check_track_budget(n, self.num_tracks, "resampled tracks")
            src = np.minimum(np.arange(n) * (self.fps / new_fps), t - 1)
        else:
            src = np.arange(t, dtype=np.float64)
        path, vis = _interp_frames(self.path, self.visible, src)
        new_w = self.width if width is None else _check_size("width", width)
        new_h = self.height if height is None else _check_size("height", height)
        scale = np.array([new_w / self.width, new_h / self.height], np.float32)
        regions = self.regions
        if not (scale == 1).all():
            path = path * scale
            regions = tuple(None if r is None else r * scale for r in regions)
        return self._derive(path, vis, new_fps, new_w, new_h, regions=regions)

    def slice_frames(self, start: int, stop: int | None = None) -> "Tracks":
        """Frames [start, stop) (Python slice rules, negative indices allowed); must not be empty."""
        idx = range(self.num_frames)[slice(start, stop)]
        if len(idx) == 0:
            raise TrackError(f"slice_frames({start}, {stop}) of {self.num_frames} frames is empty")
        return self._derive(self.path[idx.start:idx.stop], self.visible[idx.start:idx.stop])

    def hold_to(self, num_frames: int) -> "Tracks":
        """Extend to ``num_frames`` by repeating the last frame (for streams longer than the tracks)."""
        n = _check_size("num_frames", num_frames)
        t = self.num_frames
        check_track_budget(n, self.num_tracks, "held tracks")
        if n < t:
            raise TrackError(f"hold_to({n}) cannot shorten {t} frames; use slice_frames(0, {n})")
        idx = np.minimum(np.arange(n), t - 1)
        return self._derive(self.path[idx], self.visible[idx])

    def concat(self, other: "Tracks") -> "Tracks":
        """More tracks, same timing and size (how drag and camera tracks combine)."""
        if not isinstance(other, Tracks):
            raise TrackError(f"concat needs Tracks; got {type(other).__name__}")
        for name in ("num_frames", "width", "height"):
            if getattr(self, name) != getattr(other, name):
                raise TrackError(f"concat: {name} differs ({getattr(self, name)} vs {getattr(other, name)}); "
                                 "resample one of them first")
        if abs(self.fps - other.fps) > 1e-6 * self.fps:
            raise TrackError(f"concat: fps differs ({_fmt(self.fps)} vs {_fmt(other.fps)}); resample one first")
        return Tracks(np.concatenate([self.path, other.path], 1), np.concatenate([self.visible, other.visible], 1),
                      self.fps, self.width, self.height, self.kinds + other.kinds, self.regions + other.regions,
                      _allow_empty=self._allow_empty and other._allow_empty)

    def select(self, indices: Sequence[int]) -> "Tracks":
        """A subset of the tracks, in the given order."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -self.num_tracks or idx.max() >= self.num_tracks):
            raise TrackError(f"select: index out of range for {self.num_tracks} tracks: {idx.tolist()}")
        return self._derive(self.path[:, idx], self.visible[:, idx], kinds=tuple(self.kinds[i] for i in idx),
                            regions=tuple(self.regions[i] for i in idx))

    def with_kind(self, kind: str) -> "Tracks":
        """The same tracks, all of the given kind."""
        return self._derive(kinds=(kind,) * self.num_tracks)


def fit_tracks(tracks: Tracks, width: int, height: int, fps: float) -> Tracks:
    """Resample (explicitly) to the output size and the model's frame rate when they differ."""
    if (tracks.width, tracks.height) != (width, height):
        tracks = tracks.resample(width=width, height=height)
    if abs(tracks.fps - fps) > 1e-6:
        tracks = tracks.resample(fps=fps)
    return tracks


def combine_tracks(first: Tracks | None, second: Tracks | None) -> Tracks | None:
    """``first`` then ``second`` as one Tracks (the shorter one holds its last frame); None when both
    are missing or empty."""
    if first is None or first.num_tracks == 0:
        return second if second is not None and second.num_tracks else None
    if second is None or second.num_tracks == 0:
        return first
    t = max(first.num_frames, second.num_frames)
    return first.hold_to(t).concat(second.hold_to(t))


def _rebuild(path, visible, fps, width, height, kinds, allow_empty, regions=None) -> Tracks:
    return Tracks(path, visible, fps, width, height, kinds, regions, _allow_empty=allow_empty)


def _regions(regions: Any, n: int) -> tuple[np.ndarray | None, ...]:
    """Per-track regions as a tuple of N frozen float32 [K, 2] polygons or None (shape checked here, place in
    ``validate``)."""
    if regions is None:
        return (None,) * n
    regions = tuple(regions)
    if len(regions) != n:
        raise TrackError(f"regions has {len(regions)} entries but there are {n} tracks")
    out = []
    for i, r in enumerate(regions):
        if r is None:
            out.append(None)
            continue
        a = np.array(numeric_array(r, f"track {i}: region"), dtype=np.float32, copy=True)
        if a.ndim != 2 or a.shape[1] != 2:
            raise TrackError(f"track {i}: a region must be a polygon [[x, y], ...]; got shape {tuple(a.shape)}")
        if not 3 <= len(a) <= MAX_REGION_POINTS:
            raise TrackError(f"track {i}: a region needs 3 to {MAX_REGION_POINTS} points; got {len(a)}")
        a.flags.writeable = False
        out.append(a)
    return tuple(out)


def _check_region(r: np.ndarray, i: int, width: int, height: int, margin: float) -> None:
    if not np.isfinite(r).all():
        raise TrackError(f"track {i}: its region has a coordinate that is not finite")
    lo, hi = -margin * np.array([width, height]), (1 + margin) * np.array([width, height])
    far = ((r < lo) | (r > hi)).any(1)
    if far.any():
        k = int(np.argmax(far))
        raise TrackError(f"track {i}: region point {k} ({_fmt(r[k, 0])}, {_fmt(r[k, 1])}) is far outside the "
                         f"{width}x{height} frame")


def _interp_frames(path: np.ndarray, visible: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample [T, N, 2] / [T, N] at fractional frame positions ``src`` (linear; visibility: both ends)."""
    t = path.shape[0]
    src = np.clip(np.asarray(src, np.float64), 0, t - 1)
    i0 = np.floor(src).astype(np.int64)
    w = src - i0
    on_frame = w < 1e-6
    near_next = w > 1 - 1e-6
    i0 = np.where(near_next, np.minimum(i0 + 1, t - 1), i0)
    w = np.where(on_frame | near_next, 0.0, w)
    i1 = np.minimum(i0 + 1, t - 1)
    out = np.empty((len(src),) + path.shape[1:], np.float32)
    step = max(1, (1 << 20) // max(1, path.shape[1]))  # blocks of ~1M points: float64 temporaries stay small
    for b in range(0, len(src), step):
        s = slice(b, b + step)
        wf = w[s, None, None]
        out[s] = path[i0[s]].astype(np.float64) * (1 - wf) + path[i1[s]].astype(np.float64) * wf
    exact = (w == 0)[:, None]
    vis = np.where(exact, visible[i0], visible[i0] & visible[i1])
    return out, vis

"""Our own tracks JSON (version 1): written by the CLI, the JS widget and recorded live sessions, read by every
way in (``track_formats.load``, the nodes, the CLI); the layout is in ``track_formats``' docstring. Also the
small readers every format shares (numbers, JSON text)."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from .tracks import MAX_FRAMES, MAX_REGION_POINTS, TrackError, Tracks, check_fps, check_track_budget, check_track_count

FORMAT_NAME = "motionstream-tracks"
SUPPORTED_VERSIONS = (1,)

_TOP_KEYS = {"format", "version", "width", "height", "fps", "num_frames", "tracks", "meta"}
_TRACK_KEYS = {"points", "visible", "kind", "region"}


# ---------------------------------------------------------------------------- helpers
def _f32(values: np.ndarray) -> list:
    """Shortest decimal that reads back as the same float32 (so JSON round trips are exact)."""
    flat = [float(str(v)) for v in np.asarray(values, np.float32).ravel()]
    return np.array(flat, dtype=object).reshape(np.shape(values)).tolist() if np.ndim(values) > 1 else flat


def _number(v: Any, where: str, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TrackError(f"{where}: {name} is not a number ({v!r})")
    return float(v)


def _finish(tr: Tracks, max_tracks: int | None) -> Tracks:
    return tr.validate(max_tracks=max_tracks) if max_tracks is not None else tr


def _loads(s: Any, what: str, quotes: bool) -> Any:
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("utf-8")
    if not isinstance(s, str):
        raise TrackError(f"{what} must be a JSON string; got {type(s).__name__}")
    if not s.strip():
        raise TrackError(f"{what} is empty (no JSON at all)")
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        if quotes and "'" in s:  # older KJNodes wrote str(list_of_dicts): single quotes
            try:
                return json.loads(s.replace("'", '"'))
            except json.JSONDecodeError:
                pass
        raise TrackError(f"{what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None


# ---------------------------------------------------------------------------- our JSON
_BLOCK_FRAMES = 4096  # frames formatted at a time: a long record never becomes a Python float per number


def json_parts(tr: Tracks):
    """Our JSON (version 1) as consecutive pieces of text, block by block, so a record of any length is
    written (or joined into one string) without a Python object for every number of it."""
    fps: float | int = int(tr.fps) if float(tr.fps).is_integer() else tr.fps
    head = json.dumps({"format": FORMAT_NAME, "version": 1, "width": tr.width, "height": tr.height, "fps": fps,
                       "num_frames": tr.num_frames}, separators=(",", ":"))
    yield head[:-1] + ',"tracks":['
    for i in range(tr.num_tracks):
        yield '{"points":[' if i == 0 else ',{"points":['
        for b in range(0, tr.num_frames, _BLOCK_FRAMES):
            block = json.dumps(_f32(tr.path[b:b + _BLOCK_FRAMES, i]), separators=(",", ":"))
            yield block[1:-1] if b == 0 else "," + block[1:-1]
        vis = tr.visible[:, i]
        if not vis.all():
            yield '],"visible":['
            for b in range(0, tr.num_frames, _BLOCK_FRAMES):  # "1,0,1": one ASCII digit a frame
                digits = ",".join((vis[b:b + _BLOCK_FRAMES].astype(np.uint8) + ord("0")).tobytes().decode("ascii"))
                yield digits if b == 0 else "," + digits
        yield '],"kind":' + json.dumps(tr.kinds[i])
        if tr.regions[i] is not None:
            yield ',"region":' + json.dumps(_f32(tr.regions[i]), separators=(",", ":"))
        yield "}"
    yield "]}"


def to_json(tr: Tracks) -> str:
    return "".join(json_parts(tr))


def from_json(s: Any, max_tracks: int | None = None, allow_empty: bool = False) -> Tracks:
    doc = s if isinstance(s, dict) else _loads(s, FORMAT_NAME, quotes=False)
    if not isinstance(doc, dict):
        raise TrackError(f"not a {FORMAT_NAME} JSON: expected an object, got {type(doc).__name__}")
    if "format" not in doc:
        raise TrackError(f"not a {FORMAT_NAME} JSON: no 'format' key")
    if doc["format"] != FORMAT_NAME:
        raise TrackError(f"not a {FORMAT_NAME} JSON: 'format' is {doc['format']!r}")
    if "version" not in doc:
        raise TrackError(f"{FORMAT_NAME} JSON has no 'version'")
    if doc["version"] not in SUPPORTED_VERSIONS or isinstance(doc["version"], bool):
        raise TrackError(f"unknown {FORMAT_NAME} version {doc['version']!r}; supported versions: "
                         f"{', '.join(map(str, SUPPORTED_VERSIONS))}")
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise TrackError(f"unknown key {unknown[0]!r} in {FORMAT_NAME} JSON (known: {', '.join(sorted(_TOP_KEYS))})")
    for k in ("width", "height", "fps", "num_frames", "tracks"):
        if k not in doc:
            raise TrackError(f"{FORMAT_NAME} JSON has no '{k}'")
    t, entries = doc["num_frames"], doc["tracks"]
    if isinstance(t, bool) or not isinstance(t, int) or t <= 0:
        raise TrackError(f"num_frames must be a positive integer; got {t!r}")
    if t > MAX_FRAMES:  # before anything of that length is allocated
        raise TrackError(f"num_frames {t} is more than {MAX_FRAMES}, the most frames a tracks file may hold")
    check_fps(doc["fps"])
    if not isinstance(entries, list):
        raise TrackError(f"'tracks' must be a list; got {type(entries).__name__}")
    if not entries:
        if allow_empty:
            return Tracks.empty(t, doc["fps"], doc["width"], doc["height"])
        raise TrackError("no tracks: the track list is empty")
    check_track_count(len(entries), max_tracks)
    check_track_budget(t, len(entries), f"{FORMAT_NAME} JSON")
    for i, e in enumerate(entries):  # every count and length before the arrays are allocated
        if not isinstance(e, dict):
            raise TrackError(f"track {i} must be an object with 'points'; got {type(e).__name__}")
        bad = sorted(set(e) - _TRACK_KEYS)
        if bad:
            raise TrackError(f"track {i}: unknown key {bad[0]!r} (known: kind, points, region, visible)")
        pts = e.get("points")
        if not isinstance(pts, list):
            raise TrackError(f"track {i} has no 'points' list")
        if len(pts) != t:
            raise TrackError(f"track {i} has {len(pts)} points but num_frames is {t}")
    arr = np.zeros((t, len(entries), 2), np.float32)
    vis = np.ones((t, len(entries)), bool)
    kinds, regions = [], []
    for i, e in enumerate(entries):
        pts = e["points"]
        for f, p in enumerate(pts):
            if not isinstance(p, (list, tuple)) or len(p) != 2:
                raise TrackError(f"track {i}, frame {f}: a point must be [x, y]; got {p!r}")
            arr[f, i] = (_number(p[0], f"track {i}, frame {f}", "x"), _number(p[1], f"track {i}, frame {f}", "y"))
        if "visible" in e:
            v = e["visible"]
            if not isinstance(v, list) or len(v) != t:
                if not isinstance(v, list):
                    raise TrackError(f"track {i}: 'visible' must be a list of 0/1; got {type(v).__name__}")
                raise TrackError(f"track {i}: 'visible' has length {len(v)} but 'points' has length {t}")
            for f, x in enumerate(v):
                if x not in (0, 1) or not isinstance(x, (int, bool)):
                    raise TrackError(f"track {i}, frame {f}: visible must be 0 or 1; got {x!r}")
            vis[:, i] = np.array(v, bool)
        kinds.append(e.get("kind", "drag"))
        regions.append(_region(e["region"], i) if "region" in e else None)
    return _finish(Tracks(arr, vis, doc["fps"], doc["width"], doc["height"], tuple(kinds), tuple(regions)), max_tracks)


def _region(r: Any, i: int) -> np.ndarray:
    """A track's ``region`` entry -> float32 [K, 2] (its size and place are checked by ``Tracks``)."""
    if not isinstance(r, list) or len(r) > MAX_REGION_POINTS:
        raise TrackError(f"track {i}: 'region' must be a list of at most {MAX_REGION_POINTS} [x, y] points; got "
                         + (f"{len(r)} points" if isinstance(r, list) else type(r).__name__))
    out = np.zeros((len(r), 2), np.float32)
    for k, p in enumerate(r):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise TrackError(f"track {i}, region point {k}: a point must be [x, y]; got {p!r}")
        out[k] = (_number(p[0], f"track {i}, region point {k}", "x"), _number(p[1], f"track {i}, region point {k}", "y"))
    return out

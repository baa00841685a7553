"""Readers and writers for every track format; each builds or reads a :class:`~.tracks.Tracks`.

Formats:

* ComfyUI core ``TRACKS``: ``{"track_path": [T, N, 2] px, "track_visibility": [T, N] bool}``
  (torch tensors or arrays). ComfyUI's own mask-driven nodes write visibility as [T, 1]; that is
  broadcast to every track. A missing ``track_visibility`` means all visible (as ComfyUI reads it).
* KJNodes SplineEditor ``coord_str``: JSON ``[[{"x": .., "y": ..}, ...], ...]`` (one list per
  track) or a flat ``[{"x": .., "y": ..}, ...]`` for one track; one point per frame. Older KJNodes
  versions wrote Python reprs with single quotes; those are read too. A track whose points are all
  the same (KJNodes' "single point") gets kind "static".
* ATI JSON (Wan-ATI; kijai's WanVideoATITracks): the same list-of-tracks layout, pixel coordinates of
  the input image, 24 fps, at most 121 points per track; shorter tracks end there (ATI pads them as
  invisible). Our writer adds ``"visible": 0`` to hidden points in the middle of a track (ATI readers
  ignore the key) and ends a track after its last visible point.
* ATI ``.pth`` (bytedance/ATI examples): ``torch.save`` of npz bytes, key ``array``, [N, 121, 1, 3]
  (x, y, visible) multiplied by 8.
* CoTracker-style arrays (.npy / .npz / .pt): [T, N, 2] or [1, T, N, 2], visibility [T, N] or [1, T, N].
* Our own JSON, version 1 (also written by the JS widget and by recorded live sessions)::

    {"format": "motionstream-tracks", "version": 1, "width": W, "height": H, "fps": 16,
     "num_frames": T, "tracks": [{"points": [[x, y], ...], "visible": [1, 0, ...], "kind": "drag",
                                  "region": [[x, y], ...]}]}

  ``visible``, ``kind`` and ``region`` are optional; an optional top-level ``meta`` object is allowed and ignored.
  ``region``: a polygon (3 to ``tracks.MAX_REGION_POINTS`` points) in pixels of the start image: the region the
  track drags (``Tracks.regions``); two tracks with the same polygon drag that region together (a similarity).
  The other formats carry no regions (their tracks drag soft neighbourhoods).
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .tracks import KINDS, TrackError, Tracks, check_fps, check_track_budget, check_track_count, numeric_array
from .tracks_json import FORMAT_NAME, SUPPORTED_VERSIONS, _f32, _finish, _loads, _number, from_json, json_parts, to_json

ATI_FPS = 24.0
ATI_LENGTH = 121
ATI_QUANT = 8.0


def _need_size(width: Any, height: Any, what: str) -> None:
    if width is None or height is None:
        raise TrackError(f"{what} needs width and height: it stores pixels but not the image size")


def _static_kinds(path: np.ndarray) -> tuple[str, ...]:
    same = (path == path[:1]).all(axis=(0, 2))
    return tuple("static" if s else "drag" for s in same)


# ---------------------------------------------------------------------------- ComfyUI TRACKS
def to_comfy(tr: Tracks) -> dict:
    import torch
    return {"track_path": torch.from_numpy(tr.path.copy()), "track_visibility": torch.from_numpy(tr.visible.copy())}


def from_comfy(d: Any, fps: float = 16, width: int | None = None, height: int | None = None,
               max_tracks: int | None = None) -> Tracks:
    if not isinstance(d, dict) or "track_path" not in d:
        raise TrackError("a ComfyUI TRACKS value must be a dict with 'track_path' (and 'track_visibility')")
    _need_size(width, height, "ComfyUI TRACKS")
    path = numeric_array(d["track_path"], "track_path")
    vis = d.get("track_visibility")
    if vis is not None:
        vis = numeric_array(vis, "track_visibility")
        if path.ndim == 3 and vis.shape == (path.shape[0], 1) and path.shape[1] != 1:
            vis = np.broadcast_to(vis, path.shape[:2])  # ComfyUI's mask-driven nodes write [T, 1]
    return from_array(path, vis, width=width, height=height, fps=fps, max_tracks=max_tracks,
                      names=("track_path", "track_visibility"))


# ---------------------------------------------------------------------------- arrays (CoTracker style)
def from_array(arr: Any, visible: Any = None, *, width: int, height: int, fps: float = 16,
               kinds: Sequence[str] | None = None, max_tracks: int | None = None,
               names: tuple[str, str] = ("path", "visibility")) -> Tracks:
    pname, vname = names
    a = numeric_array(arr, pname)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise TrackError(f"{pname} has a batch of {a.shape[0]} track sets; pass one (B=1)")
        a = a[0]
    if a.ndim != 3 or a.shape[2] != 2:
        raise TrackError(f"{pname} must have shape [T, N, 2] (or [1, T, N, 2]); got {tuple(np.shape(arr))}")
    check_fps(fps)
    check_track_count(a.shape[1], max_tracks)
    check_track_budget(a.shape[0], a.shape[1], pname)
    a = a.astype(np.float32, copy=False)
    if visible is None:
        v = np.ones(a.shape[:2], bool)
    else:
        v = numeric_array(visible, vname)
        if v.ndim == 3 and v.shape[0] == 1:
            v = v[0]
        if v.ndim == 3 and v.shape[2] == 1:  # [T, N, 1]
            v = v[..., 0]
        if v.shape != a.shape[:2]:
            raise TrackError(f"{vname} must have shape [T, N] = {list(a.shape[:2])}; got {tuple(np.shape(visible))}")
        if v.dtype != np.bool_:
            if not np.isfinite(v).all() or v.min() < 0 or v.max() > 1:
                raise TrackError(f"{vname} must be booleans or values in [0, 1]")
            v = v > 0.5  # probabilities (CoTracker3) are thresholded at 0.5
    return _finish(Tracks(a, v, fps, width, height, kinds), max_tracks)


# ---------------------------------------------------------------------------- lists of {"x","y"} points
def _point_lists(data: Any, what: str) -> list[list[tuple[float, float, bool]]]:
    """Parse [[{x,y}, ...], ...] or [{x,y}, ...] into lists of (x, y, visible)."""
    if not isinstance(data, list):
        raise TrackError(f'{what} must be a list of tracks (lists of {{"x", "y"}} points) or one list of points; '
                         f"got {type(data).__name__}")
    if not data:
        raise TrackError("no tracks: the track list is empty")
    if isinstance(data[0], dict):
        data = [data]
    out = []
    for i, tr in enumerate(data):
        if not isinstance(tr, list):
            raise TrackError(f'track {i} must be a list of {{"x", "y"}} points; got {type(tr).__name__}')
        if not tr:
            raise TrackError(f"track {i} is empty (no points)")
        pts = []
        for t, p in enumerate(tr):
            where = f"track {i}, frame {t}"
            if not isinstance(p, dict):
                raise TrackError(f'{where}: a point must be an object like {{"x": 10, "y": 20}}; got {p!r}')
            for k in ("x", "y"):
                if k not in p:
                    raise TrackError(f"{where}: point has no '{k}'")
            vis = p.get("visible", 1)
            if vis not in (0, 1):  # True/False compare equal to 1/0
                raise TrackError(f"{where}: visible must be 0 or 1; got {vis!r}")
            pts.append((_number(p["x"], where, "x"), _number(p["y"], where, "y"), bool(vis)))
        out.append(pts)
    return out


def from_coord_str(s: str, width: int, height: int, fps: float = 16, num_frames: int | None = None,
                   max_tracks: int | None = None) -> Tracks:
    """KJNodes coord_str -> Tracks; one point per frame. ``num_frames`` stretches the motion to that length."""
    lists = _point_lists(_loads(s, "coord_str", quotes=True), "coord_str")
    t0 = len(lists[0])
    for i, pts in enumerate(lists):
        if len(pts) != t0:
            raise TrackError(f"track {i} has {len(pts)} points, but track 0 has {t0}; "
                             "all tracks need the same number of frames")
    check_fps(fps)
    check_track_count(len(lists), max_tracks)
    check_track_budget(t0, len(lists), "coord_str")
    arr = np.array([[p[:2] for p in pts] for pts in lists], np.float32).transpose(1, 0, 2)
    vis = np.array([[p[2] for p in pts] for pts in lists], bool).T
    tr = Tracks(arr, vis, fps, width, height, _static_kinds(arr))
    if num_frames is not None and num_frames != tr.num_frames:
        tr = tr.resample(num_frames=num_frames)
    return _finish(tr, max_tracks)


def to_coord_str(tr: Tracks, drop_visibility: bool = False) -> str:
    """Tracks -> KJNodes coord_str (a flat list when there is one track, as KJNodes writes it)."""
    if tr.num_tracks == 0:
        raise TrackError("no tracks: coord_str cannot store an empty track list")
    if not drop_visibility and not tr.visible.all():
        t, i = (int(v) for v in np.argwhere(~tr.visible)[0])
        raise TrackError(f"coord_str cannot store visibility: track {i} is hidden at frame {t}; "
                         "pass drop_visibility=True to write the positions anyway")
    xs, ys = _f32(tr.path[..., 0]), _f32(tr.path[..., 1])
    tracks = [[{"x": xs[t][i], "y": ys[t][i]} for t in range(tr.num_frames)] for i in range(tr.num_tracks)]
    return json.dumps(tracks[0] if len(tracks) == 1 else tracks)


# ---------------------------------------------------------------------------- ATI
def from_ati_json(s: str, width: int, height: int, fps: float | None = None, num_frames: int | None = None,
                  max_tracks: int | None = None) -> Tracks:
    """ATI JSON -> Tracks at 24 fps, 121 frames (shorter tracks are hidden after their last point).

    ``fps`` / ``num_frames`` resample right away (see :meth:`Tracks.resample`).
    """
    lists = _point_lists(_loads(s, "ATI tracks", quotes=True), "ATI tracks")
    n = len(lists)
    check_track_count(n, max_tracks)
    arr = np.zeros((ATI_LENGTH, n, 2), np.float32)
    vis = np.zeros((ATI_LENGTH, n), bool)
    for i, pts in enumerate(lists):
        if len(pts) > ATI_LENGTH:
            raise TrackError(f"ATI track {i} has {len(pts)} points; the ATI format holds at most "
                             f"{ATI_LENGTH} (5 s at 24 fps)")
        m = len(pts)
        arr[:m, i] = [p[:2] for p in pts]
        arr[m:, i] = arr[m - 1, i]  # hold the last position, hidden
        vis[:m, i] = [p[2] for p in pts]
    tr = Tracks(arr, vis, ATI_FPS, width, height, _static_kinds(arr))
    if fps is not None or num_frames is not None:
        tr = tr.resample(fps=fps, num_frames=num_frames)
    return _finish(tr, max_tracks)


def to_ati_json(tr: Tracks) -> str:
    """Tracks -> ATI JSON: resampled to 24 fps (same duration); at most 121 frames (5 s)."""
    if tr.num_tracks == 0:
        raise TrackError("no tracks: ATI JSON cannot store an empty track list")
    t24 = tr if abs(tr.fps - ATI_FPS) < 1e-9 else tr.resample(fps=ATI_FPS)
    if t24.num_frames > ATI_LENGTH:
        raise TrackError(f"ATI holds at most {ATI_LENGTH} frames (5 s at 24 fps); these tracks have "
                         f"{t24.num_frames} frames at 24 fps ({t24.duration:.3g} s): use slice_frames first")
    xs, ys = _f32(t24.path[..., 0]), _f32(t24.path[..., 1])
    out = []
    for i in range(t24.num_tracks):
        vis = t24.visible[:, i]
        last = int(np.flatnonzero(vis)[-1]) + 1 if vis.any() else t24.num_frames
        pts = []
        for t in range(last):
            p = {"x": xs[t][i], "y": ys[t][i]}
            if not vis[t]:
                p["visible"] = 0
            pts.append(p)
        out.append(pts)
    return json.dumps(out)


def from_ati_array(arr: Any, width: int, height: int, quant: float = ATI_QUANT) -> Tracks:
    """bytedance/ATI array [N, 121, 1, 3] (or [121, N, 1, 3]) of (x, y, visible) * quant -> Tracks at 24 fps."""
    a = numeric_array(arr, "ATI array").astype(np.float32) / quant
    if a.ndim == 4 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim != 3 or a.shape[2] != 3 or ATI_LENGTH not in a.shape[:2]:
        raise TrackError(f"ATI array must have shape [N, 121, 1, 3]; got {tuple(np.shape(arr))}")
    if a.shape[1] == ATI_LENGTH:
        a = a.transpose(1, 0, 2)
    return Tracks(a[..., :2], a[..., 2] > 0.5, ATI_FPS, width, height)


# ---------------------------------------------------------------------------- files
_PATH_KEYS = ("track_path", "tracks", "pred_tracks", "path", "points")
_VIS_KEYS = ("track_visibility", "visibility", "pred_visibility", "visible", "visibles")


def _from_mapping(d: Any, src: str, width, height, fps, max_tracks) -> Tracks:
    keys = list(d.keys())
    pk = next((k for k in _PATH_KEYS if k in d), None)
    if pk is None:
        raise TrackError(f"{src}: no track array found (looked for {', '.join(_PATH_KEYS)}; found {keys})")
    vk = next((k for k in _VIS_KEYS if k in d), None)
    width = width if width is not None else (int(np.asarray(d["width"])) if "width" in d else None)
    height = height if height is not None else (int(np.asarray(d["height"])) if "height" in d else None)
    fps = fps if fps is not None else (float(np.asarray(d["fps"])) if "fps" in d else 16.0)
    _need_size(width, height, src)
    return from_array(d[pk], d[vk] if vk else None, width=width, height=height, fps=fps, max_tracks=max_tracks,
                      names=(pk, vk or "visibility"))


def load(path: Any, *, width: int | None = None, height: int | None = None, fps: float | None = None,
         format: str = "auto", max_tracks: int | None = None) -> Tracks:
    """Read tracks from a file, dispatching on extension and content.

    * ``.json`` / ``.txt`` (or ``format=`` "motionstream" / "coord_str" / "ati"): an object is our JSON;
      a list of tracks is ATI when its longest track has exactly 121 points, else a KJNodes coord_str.
    * ``.npy``: [T, N, 2] (a sibling ``<stem>_visibility.npy``, or the same name with "tracks" replaced
      by "visibility", is read as visibility); ``.npz`` / ``.pt``: arrays under keys such as
      ``tracks``/``pred_tracks`` and ``visibility``/``pred_visibility``; ``.pth`` holding npz bytes is
      a bytedance/ATI track file.

    Bare arrays need ``width``/``height``; ``fps`` defaults to 16 (ATI: 24, then resampled to ``fps``).
    """
    p = Path(path)
    if not p.is_file():
        raise TrackError(f"no such tracks file: {p}")
    ext = p.suffix.lower()
    fmts = ("auto", "motionstream", "coord_str", "ati", "array")
    if format not in fmts:
        raise TrackError(f"unknown tracks format {format!r} (known: {', '.join(fmts)})")
    if format in ("motionstream", "coord_str", "ati") or (format == "auto" and ext in ("", ".json", ".txt")):
        text = p.read_text(encoding="utf-8")
        if format == "motionstream":
            return from_json(text, max_tracks=max_tracks)
        data = _loads(text, p.name, quotes=True)
        if format == "auto" and isinstance(data, dict):
            return from_json(data, max_tracks=max_tracks)
        is_ati = format == "ati" or (format == "auto" and isinstance(data, list) and data
                                     and all(isinstance(tr, list) for tr in data)
                                     and max(len(tr) for tr in data) == ATI_LENGTH)
        _need_size(width, height, p.name)
        if is_ati:
            return from_ati_json(text, width, height, fps=fps, max_tracks=max_tracks)
        return from_coord_str(text, width, height, fps=16 if fps is None else fps, max_tracks=max_tracks)
    if ext == ".npy":
        arr = np.load(p, allow_pickle=False)
        vis = None
        for cand in (p.with_name(p.stem + "_visibility.npy"),
                     p.with_name(p.name.replace("tracks", "visibility"))):
            if cand != p and cand.is_file():
                vis = np.load(cand, allow_pickle=False)
                break
        _need_size(width, height, p.name)
        return from_array(arr, vis, width=width, height=height, fps=16 if fps is None else fps,
                          max_tracks=max_tracks)
    if ext == ".npz":
        with np.load(p, allow_pickle=False) as z:
            return _from_mapping({k: z[k] for k in z.files}, p.name, width, height, fps, max_tracks)
    if ext in (".pt", ".pth"):
        import torch
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:
            raise TrackError(f"{p.name} is not a readable torch file: {e}") from None
        if isinstance(obj, (bytes, bytearray)):  # bytedance/ATI: torch.save(npz bytes)
            with np.load(io.BytesIO(obj), allow_pickle=False) as z:
                if "array" not in z.files:
                    raise TrackError(f"{p.name}: npz bytes without an 'array' (found {z.files})")
                a = z["array"]
            _need_size(width, height, p.name)
            tr = from_ati_array(a, width, height)
            return _finish(tr.resample(fps=fps) if fps is not None else tr, max_tracks)
        if isinstance(obj, dict):
            return _from_mapping(obj, p.name, width, height, fps, max_tracks)
        if isinstance(obj, (tuple, list)) and len(obj) == 2:
            obj, vis = obj
        else:
            vis = None
        _need_size(width, height, p.name)
        return from_array(obj, vis, width=width, height=height, fps=16 if fps is None else fps,
                          max_tracks=max_tracks)
    raise TrackError(f"cannot read tracks from {p.name}: unknown extension {ext!r} "
                     "(.json, .txt, .npy, .npz, .pt, .pth)")


def save(tr: Tracks, path: Any) -> None:
    """Write our own JSON (version 1), piece by piece."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json_parts(tr))


__all__ = ["FORMAT_NAME", "SUPPORTED_VERSIONS", "ATI_FPS", "ATI_LENGTH", "KINDS", "to_comfy", "from_comfy",
           "from_array", "from_coord_str", "to_coord_str", "from_ati_json", "to_ati_json", "from_ati_array",
           "json_parts", "to_json", "from_json", "load", "save"]

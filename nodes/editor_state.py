"""The widget's ``editor_state`` (JSON in the Generate node's string input) <-> the drawn ``Tracks`` and
the recorded prompt schedule.

The widget writes each track up to its last change (``points`` has 1 to ``num_frames`` entries); after
that the track holds its last point and visibility, filled in here by the core (``Tracks.hold_to``). A
static point is one entry however long the video.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from motionstream_core import track_formats
from motionstream_core.pipeline import PromptSwitch
from motionstream_core.tracks import MAX_FRAMES, TrackError, Tracks, check_track_budget

EDITOR_VERSION = 1


@dataclass
class EditorState:
    tracks: Tracks | None  # None: nothing drawn
    grid_spacing: int = 32
    duration_frames: int = 49
    prompts: tuple[PromptSwitch, ...] = ()  # a recorded prompt schedule (live switches), chunk 0 first
    recorded_file: tuple[str, str] | None = None  # (subfolder, filename) of a run's record in output/


def with_recorded_file(state: EditorState, output_dir) -> EditorState:
    """The state whose tracks are the run record it references (``recorded_file``: a ``.tracks.json`` the
    run saved in ComfyUI's output folder, too long to keep in the workflow), read from there; the state
    as it is without a reference. Only a ``.tracks.json`` inside ``output_dir`` is read."""
    if state.recorded_file is None:
        return state
    import os
    from pathlib import Path

    subfolder, filename = state.recorded_file
    root = Path(output_dir).resolve()
    path = (root / subfolder / filename).resolve()
    shown = f"output/{subfolder + '/' if subfolder else ''}{filename}"
    if os.path.commonpath([root, path]) != str(root):
        raise TrackError(f"editor_state recorded_file {shown!r} is outside ComfyUI's output folder")
    if not path.is_file():
        raise TrackError(f"the run's recorded tracks {shown} are gone: undo (Ctrl+Z) or clear the tracks in the "
                         "node to draw new ones")
    try:
        tracks = track_formats.load(path)
    except TrackError as e:
        raise TrackError(f"the run's recorded tracks {shown}: {e}") from None
    return EditorState(tracks if tracks.num_tracks else None, state.grid_spacing, state.duration_frames,
                       state.prompts, state.recorded_file)


def default_editor_state(width: int = 832, height: int = 480, fps: int = 16) -> str:
    doc = {"format": "motionstream-tracks", "version": 1, "width": width, "height": height, "fps": fps,
           "num_frames": 1, "tracks": []}
    return json.dumps({"version": EDITOR_VERSION, "tracks": doc, "grid_spacing": 32, "duration_frames": 49})


def parse_editor_state(text: str | None) -> EditorState:
    """The widget's JSON -> EditorState; one clear error for anything malformed."""
    if text is None or not str(text).strip():
        return EditorState(None)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TrackError(f"editor_state is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(doc, dict):
        raise TrackError(f"editor_state must be a JSON object; got {type(doc).__name__}")
    version = doc.get("version", EDITOR_VERSION)
    if version != EDITOR_VERSION:
        raise TrackError(f"editor_state version {version!r} is not supported (this pack reads version 1)")
    spacing = _positive_int(doc.get("grid_spacing", 32), "grid_spacing")
    duration = _positive_int(doc.get("duration_frames", 49), "duration_frames")
    prompts = _prompt_schedule(doc.get("prompts"))
    ref = _recorded_file(doc.get("recorded_file"))
    tracks_doc = doc.get("tracks")
    if tracks_doc is None or tracks_doc == "" or tracks_doc == []:
        return EditorState(None, spacing, duration, prompts, ref)
    if isinstance(tracks_doc, dict) and tracks_doc.get("tracks") == []:
        return EditorState(None, spacing, duration, prompts, ref)
    try:
        tracks = _held_tracks(tracks_doc)
    except TrackError as e:
        raise TrackError(f"editor_state tracks: {e}") from None
    return EditorState(tracks if tracks.num_tracks else None, spacing, duration, prompts, ref)


def _recorded_file(doc) -> tuple[str, str] | None:
    """editor_state "recorded_file": {"filename": "<name>.tracks.json", "subfolder": str, "type": "output"}."""
    if doc is None:
        return None
    ok = (isinstance(doc, dict) and doc.get("type", "output") == "output" and isinstance(doc.get("filename"), str)
          and isinstance(doc.get("subfolder", ""), str) and doc["filename"].endswith(".tracks.json")
          and "/" not in doc["filename"] and "\\" not in doc["filename"] and len(doc["filename"]) <= 255
          and len(doc.get("subfolder", "")) <= 1024)
    if not ok:
        raise TrackError('editor_state recorded_file must be {"filename": "<name>.tracks.json", "subfolder": str, '
                         f'"type": "output"}}; got {json.dumps(doc)[:120]}')
    return doc.get("subfolder", ""), doc["filename"]


def _held_tracks(doc) -> Tracks:
    """Our tracks JSON in which a track may stop before ``num_frames`` (it holds its last entry after).
    Anything else (every track full length, or malformed) is the reader's: its own checks and errors."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError:
            return track_formats.from_json(doc, allow_empty=True)
    t = doc.get("num_frames") if isinstance(doc, dict) else None
    entries = doc.get("tracks") if isinstance(doc, dict) else None
    if (isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= MAX_FRAMES or not isinstance(entries, list)
            or not entries or not all(isinstance(e, dict) and isinstance(e.get("points"), list)
                                      and 1 <= len(e["points"]) <= t for e in entries)
            or all(len(e["points"]) == t for e in entries)):
        return track_formats.from_json(doc, allow_empty=True)
    check_track_budget(t, len(entries), "held tracks")
    parts = []
    for i, e in enumerate(entries):
        try:
            parts.append(track_formats.from_json({**doc, "num_frames": len(e["points"]), "tracks": [e]}).hold_to(t))
        except TrackError as err:
            raise TrackError(str(err).replace("track 0", f"track {i}", 1)) from None
    return Tracks(np.concatenate([p.path for p in parts], 1), np.concatenate([p.visible for p in parts], 1),
                  parts[0].fps, parts[0].width, parts[0].height, tuple(p.kinds[0] for p in parts),
                  regions=tuple(p.regions[0] for p in parts))


def _prompt_schedule(doc) -> tuple[PromptSwitch, ...]:
    """editor_state "prompts": [{"chunk": int >= 0, "text": str}, ...] in increasing chunk order."""
    if doc is None or doc == []:
        return ()
    if not isinstance(doc, list):
        raise TrackError(f"editor_state prompts must be a list of {{\"chunk\", \"text\"}}; got {type(doc).__name__}")
    out: list[PromptSwitch] = []
    for i, p in enumerate(doc):
        chunk = p.get("chunk") if isinstance(p, dict) else None
        text = p.get("text") if isinstance(p, dict) else None
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 0 or not isinstance(text, str):
            raise TrackError(f"editor_state prompts[{i}] must be {{\"chunk\": int >= 0, \"text\": str}}; got {p!r}")
        if out and chunk <= out[-1].chunk:
            raise TrackError(f"editor_state prompts[{i}]: chunks must increase ({chunk} after {out[-1].chunk})")
        out.append(PromptSwitch(chunk, text))
    return tuple(out)


def _positive_int(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or int(v) != v:
        raise TrackError(f"editor_state {name} must be a positive integer; got {v!r}")
    return int(v)

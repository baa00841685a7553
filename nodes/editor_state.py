"""The widget's ``editor_state`` (JSON in the Generate node's string input) <-> the drawn ``Tracks`` and
the recorded prompt schedule."""

from __future__ import annotations

import json
from dataclasses import dataclass

from motionstream_core import track_formats
from motionstream_core.pipeline import PromptSwitch
from motionstream_core.tracks import TrackError, Tracks

EDITOR_VERSION = 1


@dataclass
class EditorState:
    tracks: Tracks | None  # None: nothing drawn
    grid_spacing: int = 32
    duration_frames: int = 49
    prompts: tuple[PromptSwitch, ...] = ()  # a recorded prompt schedule (live switches), chunk 0 first


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
    tracks_doc = doc.get("tracks")
    if tracks_doc is None or tracks_doc == "" or tracks_doc == []:
        return EditorState(None, spacing, duration, prompts)
    if isinstance(tracks_doc, dict) and tracks_doc.get("tracks") == []:
        return EditorState(None, spacing, duration, prompts)
    try:
        tracks = track_formats.from_json(tracks_doc, allow_empty=True)
    except TrackError as e:
        raise TrackError(f"editor_state tracks: {e}") from None
    return EditorState(tracks if tracks.num_tracks else None, spacing, duration, prompts)


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

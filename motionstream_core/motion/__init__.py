"""Motion sources that produce :class:`~motionstream_core.tracks.Tracks`.

* :mod:`.drag`     key points with times -> smooth tracks; static anchors; group drags
* :mod:`.camera`   pan / tilt / zoom / dolly / orbit (+ depth map) -> tracks
* :mod:`.transfer` a reference video -> tracks (pyramidal Lucas-Kanade, forward-backward checked)
* :mod:`.draw`     tracks drawn over frames (previews, debugging)

Names are imported lazily (``transfer`` pulls in OpenCV, and PyAV only when reading files).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "drag_track": "drag", "static_points": "drag", "group_drag": "drag",
    "CameraPath": "camera", "camera_tracks": "camera",
    "tracks_from_video": "transfer", "transfer_tracks": "transfer", "read_video": "transfer",
    "draw_tracks": "draw", "track_color": "draw", "PALETTE": "draw",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

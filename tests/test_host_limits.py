"""In the host: a shared workflow cannot make the server allocate gigabytes before anything is refused. The
issue's cases run through ComfyUI's own queue; each is one node error naming the limit, and the server's
resident memory grows by far less than the case would have taken."""

from __future__ import annotations

import json

import pytest

from test_host_stream import _error_of, prompt_for

pytestmark = pytest.mark.host

MB = 1 << 20


def _rss(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _editor_state(fps, num_frames, tracks) -> str:
    return json.dumps({"version": 1, "grid_spacing": 32, "duration_frames": 49,
                       "tracks": {"format": "motionstream-tracks", "version": 1, "width": 64, "height": 64,
                                  "fps": fps, "num_frames": num_frames, "tracks": tracks}})


def test_oversized_tracks_are_refused_before_the_server_grows(comfy_host):
    h = comfy_host
    vanishing_fps = _editor_state(1e-5, 2, [{"points": [[10 + i, 10], [20 + i, 12]]} for i in range(16)])
    assert len(vanishing_fps) < 1000  # the 753-byte state that used to take ~1.3 GB
    no_points = _editor_state(16, 100_000, [{"kind": "drag"}] + [{"points": []}] * 159)
    camera = prompt_for(h, 9, 0)
    camera["13"] = {"class_type": "MotionStreamCameraTracks", "inputs": {
        "num_frames": 100_000, "fps": 16.0, "grid_spacing": 91, "pan_x": 0.2, "pan_y": 0.0, "tilt": 0.0,
        "yaw": 0.0, "roll": 0.0, "zoom": 1.0, "dolly": 0.0, "orbit": 0.0, "start": 0.0, "end": 1.0,
        "easing": "linear", "fov": 60.0, "width": 8192, "height": 8192}}
    camera["4"]["inputs"]["tracks"] = ["13", 0]
    cases = [
        (prompt_for(h, 9, 0, editor_state=vanishing_fps), "fps 1e-05 is below MIN_FPS = 1"),
        (prompt_for(h, 9, 0, editor_state=no_points), "track 0 has no 'points' list"),
        (camera, "100000 frames x 8100 tracks = 810000000 points is more than MAX_TRACK_POINTS"),
    ]
    _error_of(h, prompt_for(h, 9, 0, editor_state=vanishing_fps))  # warm: the first run loads the model
    before = _rss(h.pid)
    for prompt, words in cases:
        message = _error_of(h, prompt)
        assert words in message, message
    grown = _rss(h.pid) - before
    assert grown < 200 * MB, f"the server grew by {grown / MB:.0f} MB refusing these"

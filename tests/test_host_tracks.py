"""Track nodes in the real host, chained into the live node: coordinates (KJNodes coord_str, ATI JSON),
a camera path over a depth image, combine, ComfyUI TRACKS, and drawing over the generated frames."""

from __future__ import annotations

import json

import pytest

from conftest import host_requires
from host_scripts.host_client import history
from test_host_stream import SIZE, prompt_for, run

pytestmark = pytest.mark.host


def test_track_nodes_feed_the_generate_node(comfy_host):
    host_requires(comfy_host, "cv2")
    p = prompt_for(comfy_host, 21, seed=3)
    img = ["1", 0]
    p["10"] = {"class_type": "MotionStreamTracksFromCoords", "inputs": {
        "coordinates": json.dumps([[{"x": 10, "y": 10}, {"x": 20, "y": 12}, {"x": 30, "y": 14}]]),
        "format": "KJNodes coord_str", "fps": 16.0, "num_frames": 21, "image": img}}
    p["11"] = {"class_type": "MotionStreamTracksFromCoords", "inputs": {
        "coordinates": "[[{'x': 40, 'y': 40}, {'x': 42, 'y': 40}], [{'x': 50, 'y': 20}]]",  # old KJNodes quotes
        "format": "ATI JSON", "fps": 16.0, "num_frames": 0, "image": img}}
    p["12"] = {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0x808080}}
    p["13"] = {"class_type": "MotionStreamCameraTracks", "inputs": {
        "num_frames": 21, "fps": 16.0, "grid_spacing": 32, "pan_x": 0.2, "pan_y": 0.0, "tilt": 0.0, "yaw": 0.0,
        "roll": 0.0, "zoom": 1.1, "dolly": 0.0, "orbit": 0.0, "start": 0.0, "end": 1.0, "easing": "ease",
        "fov": 60.0, "depth": ["12", 0], "depth_is_disparity": True, "image": img}}
    p["14"] = {"class_type": "MotionStreamCombineTracks", "inputs": {"tracks_a": ["10", 0], "tracks_b": ["11", 0],
                                                                     "tracks_c": ["13", 0]}}
    p["15"] = {"class_type": "MotionStreamTracksFromComfy", "inputs": {"tracks": ["14", 0], "fps": 16.0,
                                                                       "image": img}}
    p["4"]["inputs"]["tracks"] = ["15", 0]
    p["16"] = {"class_type": "MotionStreamDrawTracks", "inputs": {"images": ["4", 0], "tracks": ["4", 1],
                                                                  "trail": 4, "radius": 0}}
    p["17"] = {"class_type": "PreviewImage", "inputs": {"images": ["16", 0]}}
    ws, prompt_id, end = run(comfy_host, p)
    ws.close()
    assert end["type"] == "execution_success", json.dumps(end)[:2000]
    outputs = history(comfy_host, prompt_id)["outputs"]
    summary = outputs["4"]["motionstream"][0]
    # 1 coord_str track + 2 ATI tracks + a 2x2 camera grid (32 px spacing on 64x64)
    assert (summary["frames"], summary["tracks"], summary["width"], summary["reason"]) == (21, 1 + 2 + 4, SIZE,
                                                                                           "finished")
    assert len(outputs["17"]["images"]) == 21, "the tracks were drawn over every generated frame"


def test_malformed_track_inputs_name_the_problem(comfy_host):
    cases = [('[[{"x": 1, "y": 2}], [{"x": 3, "y": 4}, {"x": 5, "y": 6}]]', "KJNodes coord_str",
              "track 1 has 2 points, but track 0 has 1"),
             ("[]", "auto", "no tracks"),
             ('{"format": "motionstream-tracks", "version": 9}', "auto", "version"),
             ("[[{\"x\": 1, \"y\": 2}]] trailing", "ATI JSON", "JSON")]
    for coords, fmt, words in cases:
        p = prompt_for(comfy_host, 9, seed=0)
        p["10"] = {"class_type": "MotionStreamTracksFromCoords", "inputs": {
            "coordinates": coords, "format": fmt, "fps": 16.0, "num_frames": 0, "width": SIZE, "height": SIZE}}
        p["4"]["inputs"]["tracks"] = ["10", 0]
        ws, _, end = run(comfy_host, p)
        ws.close()
        assert end["type"] == "execution_error", end
        message = end["data"]["exception_message"]
        assert words in message and end["data"]["node_type"] == "MotionStreamTracksFromCoords", message

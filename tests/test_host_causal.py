"""Causal Wan students (Self-Forcing family) streamed by the Generate node in the real host.

Tiny random files in the real layouts (a Self-Forcing ``.pt`` with ``generator_ema`` / ``model.`` keys,
LongLive base + PEFT LoRA) load through 'Load Causal Wan Model'; frames stream to the client chunk by
chunk with no start image (text only) and from a start image; drawn tracks are refused by name.
Text comes from a test-only CONDITIONING node (see conftest); frames from a random taew2_1-layout decoder.
"""

from __future__ import annotations

import json

import pytest

from host_scripts.host_client import WSClient, http, queue_prompt
from test_host_stream import decode, frames_of, run

pytestmark = pytest.mark.host

W, H = 64, 48


def causal_prompt(host, frames: int, seed: int = 0, model: str | None = None, lora: str = "none",
                  image: bool = False, editor_state: str = "") -> dict:
    p = {
        "1": {"class_type": "MotionStreamCausalModelLoader",
              "inputs": {"checkpoint": model or host.models["causal"], "preset": "auto (from the file name)",
                         "lora": lora, "width": W, "height": H, "chunk_frames": 0, "sink_chunks": 0,
                         "window_chunks": -1, "dtype": "auto", "device": "auto", "attention": "auto"}},
        "2": {"class_type": "MotionStreamDecoderLoader", "inputs": {"decoder": host.models["taew2_1"]}},
        "3": {"class_type": "TestRandomConditioning", "inputs": {"seed": 3, "length": 8, "width": 32}},
        "4": {"class_type": "MotionStreamGenerate",
              "inputs": {"model": ["1", 0], "decoder": ["2", 0], "positive": ["3", 0], "frames": frames,
                         "seed": seed, "steps": 0, "prompt": "", "editor_state": editor_state}},
    }
    if image:
        p["5"] = {"class_type": "LoadImage", "inputs": {"image": host.image}}
        p["4"]["inputs"]["image"] = ["5", 0]
    return p


def test_causal_loader_lists_the_students(comfy_host):
    status, info = http(comfy_host, "GET", "/object_info/MotionStreamCausalModelLoader")
    assert status == 200
    inputs = info["MotionStreamCausalModelLoader"]["input"]
    files = json.dumps(inputs["required"]["checkpoint"])
    assert comfy_host.models["causal"] in files and comfy_host.models["longlive"] in files
    assert "self-forcing" in json.dumps(inputs["required"]["preset"])


def test_a_self_forcing_file_streams_chunk_by_chunk_from_text(comfy_host):
    chunks = 4
    ws, _, end = run(comfy_host, causal_prompt(comfy_host, 9 + 12 * (chunks - 1), seed=1))
    try:
        assert end["type"] == "execution_success", end
        sess = ws.events("motionstream.session")[0]
        assert (sess["width"], sess["height"], sess["num_frames"]) == (W, H, 9 + 12 * (chunks - 1))
        events = ws.events("motionstream.frames")
        assert [e["chunk"] for e in sorted(events, key=lambda e: e["chunk"])] == list(range(chunks))
        frames = frames_of(ws)
        assert len(frames) == 9 + 12 * (chunks - 1)
        assert decode(frames[-1]).shape == (H, W, 3)
        assert ws.events("motionstream.done")[0]["reason"] == "finished"
    finally:
        ws.close()


def test_image_start_and_longlive_lora_stream(comfy_host):
    ws, _, end = run(comfy_host, causal_prompt(comfy_host, 21, seed=2, image=True))
    try:
        assert end["type"] == "execution_success", end
        assert len(frames_of(ws)) == 21 and decode(frames_of(ws)[0]).shape == (64, 64, 3)  # the image's size
    finally:
        ws.close()
    ws, _, end = run(comfy_host, causal_prompt(comfy_host, 9, model=comfy_host.models["longlive"],
                                               lora=comfy_host.models["longlive_lora"]))
    try:
        assert end["type"] == "execution_success", end
        assert len(frames_of(ws)) == 9
    finally:
        ws.close()


def test_drawn_tracks_and_a_missing_lora_are_named(comfy_host):
    tracks = {"version": 1, "tracks": {"format": "motionstream-tracks", "version": 1, "width": W, "height": H,
                                       "fps": 16, "num_frames": 2, "tracks": [{"points": [[10, 10], [20, 20]]}]}}
    ws, _, end = run(comfy_host, causal_prompt(comfy_host, 9, editor_state=json.dumps(tracks)))
    try:
        assert end["type"] == "execution_error"
        assert "takes no drags (a text-to-video causal Wan model)" in end["data"]["exception_message"]
    finally:
        ws.close()
    ws, _, end = run(comfy_host, causal_prompt(comfy_host, 9, model=comfy_host.models["longlive"]))
    try:
        assert end["type"] == "execution_error"
        assert "preset expects its LoRA file (lora.pt)" in end["data"]["exception_message"]
    finally:
        ws.close()

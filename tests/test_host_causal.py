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
                  image: bool = False, editor_state: str = "", drag_mode: str | None = None) -> dict:
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
    if drag_mode is not None:
        p["4"]["inputs"]["drag_mode"] = drag_mode
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
    try:  # a student's drags move its start image (warp mode): without one they are refused by name
        assert end["type"] == "execution_error"
        assert "tracks: a drag needs a start image (warp mode cuts and drags its regions)" in \
            end["data"]["exception_message"]
    finally:
        ws.close()
    ws, _, end = run(comfy_host, causal_prompt(comfy_host, 9, model=comfy_host.models["longlive"]))
    try:
        assert end["type"] == "execution_error"
        assert "preset expects its LoRA file (lora.pt)" in end["data"]["exception_message"]
    finally:
        ws.close()


def test_a_prompt_typed_during_the_run_switches_at_the_next_chunk_and_replays(comfy_host):
    """Live prompt switch in the real host (the tiny model with the demo text encoder reads prompt text;
    a causal model does with the Wan text encoder on its loader), recorded and replayed exactly."""
    from test_host_stream import prompt_for

    seed = 5
    ws = WSClient(comfy_host)
    try:
        status, body = queue_prompt(comfy_host, prompt_for(comfy_host, 0, seed, text="a red circle"), ws.client_id)
        assert status == 200, body
        sess = ws.wait_event("motionstream.session")["session"]
        ws.wait_event("motionstream.frames", lambda d: d["chunk"] >= 1)
        status, reply = http(comfy_host, "POST", "/motionstream/prompt",
                             {"session": sess, "client_id": ws.client_id, "prompt": "a blue square"})
        assert status == 200 and reply["ok"] is True, reply
        ws.wait_event("motionstream.frames", lambda d: d["chunk"] >= reply["chunk"] + 3)
        assert http(comfy_host, "POST", "/motionstream/control",
                    {"session": sess, "action": "stop", "client_id": ws.client_id})[0] == 200
        assert ws.wait_prompt_end(body["prompt_id"])["type"] == "execution_success"
        done = ws.wait_event("motionstream.done")
        prompts = done["prompts"]
        assert prompts[0] == {"chunk": 0, "text": "a red circle"} and prompts[1]["text"] == "a blue square"
        assert len(prompts) == 2 and prompts[1]["chunk"] > reply["chunk"]
        live = frames_of(ws, sess)
    finally:
        ws.close()
    # re-queued with the run's record in editor_state (as the widget keeps it) and the node's prompt as it
    # was left (the new one): the same video, frame for frame
    state = json.dumps({"version": 1, "tracks": json.loads(done["recorded"]), "grid_spacing": 32, "duration_frames": len(live),
                        "prompts": prompts})
    replay, _, end = run(comfy_host, prompt_for(comfy_host, len(live), seed, editor_state=state, text="a blue square"))
    try:
        assert end["type"] == "execution_success"
        assert frames_of(replay) == live
    finally:
        replay.close()
    # without the record (or with the prompt edited since) the switch is not replayed: other frames
    plain, _, end = run(comfy_host, prompt_for(comfy_host, len(live), seed, text="a blue square"))
    try:
        assert frames_of(plain) != live
    finally:
        plain.close()


def test_prompt_posts_are_validated(comfy_host):
    ws = WSClient(comfy_host)
    try:
        status, body = queue_prompt(comfy_host, causal_prompt(comfy_host, 0, seed=1), ws.client_id)
        assert status == 200, body
        sess = ws.wait_event("motionstream.session")["session"]
        post = lambda payload: http(comfy_host, "POST", "/motionstream/prompt",  # noqa: E731
                                    {"session": sess, "client_id": ws.client_id, **payload})
        assert post({"prompt": ""}) == (400, {"error": "'prompt' must be a non-empty string"})
        status, reply = post({"prompt": "a fox"})  # CONDITIONING text cannot change mid-run
        assert status == 409 and "connect the Wan text encoder (CLIPLoader, type wan) to 'clip'" in reply["error"]
        assert http(comfy_host, "POST", "/motionstream/control",
                    {"session": sess, "action": "stop", "client_id": ws.client_id})[0] == 200
        assert ws.wait_prompt_end(body["prompt_id"])["type"] == "execution_success"
    finally:
        ws.close()


def test_bad_combo_values_are_refused_with_the_choices(comfy_host):
    """The host does not check V3 combo values: the causal loader names the input and its options itself."""
    info = http(comfy_host, "GET", "/object_info/MotionStreamCausalModelLoader")[1]["MotionStreamCausalModelLoader"]
    for field, bad in (("dtype", "fp8"), ("attention", "bogus"), ("preset", "bogus")):
        p = causal_prompt(comfy_host, 9)
        p["1"]["inputs"][field] = bad
        ws, _, end = run(comfy_host, p)
        ws.close()
        assert end["type"] == "execution_error", end
        options = info["input"]["required"][field][1]["options"] if info["input"]["required"][field][0] == "COMBO" \
            else info["input"]["required"][field][0]
        assert end["data"]["exception_message"].strip() == f"{field}: {bad!r} is not one of {', '.join(options)}"


def test_a_region_drag_streams_in_warp_mode_live_and_replays(comfy_host):
    """The student takes a drawn region drag in warp mode (its default), a second region dragged live during the run
    changes the video from the next chunk, and the recorded run (regions included) replays frame for frame."""
    from test_host_stream import control, steer

    seed, size = 6, 64  # the test image is 64 x 64
    square = [[8, 8], [28, 8], [28, 28], [8, 28]]
    drawn = {"format": "motionstream-tracks", "version": 1, "width": size, "height": size, "fps": 16,
             "num_frames": 2, "tracks": [{"points": [[18, 18], [40, 30]], "region": square}]}
    state = json.dumps({"version": 1, "tracks": drawn})
    ws = WSClient(comfy_host)
    try:
        status, body = queue_prompt(comfy_host, causal_prompt(comfy_host, 0, seed, image=True, editor_state=state,
                                                              drag_mode="warp"), ws.client_id)
        assert status == 200, body
        event = ws.wait_event("motionstream.session")
        sess = event["session"]
        assert event["drag_mode"] == "warp" and event["max_tracks"] > 0  # the editor says which mode runs
        ws.wait_event("motionstream.frames", lambda d: d["chunk"] >= 1)
        region = [[40, 40], [60, 40], [50, 60]]
        status, reply = steer(comfy_host, sess, [{"id": "live:r", "x": 44.0, "y": 50.0, "region": region}],
                              client=ws.client_id)
        assert status == 200 and reply["ok"] is True, reply
        status, _ = steer(comfy_host, sess, [{"id": "live:r", "x": 30.0, "y": 50.0, "region": region}],
                          client=ws.client_id)
        ws.wait_event("motionstream.frames", lambda d: d["chunk"] >= reply["chunk"] + 2)
        assert control(comfy_host, sess, "stop", ws.client_id)[0] == 200
        assert ws.wait_prompt_end(body["prompt_id"])["type"] == "execution_success"
        done = ws.wait_event("motionstream.done")
        live = frames_of(ws, sess)
    finally:
        ws.close()
    recorded = json.loads(done["recorded"])
    assert recorded["tracks"][0]["region"] == square and recorded["tracks"][1]["region"] == region
    assert recorded["tracks"][1]["kind"] == "live"
    replay_state = json.dumps({"version": 1, "tracks": recorded, "duration_frames": len(live)})
    replay, _, end = run(comfy_host, causal_prompt(comfy_host, len(live), seed, image=True,
                                                   editor_state=replay_state, drag_mode="warp"))
    try:
        assert end["type"] == "execution_success", end
        assert frames_of(replay) == live, "the recorded region drags replay frame for frame"
    finally:
        replay.close()
    still, _, end = run(comfy_host, causal_prompt(comfy_host, len(live), seed, image=True))
    try:
        assert end["type"] == "execution_success", end
        assert frames_of(still) != live  # the drags changed the video
    finally:
        still.close()

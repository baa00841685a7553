"""The live node in the real host, driven over HTTP and the websocket like the widget drives it.

Streaming (frames reach the client while the node runs), live steering (changes the output, scoped to
its run, validated, rate-limited), replay of a recorded run, /interrupt within a chunk, memory over
repeated runs, and clear node errors for bad inputs while the server keeps serving. Everything runs the
tiny random test model at 64x64 on CPU.
"""

from __future__ import annotations

import base64
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from host_scripts.host_client import WSClient, http, queue_prompt

from nodes.sessions import BURST, MAX_RATE_HZ

pytestmark = pytest.mark.host

SIZE = 64


def prompt_for(host, frames: int, seed: int, editor_state: str = "", model: str | None = None, image=None,
               text: str = "a red circle on a striped blue background", decoder: bool = True) -> dict:
    p = {
        "1": {"class_type": "LoadImage", "inputs": {"image": host.image}},
        "2": {"class_type": "MotionStreamModelLoader",
              "inputs": {"model_name": model or host.models["model"], "config": "auto", "dtype": "auto",
                         "device": "auto", "attention": "auto"}},
        "3": {"class_type": "MotionStreamDecoderLoader", "inputs": {"decoder": host.models["decoder"]}},
        "4": {"class_type": "MotionStreamGenerate",
              "inputs": {"model": ["2", 0], "image": image or ["1", 0], "frames": frames, "seed": seed, "steps": 0,
                         "prompt": text, "editor_state": editor_state}},
    }
    if decoder:
        p["4"]["inputs"]["decoder"] = ["3", 0]
    return p


def run(host, prompt: dict, ws: WSClient | None = None, timeout: float = 120.0):
    own = ws is None
    ws = ws or WSClient(host)
    try:
        status, body = queue_prompt(host, prompt, ws.client_id)
        assert status == 200, body
        end = ws.wait_prompt_end(body["prompt_id"], timeout)
        return ws, body["prompt_id"], end
    finally:
        if own:
            ws.close()


def frames_of(ws: WSClient, session: str | None = None) -> list[str]:
    events = sorted((e for e in ws.events("motionstream.frames") if session in (None, e["session"])),
                    key=lambda e: e["chunk"])
    assert [e["chunk"] for e in events] == list(range(len(events))), "every chunk exactly once, in order"
    return [f for e in events for f in e["frames"]]


def decode(url: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))), np.float32) / 255.0


def steer(host, session: str, points: list, t: float | None = None, client: str | None = None):
    """A steer post; ``client``: the client id that queued the run (sessions are bound to it)."""
    body = {"session": session, "points": points, "client_id": client}
    if t is not None:
        body["t"] = t
    return http(host, "POST", "/motionstream/steer", body)


def control(host, session: str, action: str, client: str | None = None):
    return http(host, "POST", "/motionstream/control", {"session": session, "action": action, "client_id": client})


def rate_clock(host, action: str, seconds: float = 0.0) -> None:
    """Freeze, advance or release the clock the steering rate limit reads (tests/host_scripts/rate_clock_node.py)."""
    status, reply = http(host, "POST", "/motionstream-test/clock", {"action": action, "seconds": seconds})
    assert status == 200, reply


def rss_mb(pid: int) -> tuple[float, int]:
    status = open(f"/proc/{pid}/status").read()
    rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024
    threads = int(next(line for line in status.splitlines() if line.startswith("Threads")).split()[1])
    return rss, threads


# -- streaming -------------------------------------------------------------------------------------

def test_frames_reach_the_client_while_the_node_runs(comfy_host):
    ws = WSClient(comfy_host)
    try:
        status, body = queue_prompt(comfy_host, prompt_for(comfy_host, 0, seed=1), ws.client_id)
        assert status == 200, body
        pid = body["prompt_id"]
        sess = ws.wait_event("motionstream.session")
        assert (sess["node"], sess["width"], sess["height"], sess["fps"], sess["num_frames"]) == ("4", SIZE, SIZE, 16, None)
        assert sess["image"].startswith("data:image/jpeg;base64,") and decode(sess["image"]).shape == (SIZE, SIZE, 3)
        first = ws.wait_event("motionstream.frames")
        assert (first["chunk"], first["start_frame"], len(first["frames"])) == (0, 0, 9)
        assert first["session"] == sess["session"] and first["latency_ms"] > 0 and first["gen_fps"] > 0
        ws.wait_event("motionstream.frames", lambda d: d["chunk"] >= 2)
        ends = [m for m in ws.events("execution_success") + ws.events("execution_error") if m["prompt_id"] == pid]
        assert not ends, "streaming until stopped: the node is still running while frames arrive"
        assert control(comfy_host, sess["session"], "stop", ws.client_id) == (200, {"ok": True})
        end = ws.wait_prompt_end(pid)
        assert end["type"] == "execution_success"
        done = ws.wait_event("motionstream.done")
        assert done["reason"] == "stopped" and done["session"] == sess["session"]
        assert len(frames_of(ws)) == 9 + 12 * (len(ws.events("motionstream.frames")) - 1)
        assert ws.binary >= 1, "ComfyUI progress previews are sent too"
        assert steer(comfy_host, sess["session"], [])[0] == 404, "the session ends with the run"
    finally:
        ws.close()


def test_first_chunk_arrives_before_the_last_is_computed(comfy_host):
    chunks = 8
    ws, _, end = run(comfy_host, prompt_for(comfy_host, 9 + 12 * (chunks - 1), seed=2))
    assert end["type"] == "execution_success"
    arrivals = {m["data"]["chunk"]: t for t, m in ws.messages if m.get("type") == "motionstream.frames"}
    events = {e["chunk"]: e for e in ws.events("motionstream.frames")}
    assert sorted(arrivals) == list(range(chunks))
    compute_after_first = sum(events[c]["latency_ms"] for c in range(1, chunks)) / 1000
    spread = arrivals[chunks - 1] - arrivals[0]
    # frames sent only at the end would all arrive within a few ms; streamed ones are spread over the compute
    assert spread > 0.5 * compute_after_first, (spread, compute_after_first)


# -- live steering ---------------------------------------------------------------------------------

def test_steering_changes_the_output_only_of_its_run_and_replays(comfy_host):
    seed = 11
    a, b = WSClient(comfy_host), WSClient(comfy_host)
    try:
        st, body = queue_prompt(comfy_host, prompt_for(comfy_host, 0, seed), a.client_id)
        assert st == 200, body
        pa = body["prompt_id"]
        sa = a.wait_event("motionstream.session")["session"]
        a.wait_event("motionstream.frames")
        st, body = queue_prompt(comfy_host, prompt_for(comfy_host, 57, seed), b.client_id)  # queued behind A
        assert st == 200, body
        pb = body["prompt_id"]
        xs = [8.0, 20.0, 32.0, 44.0, 56.0]
        for i, x in enumerate(xs):
            a.wait_event("motionstream.frames", lambda d, i=i: d["chunk"] >= i)
            status, reply = steer(comfy_host, sa, [{"id": "live:1", "x": x, "y": 32.0, "active": True}], t=i * 100.0,
                                   client=a.client_id)
            assert status == 200 and reply["ok"] is True and isinstance(reply["chunk"], int)
        a.wait_event("motionstream.frames", lambda d: d["chunk"] >= len(xs) + 1)
        assert control(comfy_host, sa, "stop", a.client_id)[0] == 200
        assert a.wait_prompt_end(pa)["type"] == "execution_success"
        done_a = a.wait_event("motionstream.done")
        assert done_a["reason"] == "stopped"
        recorded = json.loads(done_a["recorded"])  # our tracks JSON, as text
        assert recorded["format"] == "motionstream-tracks" and len(recorded["tracks"]) == 1
        saved = done_a["tracks_file"]  # the same record, kept next to the video
        assert saved["filename"] == done_a["video"]["filename"].replace(".mp4", ".tracks.json")
        on_disk = comfy_host.base_dir / "output" / saved["subfolder"] / saved["filename"]
        assert on_disk.read_text(encoding="utf-8") == done_a["recorded"]
        assert recorded["tracks"][0]["kind"] == "live"
        while a.ws.connected and b.events("motionstream.session") == []:  # keep steering A's (ended) session
            assert steer(comfy_host, sa, [{"id": "live:1", "x": 10.0, "y": 10.0, "active": True}])[0] == 404
            time.sleep(0.05)
        assert b.wait_prompt_end(pb)["type"] == "execution_success"
        sb = b.wait_event("motionstream.done")["session"]
        fa, fb = frames_of(a, sa), frames_of(b, sb)
        assert {e["session"] for e in a.events("motionstream.frames")} == {sa}, "A sees only its own run"
        assert {e["session"] for e in b.events("motionstream.frames")} == {sb}, "B sees only its own run"
        assert len(fb) == 57
        assert fa[:9] == fb[:9], "chunk 0 was made before any steering"
        n = min(len(fa), len(fb))
        changed = [x != y for x, y in zip(fa[9:n], fb[9:n])]
        diff = np.mean([np.abs(decode(x) - decode(y)).mean() for x, y in zip(fa[9:n], fb[9:n])])
        # identical inputs give identical JPEG bytes, so any difference is the steering's
        assert np.mean(changed) > 0.5 and diff > 0.002, f"steering changed {np.mean(changed):.0%} of frames, {diff:.4f}"
    finally:
        a.close()
    # B is the unsteered video: equal to a fresh run of the same inputs (58 frames: not a cache hit)
    ref, _, end = run(comfy_host, prompt_for(comfy_host, 58, seed))
    assert end["type"] == "execution_success"
    assert frames_of(ref)[:57] == fb, "another client's run is unaffected by A's steering"
    ref.close()
    b.close()
    # re-queueing A with its recorded tracks in editor_state reproduces A exactly
    state = json.dumps({"version": 1, "tracks": recorded, "grid_spacing": 32, "duration_frames": len(fa)})
    replay, _, end = run(comfy_host, prompt_for(comfy_host, len(fa), seed, editor_state=state))
    assert end["type"] == "execution_success"
    assert frames_of(replay) == fa, "the recorded live run replays frame for frame"
    replay.close()


def test_steering_posts_are_validated_and_rate_limited(comfy_host):
    ws = WSClient(comfy_host)
    rate_clock(comfy_host, "freeze")  # the limit's time stands still: a burst is faster than 120 Hz on any machine
    try:
        st, body = queue_prompt(comfy_host, prompt_for(comfy_host, 0, seed=4), ws.client_id)
        assert st == 200, body
        sess = ws.wait_event("motionstream.session")["session"]
        ok = {"id": "live:1", "x": 10.0, "y": 10.0, "active": True}
        bad = [
            ({"session": sess, "points": [ok] * 0 + [{**ok, "id": f"p{i}"} for i in range(257)]}, "too many points"),
            ({"session": sess, "points": [{**ok, "x": 1e9}]}, "outside"),
            ({"session": sess, "points": [{**ok, "x": "10"}]}, "must be a number"),
            ({"session": sess, "points": [{**ok, "active": "yes"}]}, "active"),
            ({"session": sess, "points": [{**ok, "id": "track:3"}]}, "no drawn track"),
            ({"session": sess, "points": "nope"}, "'points' must be a list"),
        ]
        for payload, words in bad:
            status, reply = http(comfy_host, "POST", "/motionstream/steer", {**payload, "client_id": ws.client_id})
            assert status == 400 and words in reply["error"], (payload if len(str(payload)) < 200 else words, reply)
        status, reply = http(comfy_host, "POST", "/motionstream/steer", raw=b'{"session": ')
        assert status == 400 and "not valid JSON" in reply["error"]
        status, reply = http(comfy_host, "POST", "/motionstream/control", {"session": sess, "action": "jump",
                                                                         "client_id": ws.client_id})
        assert status == 400 and "action" in reply["error"]
        rate_clock(comfy_host, "advance", 1.0)  # a full bucket again (the bad posts counted too)
        with ThreadPoolExecutor(16) as pool:  # 300 posts at one instant of the limit's clock
            codes = list(pool.map(lambda _: steer(comfy_host, sess, [ok], client=ws.client_id)[0], range(300)))
        assert codes.count(200) == BURST and codes.count(429) == 300 - BURST, (
            f"a burst passes {BURST} posts, then posting faster than {MAX_RATE_HZ:g} Hz is refused: "
            f"{codes.count(200)} passed, {codes.count(429)} refused")
        status, reply = steer(comfy_host, sess, [ok], client=ws.client_id)
        assert (status, reply) == (429, {"error": f"too many steering posts for session '{sess}': at most "
                                                  f"{MAX_RATE_HZ:g} per second"})
        rate_clock(comfy_host, "advance", 1.5 / MAX_RATE_HZ)  # one and a half posts' worth of time
        assert steer(comfy_host, sess, [ok], client=ws.client_id)[0] == 200, "allowed again at the limit's rate"
        assert steer(comfy_host, sess, [ok], client=ws.client_id)[0] == 429, "and no faster"
        rate_clock(comfy_host, "release")
        ws.wait_event("motionstream.frames")  # a chunk's latency is known before pausing
        assert control(comfy_host, sess, "pause", ws.client_id)[0] == 200
        settle = max(1.0, 3 * max(e["latency_ms"] for e in ws.events("motionstream.frames")) / 1000)
        time.sleep(settle)  # the chunk in progress (and the encoder's queue) finish
        paused_at = len(ws.events("motionstream.frames"))
        time.sleep(settle)
        assert len(ws.events("motionstream.frames")) == paused_at, "no chunks while paused"
        assert control(comfy_host, sess, "resume", ws.client_id)[0] == 200
        ws.wait_event("motionstream.frames", lambda d: d["chunk"] >= paused_at + 1)
        assert control(comfy_host, sess, "stop", ws.client_id)[0] == 200
        assert ws.wait_event("motionstream.done")["reason"] == "stopped"
    finally:
        rate_clock(comfy_host, "release")
        ws.close()
    for route, body in (("/motionstream/steer", {"session": "0" * 32, "points": []}),
                        ("/motionstream/control", {"session": "0" * 32, "action": "stop"})):
        status, reply = http(comfy_host, "POST", route, body)
        assert status == 404 and reply["error"] == f"no running MotionStream session '{'0' * 32}'"


# -- interrupt and memory --------------------------------------------------------------------------

def test_interrupt_stops_within_one_chunk(comfy_host):
    ws = WSClient(comfy_host)
    try:
        st, body = queue_prompt(comfy_host, prompt_for(comfy_host, 0, seed=5), ws.client_id)
        assert st == 200, body
        sess = ws.wait_event("motionstream.session")["session"]
        ws.wait_event("motionstream.frames", lambda d: d["chunk"] >= 2)
        slowest = max(e["latency_ms"] for e in ws.events("motionstream.frames")) / 1000
        t0 = time.monotonic()
        assert http(comfy_host, "POST", "/interrupt", {})[0] == 200
        end = ws.wait_prompt_end(body["prompt_id"], timeout=60)
        elapsed = time.monotonic() - t0
        assert end["type"] == "execution_interrupted"
        assert elapsed < 2 * slowest + 2.0, f"stopped after {elapsed:.2f} s (a chunk takes {slowest:.2f} s)"
        done = ws.wait_event("motionstream.done")
        assert done["reason"] == "interrupted"
        assert steer(comfy_host, sess, [])[0] == 404
    finally:
        ws.close()


def test_five_runs_in_a_row_leave_memory_flat(comfy_host):
    samples = []
    for i in range(5):
        ws, _, end = run(comfy_host, prompt_for(comfy_host, 49, seed=100 + i))
        ws.close()
        assert end["type"] == "execution_success"
        samples.append(rss_mb(comfy_host.pid))
    print("\nRSS MB / threads after each run:", [(round(r), t) for r, t in samples])
    assert samples[-1][0] - samples[1][0] < 40, samples
    assert samples[-1][1] <= samples[1][1], "no threads left behind"
    assert http(comfy_host, "GET", "/motionstream/health")[1]["sessions"] == 0


# -- bad inputs ------------------------------------------------------------------------------------

def _error_of(host, prompt) -> str:
    ws, _, end = run(host, prompt)
    ws.close()
    assert end["type"] == "execution_error", end
    return f"{end['data']['exception_type']}: {end['data']['exception_message']}"


def test_bad_inputs_are_clear_node_errors_and_the_server_keeps_serving(comfy_host):
    h = comfy_host
    far = json.dumps({"version": 1, "tracks": {"format": "motionstream-tracks", "version": 1, "width": SIZE,
                                                "height": SIZE, "fps": 16, "num_frames": 2,
                                                "tracks": [{"points": [[10, 10], [900, 10]]}]}})
    cases = [
        (prompt_for(h, 9, 0, editor_state="{not json"), "editor_state is not valid JSON"),
        (prompt_for(h, 9, 0, editor_state=far), "far outside"),
        (prompt_for(h, 9, 0, model=h.models["broken"]), "not a readable safetensors file"),
        (prompt_for(h, 9, 0, model=h.models["plain_dit"]), "no MotionStream track head"),
        (prompt_for(h, 9, 0, model=h.models["model_notext"]), "no built-in text encoder"),
    ]
    small = prompt_for(h, 9, 0, image=["9", 0])
    small["9"] = {"class_type": "EmptyImage", "inputs": {"width": 40, "height": 40, "batch_size": 1, "color": 0}}
    cases.append((small, "multiples of 16"))
    coords = prompt_for(h, 9, 0)
    coords["8"] = {"class_type": "MotionStreamTracksFromCoords",
                   "inputs": {"coordinates": '[[{"x": 1}]]', "format": "auto", "fps": 16.0, "num_frames": 0,
                              "width": SIZE, "height": SIZE}}
    coords["4"]["inputs"]["tracks"] = ["8", 0]
    cases.append((coords, "has no 'y'"))
    for prompt, words in cases:
        message = _error_of(h, prompt)
        assert words in message, message
    status, body = queue_prompt(h, prompt_for(h, 9, 0, model="does-not-exist.safetensors"), "x")
    assert status == 400, body
    err = body["node_errors"]["2"]["errors"][0]
    assert err["type"] in ("value_not_in_list", "custom_validation_failed") and "does-not-exist" in err["details"]
    # still serving
    assert http(h, "GET", "/motionstream/health") == (200, {"ok": True, "version": "0.1.0", "sessions": 0, "running": []})
    ws, _, end = run(h, prompt_for(h, 21, 9))
    assert end["type"] == "execution_success" and len(frames_of(ws)) == 21
    ws.close()


def test_interrupt_while_paused(comfy_host):
    ws = WSClient(comfy_host)
    try:
        st, body = queue_prompt(comfy_host, prompt_for(comfy_host, 0, seed=6), ws.client_id)
        assert st == 200, body
        sess = ws.wait_event("motionstream.session")["session"]
        ws.wait_event("motionstream.frames")
        assert control(comfy_host, sess, "pause", ws.client_id)[0] == 200
        time.sleep(0.5)
        t0 = time.monotonic()
        assert http(comfy_host, "POST", "/interrupt", {})[0] == 200
        end = ws.wait_prompt_end(body["prompt_id"], timeout=60)
        assert end["type"] == "execution_interrupted" and time.monotonic() - t0 < 5.0
        assert ws.wait_event("motionstream.done")["reason"] == "interrupted"
    finally:
        ws.close()

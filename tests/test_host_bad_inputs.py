"""Every bad input against the real host: one exact error each, nothing allocated
for a refused request, and the server keeps serving.

Combo values the host does not check for V3 nodes (dtype, config, vae_decoding, format), an editor
state that claims a billion frames, a 1 MB steering body, GETs on the POST routes, a session steered
by a client that did not queue it, and bad Example Clip preview requests.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from host_scripts.host_client import WSClient, http, queue_prompt
from test_host_stream import SIZE, frames_of, prompt_for, rss_mb, run

pytestmark = pytest.mark.host


def _error_of(host, prompt) -> str:
    ws, _, end = run(host, prompt)
    ws.close()
    assert end["type"] == "execution_error", end
    return f"{end['data']['exception_type']}: {end['data']['exception_message'].strip()}"


def _options(host, node: str, name: str) -> list[str]:
    info = http(host, "GET", f"/object_info/{node}")[1][node]["input"]
    spec = info.get("required", {}).get(name) or info["optional"][name]
    return spec[1]["options"] if spec[0] == "COMBO" else spec[0]


def test_bad_combo_values_are_refused_with_the_choices(comfy_host):
    h = comfy_host
    for field, node_id in (("dtype", "2"), ("config", "2"), ("attention", "2"), ("device", "2")):
        p = prompt_for(h, 9, 0)
        p[node_id]["inputs"][field] = "bogus" if field != "dtype" else "fp8"
        bad = p[node_id]["inputs"][field]
        opts = _options(h, "MotionStreamModelLoader", field)
        assert _error_of(h, p) == f"ValueError: {field}: {bad!r} is not one of {', '.join(opts)}"
    p = prompt_for(h, 9, 0)
    p["3"]["inputs"]["vae_decoding"] = "bogus"
    opts = _options(h, "MotionStreamDecoderLoader", "vae_decoding")
    assert _error_of(h, p) == f"ValueError: vae_decoding: 'bogus' is not one of {', '.join(opts)}"
    p = prompt_for(h, 9, 0)
    p["8"] = {"class_type": "MotionStreamTracksFromCoords",
              "inputs": {"coordinates": '[[{"x": 1, "y": 2}]]', "format": "bogus", "fps": 16.0, "num_frames": 0,
                         "width": SIZE, "height": SIZE}}
    p["4"]["inputs"]["tracks"] = ["8", 0]
    opts = _options(h, "MotionStreamTracksFromCoords", "format")
    assert _error_of(h, p) == f"ValueError: format: 'bogus' is not one of {', '.join(opts)}"


def test_a_billion_frame_editor_state_is_refused_before_allocating(comfy_host):
    h = comfy_host
    state = json.dumps({"version": 1, "tracks": {"format": "motionstream-tracks", "version": 1, "width": SIZE,
                                                  "height": SIZE, "fps": 16, "num_frames": 1_000_000_000,
                                                  "tracks": [{"points": [[10, 10], [20, 10]]}]}})
    before = rss_mb(h.pid)[0]
    message = _error_of(h, prompt_for(h, 9, 0, editor_state=state))
    after = rss_mb(h.pid)[0]
    assert message == ("motionstream_core.tracks.TrackError: editor_state tracks: num_frames 1000000000 is more than 100000, the most "
                       "frames a tracks file may hold"), message
    assert after - before < 200, f"the refused state still grew the server by {after - before:.0f} MB"


def _raw(host, method: str, path: str, data: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(host + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_routes_refuse_bad_requests_exactly(comfy_host):
    h = comfy_host
    for name in ("steer", "control", "session", "example_image"):
        status, headers, body = _raw(h, "GET", f"/motionstream/{name}")
        assert (status, headers.get("Allow"), json.loads(body)) == (
            405, "POST", {"error": f"GET is not allowed on /motionstream/{name}: use POST"})
    status, _, body = _raw(h, "POST", "/motionstream/steer", b"x" * 1_048_576, {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (400, {"error": "request body too large: 1048576 bytes > 65536"})
    for payload, error in (
            ({"seed": 7, "width": 100}, "width must be an integer from 16 to 2048 in steps of 16; got 100"),
            ({"seed": "7"}, "seed must be an integer from 0 to 2147483647; got '7'"),
            ({"seed": 10 ** 400}, f"seed must be an integer from 0 to 2147483647; got {str(10 ** 400)[:37]}..."),
            ([1, 2], "the body must be a JSON object of the Example Clip node's inputs")):
        assert http(h, "POST", "/motionstream/example_image", payload) == (400, {"error": error})
    for name in ("steer", "example_image"):
        assert http(h, "POST", f"/motionstream/{name}", raw=b"[" * 60_000) == (
            400, {"error": "request body is nested too deeply to be a MotionStream request"})
        status, _, body = _raw(h, "POST", f"/motionstream/{name}", b"{}", {"Content-Type": "text/plain"})
        assert (status, json.loads(body)) == (415, {"error": f"/motionstream/{name} takes a JSON body: send it with "
                                                             "'Content-Type: application/json' (got 'text/plain')"})
    status, headers, body = _raw(h, "POST", "/motionstream/example_image", json.dumps({"seed": 3}).encode(),
                                 {"Content-Type": "application/json"})
    assert status == 200 and headers["Content-Type"] == "image/png" and body[:8] == b"\x89PNG\r\n\x1a\n"


def test_start_image_previews_at_once_cost_one_frame_at_a_time(comfy_host):
    """Six Example Clip previews (1024x1024, 16 frames, different seeds) asked at once: rendered one at a time,
    frame 0 alone, so the server grows by what one frame costs, not six whole clips (~1.5 GB)."""
    import threading

    h = comfy_host
    peak, done = [0.0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(h.pid)[0])
            done.wait(0.02)

    before = rss_mb(h.pid)[0]
    results = []
    body = lambda seed: json.dumps({"seed": seed, "width": 1024, "height": 1024, "num_frames": 16}).encode()
    asks = [threading.Thread(target=lambda s=s: results.append(_raw(h, "POST", "/motionstream/example_image", body(s),
                                                                    {"Content-Type": "application/json"})))
            for s in range(100, 106)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    for t in asks:
        t.start()
    for t in asks:
        t.join()
    done.set()
    watcher.join()
    assert [r[0] for r in results] == [200] * 6 and all(r[2][:8] == b"\x89PNG\r\n\x1a\n" for r in results)
    assert peak[0] - before < 400, f"six previews grew the server by {peak[0] - before:.0f} MB"


def test_a_session_answers_only_the_client_that_queued_it(comfy_host):
    h = comfy_host
    ws, other = WSClient(h), WSClient(h)
    try:
        st, body = queue_prompt(h, prompt_for(h, 0, seed=8), ws.client_id)
        assert st == 200, body
        sess = ws.wait_event("motionstream.session")["session"]
        point = [{"id": "live:1", "x": 10.0, "y": 10.0, "active": True}]
        for route, extra in (("steer", {"points": point}), ("control", {"action": "stop"}), ("session", {})):
            status, reply = http(h, "POST", f"/motionstream/{route}", {"session": sess, "client_id": other.client_id,
                                                                        **extra})
            assert (status, reply) == (403, {"error": f"session '{sess}' belongs to another client: only the client "
                                                      "that queued the run may steer it"})
        status, reply = http(h, "POST", "/motionstream/session", {"session": sess, "client_id": ws.client_id})
        assert status == 200 and reply["session"] == sess and reply["width"] == SIZE
        assert reply["image"].startswith("data:image/jpeg;base64,") and reply["connected"] is None
        assert http(h, "POST", "/motionstream/control", {"session": sess, "client_id": ws.client_id,
                                                         "action": "stop"}) == (200, {"ok": True})
        assert ws.wait_event("motionstream.done")["reason"] == "stopped"
    finally:
        ws.close()
        other.close()


def test_the_server_still_serves_after_all_of_it(comfy_host):
    h = comfy_host
    assert http(h, "GET", "/motionstream/health") == (200, {"ok": True, "version": "0.1.0", "sessions": 0, "running": []})
    ws, _, end = run(h, prompt_for(h, 21, 9))
    assert end["type"] == "execution_success" and len(frames_of(ws)) == 21
    done = ws.events("motionstream.done")[-1]
    video = done["video"]
    path = h.base_dir / "output" / video["subfolder"] / video["filename"]
    assert video["type"] == "output" and path.is_file() and path.stat().st_size > 1000
    ws.close()
    time.sleep(0.1)

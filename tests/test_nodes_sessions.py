"""Live-steering sessions without the host: registry, validation, rate limit, slot mapping, routes."""

from __future__ import annotations

import json
import math
import re
import threading

import pytest

from motionstream_core.steering import ControlPlan
from nodes.sessions import (MAX_POINTS, LiveSession, RateLimiter, SessionRegistry, handle_control,
                            handle_session, handle_steer)


CLIENT = "c"  # the client that queued the runs of session()


def session(**kw) -> LiveSession:
    kw.setdefault("limiter", RateLimiter(rate=1e9, burst=10**9))
    return LiveSession(node_id="4", client_id=CLIENT, width=64, height=48, **kw)


def post(reg, body) -> tuple[int, dict]:
    """A steer post from the session's own client (bodies that are not objects are sent as they are)."""
    if isinstance(body, dict) and "client_id" not in body:
        body = {**body, "client_id": CLIENT}
    return handle_steer(reg, json.dumps(body).encode() if not isinstance(body, bytes) else body)


JSON = {"Content-Type": "application/json"}


def test_ids_are_random_hex_and_registry_is_scoped():
    reg = SessionRegistry()
    a, b = reg.add(session()), reg.add(session())
    assert a.id != b.id and re.fullmatch(r"[0-9a-f]{32}", a.id) and re.fullmatch(r"[0-9a-f]{32}", b.id), (a.id, b.id)
    st, reply = post(reg, {"session": a.id, "points": [{"id": "live:1", "x": 5, "y": 6, "active": True}], "t": 1})
    assert (st, reply) == (200, {"ok": True, "chunk": 0})
    assert set(a.steering.snapshot().points) == {"live:1"}
    assert b.steering.snapshot().points == {}, "another session is untouched"
    reg.remove(a.id)
    st, reply = post(reg, {"session": a.id, "points": []})
    assert st == 404 and reply == {"error": f"no running MotionStream session '{a.id}'"}


@pytest.mark.parametrize("body, status, words", [
    (b"{oops", 400, "not valid JSON"),
    (b"[1, 2]", 400, "'session' must be"),
    ({"points": []}, 400, "'session' must be"),
    ({"session": 5, "points": []}, 400, "'session' must be"),
    ({"session": "SID", "points": {"id": "a"}}, 400, "'points' must be a list"),
    ({"session": "SID", "points": [[1, 2]]}, 400, "must be an object"),
    ({"session": "SID", "points": [{"id": "", "x": 1, "y": 1}]}, 400, "id must be a non-empty string"),
    ({"session": "SID", "points": [{"id": 7, "x": 1, "y": 1}]}, 400, "id must be a non-empty string"),
    ({"session": "SID", "points": [{"id": "a", "x": True, "y": 1}]}, 400, "x must be a number"),
    ({"session": "SID", "points": [{"id": "a", "x": 1, "y": None}]}, 400, "y must be a number"),
    ({"session": "SID", "points": [{"id": "a", "x": 1, "y": 1, "active": 1}]}, 400, "active must be true or false"),
    ({"session": "SID", "points": [{"id": "a", "x": 97, "y": 1}]}, 400, "more than 50% outside the 64x48 image"),
    ({"session": "SID", "points": [{"id": "a", "x": -32.5, "y": 1}]}, 400, "more than 50% outside"),
    ({"session": "SID", "points": [{"id": "a", "x": 1, "y": 72.5}]}, 400, "more than 50% outside"),
    ({"session": "SID", "points": [{"id": "a", "x": 1, "y": 1}, {"id": "a", "x": 2, "y": 2}]}, 400, "appears twice"),
    ({"session": "SID", "points": [{"id": "track:2", "x": 1, "y": 1}]}, 400, "no drawn track 2 (the editor has 2)"),
    ({"session": "SID", "points": [], "t": "now"}, 400, "'t' must be a finite number"),
    ({"session": "nope", "points": []}, 404, "no running MotionStream session 'nope'"),
])
def test_steer_validation(body, status, words):
    reg = SessionRegistry()
    s = reg.add(session(drawn=2))
    if isinstance(body, dict) and body.get("session") == "SID":
        body = {**body, "session": s.id}
    st, reply = post(reg, body)
    assert st == status and words in reply["error"], reply
    assert s.steering.snapshot().points == {}, "a rejected post changes nothing"


def test_non_finite_and_too_many_points():
    reg = SessionRegistry()
    s = reg.add(session())
    st, reply = handle_steer(reg, f'{{"session": "{s.id}", "client_id": "c", "points": [{{"id": "a", "x": NaN, "y": 1}}]}}'.encode())
    assert st == 400 and "not finite" in reply["error"]
    st, reply = handle_steer(reg, f'{{"session": "{s.id}", "client_id": "c", "points": [{{"id": "a", "x": Infinity, "y": 1}}]}}'.encode())
    assert st == 400 and "not finite" in reply["error"]
    pts = [{"id": f"p{i}", "x": 1, "y": 1} for i in range(MAX_POINTS + 1)]
    st, reply = post(reg, {"session": s.id, "points": pts})
    assert st == 400 and f"too many points in one post: {MAX_POINTS + 1} > {MAX_POINTS}" in reply["error"]
    assert post(reg, {"session": s.id, "points": pts[:MAX_POINTS]})[0] == 200
    st, reply = handle_steer(reg, b"x" * 70000)
    assert st == 400 and "too large" in reply["error"]


def test_edge_of_the_margin_is_allowed():
    reg = SessionRegistry()
    s = reg.add(session())
    assert post(reg, {"session": s.id, "points": [{"id": "a", "x": -32.0, "y": 72.0}]})[0] == 200
    assert post(reg, {"session": s.id, "points": [{"id": "b", "x": 96.0, "y": -24.0, "active": False}]})[0] == 200


def test_live_slot_limit_counts_planned_tracks():
    reg = SessionRegistry()
    s = reg.add(session(offset=2, drawn=1, max_slots=5))
    assert post(reg, {"session": s.id, "points": [{"id": "a", "x": 1, "y": 1}, {"id": "b", "x": 1, "y": 1}]})[0] == 200
    assert post(reg, {"session": s.id, "points": [{"id": "a", "x": 2, "y": 2}, {"id": "track:0", "x": 1, "y": 1}]})[0] == 200
    st, reply = post(reg, {"session": s.id, "points": [{"id": "c", "x": 1, "y": 1}]})
    assert st == 400 and "at most 5 tracks (3 planned, 2 live)" in reply["error"]


def test_takeover_ids_are_mapped_past_the_connected_tracks():
    """The widget's track:<i> is its i-th drawn track, which comes after the connected TRACKS input."""
    reg = SessionRegistry()
    s = reg.add(session(offset=3, drawn=2))
    assert post(reg, {"session": s.id, "points": [{"id": "track:1", "x": 10, "y": 12},
                                                  {"id": "live:1", "x": 3, "y": 4}]})[0] == 200
    pts = s.steering.snapshot().points
    assert set(pts) == {"track:4", "live:1"} and (pts["track:4"].x, pts["track:4"].y) == (10.0, 12.0)


def test_out_of_order_posts_are_ignored():
    reg = SessionRegistry()
    s = reg.add(session())
    assert post(reg, {"session": s.id, "points": [{"id": "a", "x": 5, "y": 5}], "t": 200})[1] == {"ok": True, "chunk": 0}
    st, reply = post(reg, {"session": s.id, "points": [{"id": "a", "x": 9, "y": 9}], "t": 100})
    assert st == 200 and reply["stale"] is True
    assert s.steering.snapshot().points["a"].x == 5.0


def test_rate_limit_is_per_session_and_recovers():
    now = [0.0]
    reg = SessionRegistry()
    a = reg.add(session(limiter=RateLimiter(rate=120, burst=24, clock=lambda: now[0])))
    b = reg.add(session(limiter=RateLimiter(rate=120, burst=24, clock=lambda: now[0])))
    body = lambda sid: {"session": sid, "points": [{"id": "a", "x": 1, "y": 1}]}  # noqa: E731
    codes = [post(reg, body(a.id))[0] for _ in range(30)]
    assert codes[:24] == [200] * 24 and set(codes[24:]) == {429}
    st, reply = post(reg, body(a.id))
    assert st == 429 and "at most 120 per second" in reply["error"]
    assert post(reg, body(b.id))[0] == 200, "the other session has its own budget"
    now[0] += 1 / 120 + 1e-9
    assert post(reg, body(a.id))[0] == 200
    # sustained: 120 posts over one second are fine, 240 are not
    now[0] += 10
    ok = 0
    for i in range(240):
        now[0] += 1 / 240
        ok += post(reg, body(a.id))[0] == 200
    assert 120 <= ok <= 120 + 24 + 1


def test_a_limiter_without_a_clock_reads_the_module_clock_of_its_making(monkeypatch):
    """What lets a test host control time (tests/host_scripts/rate_clock_node.py): the limiter takes
    ``sessions.CLOCK`` as it is when the limiter is made."""
    from nodes import sessions

    now = [100.0]
    monkeypatch.setattr(sessions, "CLOCK", lambda: now[0])
    limiter = RateLimiter(rate=120, burst=2)
    assert [limiter.allow() for _ in range(3)] == [True, True, False], "time stands still: the burst only"
    now[0] += 1.5 / 120
    assert [limiter.allow(), limiter.allow()] == [True, False]
    monkeypatch.setattr(sessions, "CLOCK", lambda: 0.0)  # replaced later: a limiter keeps its own
    now[0] += 1.0
    assert limiter.allow()


def test_control_actions():
    reg = SessionRegistry()
    s = reg.add(session())
    st = lambda action: handle_control(reg, json.dumps({"session": s.id, "client_id": CLIENT,
                                                                 "action": action}).encode())  # noqa: E731
    assert st("pause") == (200, {"ok": True}) and s.steering.paused
    assert st("resume") == (200, {"ok": True}) and not s.steering.paused
    code, reply = st("rewind")
    assert code == 400 and "pause, resume, stop" in reply["error"]
    assert st("stop") == (200, {"ok": True}) and s.steering.stopped
    assert handle_control(reg, b'{"session": "zzz", "action": "stop"}')[0] == 404


def test_registry_is_thread_safe():
    reg = SessionRegistry()
    made = []

    def work():
        for _ in range(200):
            s = reg.add(session())
            made.append(s.id)
            assert reg.get(s.id) is s
            reg.remove(s.id)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reg) == 0 and len(set(made)) == 800


def test_validated_points_drive_the_core_plan():
    """What a post puts into Steering is what the core's ControlPlan uses for the next chunk."""
    reg = SessionRegistry()
    s = reg.add(session())
    post(reg, {"session": s.id, "points": [{"id": "live:7", "x": 30.5, "y": 20.25, "active": True}]})
    plan = ControlPlan(None, 64, 48, 16)
    plan.apply_live(s.steering.snapshot().points)
    path, vis = plan.frames(0, 9)
    assert path.shape == (9, 1, 2) and vis.all() and math.isclose(path[-1, 0, 0], 30.5)


def test_routes_with_aiohttp():
    import aiohttp
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from nodes import routes

    reg = SessionRegistry()
    s = reg.add(session())

    async def go():
        table = web.RouteTableDef()
        routes._registered.discard(id(table))
        assert routes.register(table, reg) is True and routes.register(table, reg) is False
        app = web.Application()
        app.add_routes(table)
        async with TestClient(TestServer(app)) as client:
            r = await client.get("/motionstream/health")
            assert r.status == 200 and (await r.json())["ok"] is True and (await r.json())["version"] == "0.1.0"
            assert (await r.json())["running"] == [s.node_id], "a page that did not queue the run can tell it runs"
            r = await client.post("/motionstream/steer", json={"session": s.id, "client_id": CLIENT, "points": [
                {"id": "live:1", "x": 1, "y": 2, "active": True}], "t": 5})
            assert r.status == 200 and await r.json() == {"ok": True, "chunk": 0}
            r = await client.post("/motionstream/steer", data=b"{nope", headers=JSON)
            assert r.status == 400 and "not valid JSON" in (await r.json())["error"]
            for route in routes.POST_ROUTES:  # a form post (which any site can make a browser send) is refused
                r = await client.post(f"/motionstream/{route}", data=json.dumps({"session": s.id}).encode(),
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
                assert (r.status, await r.json()) == (415, {"error": (
                    f"/motionstream/{route} takes a JSON body: send it with 'Content-Type: application/json' "
                    "(got 'application/x-www-form-urlencoded')")})
            r = await client.post("/motionstream/control", json={"session": "gone", "action": "stop"})
            assert r.status == 404
            r = await client.post("/motionstream/control", json={"session": s.id, "client_id": CLIENT, "action": "stop"})
            assert r.status == 200 and s.steering.stopped

    asyncio.run(go())
    assert aiohttp is not None


def test_sessions_are_bound_to_the_client_that_queued_them():
    reg = SessionRegistry()
    s = reg.add(session())
    s.details = {"width": 64, "height": 48, "image": "data:image/jpeg;base64,xx"}
    pt = [{"id": "a", "x": 1, "y": 1}]
    for client, words in ((None, "send its 'client_id'"), ("other", "belongs to another client")):
        body = {"session": s.id, "points": pt, **({} if client is None else {"client_id": client})}
        assert handle_steer(reg, json.dumps(body).encode()) == (403, {"error": (
            f"session '{s.id}' is bound to the client that queued it: send its 'client_id' (the websocket's "
            "clientId) with the request" if client is None else
            f"session '{s.id}' belongs to another client: only the client that queued the run may steer it")})
        assert words
        code, reply = handle_control(reg, json.dumps({**body, "action": "stop"}).encode())
        assert code == 403 and not s.steering.stopped
        assert handle_session(reg, json.dumps(body).encode())[0] == 403
    assert s.steering.snapshot().points == {}, "a refused post changes nothing"
    assert handle_session(reg, json.dumps({"session": s.id, "client_id": CLIENT}).encode()) == (
        200, {"session": s.id, "width": 64, "height": 48, "image": "data:image/jpeg;base64,xx"})
    api = reg.add(LiveSession(node_id="4", client_id=None, width=64, height=48))
    assert handle_steer(reg, json.dumps({"session": api.id, "points": pt}).encode()) == (403, {"error": (
        f"session '{api.id}' was queued without a client id (an API prompt): it cannot be steered")})


def test_too_large_bodies_report_their_real_size():
    reg = SessionRegistry()
    assert handle_steer(reg, b"x" * 1_000_000) == (400, {"error": "request body too large: 1000000 bytes > 65536"})


def test_get_on_the_post_routes_is_405_and_big_bodies_are_refused_unread():
    import aiohttp  # noqa: F401  (installed by the [test,wanvae,train] extras)
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from nodes import routes

    async def go():
        table = web.RouteTableDef()
        routes.register(table, SessionRegistry())
        app = web.Application()
        app.add_routes(table)
        async with TestClient(TestServer(app)) as client:
            for name in ("steer", "control", "session"):
                r = await client.get(f"/motionstream/{name}")
                assert r.status == 405 and r.headers["Allow"] == "POST"
                assert await r.json() == {"error": f"GET is not allowed on /motionstream/{name}: use POST"}
            # bodies a little over the cap: the loopback socket takes them whole, so the client is never cut off
            # mid-upload by the early answer (a 1 MB body was, now and then, on a loaded machine)
            r = await client.post("/motionstream/steer", data=b"x" * 100_000, headers=JSON)
            assert r.status == 400 and await r.json() == {"error": "request body too large: 100000 bytes > 65536"}

            async def chunks():  # no Content-Length: only "more than" is known
                for _ in range(20):
                    yield b"x" * 4096

            r = await client.post("/motionstream/steer", data=chunks(), headers=JSON)
            assert r.status == 400 and await r.json() == {"error": "request body too large: more than 65536 bytes > 65536"}

    asyncio.run(go())


def test_malformed_bodies_are_one_line_400s():
    """Deep nesting (a RecursionError in the JSON parser) and integers too large for a float are refused
    with one short line, never a 500."""
    reg = SessionRegistry()
    s = reg.add(session())
    assert handle_steer(reg, b"[" * 60_000) == (400, {"error": "request body is nested too deeply to be a MotionStream "
                                                               "request"})
    huge = 10 ** 400
    for key, where in (("x", "points[0].x"), ("y", "points[0].y")):
        pt = {"id": "live:1", "x": 5, "y": 6, key: huge}
        st, reply = post(reg, {"session": s.id, "points": [pt], "t": 1})
        assert (st, reply) == (400, {"error": f"{where} is not finite ({str(huge)[:37]}...)"})
    st, reply = post(reg, {"session": s.id, "points": [], "t": -huge})
    assert (st, reply) == (400, {"error": f"'t' must be a finite number of milliseconds; got -{str(huge)[:36]}..."})
    assert s.steering.snapshot().points == {}, "nothing refused reached the stream"


def test_the_track_id_rule_is_the_widgets():
    """The shared contract table (tests/data/steer_ids.json; js/tests/steer.test.mjs reads the same one):
    which live point ids take over a drawn track, on the server side, and how a post uses them."""
    from pathlib import Path

    from motionstream_core.steering import takeover_id, takeover_slot

    table = json.loads((Path(__file__).parent / "data" / "steer_ids.json").read_text(encoding="utf-8"))
    assert len(table["cases"]) > 10
    for pid, slot in table["cases"]:
        assert takeover_slot(pid) == slot, repr(pid)
        if slot is not None:
            assert takeover_slot(takeover_id(slot)) == slot
    reg = SessionRegistry()
    s = reg.add(LiveSession(node_id="1", client_id=CLIENT, width=64, height=64, offset=2, drawn=3, max_slots=8))
    st, _ = post(reg, {"session": s.id, "points": [{"id": "track:\u0663", "x": 1, "y": 1}], "t": 1})
    assert st == 200 and set(s.steering.snapshot().points) == {"track:\u0663"}, "a non-ASCII digit is a new point"
    st, reply = post(reg, {"session": s.id, "points": [{"id": "track:3", "x": 1, "y": 1}], "t": 2})
    assert (st, reply) == (400, {"error": "points[0].id 'track:3': there is no drawn track 3 (the editor has 3)"})

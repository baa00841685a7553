"""Live prompt switching on the node side: the POST body's checks, and the schedule kept in editor_state."""

from __future__ import annotations

import json

import pytest

from motionstream_core.stream import PromptSwitch
from motionstream_core.tracks import TrackError
from nodes.editor_state import parse_editor_state
from nodes.sessions import LiveSession, SessionRegistry, handle_prompt


def _session(reads_prompts=True):
    registry = SessionRegistry()
    return registry, registry.add(LiveSession(node_id="4", client_id="c", width=64, height=64,
                                              reads_prompts=reads_prompts))


def _post(registry, live, **payload):
    return handle_prompt(registry, json.dumps({"session": live.id, "client_id": "c", **payload}).encode())


def test_a_prompt_post_reaches_the_stream_at_the_next_snapshot():
    registry, live = _session()
    assert _post(registry, live, prompt="a blue square") == (200, {"ok": True, "chunk": 0})
    assert live.steering.snapshot().text == "a blue square"
    assert live.steering.snapshot().text is None  # taken once


@pytest.mark.parametrize("payload,status,error", [
    ({"prompt": "  "}, 400, "'prompt' must be a non-empty string"),
    ({"prompt": 3}, 400, "'prompt' must be a non-empty string"),
    ({"prompt": "x" * 4001}, 400, "'prompt' is 4001 characters long; at most 4000"),
])
def test_bad_prompt_posts(payload, status, error):
    registry, live = _session()
    assert _post(registry, live, **payload) == (status, {"error": error})


def test_conditioning_models_refuse_a_live_prompt_and_other_clients_are_refused():
    registry, live = _session(reads_prompts=False)
    status, body = _post(registry, live, prompt="a fox")
    assert status == 409 and body["error"].startswith("this model takes its text as CONDITIONING")
    status, _ = handle_prompt(registry, json.dumps({"session": live.id, "client_id": "other", "prompt": "x"}).encode())
    assert status == 403


def test_editor_state_prompt_schedule():
    doc = {"version": 1, "prompts": [{"chunk": 0, "text": "a"}, {"chunk": 3, "text": "b"}]}
    assert parse_editor_state(json.dumps(doc)).prompts == (PromptSwitch(0, "a"), PromptSwitch(3, "b"))
    assert parse_editor_state('{"version": 1}').prompts == ()
    for bad, msg in ((["x"], r"prompts\[0\] must be"), ({"chunk": 0}, "prompts must be a list"),
                     ([{"chunk": 2, "text": "a"}, {"chunk": 1, "text": "b"}], r"chunks must increase \(1 after 2\)"),
                     ([{"chunk": -1, "text": "a"}], r"prompts\[0\] must be")):
        with pytest.raises(TrackError, match=msg):
            parse_editor_state(json.dumps({"version": 1, "prompts": bad}))

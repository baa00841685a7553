"""In the host: a causal Wan student given to Load MotionStream Model says "use Load Causal Wan Model", from
models/diffusion_models (where the docs put it: refused when queued) and from models/motionstream (refused
when it runs); the causal loader lists it from both folders."""

from __future__ import annotations

import shutil

from host_scripts.host_client import http, queue_prompt
from test_host_stream import _error_of, prompt_for

ADVICE = "has no MotionStream track head: it is a causal Wan student (Self-Forcing family)"


def test_a_causal_student_in_the_wrong_loader_names_the_right_one(comfy_host):
    h = comfy_host
    name = h.models["causal"]  # in models/diffusion_models
    status, body = queue_prompt(h, prompt_for(h, 9, 0, model=name), "x")
    assert status == 400, body
    details = body["node_errors"]["2"]["errors"][0]["details"]
    assert ADVICE in details and "Use Load Causal Wan Model" in details and "was not found" not in details, details

    copy = h.base_dir / "models" / "motionstream" / "self_forcing_copy.pt"
    shutil.copy(h.base_dir / "models" / "diffusion_models" / name, copy)
    try:
        message = _error_of(h, prompt_for(h, 9, 0, model=copy.name))
        assert ADVICE in message and "Use Load Causal Wan Model" in message, message
        status, info = http(h, "GET", "/object_info/MotionStreamCausalModelLoader")
        options = info["MotionStreamCausalModelLoader"]["input"]["required"]["checkpoint"]
        listed = options[1]["options"] if isinstance(options[1], dict) and "options" in options[1] else options[0]
        assert name in listed and copy.name in listed, listed
    finally:
        copy.unlink()

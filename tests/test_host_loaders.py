"""In the host: a causal Wan student given to Load MotionStream Model says "use Load Causal Wan Model", from
models/diffusion_models (where the docs put it: refused when queued) and from models/motionstream (refused
when it runs); the causal loader lists it from both folders. A text embedding read from a file (no text
encoder) streams the same video as the same embedding from a text encoder."""

from __future__ import annotations

import json
import shutil

import torch
from safetensors.torch import save_file

from host_scripts.host_client import http, queue_prompt
from test_host_causal import causal_prompt
from test_host_stream import _error_of, frames_of, prompt_for, run

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


def test_a_text_embedding_file_streams_like_the_text_encoders_embedding(comfy_host):
    h = comfy_host
    folder = h.base_dir / "models" / "motionstream_text"
    folder.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(3)  # what the test-only TestRandomConditioning(seed 3, 8 x 32) makes
    save_file({"context": torch.randn(1, 8, 32, generator=g)}, str(folder / "ctx.safetensors"))
    videos = []
    for from_file in (False, True):
        p = causal_prompt(h, 9, seed=4)
        if from_file:
            p["3"] = {"class_type": "MotionStreamTextEmbeddingFile", "inputs": {"file": "ctx.safetensors"}}
        ws, _, end = run(h, p)
        try:
            assert end["type"] == "execution_success", end
            videos.append(frames_of(ws))
        finally:
            ws.close()
    assert len(videos[0]) == len(videos[1]) == 9 and videos[0] == videos[1]
    p = causal_prompt(h, 9)
    p["3"] = {"class_type": "MotionStreamTextEmbeddingFile", "inputs": {"file": "missing.safetensors"}}
    status, body = queue_prompt(h, p, "x")
    assert status == 400 and "was not found in models/motionstream_text" in json.dumps(body), body

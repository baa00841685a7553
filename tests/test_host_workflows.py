"""The example workflows in workflows/ load against the real host and the ones that need no downloads run.

Each UI-format file is checked against /object_info (node types exist, every link carries the type both
ends declare, widget counts match) and converted to an API prompt the way the frontend does. The
demo-model workflows then run to completion on CPU and save a video with ComfyUI's SaveVideo. Where the
built-in demo weights are not in this checkout, the run swaps in the tiny test model (said in the output).
Workflows that need model files live in workflows/needs_models/, each with a note listing the files and
folders; the 1.3B one must fail only on its missing model files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import host_requires
from host_scripts.host_client import WSClient, check_workflow_links, http, queue_prompt, workflow_to_prompt

pytestmark = pytest.mark.host

FOLDER = Path(__file__).resolve().parent.parent / "workflows"
RUNNABLE = sorted(FOLDER.glob("*.json"))  # every one of these runs on a fresh install
NEEDS_MODELS = sorted((FOLDER / "needs_models").glob("*.json"))
WORKFLOWS = RUNNABLE + NEEDS_MODELS
DEMO = "MotionStream demo (built-in)"


@pytest.fixture(scope="module")
def object_info(comfy_host):
    return http(comfy_host, "GET", "/object_info")[1]


def _demo_available() -> bool:
    try:
        from motionstream_core.demo.loader import DEMO_WEIGHTS
    except ImportError:
        return False
    return all(p.is_file() for p in DEMO_WEIGHTS.values())


def test_all_four_examples_exist():
    names = {str(p.relative_to(FOLDER)) for p in WORKFLOWS}
    assert {"motionstream_demo_drag.json", "motionstream_motion_transfer.json", "motionstream_camera_control.json",
            "needs_models/motionstream_wan2.1_1.3b.json"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_matches_the_host(path, object_info):
    wf = json.loads(path.read_text())
    assert {"nodes", "links", "last_node_id", "last_link_id", "version"} <= set(wf)
    assert check_workflow_links(wf, object_info) == []
    prompt = workflow_to_prompt(wf, object_info)
    saves = [n for n in prompt.values() if n["class_type"] in ("SaveVideo", "SaveAnimatedWEBP", "SaveWEBM")]
    assert saves, "the output video is saved with ComfyUI's own save nodes"


@pytest.mark.parametrize("path", NEEDS_MODELS, ids=lambda p: p.stem)
def test_workflows_needing_models_say_which_files_and_folders(path):
    wf = json.loads(path.read_text())
    notes = [n["widgets_values"][0] for n in wf["nodes"] if n["type"] in ("MarkdownNote", "Note")]
    assert notes, f"{path.name}: no note listing the model files it needs"
    loaders = {"MotionStreamModelLoader": "models/motionstream/", "CLIPLoader": "models/text_encoders/",
               "MotionStreamCausalModelLoader": "models/diffusion_models/",
               "VAELoader": "models/vae/", "CLIPVisionLoader": "models/clip_vision/"}
    for n in wf["nodes"]:
        if n["type"] in loaders:
            assert n["widgets_values"][0] in notes[0] and loaders[n["type"]] in notes[0], (n["type"], notes[0])


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.stem)
def test_workflow_runs_on_cpu(path, comfy_host, object_info):
    host_requires(comfy_host, "cv2")  # the example clip, LK tracking
    prompt = workflow_to_prompt(json.loads(path.read_text()), object_info)
    if not _demo_available():
        print(f"\n{path.name}: the built-in demo weights are not in this checkout; running with the tiny test model")
        tiny_decoder = {"class_type": "MotionStreamDecoderLoader", "inputs": {"decoder": comfy_host.models["decoder"]}}
        for nid, node in list(prompt.items()):
            kind, inputs = node["class_type"], node["inputs"]
            if kind == "MotionStreamModelLoader" and inputs["model_name"] == DEMO:
                inputs["model_name"] = comfy_host.models["model"]
            if kind == "MotionStreamDecoderLoader" and inputs["decoder"].startswith("built-in"):
                inputs["decoder"] = comfy_host.models["decoder"]
            if kind == "MotionStreamGenerate" and "decoder" not in inputs:  # the demo's own decoder is missing too
                prompt[f"{nid}_decoder"] = tiny_decoder
                inputs["decoder"] = [f"{nid}_decoder", 0]
    for node in prompt.values():  # unique output names per run
        if node["class_type"] == "SaveVideo":
            node["inputs"]["filename_prefix"] = f"video/{path.stem}"
    ws = WSClient(comfy_host)
    try:
        status, body = queue_prompt(comfy_host, prompt, ws.client_id)
        assert status == 200, body
        end = ws.wait_prompt_end(body["prompt_id"], timeout=240)
        assert end["type"] == "execution_success", json.dumps(end)[:2000]
        done = ws.events("motionstream.done")
        assert done and done[-1]["reason"] == "finished"
        frames = sum(len(e["frames"]) for e in ws.events("motionstream.frames"))
        assert frames == 49
    finally:
        ws.close()
    videos = list((comfy_host.base_dir / "output" / "video").glob(f"{path.stem}*"))
    assert videos and all(v.stat().st_size > 1000 for v in videos), videos


def test_wan_workflow_only_misses_its_model_files(comfy_host, object_info):
    path = next(p for p in WORKFLOWS if p.name == "motionstream_wan2.1_1.3b.json")
    prompt = workflow_to_prompt(json.loads(path.read_text()), object_info)
    status, body = queue_prompt(comfy_host, prompt, "wan-check")
    assert status == 400, body
    errors = body["node_errors"]
    failing = {prompt[nid]["class_type"] for nid in errors}
    assert failing <= {"MotionStreamModelLoader", "CLIPLoader", "VAELoader", "CLIPVisionLoader", "LoadImage"}, errors
    for nid, err in errors.items():
        for e in err["errors"]:
            assert e["type"] in ("value_not_in_list", "custom_validation_failed"), e


def test_self_forcing_workflow_only_misses_its_model_files(comfy_host, object_info):
    path = next(p for p in WORKFLOWS if p.name == "motionstream_live_self_forcing.json")
    prompt = workflow_to_prompt(json.loads(path.read_text()), object_info)
    status, body = queue_prompt(comfy_host, prompt, "self-forcing-check")
    assert status == 400, body
    failing = {prompt[nid]["class_type"] for nid in body["node_errors"]}
    assert failing <= {"MotionStreamCausalModelLoader", "CLIPLoader", "MotionStreamDecoderLoader"}, body["node_errors"]
    assert "MotionStreamCausalModelLoader" in failing


def test_self_forcing_workflow_streams_with_tiny_stand_ins(comfy_host, object_info):
    """The example as it is, but with the tiny Self-Forcing-layout file, a random taew2_1-layout decoder and
    a text-to-random-embedding CLIP standing in for the downloads (the umT5 encoder is several GB): the prompt
    is the Generate node's own, read through the loader's `clip`."""
    path = next(p for p in WORKFLOWS if p.name == "motionstream_live_self_forcing.json")
    prompt = workflow_to_prompt(json.loads(path.read_text()), object_info)
    for nid, node in list(prompt.items()):
        kind, inputs = node["class_type"], node["inputs"]
        if kind == "MotionStreamCausalModelLoader":
            inputs.update(checkpoint=comfy_host.models["causal"], width=64, height=48)
        elif kind == "MotionStreamDecoderLoader":
            inputs["decoder"] = comfy_host.models["taew2_1"]
        elif kind == "CLIPLoader":
            prompt[nid] = {"class_type": "TestTextCLIP", "inputs": {"length": 8, "width": 32}}
        elif kind == "MotionStreamGenerate":
            assert inputs["prompt"].strip() and "positive" not in inputs, "the example's prompt is Generate's own"
            inputs["frames"] = 21  # the example streams until Stop (frames 0)
        elif kind == "SaveVideo":
            inputs["filename_prefix"] = f"video/{path.stem}"
    ws = WSClient(comfy_host)
    try:
        status, body = queue_prompt(comfy_host, prompt, ws.client_id)
        assert status == 200, body
        end = ws.wait_prompt_end(body["prompt_id"], timeout=240)
        assert end["type"] == "execution_success", json.dumps(end)[:2000]
        assert [e["chunk"] for e in ws.events("motionstream.frames")] == [0, 1]
        assert sum(len(e["frames"]) for e in ws.events("motionstream.frames")) == 21
    finally:
        ws.close()
    assert list((comfy_host.base_dir / "output" / "video").glob(f"{path.stem}*"))

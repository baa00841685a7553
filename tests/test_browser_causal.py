"""A causal Wan model (Self-Forcing layout) in real Chromium against the real ComfyUI host.

The example workflow "live stream with Self-Forcing" (workflows/needs_models/) with tiny stand-ins for its
downloads (the tiny Self-Forcing-layout file, a random taew2_1-layout decoder, random CONDITIONING in place
of the umT5 text encoder): on load the editor says plainly that the model takes no drags; queued from the
browser, its frames stream into the Generate node's canvas. Skips, saying why, like test_browser_widget.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_browser_live import _load
from test_browser_widget import ART, ED, _run, host, page  # noqa: F401  (fixtures are used by name)

pytestmark = pytest.mark.browser

WORKFLOW = Path(__file__).resolve().parents[1] / "workflows" / "needs_models" / "motionstream_live_self_forcing.json"


def _with_stand_ins(wf: dict, models: dict) -> dict:
    wf = json.loads(json.dumps(wf))
    clip = next(n for n in wf["nodes"] if n["type"] == "CLIPLoader")
    wf["nodes"].remove(clip)
    wf["links"] = [link for link in wf["links"] if link[1] != clip["id"]]
    for n in wf["nodes"]:
        if n["type"] == "MotionStreamCausalModelLoader":
            n["widgets_values"][:5] = [models["causal"], "self-forcing", "none", 64, 48]
        elif n["type"] == "MotionStreamDecoderLoader":
            n["widgets_values"][0] = models["taew2_1"]
        elif n["type"] == "CLIPTextEncode":
            n.update(type="TestRandomConditioning", inputs=[], widgets_values=[0, "fixed", 8, 32])
            n["properties"]["Node name for S&R"] = "TestRandomConditioning"
        elif n["type"] == "MotionStreamGenerate":
            n["widgets_values"][0] = 21  # the example streams until Stop (frames 0)
    return wf


def test_causal_model_says_no_drags_and_streams_into_the_canvas(page, request):
    models = request.getfixturevalue("comfy_host").models
    _load(page, _with_stand_ins(json.loads(WORKFLOW.read_text()), models))
    status = page.evaluate(f"() => {ED}.dom.status.textContent")
    assert "This model takes no drags" in status, status
    page.screenshot(path=str(ART / "causal_loaded.png"))
    result = _run(page)
    assert result["count"] == 21, result
    assert page.evaluate(f"() => {ED}.stream.frames.contiguous") == 21
    page.screenshot(path=str(ART / "causal_streamed.png"))

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


def _with_stand_ins(wf: dict, models: dict, frames: int = 21) -> dict:
    """The example with tiny stand-ins: its CLIPLoader becomes a test CLIP that turns each text into its own
    random embedding (still wired to the loader's `clip`, so the Generate node's prompt is read live)."""
    wf = json.loads(json.dumps(wf))
    for n in wf["nodes"]:
        if n["type"] == "MotionStreamCausalModelLoader":
            n["widgets_values"][:5] = [models["causal"], "self-forcing", "none", 64, 48]
        elif n["type"] == "MotionStreamDecoderLoader":
            n["widgets_values"][0] = models["taew2_1"]
        elif n["type"] == "CLIPLoader":
            n.update(type="TestTextCLIP", widgets_values=[8, 32])
            n["properties"]["Node name for S&R"] = "TestTextCLIP"
        elif n["type"] == "MotionStreamGenerate":
            n["widgets_values"][0] = frames  # the example streams until Stop (frames 0)
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


def test_typing_a_prompt_while_it_streams_switches_it_and_the_run_says_how_it_ended(page, request):
    """Text-to-video with the text encoder on the loader's `clip` (the example's wiring): before the run the
    canvas says no start image is needed; while it streams, the overlay and status say it takes no drags and
    a press steers nothing; typing in the Generate node's prompt posts the new prompt once typing pauses (no
    page error), and it is applied; after Stop the status says the run stopped and kept the switch, and the
    player ends on the run's last frame."""
    models = request.getfixturevalue("comfy_host").models
    _load(page, _with_stand_ins(json.loads(WORKFLOW.read_text()), models, frames=0))
    before = page.evaluate(f"() => {ED}.messageScene().message || ''")
    assert before.startswith("This model makes video from the prompt: no start image is needed"), before
    errors_before = len(page.errors)
    replies, sent = [], []
    page.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/motionstream/prompt") else None)
    page.on("response", lambda r: replies.append((r.status, r.json())) if r.url.endswith("/motionstream/prompt") else None)
    original = page.evaluate("() => app.graph.nodes.find(n => n.type === 'MotionStreamGenerate')"
                             ".widgets.find(w => w.name === 'prompt').value")

    page.evaluate(f"() => {{ const n = {ED}.node; const c = app.canvas; c.ds.scale = 1; c.ds.offset = [-n.pos[0] + 60, -n.pos[1] + 60];"
                  f" c.setDirty(true, true); }}")
    page.wait_for_timeout(500)
    canvas_h = page.evaluate(f"() => {ED}.dom.canvas.getBoundingClientRect().height")

    def during(pg):
        assert pg.evaluate(f"() => {ED}.dom.canvas.getBoundingClientRect().height") == canvas_h, (
            "the canvas shrank when the live controls appeared")
        live = pg.evaluate(f"() => [{ED}.hudLines(), {ED}.dom.status.textContent]")
        assert live == [["● live (this model takes no drags)"],
                        "Generating: this model takes no drags (text-to-video); Pause and Stop work as usual"], live
        box = pg.evaluate(f"() => {{ const r = {ED}.dom.canvas.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }}")
        pg.mouse.move(*box)
        pg.mouse.down()
        pg.mouse.move(box[0] + 20, box[1] + 10, steps=5)
        pg.mouse.up()
        assert pg.evaluate(f"() => [{ED}.steerSent, {ED}.dom.status.textContent]") == [
            0, "Not steered: this model takes no drags (text-to-video); Pause and Stop work as usual"]
        area = pg.locator("textarea.comfy-multiline-input[placeholder=prompt]")
        area.click()
        pg.keyboard.press("End")
        pg.keyboard.type(" at night", delay=40)
        for _ in range(100):
            if replies:
                break
            pg.wait_for_timeout(100)
        assert replies, f"no POST /motionstream/prompt was sent after typing (page errors: {page.errors[errors_before:]})"
        status, body = replies[0]
        assert status == 200 and body["ok"] is True, replies
        pg.wait_for_function(f"(c) => {ED}.stream.chunk > c", arg=body["chunk"], timeout=120_000)
        pg.click("[data-testid=ms-stop]")

    result = _run(page, during=during)
    assert page.errors[errors_before:] == [], page.errors[errors_before:]
    assert sent == [{"session": sent[0]["session"], "prompt": original + " at night",
                     "client_id": sent[0]["client_id"]}], sent
    assert result["status"].startswith("Run stopped · 1 prompt switch kept for replay · saved to output/"), result
    prompts = json.loads(page.evaluate(f"() => {ED}.getValue()"))["prompts"]
    assert [p["text"] for p in prompts] == [original, original + " at night"] and prompts[1]["chunk"] > 0, prompts
    page.wait_for_function(f"() => {ED}.stream.player.state === 'ended'", timeout=60_000)
    assert page.evaluate(f"() => [{ED}.stream.frame, {ED}.stream.count]") == [result["count"] - 1, result["count"]]
    page.screenshot(path=str(ART / "causal_prompt_switched.png"))

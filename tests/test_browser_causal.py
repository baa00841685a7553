"""A causal Wan model (Self-Forcing layout) in real Chromium against the real ComfyUI host.

The example workflow "live stream with Self-Forcing" (workflows/needs_models/) with tiny stand-ins for its
downloads (the tiny Self-Forcing-layout file, a random taew2_1-layout decoder, a test CLIP that turns each
text into its own random embedding in place of the umT5 text encoder): on load the editor says which drag
mode runs (warp) and that a drag needs a start image; queued from the browser, its frames stream into the
Generate node's canvas; a prompt typed during the run switches it; with a start image, a region selected
on it and dragged live moves it, and the run replays exactly. Skips, saying why, like test_browser_widget.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_browser_live import _load
from test_browser_widget import ART, ED, _drag, _frames, _run, host, page  # noqa: F401  (fixtures are used by name)

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


def test_causal_model_says_its_drag_mode_and_streams_into_the_canvas(page, request):
    models = request.getfixturevalue("comfy_host").models
    _load(page, _with_stand_ins(json.loads(WORKFLOW.read_text()), models))
    status = page.evaluate(f"() => {ED}.dom.status.textContent")
    assert status.startswith("Drag mode warp: this causal Wan model has no track head") and status.endswith(
        "No start image: a region drag needs a start image: connect one to Generate's image"), status
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
    assert before == ("This model makes video from the prompt: no start image is needed to run\n(a region drag needs "
                      "one: connect it to Generate's image)"), before
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
        assert live == [["● live (no drags without a start image)"],
                        "Generating: no drags without a start image (warp mode cuts and drags its regions): connect "
                        "one to Generate's image for the next run"], live
        box = pg.evaluate(f"() => {{ const r = {ED}.dom.canvas.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }}")
        pg.mouse.move(*box)
        pg.mouse.down()
        pg.mouse.move(box[0] + 20, box[1] + 10, steps=5)
        pg.mouse.up()
        assert pg.evaluate(f"() => [{ED}.steerSent, {ED}.dom.status.textContent]") == [
            0, "Not steered: no drags without a start image (warp mode cuts and drags its regions): connect one to "
               "Generate's image for the next run"]
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


FRAMES = 93  # long enough for a drag while it streams on a CPU


def test_a_region_dragged_live_on_a_causal_model_streams_and_replays(page, request):
    """Warp mode with a start image (the host's 64x64 test picture, a red square at 20..44): the Region tool
    boxes the square before the run; during it, a press inside the box starts a live point that drags the
    region (its polygon posted with it); frames stream; the record keeps the region and re-queueing replays
    the run frame for frame."""
    host = request.getfixturevalue("comfy_host")
    wf = _with_stand_ins(json.loads(WORKFLOW.read_text()), host.models, frames=FRAMES)
    gen = next(n for n in wf["nodes"] if n["type"] == "MotionStreamGenerate")
    slot = next(i for i, inp in enumerate(gen["inputs"]) if inp["name"] == "image")
    new_id, link_id = max(n["id"] for n in wf["nodes"]) + 1, max(link[0] for link in wf["links"]) + 1
    wf["nodes"].append({"id": new_id, "type": "LoadImage", "pos": [gen["pos"][0] - 340, gen["pos"][1] + 500],
                        "size": [300, 330], "flags": {}, "order": 0, "mode": 0, "inputs": [],
                        "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [link_id]},
                                    {"name": "MASK", "type": "MASK", "links": None}],
                        "properties": {}, "widgets_values": [host.image, "image"]})
    wf["links"].append([link_id, new_id, 0, gen["id"], slot, "IMAGE"])
    gen["inputs"][slot]["link"] = link_id
    _load(page, wf)
    status = page.evaluate(f"() => {ED}.dom.status.textContent")
    assert status.startswith("Drag mode warp: this causal Wan model has no track head") and "No start image" not in status
    page.evaluate(f"() => {{ const n = {ED}.node; n.setSize([Math.max(n.size[0], 620), Math.max(n.size[1], 820)]);"
                  f" const c = app.canvas; c.ds.scale = 1; c.ds.offset = [-n.pos[0] + 60, -n.pos[1] + 60]; c.setDirty(true, true); }}")
    page.wait_for_function(f"() => {ED}.startImage && {ED}.startImage.naturalWidth === 64", timeout=30_000)
    page.wait_for_timeout(500)
    to_client = lambda x, y: page.evaluate(  # noqa: E731  (image pixels -> page pixels, through the editor)
        f"([x, y]) => {{ const ed = {ED}; const {{ bounds, rect, k }} = ed.layout(); const {{ W, H }} = ed.size();"
        f" return [bounds.left + (rect.x + x * rect.w / W) / k, bounds.top + (rect.y + y * rect.h / H) / k]; }}", [x, y])
    page.click("[data-testid=ms-tool-region]")
    page.keyboard.down("Shift")
    _drag(page, to_client(18, 18), to_client(46, 46), steps=8)
    page.keyboard.up("Shift")
    box = page.evaluate(f"() => {ED}.pendingRegion")
    assert box and len(box) == 4 and abs(box[0][0] - 18) <= 1 and abs(box[2][1] - 46) <= 1, box
    posts = []
    page.on("request", lambda r: posts.append(r.post_data_json) if r.url.endswith("/motionstream/steer") else None)

    def during(pg):
        assert pg.evaluate(f"() => {ED}.hudLines()") == ["● live: drag points to steer"]
        _drag(pg, to_client(32, 32), to_client(44, 40), steps=8)

    first = _run(page, during=during)
    assert first["count"] == FRAMES and first["ok"] == first["sent"] >= 1, first
    sent = [p for body in posts for p in body["points"] if "region" in p]
    assert sent and all(p["region"] == box for p in sent), posts[:2]
    recorded = json.loads(page.evaluate(f"() => {ED}.getValue()"))["tracks"]["tracks"]
    assert [t["kind"] for t in recorded] == ["live"] and recorded[0]["region"] == box, recorded
    frames = _frames(page)
    again = _run(page)
    assert again["count"] == FRAMES and "finished" in again["status"], again
    assert _frames(page) == frames, "re-queueing the recorded region drag did not replay the run"
    page.screenshot(path=str(ART / "causal_region_replayed.png"))

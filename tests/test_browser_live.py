"""The live node as a new user meets it, in real Chromium against the real ComfyUI host.

One host and one page for the module; the tests run in order:
  a. a new Generate node: the toolbar is one row at the default node width, the seed is "fixed";
  b. with Example Clip upstream there is a picture to draw on before the first run (exactly the
     clip's first frame);
  c. every workflow in workflows/ (outside needs_models/) opens with no node under the menu bar and
     runs from the browser; where tracks come from the graph (camera, motion transfer) they are drawn
     read-only in the editor and named in the status; the duration box keeps the node's frame count;
     the speed shown after the run is the run's;
  d. reloading the page while an endless run streams joins it: frames from the current one on, and
     a drag steers it;
  e. Load Image -> ImageScale (crop) -> Generate: before the run the editor says the image is changed
     upstream; after it, it shows the exact cropped image the model got, undistorted, and a click on
     a feature lands on that feature's pixel in that image;
  f. a refused prompt and a node error replace the previous run's status.
Screenshots go to tests/artifacts/live_*.png. Skips, saying why, like test_browser_widget.py.
"""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from test_browser_widget import (  # noqa: F401  (fixtures are used by name)
    ART, ED, IMAGE_NAME, IMG_H, IMG_W, _close_dialogs, _open, _red_centroid_client, _requirements, host, page,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))  # needs_models/ is a subfolder: not in this list
CROP_W, CROP_H = 128, 96  # ImageScale(crop="center") of the 128x128 test image: rows 16..111 are kept


def _shot(pg, name):
    pg.screenshot(path=str(ART / f"live_{name}.png"))


def _load(pg, wf: dict):
    pg.evaluate("() => app.graph.clear()")
    pg.evaluate("(wf) => app.loadGraphData(wf)", wf)
    pg.wait_for_function(f"() => {ED} && {ED}.node.graph === app.graph", timeout=30_000)
    pg.evaluate("() => { const eds = window.MotionStream.editors; for (const e of [...eds]) if (e.node.graph !== app.graph) eds.delete(e); }")
    pg.wait_for_timeout(500)


def _hook_exec(pg):
    pg.evaluate("""() => { const api = window.comfyAPI.api.api; window.__msLive = { done: false, error: null, gen: [] };
        if (!window.__msLiveHooked) { window.__msLiveHooked = true;
            api.addEventListener('execution_success', () => { window.__msLive.done = true; });
            api.addEventListener('execution_error', (e) => { window.__msLive.done = true;
                window.__msLive.error = e.detail?.exception_message || 'error'; });
            api.addEventListener('motionstream.done', (e) => window.__msLive.gen.push(e.detail?.gen_fps)); } }""")


def _queue_and_wait(pg, timeout=300):
    _hook_exec(pg)
    pg.evaluate("() => app.queuePrompt(0, 1)")
    pg.wait_for_function("() => window.__msLive.done", timeout=timeout * 1000)
    pg.wait_for_function(f"() => !{ED}.isLive()", timeout=60_000)
    pg.wait_for_timeout(300)
    return pg.evaluate("() => window.__msLive")


def _widget(pg, node_type, name, value=None):
    """Read (or set) a widget of the first node of a type."""
    return pg.evaluate("""([t, name, value]) => { const n = app.graph.nodes.find(n => n.type === t);
        const w = n.widgets.find(w => w.name === name); if (value !== null) { w.value = value; w.callback?.(value); }
        return w.value; }""", [node_type, name, value])


@pytest.fixture(scope="module")
def shared():
    return {}


def test_a_a_new_node_fits_its_toolbar_and_keeps_its_seed(page):
    page.evaluate("() => app.graph.clear()")
    info = page.evaluate("""async () => { const n = LiteGraph.createNode('MotionStreamGenerate'); app.graph.add(n); n.pos = [200, 200];
        const c = app.canvas; c.ds.scale = 1; c.ds.offset = [0, 0]; c.setDirty(true, true);
        await new Promise(r => setTimeout(r, 600));
        const ed = n.motionstreamEditor; const row = ed.dom.root.children[0]; const kids = [...row.children];
        return { width: n.size[0], right: Math.max(...kids.map(k => k.getBoundingClientRect().right)) - row.getBoundingClientRect().right,
                 rowH: row.getBoundingClientRect().height, control: n.widgets.find(w => w.name === 'control_after_generate')?.value }; }""")
    _shot(page, "a_new_node")
    # one row of 22 px buttons; a wrapped toolbar is two rows (47 px)
    assert info["rowH"] < 30 and info["right"] <= 0, f"the toolbar wraps at the default node width {info['width']}: {info}"
    assert info["control"] == "fixed", "a new node's seed must not randomize: re-queueing replays the live run"


def test_b_demo_photo_and_example_clip_give_a_picture_before_the_first_run(page, host):
    import io

    import numpy as np
    from PIL import Image

    from motionstream_core.demo import DEMO_ASSETS
    from motionstream_core.synthetic import SyntheticClipConfig, make_clip

    def shown():
        page.wait_for_function(f"() => {ED}.startImage && {ED}.startImage.naturalWidth > 0", timeout=30_000)
        return page.evaluate(f"() => [{ED}.startImage.naturalWidth, {ED}.startImage.naturalHeight, "
                             f"{ED}.startSource.kind, {ED}.messageScene().message || '', {ED}.state.tracks.length]")

    # the demo workflow: the shipped photo, with the sample's drag and pins in the editor
    _load(page, json.loads((ROOT / "workflows" / "motionstream_demo_drag.json").read_text()))
    got = shown()
    assert got[:4] == [128, 128, "demo", ""] and got[4] == 11, got
    pixels = page.evaluate(f"""() => {{ const im = {ED}.startImage; const c = document.createElement('canvas');
        c.width = im.naturalWidth; c.height = im.naturalHeight; const x = c.getContext('2d'); x.drawImage(im, 0, 0);
        return Array.from(x.getImageData(0, 0, c.width, c.height).data); }}""")
    want = np.asarray(Image.open(DEMO_ASSETS["image"]).convert("RGBA"))
    np.testing.assert_array_equal(np.asarray(pixels, dtype=np.uint8).reshape(want.shape), want)
    _shot(page, "b_demo_photo_before_run")
    # the camera workflow: the example clip's first frame, exactly (PNG: lossless)
    _load(page, json.loads((ROOT / "workflows" / "motionstream_camera_control.json").read_text()))
    got = shown()
    assert got[:4] == [128, 128, "example", ""], got
    params = _widget_values(page, "MotionStreamExampleClip", ["seed", "width", "height", "num_frames", "num_points"])
    png = _post(host["url"] + "/motionstream/example_image", params)
    clip = make_clip(params["seed"], SyntheticClipConfig(height=params["height"], width=params["width"],
                                                         num_frames=params["num_frames"], fps=16,
                                                         num_points=params["num_points"]))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), clip.frames[0])
    _shot(page, "b_example_clip_before_run")


def _widget_values(pg, node_type, names):
    return pg.evaluate("""([t, names]) => { const n = app.graph.nodes.find(n => n.type === t);
        return Object.fromEntries(names.map(k => [k, n.widgets.find(w => w.name === k).value])); }""", [node_type, names])


def _post(url, body) -> bytes:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def _connected_pixels(pg) -> tuple[int, int]:
    """(connected-track markers drawn where the editor says they are, connected tracks) in the canvas now: a
    light grey pixel (palette.js CONNECTED_COLOR #c8c8c8 at 90% over the picture) within 6 CSS px."""
    return tuple(pg.evaluate("""(ed) => { const c = ed.dom.canvas; const ctx = c.getContext('2d', { willReadFrequently: true });
        const d = ctx.getImageData(0, 0, c.width, c.height).data; const { rect } = ed.layout(); const { W, H } = ed.size();
        const list = ed.live.scene().connected; const f = ed.currentFrame(); let hits = 0;
        const k = c.width / c.getBoundingClientRect().width;
        for (const t of list) { const p = t.points[Math.min(f, t.points.length - 1)];
            const vx = rect.x + p[0] * rect.w / W, vy = rect.y + p[1] * rect.h / H; let found = false;
            for (let dy = -6 * k; dy <= 6 * k && !found; dy++) for (let dx = -6 * k; dx <= 6 * k && !found; dx++) {
                const x = Math.round(vx + dx), y = Math.round(vy + dy); if (x < 0 || y < 0 || x >= c.width || y >= c.height) continue;
                const i = 4 * (y * c.width + x); found = d[i] > 150 && Math.abs(d[i] - d[i + 1]) < 12 && Math.abs(d[i + 1] - d[i + 2]) < 12; }
            hits += found; }
        return [hits, list.length]; }""", pg.evaluate_handle(ED)))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_c_every_workflow_opens_clear_of_the_menu_and_runs(page, path):
    wf = json.loads(path.read_text())
    _load(page, wf)
    cover = page.evaluate("""() => Math.max(0, ...[...document.querySelectorAll('.comfyui-body-top, .comfyui-menu, .workflow-tabs-container, .top-menubar')]
        .filter(e => e.getBoundingClientRect().width > 0).map(e => e.getBoundingClientRect().bottom))""")
    tops = page.evaluate("""() => { const c = app.canvas; const r = c.canvas.getBoundingClientRect();
        return app.graph.nodes.map(n => [n.title, r.top + (n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT + c.ds.offset[1]) * c.ds.scale,
                                          r.left + (n.pos[0] + c.ds.offset[0]) * c.ds.scale]); }""")
    _shot(page, f"c_{path.stem}_opened")
    hidden = [t for t in tops if t[1] < cover or t[2] < 0]
    assert not hidden, f"{path.name}: nodes under the menu bar (bottom {cover:.0f} px) or off the left edge: {hidden}"
    frames = _widget(page, "MotionStreamGenerate", "frames")
    ex = _queue_and_wait(page)
    assert ex["error"] is None, f"{path.name}: {ex['error']}"
    st = page.evaluate(f"""() => ({{ status: {ED}.dom.status.textContent, duration: {ED}.dom.duration.value,
        stats: {ED}.dom.stats.textContent, gen: {ED}.stream.genFps, count: {ED}.stream.count }})""")
    _shot(page, f"c_{path.stem}_ran")
    assert "finished" in st["status"] and st["count"] > 0, st
    assert int(st["duration"]) == frames, f"the editor's duration {st['duration']} differs from the node's frames {frames}"
    assert ex["gen"] and abs(st["gen"] - ex["gen"][-1]) < 1e-6, (st, ex["gen"])
    assert f"gen {ex['gen'][-1]:.1f} fps" in st["stats"], st["stats"]
    n_connected = page.evaluate(f"() => {ED}.live.scene().connected.length")
    has_input = page.evaluate("() => { const n = app.graph.nodes.find(n => n.type === 'MotionStreamGenerate'); const i = n.inputs.find(i => i.name === 'tracks'); return !!(i && i.link != null); }")
    if has_input:
        assert n_connected > 0, f"{path.name}: tracks from the graph are not drawn"
        assert re.search(rf"{n_connected} connected tracks? from the graph", st["status"]), st["status"]
        page.click("[data-testid=ms-view]")  # edit view: the start image with the tracks on it
        page.evaluate(f"() => {ED}.setFrame(0)")
        page.wait_for_timeout(300)
        hits, total = _connected_pixels(page)
        _shot(page, f"c_{path.stem}_connected")
        assert hits >= 0.9 * total, f"{path.name}: {hits} of {total} connected tracks have a marker where they are"


def test_d_reloading_mid_run_joins_the_stream_and_steers_it(page, host):
    wf = json.loads((ROOT / "workflows" / "motionstream_demo_drag.json").read_text())
    _load(page, wf)
    _widget(page, "MotionStreamGenerate", "frames", 0)  # endless
    page.evaluate("() => app.queuePrompt(0, 1)")
    page.wait_for_function(f"() => {ED}.isLive() && {ED}.stream.count > 24", timeout=120_000)
    # a second tab (its own client id) gets no events of this run: it says the node runs elsewhere
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open(other, host["url"])
        other.evaluate("(wf) => { app.graph.clear(); return app.loadGraphData(wf); }", wf)
        other.wait_for_function(f"() => {ED} && {ED}.node.graph === app.graph", timeout=30_000)
        other.wait_for_function(f"() => /running for another tab/.test({ED}.dom.status.textContent)", timeout=30_000)
        assert not other.evaluate(f"() => {ED}.isLive()")
    finally:
        other.close()
    page.reload()
    _open(page, host["url"])
    page.wait_for_function(f"() => {ED} && {ED}.isLive() && {ED}.stream.hasFrames", timeout=60_000)
    page.evaluate(f"() => {{ const n = {ED}.node; const c = app.canvas; c.ds.scale = 1; c.ds.offset = [-n.pos[0] + 60, -n.pos[1] + 60];"
                  f" n.setSize([Math.max(n.size[0], 620), Math.max(n.size[1], 820)]); c.setDirty(true, true); }}")
    page.wait_for_timeout(800)
    st = page.evaluate(f"() => ({{ first: {ED}.stream.first, count: {ED}.stream.count, msg: {ED}.messageScene().message || '', status: {ED}.dom.status.textContent }})")
    _shot(page, "d_joined")
    assert st["first"] > 0 and st["count"] > st["first"] and not st["msg"], st
    assert "Joined the run" in st["status"], st
    b = page.evaluate(f"() => {{ const r = {ED}.dom.canvas.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }}")
    page.mouse.move(*b)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(b[0] + 3 * i, b[1] + 2 * i)
        page.wait_for_timeout(30)
    page.mouse.up()
    page.wait_for_function(f"() => {ED}.steerOk >= 1", timeout=10_000)
    sent, ok = page.evaluate(f"() => [{ED}.steerSent, {ED}.steerOk]")
    assert ok == sent, f"{sent} steer posts from the joined page, {ok} accepted"
    page.click("[data-testid=ms-stop]")
    page.wait_for_function(f"() => !{ED}.isLive()", timeout=60_000)
    assert "Run stopped" in page.evaluate(f"() => {ED}.dom.status.textContent")
    _widget(page, "MotionStreamGenerate", "frames", 49)


def _crop_graph(pg, width, height):
    """The drag example with Load Image (the test image) -> ImageScale(crop) in place of Example Clip's image."""
    pg.evaluate("""([name, w, h]) => { const g = app.graph; const gen = g.nodes.find(n => n.type === 'MotionStreamGenerate');
        const load = LiteGraph.createNode('LoadImage'); g.add(load); load.pos = [gen.pos[0] - 700, gen.pos[1] + 300];
        load.widgets.find(x => x.name === 'image').value = name;
        const sc = LiteGraph.createNode('ImageScale'); g.add(sc); sc.pos = [gen.pos[0] - 350, gen.pos[1] + 300];
        for (const [k, v] of [['upscale_method', 'bilinear'], ['width', w], ['height', h], ['crop', 'center']]) sc.widgets.find(x => x.name === k).value = v;
        load.connect(0, sc, 0); sc.connect(0, gen, gen.inputs.findIndex(i => i.name === 'image')); g.setDirtyCanvas(true, true); }""",
                [IMAGE_NAME, width, height])
    pg.evaluate(f"""() => {{ const n = {ED}.node; n.setSize([Math.max(n.size[0], 620), Math.max(n.size[1], 820)]);
        const c = app.canvas; c.ds.scale = 1; c.ds.offset = [-n.pos[0] + 60, -n.pos[1] + 60]; c.setDirty(true, true); }}""")
    pg.wait_for_timeout(800)


def test_e_the_editor_shows_and_maps_the_image_the_model_gets(page):
    wf = json.loads((ROOT / "workflows" / "motionstream_demo_drag.json").read_text())
    _load(page, wf)
    _crop_graph(page, CROP_W, CROP_H)
    page.wait_for_function(f"() => {ED}.startImage && {ED}.startImage.naturalWidth === {IMG_W}", timeout=20_000)
    hud = page.evaluate(f"() => {ED}.hudLines().join(' | ')")
    assert "'Upscale Image' changes this image" in hud, hud
    if page.evaluate(f"() => {ED}.state.tracks.length"):
        page.click("[data-testid=ms-clear]")
    _widget(page, "MotionStreamGenerate", "frames", 9)
    ex = _queue_and_wait(page)
    assert ex["error"] is None, ex
    page.click("[data-testid=ms-view]")
    page.wait_for_function(f"() => {ED}.view === 'edit' && {ED}.picture.exact() && {ED}.picture.exact().image", timeout=20_000)
    page.wait_for_timeout(400)
    _shot(page, "e_exact_image")
    st = page.evaluate(f"() => [{ED}.state.width, {ED}.state.height]")
    assert st == [CROP_W, CROP_H], f"the editor's pixel space {st} is not the image the model got"
    # undistorted: the blue background fills a 128:96 box
    box = page.evaluate("""(ed) => { const c = ed.dom.canvas; const d = c.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, c.width, c.height).data;
        let x0 = 1e9, y0 = 1e9, x1 = -1, y1 = -1;
        for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) { const i = 4 * (y * c.width + x);
            if (Math.abs(d[i] - 40) < 30 && Math.abs(d[i + 1] - 90) < 30 && Math.abs(d[i + 2] - 160) < 30) {
                x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); } }
        return [x1 - x0 + 1, y1 - y0 + 1]; }""", page.evaluate_handle(ED))
    assert abs(box[0] / box[1] - CROP_W / CROP_H) < 0.03, f"the start image is drawn {box[0]}x{box[1]}: stretched"
    c = _red_centroid_client(page)
    assert c is not None, "the red square is not in the picture"
    page.mouse.click(c[0], c[1])
    t = json.loads(page.evaluate(f"() => {ED}.getValue()"))["tracks"]["tracks"][-1]
    x, y = t["points"][0]
    # the red square spans x 80..112, y 64..96 of the 128x128 image; the crop keeps rows 16..111
    assert abs(x - 96) <= 1.0 and abs(y - (80 - 16)) <= 1.0, f"clicked the red square's centre, stored ({x}, {y})"


def test_f_refusals_and_node_errors_replace_the_last_runs_status(page):
    assert "finished" in page.evaluate(f"() => {ED}.dom.status.textContent")
    page.evaluate("() => { const n = app.graph.nodes.find(n => n.type === 'MotionStreamModelLoader'); n.widgets[0].value = 'no-such-model.safetensors'; }")
    page.evaluate("() => app.queuePrompt(0, 1)")
    page.wait_for_function(f"() => {ED}.dom.status.textContent.startsWith('Not queued')", timeout=30_000)
    status = page.evaluate(f"() => [{ED}.dom.status.textContent, {ED}.dom.status.className]")
    _close_dialogs(page)
    assert "no-such-model" in status[0] and "ms-error" in status[1], status
    page.evaluate("() => { const n = app.graph.nodes.find(n => n.type === 'MotionStreamModelLoader'); n.widgets[0].value = 'MotionStream demo (built-in)'; }")
    _widget(page, "ImageScale", "width", 120)  # not a multiple of 16: the Generate node refuses it
    ex = _queue_and_wait(page)
    _close_dialogs(page)
    status = page.evaluate(f"() => {ED}.dom.status.textContent")
    _shot(page, "f_node_error")
    assert ex["error"] and status.startswith("Run failed") and "multiples of 16" in status, (ex, status)


def test_g_a_long_video_keeps_the_workflow_small_and_the_editor_says_what_to_do(page):
    """frames 100000 on the demo workflow: the saved editor state stays small (tracks are held, not
    resampled to every frame) and the workflow is still saved; a new node at the default width shows a
    typical end-of-run status in full; with nothing drawn the canvas says how to draw; an edit's note
    ("Cleared all tracks") goes with the next edit."""
    _load(page, json.loads((ROOT / "workflows" / "motionstream_demo_drag.json").read_text()))
    page.wait_for_function(f"() => {ED}.startImage && {ED}.startImage.naturalWidth > 0", timeout=30_000)
    _widget(page, "MotionStreamGenerate", "frames", 100000)
    page.wait_for_function(f"() => {ED}.state.numFrames === 100000", timeout=10_000)
    value = page.evaluate(f"() => {ED}.getValue()")
    doc = json.loads(value)["tracks"]
    assert doc["num_frames"] == 100000 and len(doc["tracks"]) == 11, doc["num_frames"]
    assert len(value) < 20_000, f"the editor state of 11 tracks at 100000 frames is {len(value)} characters"
    saved = page.evaluate("""async () => { const wf = app.graph.serialize(); const text = JSON.stringify(wf);
        localStorage.setItem('motionstream-test-workflow', text); const back = localStorage.getItem('motionstream-test-workflow');
        localStorage.removeItem('motionstream-test-workflow'); return [text.length, back === text]; }""")
    assert saved[1] and saved[0] < 100_000, saved
    _widget(page, "MotionStreamGenerate", "frames", 49)
    # nothing drawn: the canvas says how to draw; "Cleared" goes with the next edit
    page.click("[data-testid=ms-clear]")
    assert page.evaluate(f"() => {ED}.dom.status.textContent").startswith("Cleared all tracks")
    assert page.evaluate(f"() => {ED}.hudLines()")[1].startswith("drag on the picture: a motion"), page.evaluate(f"() => {ED}.hudLines()")
    r = page.evaluate(f"() => {{ const b = {ED}.dom.canvas.getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; }}")
    page.mouse.click(*r)
    page.wait_for_function(f"() => {ED}.state.tracks.length === 1", timeout=10_000)
    assert page.evaluate(f"() => {ED}.dom.status.textContent") == "", "the 'Cleared' note outlived the next edit"
    assert len(page.evaluate(f"() => {ED}.hudLines()")) == 1, "the drawing hint stays once something is drawn"
    # a new node at the default width: a typical end-of-run message is shown in full
    page.evaluate("() => app.graph.clear()")
    fits = page.evaluate("""async () => { const n = LiteGraph.createNode('MotionStreamGenerate'); app.graph.add(n); n.pos = [200, 200];
        const c = app.canvas; c.ds.scale = 1; c.ds.offset = [0, 0]; c.setDirty(true, true);
        await new Promise(r => setTimeout(r, 600));
        const ed = n.motionstreamEditor; const s = ed.dom.status;
        ed.status('Run stopped · 1 prompt switch kept for replay · saved to output/video/MotionStream_00012_.mp4 (its tracks: MotionStream_00012_.tracks.json)');
        await new Promise(r => setTimeout(r, 100));
        return { width: n.size[0], scroll: s.scrollHeight, client: s.clientHeight, w: s.scrollWidth, cw: s.clientWidth }; }""")
    _shot(page, "g_status_at_default_width")
    assert fits["scroll"] <= fits["client"] and fits["w"] <= fits["cw"], f"the status is cut at node width {fits}"

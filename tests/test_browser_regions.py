"""Region drags in the editor, in real Chromium against the real ComfyUI host (the drag example with this
test's picture): the Region tool selects a box around the red square, a drag inside it makes a track that
drags that region, a second drag on it makes the pair that rotates and scales it; queued, a press inside
the region during the run starts a live point that posts the region with it; the run's record keeps every
region, and re-queueing replays the run exactly. Skips, saying why, like test_browser_widget.py.
"""
from __future__ import annotations

import pytest

from test_browser_widget import (  # noqa: F401  (fixtures are used by name)
    ART, ED, RED_RECT, _drag, _frames, _image_to_client, _load_example, _run, _scale, _state, host, page,
)

pytestmark = pytest.mark.browser


def _near(poly, want, tol):
    return len(poly) == len(want) and all(abs(a - b) <= tol for p, q in zip(poly, want) for a, b in zip(p, q))


def test_a_region_is_selected_dragged_live_and_replayed(page, host):
    _load_example(page, host)
    if page.evaluate(f"() => {ED}.state.tracks.length"):
        page.click("[data-testid=ms-clear]")
    page.click("[data-testid=ms-tool-region]")
    assert page.evaluate(f"() => {ED}.dom.status.textContent").startswith("Region: drag around a region")
    x0, y0, x1, y1 = RED_RECT
    page.keyboard.down("Shift")
    _drag(page, _image_to_client(page, x0 - 2, y0 - 2), _image_to_client(page, x1 + 2, y1 + 2), steps=10)
    page.keyboard.up("Shift")
    st = _state(page)
    sx, sy = _scale(st)
    box = [[(x0 - 2) * sx, (y0 - 2) * sy], [(x1 + 2) * sx, (y0 - 2) * sy], [(x1 + 2) * sx, (y1 + 2) * sy],
           [(x0 - 2) * sx, (y1 + 2) * sy]]
    pending = page.evaluate(f"() => {ED}.pendingRegion")
    assert pending and _near(pending, box, 1.5 * sx), (pending, box)
    _drag(page, _image_to_client(page, 96, 80), _image_to_client(page, 60, 100))
    _drag(page, _image_to_client(page, 84, 70), _image_to_client(page, 50, 86))
    tracks = _state(page)["tracks"]["tracks"]
    assert [t["kind"] for t in tracks] == ["drag", "drag"], tracks
    assert tracks[0]["region"] == tracks[1]["region"] == pending, "both drags carry the selected region"
    assert page.evaluate(f"() => {ED}.pendingRegion") is None
    page.screenshot(path=str(ART / "regions_drawn.png"))

    posts = []
    page.on("request", lambda r: posts.append(r.post_data_json) if r.url.endswith("/motionstream/steer") else None)

    def during(pg):
        pg.click("[data-testid=ms-pause]")
        pg.wait_for_function(f"() => {ED}.session && {ED}.session.paused", timeout=10_000)
        _drag(pg, _image_to_client(pg, 108, 92), _image_to_client(pg, 116, 60), steps=8)  # inside, on no point
        pg.wait_for_timeout(300)
        pg.click("[data-testid=ms-resume]")

    first = _run(page, during=during)
    with_region = [p for body in posts for p in body["points"] if "region" in p]
    assert with_region and all(_near(p["region"], box, 1.5 * sx) for p in with_region), posts[:3]
    assert first["ok"] == first["sent"] >= 1, first
    recorded = _state(page)["tracks"]["tracks"]
    assert [t.get("region") is not None for t in recorded] == [True, True, True], [t["kind"] for t in recorded]
    assert recorded[2]["kind"] == "live" and _near(recorded[2]["region"], box, 1.5 * sx), recorded[2].get("region")
    frames = _frames(page)
    again = _run(page)
    assert "finished" in again["status"], again
    assert _frames(page) == frames, "re-queueing the recorded run (regions included) did not replay it"
    page.screenshot(path=str(ART / "regions_replayed.png"))

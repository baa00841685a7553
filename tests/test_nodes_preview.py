"""The Example Clip's start-image preview (POST /motionstream/example_image) without the host: exactly the
clip's frame 0, rendered alone, one render at a time, cached by its inputs, JSON only."""
from __future__ import annotations

import io
import json
import threading
import time

import numpy as np
import pytest

from nodes import preview


def _png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture
def fresh_cache():
    preview._start_image_png.cache_clear()
    yield
    preview._start_image_png.cache_clear()


def test_the_preview_is_the_clips_first_frame_rendered_alone(fresh_cache, monkeypatch):
    params = {"seed": 3, "width": 64, "height": 48, "num_frames": 40, "num_points": 8}
    full = preview.make_example_clip(**params)
    asked = []
    real = preview.make_example_clip
    monkeypatch.setattr(preview, "make_example_clip", lambda *a, **k: asked.append(k) or real(*a, **k))
    png = preview.start_image_png(params)
    np.testing.assert_array_equal(_png_pixels(png), full.frames[0])
    assert asked == [{"first_frame_only": True}], "only frame 0 is rendered"
    assert preview.start_image_png(dict(params)) == png and len(asked) == 1, "the same inputs are served from the cache"
    preview.start_image_png({**params, "seed": 4})
    assert len(asked) == 2


def test_renders_never_overlap_and_waiting_requests_for_the_same_inputs_find_them_cached(fresh_cache, monkeypatch):
    running, overlap, calls = [0], [0], []

    def slow(*args, **kw):
        running[0] += 1
        overlap[0] = max(overlap[0], running[0])
        calls.append(args)
        time.sleep(0.05)
        running[0] -= 1
        return type("Clip", (), {"frames": np.zeros((1, 16, 16, 3), np.uint8)})()

    monkeypatch.setattr(preview, "make_example_clip", slow)
    bodies = [{"seed": s % 3, "width": 16, "height": 16} for s in range(9)]
    threads = [threading.Thread(target=preview.start_image_png, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap[0] == 1, "two renders ran at once"
    assert sorted(c[0] for c in calls) == [0, 1, 2], f"each distinct input is rendered once: {calls}"


@pytest.mark.parametrize("body, error", [
    ({"width": 100}, "width must be an integer from 16 to 2048 in steps of 16; got 100"),
    ({"seed": "7"}, "seed must be an integer from 0 to 2147483647; got '7'"),
    ({"seed": 10 ** 400}, "seed must be an integer from 0 to 2147483647; got " + str(10 ** 400)[:37] + "..."),
    ([1, 2], "the body must be a JSON object of the Example Clip node's inputs"),
])
def test_bad_inputs_are_named_on_one_line(body, error):
    with pytest.raises(ValueError) as e:
        preview.preview_params(json.loads(json.dumps(body)))
    assert str(e.value) == error

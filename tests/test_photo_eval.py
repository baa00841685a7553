"""`motionstream eval --photos`: the user-style drag request and the three measures, checked on videos
whose answer is known (the cut-and-paste edit follows the request exactly; a still video does not)."""

import numpy as np
import pytest

from motionstream_core.train.photo_eval import (REST_CLEARANCE, cut_and_paste, drag_request, fit_photo,
                                                identity_score, load_photo_folder, rest_change, score_video)

FRAMES = 17


def _photo(seed=0, size=128):
    """A textured test image: smooth colour noise plus blobs (plenty of corners)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.uniform(0, 255, (12, 12, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(40):
        c = rng.integers(0, size, 2)
        cv2.circle(img, (int(c[0]), int(c[1])), int(rng.integers(2, 6)), rng.uniform(0, 255, 3).tolist(), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_request_is_a_straight_drag_with_pins_away_from_it():
    img = _photo()
    req = drag_request(img, FRAMES, 16, seed=3, length=24.0)
    d, p = req.drag.path, req.pins.path
    assert d.shape == (FRAMES, 5, 2) and p.shape == (FRAMES, 6, 2)
    np.testing.assert_allclose(np.linalg.norm(d[-1] - d[0], axis=-1), 24.0, atol=1e-4)
    np.testing.assert_allclose(d[8] - d[0], (d[-1] - d[0]) / 2, atol=1e-4)  # constant speed
    assert (p == p[:1]).all(), "pins stay"
    swept = np.concatenate([d[t] for t in range(FRAMES)])
    assert np.linalg.norm(p[0][:, None] - swept[None], axis=-1).min() > 32 - 24 / (FRAMES - 1)
    assert ((d >= 0) & (d < 128)).all() and ((p >= 0) & (p < 128)).all()
    again = drag_request(img, FRAMES, 16, seed=3)
    assert np.array_equal(again.drag.path, d) and np.array_equal(again.pins.path, p)
    assert req.combined().kinds == ("drag",) * 5 + ("static",) * 6


def test_measures_on_cut_and_paste_against_a_still_video():
    img = _photo(1)
    req = drag_request(img, FRAMES, 16, seed=0)
    paste = score_video(cut_and_paste(img, req), req)
    still = score_video(np.repeat(img[None], FRAMES, 0), req)
    assert paste["drag_epe"] < 1.0 and paste["pin_drift"] < 0.5 and paste["identity"] > 0.95, paste
    # a still video's drag error is the requested displacement, averaged over frames 1..T-1
    expected = 24.0 * np.mean(np.linspace(0, 1, FRAMES)[1:])
    assert abs(still["drag_epe"] - expected) < 1.0 and still["pin_drift"] == 0.0, still
    assert still["identity"] < 0.9


def test_rest_change_reads_only_the_pixels_away_from_the_drag():
    img = _photo(1)
    req = drag_request(img, FRAMES, 16, seed=0)
    still = np.repeat(img[None], FRAMES, 0)
    assert score_video(still, req, img)["rest_change"] == 0.0
    assert rest_change(cut_and_paste(img, req), img, req) == 0.0  # the pasted disc (r 14 px) lies inside the clearance
    # the same +10 levels near the drag and away from it: only the pixels away from it count
    yy, xx = np.mgrid[0:128, 0:128] + 0.5
    near = np.zeros((128, 128), bool)
    for x, y in req.drag.path.reshape(-1, 2):
        near |= np.hypot(xx - x, yy - y) <= REST_CLEARANCE
    base = np.clip(img.astype(np.int16), 0, 245).astype(np.uint8)  # room for +10 without clipping
    brighter = np.repeat((base.astype(np.int16) + 10).astype(np.uint8)[None], FRAMES, 0)
    assert rest_change(brighter, base, req) == pytest.approx(10.0)
    inside_only = np.repeat(base[None], FRAMES, 0)
    inside_only[:, near] = brighter[:, near]
    assert rest_change(inside_only, base, req) == 0.0
    with pytest.raises(ValueError, match="the drag covers the whole frame"):
        rest_change(still, img, req, clearance=400.0)


def test_identity_of_a_scrambled_destination_is_low():
    img = _photo(2)
    req = drag_request(img, FRAMES, 16, seed=1)
    video = cut_and_paste(img, req)
    video[-1] = np.random.default_rng(0).integers(0, 256, video[-1].shape, dtype=np.uint8)
    assert abs(identity_score(video, req)) < 0.3


def test_fit_photo_and_folder_errors(tmp_path):
    out = fit_photo(np.zeros((300, 451, 3), np.uint8), 128, 128)
    assert out.shape == (128, 128, 3)
    with pytest.raises(ValueError, match="RGB photo"):
        fit_photo(np.zeros((30, 40), np.uint8), 128, 128)
    with pytest.raises(FileNotFoundError, match="no photos"):
        load_photo_folder(tmp_path)
    with pytest.raises(ValueError, match="too little texture"):
        drag_request(np.full((128, 128, 3), 90, np.uint8), FRAMES, 16)


def test_run_photo_eval_on_a_folder_with_the_shipped_model(tmp_path):
    import cv2

    from motionstream_core.demo import DEMO_WEIGHTS
    from motionstream_core.train.evaluate import EvalOptions
    from motionstream_core.train.photo_eval import run_photo_eval

    missing = [str(p) for p in DEMO_WEIGHTS.values() if not p.is_file()]
    if missing:
        pytest.skip(f"demo weights not shipped in this checkout ({', '.join(missing)})")
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(_photo(3, 160), cv2.COLOR_RGB2BGR))
    out = tmp_path / "eval.json"
    said = []
    r = run_photo_eval(str(tmp_path), EvalOptions(frames=9, teacher=False, drag_points=4, pins=4), str(tmp_path),
                       json_path=str(out), say=said.append, sheets=str(tmp_path / "sheets"))
    assert r["photos"] == ["a"] and set(r["mean"]) == {"student", "still", "cut_and_paste", "warp", "autoencoder"}
    assert (r["drag_points"], r["pins"]) == (4, 4) and "; 4 drag points, 4 pins;" in said[-1]
    assert r["mean"]["cut_and_paste"]["drag_epe"] < 1.0 < r["mean"]["still"]["drag_epe"]
    assert r["mean"]["warp"]["drag_epe"] < 0.5 * r["mean"]["still"]["drag_epe"] and "warp_drag_over_still" in r
    assert out.is_file() and "student_drag_over_still" in r
    sheet = cv2.cvtColor(cv2.imread(str(tmp_path / "sheets" / "a.png")), cv2.COLOR_BGR2RGB)
    from motionstream_core.demo import load_demo

    size = load_demo()[0].config.height
    assert sheet.shape == (5 * 2 * size, 3 * 2 * size, 3)  # still, paste, warp, autoencoder, student x frames 0, 4, 8
    # the codec's share: the pasted video through the codec changes the rest of the photo a little, the paste not at all
    assert r["mean"]["cut_and_paste"]["rest_change"] == 0 < r["mean"]["autoencoder"]["rest_change"]
    assert ((sheet == (255, 0, 0)).all(-1)).any() and ((sheet == (0, 255, 0)).all(-1)).any()


def test_at_64_px_the_measures_scale_with_the_request():
    """The request's lengths are px at 128, scaled with the image; so are the identity patch and the rest's
    clearance: the cut-and-paste edit, which follows the request exactly, scores at 64 px as it does at 128."""
    img = _photo(1, size=64)
    u = 0.5
    req = drag_request(img, FRAMES, 16, seed=0, radius=10.0 * u, length=24.0 * u, pin_clearance=32.0 * u)
    pasted = cut_and_paste(img, req, radius=14.0 * u)
    paste = score_video(pasted, req, img, scale=u)
    assert paste["identity"] > 0.95 and paste["rest_change"] == 0.0, paste
    unscaled = score_video(pasted, req, img)  # a 17 px patch reaches past the 7 px disc into what did not move
    assert unscaled["identity"] < paste["identity"], (unscaled, paste)

"""`motionstream eval --objects`: composite one-drag object scenes and their scores, checked on videos whose
answer is known (the composite itself, a still video, the object shifted by a known amount, the object pasted
at its destination while its old copy stays)."""

import numpy as np
import pytest

from motionstream_core.train.object_eval import (PIN_CLEARANCE, _place, object_positions, object_scene,
                                                 object_scenes, score_object_video, trajectory_copy, with_ratios)
from tests.test_photo_eval import _photo

FRAMES = 17


def _scene(seed=0, size=128):
    return object_scene(_photo(seed, size), _photo(seed + 100, size), FRAMES, 16, seed=seed, name=f"s{seed}")


def _render(scene, offsets, keep_start=False):
    """The scene's object at ``offsets`` [T, 2] over its background (or over frame 0 with ``keep_start``)."""
    H, W = scene.frames.shape[1:3]
    out = []
    for t, o in enumerate(offsets):
        a = _place(scene.alpha[..., None], o, (H, W))
        rgb = _place(scene.sprite * scene.alpha[..., None], o, (H, W))
        under = scene.frames[0] if keep_start else scene.background
        out.append(np.clip(under * (1 - a) + rgb + 0.5, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scene_is_one_drag_at_the_object_centre_with_pins_clear_of_it(seed):
    s = _scene(seed)
    d, p = s.request.drag.path, s.request.pins.path
    assert d.shape == (FRAMES, 1, 2) and p.shape == (FRAMES, 6, 2) and (p == p[:1]).all()
    for t in (0, FRAMES - 1):  # the drag point is the mask's centroid, moving with the object
        m = s.mask(t)
        ys, xs = np.nonzero(m > 0.5)
        np.testing.assert_allclose(d[t, 0], [xs.mean() + 0.5, ys.mean() + 0.5], atol=0.6)
        yy, xx = np.nonzero(m > 0)
        gap = np.hypot(xx[None] + 0.5 - p[0, :, :1], yy[None] + 0.5 - p[0, :, 1:]).min()
        assert gap >= PIN_CLEARANCE, f"a pin is {gap:.1f} px from the object in frame {t}"
    np.testing.assert_allclose(np.diff(d[:, 0], axis=0), np.broadcast_to((d[-1, 0] - d[0, 0]) / (FRAMES - 1), (FRAMES - 1, 2)), atol=1e-4)
    assert 24 <= np.linalg.norm(d[-1, 0] - d[0, 0]) <= 32
    # the truth is the object over the background: outside its mask frame t is the background
    assert np.array_equal(s.frames[5][s.mask(5) == 0], s.background[s.mask(5) == 0])
    again = _scene(seed)
    assert np.array_equal(again.frames, s.frames) and np.array_equal(again.request.pins.path, p)


def test_truth_scores_perfect_and_a_still_video_scores_one():
    s = _scene(0)
    scores = with_ratios({"truth": score_object_video(s.frames, s),
                          "still": score_object_video(np.repeat(s.frames[:1], FRAMES, 0), s)})
    t, st = scores["truth"], scores["still"]
    assert t["object_error"] < 0.3 and t["object_over_still"] < 0.03
    assert t["identity"] > 0.999 and t["uncovered_error"] == 0 and t["rest_change"] == 0 and t["pin_drift"] < 0.3
    assert st["object_over_still"] == 1.0 and st["uncovered_over_still"] == 1.0
    # the still video's object error is the mean true displacement (the match finds it where it started)
    true_move = np.linalg.norm(s.centre[1:] - s.centre[0], axis=1).mean()
    assert abs(st["object_error"] - true_move) < 0.3
    assert st["identity"] < 0.5 and st["uncovered_error"] > 20


def test_object_position_reads_a_known_shift_to_subpixel():
    s = _scene(1)
    shift = np.array([2.5, -1.25])
    pos = object_positions(_render(s, s.offset + shift), s)
    err = np.linalg.norm(pos - (s.centre + shift), axis=1)
    assert err.max() < 0.35, err


def test_a_copy_that_leaves_the_old_object_moves_it_but_uncovers_nothing():
    """The object pasted at its destination over frame 0 (its old copy stays): object and identity perfect, the
    uncovered background as bad as a still video's."""
    s = _scene(2)
    copy = _render(s, s.offset, keep_start=True)
    r = with_ratios({"copy": score_object_video(copy, s), "still": score_object_video(np.repeat(s.frames[:1], FRAMES, 0), s)})
    assert r["copy"]["object_over_still"] < 0.05 and r["copy"]["identity"] > 0.99
    assert 0.9 < r["copy"]["uncovered_over_still"] <= 1.0


def test_scenes_pair_distinct_photos_and_need_two():
    imgs = {"a": _photo(0, 160), "b": _photo(1, 200)}
    scenes = object_scenes(imgs, 128, 128, 3, FRAMES, 16)
    assert [x.name for x in scenes] == ["00_b_over_a", "01_a_over_b", "02_b_over_a"]
    three = object_scenes({**imgs, "c": _photo(2, 128)}, 64, 64, 6, 5, 16)
    assert [x.name.split("_", 1)[1] for x in three] == ["b_over_a", "c_over_b", "a_over_c", "c_over_a", "a_over_b", "b_over_c"]
    assert scenes[0].frames.shape == (FRAMES, 128, 128, 3)
    with pytest.raises(ValueError, match="object scenes need at least 2 held-out photos"):
        object_scenes({"a": _photo(0)}, 128, 128, 1, FRAMES, 16)


def test_run_object_eval_scores_the_baselines_and_the_shipped_model(tmp_path):
    import cv2

    from motionstream_core.demo import DEMO_WEIGHTS
    from motionstream_core.train.evaluate import EvalOptions
    from motionstream_core.train.object_eval import run_object_eval

    missing = [str(p) for p in DEMO_WEIGHTS.values() if not p.is_file()]
    if missing:
        pytest.skip(f"demo weights not shipped in this checkout ({', '.join(missing)})")
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{'ab'[i]}.png"), cv2.cvtColor(_photo(i + 5, 160), cv2.COLOR_RGB2BGR))
    said = []
    r = run_object_eval(str(tmp_path), EvalOptions(frames=9, teacher=False, pins=4), str(tmp_path), scenes=2,
                        json_path=str(tmp_path / "o.json"), say=said.append, sheets=str(tmp_path / "sheets"))
    assert set(r["mean"]) == {"truth", "still", "warp", "trajectory_copy", "shipped"} and (tmp_path / "o.json").is_file()
    assert r["mean"]["still"]["object_over_still"] == 1.0 and r["mean"]["truth"]["object_over_still"] < 0.05
    assert "bars: object <= 0.3x still" in said[-1] and len(list((tmp_path / "sheets").glob("*.png"))) == 2


def test_trajectory_copy_moves_only_each_tracks_start_cell_while_it_is_visible():
    img = _photo(4, 64)
    path = np.zeros((5, 2, 2), np.float32)
    path[:, 0] = [[10.5, 20.5], [14.5, 20.5], [18.5, 21.0], [22.5, 20.5], [26.5, 20.5]]  # one cell (4 px) a frame
    path[:, 1] = [40.5, 40.5]  # a pin
    vis = np.ones((5, 2), bool)
    vis[3, 0] = False  # hidden in frame 3: nothing is copied there
    out = trajectory_copy(img, path, vis, 4)
    src = img[20:24, 8:12]
    assert np.array_equal(out[0], img) and np.array_equal(out[3], img)
    for t, x in ((1, 12), (2, 16), (4, 24)):
        assert np.array_equal(out[t, 20:24, x:x + 4], src)
        rest = np.ones(img.shape[:2], bool)
        rest[20:24, x:x + 4] = False
        assert np.array_equal(out[t][rest], img[rest])


def test_return_to_start_reads_staying_and_jumping_back():
    from motionstream_core.train.object_eval import hidden, return_to_start

    s = _scene(0)
    h = FRAMES // 2
    hs = hidden(s, h)
    assert hs.request.drag.visible[:h].all() and not hs.request.drag.visible[h:].any()
    stay = s.offset.copy()
    stay[h:] = s.offset[h - 1]
    back = s.offset.copy()
    back[h:] = s.offset[0]
    assert return_to_start(_render(hs, stay), hs, h) < 0.05
    assert abs(return_to_start(_render(hs, back), hs, h) - 1.0) < 0.05

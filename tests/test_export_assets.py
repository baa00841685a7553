"""`motionstream train export`'s sample inputs: a real photo no training source holds, fitted to the
model's size, with a user-style drag, pins and its licence credit; or the former synthetic sample."""

from __future__ import annotations

import numpy as np
import pytest

from motionstream_core import track_formats
from motionstream_core.train.common import model_config
from motionstream_core.train.export import ASSET_FRAMES, ASSET_PHOTO, export_demo, write_assets, write_synthetic_assets
from motionstream_core.video_io import read_image


def test_the_photo_sample_is_a_held_out_photo_with_a_drag_pins_and_its_credit(tmp_path):
    import sklearn  # noqa: F401  (installed by the [test,wanvae,train] extras)
    import matplotlib  # noqa: F401  (installed by the [test,wanvae,train] extras)
    from motionstream_core.train.photo_clips import eval_photos
    from motionstream_core.train.photo_eval import fit_photo

    cfg = model_config("demo-warp")
    paths = write_assets(cfg, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"start.png", "tracks.json", "prompt.txt", "CREDIT.txt"}
    photo, credit = eval_photos()[ASSET_PHOTO]
    image = read_image(paths["image"])
    assert np.array_equal(np.round(image * 255).astype(np.uint8), fit_photo(photo, cfg.height, cfg.width))  # lossless
    tracks = track_formats.load(paths["tracks"])
    assert (tracks.width, tracks.height, tracks.fps, tracks.num_frames) == (cfg.width, cfg.height, 16, ASSET_FRAMES)
    kinds = np.array(tracks.kinds)
    moved = np.linalg.norm(tracks.path[-1] - tracks.path[0], axis=-1)
    assert (kinds == "drag").sum() == 5 and (kinds == "static").sum() == 6
    np.testing.assert_allclose(moved[kinds == "drag"], 24.0, atol=1e-3)  # photo_eval.drag_request's 24 px drag
    assert (moved[kinds == "static"] == 0).all() and tracks.visible.all()
    assert paths["prompt"].read_text() == "\n"  # photo clips train without captions
    assert paths["credit"].read_text() == f"start.png: flower.jpg, {credit}, resized and cropped to 128x128\n"
    assert "CC-BY 2.0" in credit


def test_the_synthetic_sample_and_the_choice_of_sample(tmp_path):
    cfg = model_config("demo-warp")
    paths = write_synthetic_assets(cfg, tmp_path)
    assert set(paths) == {"image", "tracks", "prompt"} and not (tmp_path / "CREDIT.txt").exists()
    tracks = track_formats.load(paths["tracks"])
    assert tracks.num_tracks == 8 and tracks.num_frames == ASSET_FRAMES and paths["prompt"].read_text().strip()
    with pytest.raises(ValueError, match="assets must be one of photo, synthetic, none, got 'pictures'"):
        export_demo(str(tmp_path / "run"), assets="pictures")

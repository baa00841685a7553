"""A folder of training photos and cut-outs (``train.photo_folder``) and the photo clips drawn from it:
the layout is read as documented, bad folders fail with one message naming them, cut-outs become layers
with their own outline, and a latent cache never mixes clips of two folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import skimage  # noqa: F401  (installed by the [test,wanvae,train] extras)

from motionstream_core.decoders import LatentStats, TinyVAE  # noqa: E402
from motionstream_core.train import autoencoder  # noqa: E402
from motionstream_core.train.common import model_config  # noqa: E402
from motionstream_core.train.data import build_latent_cache, clip_renderer, load_latent_cache  # noqa: E402
from motionstream_core.train.photo_clips import PhotoClipConfig, make_photo_clip  # noqa: E402
from motionstream_core.train.photo_folder import (  # noqa: E402
    MAX_SHORT_SIDE, is_photographic, load_cutout, load_photo, open_photo_folder)


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def _ring_rgba(size: int = 96, colour=(0, 255, 0)) -> np.ndarray:
    """BGRA: an opaque ring of ``colour`` (BGR) with a transparent hole, on a transparent margin."""
    yy, xx = np.mgrid[:size, :size] + 0.5
    r = np.hypot(xx - size / 2, yy - size / 2)
    alpha = ((r < 0.45 * size) & (r > 0.25 * size)).astype(np.uint8) * 255
    img = np.zeros((size, size, 4), np.uint8)
    img[..., :3] = colour
    img[..., 3] = alpha
    return img


def _folder(root: Path, background_bgr=(255, 0, 0)) -> Path:
    rng = np.random.default_rng(0)
    photo = np.clip(np.array(background_bgr, np.float32) + rng.normal(0, 6, (300, 400, 3)), 0, 255).astype(np.uint8)
    _write(root / "photos" / "blue.png", photo)
    _write(root / "cutouts" / "ring.png", _ring_rgba())
    return root


def test_layout_is_read_as_documented(tmp_path):
    root = tmp_path / "set"
    _write(root / "photos" / "b.jpg", np.zeros((20, 30, 3), np.uint8))
    _write(root / "photos" / "sub" / "a.png", np.zeros((20, 30, 3), np.uint8))
    _write(root / "cutouts" / "c.png", _ring_rgba(32))
    (root / "SOURCES.tsv").write_text("file\tpackage\n")
    folder = open_photo_folder(str(root))
    assert folder.photos == ("photos/b.jpg", "photos/sub/a.png") and folder.cutouts == ("cutouts/c.png",)
    flat = tmp_path / "flat"  # no photos/ or cutouts/: every image is a photo
    _write(flat / "x.jpg", np.zeros((20, 30, 3), np.uint8))
    _write(flat / "deeper" / "y.webp", np.zeros((20, 30, 3), np.uint8))
    assert open_photo_folder(str(flat)).photos == ("deeper/y.webp", "x.jpg")
    assert open_photo_folder(str(flat)).cutouts == ()


def test_bad_folders_and_files_fail_with_one_message_naming_them(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=rf"^photo folder '{missing}' does not exist \(make one with "
                                                rf"`python -m motionstream_core.train.photo_folder --out {missing}`\)$"):
        open_photo_folder(missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"^photo folder '.*empty' holds no images \(.jpg, .jpeg, .png, .webp\)$"):
        open_photo_folder(str(tmp_path / "empty"))
    _write(tmp_path / "opaque.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"opaque.png' has no alpha channel \(a cut-out is an RGBA PNG\)$"):
        load_cutout(str(tmp_path / "opaque.png"))
    _write(tmp_path / "clear.png", np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(ValueError, match=r"clear.png' is fully transparent$"):
        load_cutout(str(tmp_path / "clear.png"))
    with pytest.raises(FileNotFoundError, match=r"^photo folder '.*nope' does not exist"):
        PhotoClipConfig(photo_dir=missing)
    with pytest.raises(ValueError, match=r"^photo_dir='x' is for clip_source=photo; synthetic clips read no photos$"):
        clip_renderer("synthetic", model_config("tiny"), 9, photo_dir="x")


def test_photos_load_as_rgb_with_a_bounded_size_and_cutouts_crop_to_their_outline(tmp_path):
    red = np.zeros((800, 1200, 3), np.uint8)
    red[..., 2] = 255  # BGR on disk
    _write(tmp_path / "red.png", red)
    img = load_photo(str(tmp_path / "red.png"))
    assert img.shape == (MAX_SHORT_SIDE, 768, 3) and img.dtype == np.uint8
    assert (img[..., 0] == 255).all() and (img[..., 1:] == 0).all()
    rgba = np.zeros((50, 60, 4), np.uint8)
    rgba[10:30, 5:45] = (0, 0, 255, 255)  # a red box, BGRA
    _write(tmp_path / "box.png", rgba)
    rgb, alpha = load_cutout(str(tmp_path / "box.png"))
    assert rgb.shape == (20, 40, 3) and alpha.shape == (20, 40) and alpha.min() == 1.0
    assert (rgb == (255, 0, 0)).all()


def test_fingerprint_follows_the_files(tmp_path):
    root = _folder(tmp_path / "a")
    first = open_photo_folder.__wrapped__(str(root)).fingerprint
    assert open_photo_folder.__wrapped__(str(root)).fingerprint == first
    _write(root / "photos" / "more.png", np.zeros((10, 10, 3), np.uint8))
    second = open_photo_folder.__wrapped__(str(root)).fingerprint
    _write(root / "photos" / "more.png", np.full((10, 10, 3), 7, np.uint8) + np.arange(10, dtype=np.uint8)[:, None, None])
    third = open_photo_folder.__wrapped__(str(root)).fingerprint
    assert len({first, second, third}) == 3


def test_photographic_filter_keeps_photos_and_drops_line_art():
    rng = np.random.default_rng(1)
    photo = np.zeros((100, 100, 4), np.uint8)
    photo[..., :3] = rng.integers(0, 256, (100, 100, 3))
    photo[10:90, 10:90, 3] = 255
    assert is_photographic(photo)
    letter = np.zeros((100, 100, 4), np.uint8)
    letter[10:90, 40:60] = (0, 0, 0, 255)
    letter[10:30, 20:80] = (0, 0, 0, 255)
    assert not is_photographic(letter)
    opaque = photo.copy()
    opaque[..., 3] = 255
    assert not is_photographic(opaque)  # no outline: a photo, not a cut-out
    assert not is_photographic(photo[..., :3])


def _holes(mask: np.ndarray) -> int:
    """Number of holes (inner contours) of a binary mask."""
    _, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return 0 if hierarchy is None else int((hierarchy[0][:, 3] >= 0).sum())


def test_cutouts_become_layers_with_their_own_outline_and_tracks_on_them(tmp_path):
    root = _folder(tmp_path / "set")  # one blue photo, one green ring
    cfg = PhotoClipConfig(height=128, width=128, num_frames=5, num_points=40, min_layers=1, max_layers=1,
                          photos=("camera",), photo_dir=str(root), cutout_layer_prob=1.0, min_size=60, max_size=64)
    seen_blue = 0
    for seed in range(6):
        clip = make_photo_clip(seed, cfg)
        layer = clip.layers[0] == 0
        assert layer.sum() > 200 and _holes(layer) == 1, "the layer is the ring (a blob mask has no hole)"
        frame = clip.frames[0].astype(int)
        on = clip.owner >= 0
        pts = np.floor(clip.path[0, on & clip.visible[0]]).astype(int)
        px = frame[pts[:, 1], pts[:, 0]]
        # on the ring: green by far (a point near its antialiased edge may sample a little of the blue behind)
        assert (px[:, 1] - px[:, [0, 2]].max(1) > 100).all(), "layer points sit on the ring"
        # the background is the blue photo or the bundled one (drawn uniformly from both)
        med = np.median(frame[~layer], axis=0)
        seen_blue += int(med[2] - med[0] > 100)  # (the bundled one is grey)
        again = make_photo_clip(seed, cfg)
        assert np.array_equal(again.frames, clip.frames) and np.array_equal(again.path, clip.path)
    assert 0 < seen_blue < 6


def test_latent_cache_refuses_clips_of_another_photo_folder(tmp_path):
    cfg = model_config("tiny")
    torch.manual_seed(0)
    vae = autoencoder.init_weights(TinyVAE(cfg.vae)).eval()
    stats = LatentStats(cfg.vae.latent_channels)
    a, b = _folder(tmp_path / "a"), _folder(tmp_path / "b", background_bgr=(0, 0, 255))
    (b / "photos" / "blue.png").rename(b / "photos" / "red.png")
    cache = tmp_path / "latents"
    build_latent_cache(cache, vae, stats, cfg, 9, 6, count=2, seed=2, source="photo", photo_dir=str(a),
                       say=lambda m: None)
    made = load_latent_cache(cache).meta["photo_folder"]
    assert made == open_photo_folder(str(a)).fingerprint
    want = open_photo_folder(str(b)).fingerprint
    with pytest.raises(ValueError, match=rf"made with other settings \(photo_folder '{made}' != '{want}'\): delete it"):
        build_latent_cache(cache, vae, stats, cfg, 9, 6, count=2, seed=2, source="photo", photo_dir=str(b),
                           say=lambda m: None)
    with pytest.raises(ValueError, match=rf"made with other settings \(photo_folder '{made}' != ''\): delete it"):
        build_latent_cache(cache, vae, stats, cfg, 9, 6, count=2, seed=2, source="photo", say=lambda m: None)


def test_the_evaluation_package_is_never_a_training_source():
    from motionstream_core.train.photo_folder import DEBIAN_EVAL_IMAGES, DEBIAN_IMAGES
    train = {s.package for s in DEBIAN_IMAGES}
    held_out = {s.package for s in DEBIAN_EVAL_IMAGES}
    assert held_out and not train & held_out
    assert all(s.kind == "photos" for s in DEBIAN_EVAL_IMAGES)

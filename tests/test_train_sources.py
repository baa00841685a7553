"""The recipe's clip sources: the autoencoder and the latent cache learn from synthetic shapes or from
layers cut from real photos (``data.clip_renderer``), and a cache is never silently mixed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import skimage  # noqa: F401  (installed by the [test,wanvae,train] extras)

from motionstream_core.decoders import LatentStats, TinyVAE  # noqa: E402
from motionstream_core.train import autoencoder  # noqa: E402
from motionstream_core.train.common import model_config  # noqa: E402
from motionstream_core.train.data import (  # noqa: E402
    build_latent_cache, clip_renderer, encode_clips, load_latent_cache)
from motionstream_core.train.photo_clips import PhotoClipConfig, make_photo_clip  # noqa: E402
from motionstream_core.synthetic import SyntheticClipConfig, make_clip  # noqa: E402

CFG = model_config("tiny")


def test_renderer_gives_each_sources_clip():
    photo = clip_renderer("photo", CFG, 9, num_points=6)(41)
    ref = make_photo_clip(41, PhotoClipConfig.for_model(CFG, num_frames=9, num_points=6))
    assert np.array_equal(photo.frames, ref.frames) and np.array_equal(photo.path, ref.path)
    assert photo.frames.shape == (9, CFG.height, CFG.width, 3)
    synth = clip_renderer("synthetic", CFG, 9, num_points=6)(41)
    ref = make_clip(41, SyntheticClipConfig.for_model(CFG, num_frames=9, num_points=6))
    assert np.array_equal(synth.frames, ref.frames)
    assert not np.array_equal(photo.frames, synth.frames)


def test_mix_renders_synthetic_clips_at_odd_scene_seeds_and_photo_clips_at_even_ones():
    """``clip_source=mix``: each clip is exactly the other two sources' clip for its seed (the photo half with the
    camera setting passed on), so a mixed cache holds half of each, as pure functions of the seeds."""
    mix = clip_renderer("mix", CFG, 9, num_points=6, camera_motion_prob=0.0)
    synth = clip_renderer("synthetic", CFG, 9, num_points=6)
    photo = clip_renderer("photo", CFG, 9, num_points=6, camera_motion_prob=0.0)
    for seed in (40, 41, 2_000_007):
        got, want = mix(seed), (synth(seed) if seed % 2 else photo(seed))
        assert np.array_equal(got.frames, want.frames) and np.array_equal(got.path, want.path), seed
        assert np.array_equal(got.visible, want.visible) and got.caption == want.caption, seed
    assert np.array_equal(mix(40, 99).path, photo(40, 99).path)  # a photo scene's other motion
    assert not np.array_equal(mix(40, 99).path, mix(40).path)


def test_unknown_source_is_one_clear_error():
    with pytest.raises(ValueError, match=r"^unknown clip source 'video': choose one of synthetic, photo, mix$"):
        clip_renderer("video", CFG, 9)


def test_autoencoder_batches_come_from_the_chosen_source():
    opts = dataclasses.replace(autoencoder.PRESETS["tiny"], clip_source="photo")
    x = autoencoder._clips(CFG, opts, 3, np.random.default_rng(0))
    n = opts.batch  # tiny preset: no crops, one clip a sample
    want = [clip_renderer("photo", CFG, opts.frames, 8)(10_000_019 + 3 * n + b).frames for b in range(n)]
    assert torch.equal(x, torch.from_numpy(np.stack(want)).permute(0, 4, 1, 2, 3).float() / 255.0)


def test_photo_latent_cache_holds_the_encoded_photo_clips_and_refuses_mixing(tmp_path):
    torch.manual_seed(0)
    vae = autoencoder.init_weights(TinyVAE(CFG.vae)).eval()
    stats = LatentStats(CFG.vae.latent_channels)
    folder = tmp_path / "latents"
    build_latent_cache(folder, vae, stats, CFG, 9, 6, count=3, seed=2, source="photo", say=lambda m: None)
    cache = load_latent_cache(folder)
    assert cache.meta["source"] == "photo" and len(cache) == 3
    clip = make_photo_clip(2 * 1_000_003 + 1, PhotoClipConfig.for_model(CFG, num_frames=9, num_points=6))
    z, img = encode_clips(vae, stats, torch.from_numpy(clip.frames[None]))
    # encoded in a batch of 3 there, alone here: CPU kernels round batched convolutions differently (~1e-5)
    assert (cache.z[1].float() - z[0]).abs().max() < 2e-3 and (cache.image[1].float() - img[0]).abs().max() < 2e-3
    other = make_photo_clip(2 * 1_000_003 + 2, PhotoClipConfig.for_model(CFG, num_frames=9, num_points=6))
    z_other, _ = encode_clips(vae, stats, torch.from_numpy(other.frames[None]))
    assert (cache.z[1].float() - z_other[0]).abs().max() > 0.05
    assert torch.equal(cache.path[1], torch.from_numpy(clip.path))
    assert torch.equal(cache.owner[1], torch.from_numpy(clip.owner))  # each track's layer, for user-style requests
    with pytest.raises(ValueError, match=r"made with other settings \(source 'photo' != 'synthetic'\): delete it"):
        build_latent_cache(folder, vae, stats, CFG, 9, 6, count=3, seed=2, source="synthetic", say=lambda m: None)


def test_a_still_camera_cache_holds_clips_whose_background_never_moves_and_is_not_mixed(tmp_path):
    """``camera_motion_prob=0`` (``TeacherOptions.camera_motion_prob``): the background points (which move only with
    the camera) keep still in every clip; a cache made with another setting (or the default) is refused."""
    torch.manual_seed(0)
    vae = autoencoder.init_weights(TinyVAE(CFG.vae)).eval()
    stats = LatentStats(CFG.vae.latent_channels)
    folder = tmp_path / "still"
    build_latent_cache(folder, vae, stats, CFG, 9, 24, count=6, seed=2, source="photo", camera_motion_prob=0.0,
                       say=lambda m: None)
    cache = load_latent_cache(folder)
    assert cache.meta["camera_motion_prob"] == 0.0
    render = clip_renderer("photo", CFG, 9, 24, camera_motion_prob=0.0)
    panned = clip_renderer("photo", CFG, 9, 24, camera_motion_prob=1.0)
    for i in range(6):
        seed = 2 * 1_000_003 + i
        clip, moving = render(seed), panned(seed)
        assert torch.equal(cache.path[i], torch.from_numpy(clip.path))
        still = np.abs(clip.path - clip.path[:1]).max(axis=(0, 2)) == 0  # points that never move
        assert still.sum() >= 0.2 * clip.path.shape[1], i  # the background (30% of the points) keeps still
        assert (np.abs(moving.path - moving.path[:1]).max(axis=(0, 2)) == 0).sum() < still.sum(), i  # the camera
    with pytest.raises(ValueError, match=r"made with other settings \(camera_motion_prob 0.0 != 0.5\)"):
        build_latent_cache(folder, vae, stats, CFG, 9, 24, count=6, seed=2, source="photo", camera_motion_prob=0.5,
                           say=lambda m: None)
    with pytest.raises(ValueError, match=r"made with other settings \(camera_motion_prob 0.0 != None\)"):
        build_latent_cache(folder, vae, stats, CFG, 9, 24, count=6, seed=2, source="photo", say=lambda m: None)


def test_linear_codec_stage_fits_on_photo_clips_and_the_decoder_stage_refuses_it(tmp_path):
    from motionstream_core.decoders import PatchCodec, load_codec
    from motionstream_core.train import decoder
    from motionstream_core.train.common import run_config

    out = str(tmp_path / "run")
    run_config(out, "demo-pca")
    opts = dataclasses.replace(autoencoder.AEOptions(), fit_clips=6, stats_clips=2, clip_source="photo", quiet=True)
    res = autoencoder.train_autoencoder(out, opts)
    # the bound measured in docs/DEMO_MODEL.md for 4x space + 4x time on photo clips is ~31 dB; 6 clips fit less
    assert res["heldout_psnr"] > 25, res["heldout_psnr"]
    codec = load_codec(res["path"])
    assert isinstance(codec, PatchCodec) and codec.spatial_stride == 4
    # one scale for all channels (latent MSE = pixel MSE); whiten=True gives one std per channel, falling
    std = codec.stats.std
    assert torch.all(std == std[0])
    whitened = autoencoder.train_autoencoder(str(tmp_path / "white"), dataclasses.replace(opts, whiten=True), "demo-pca")
    wstd = load_codec(whitened["path"]).stats.std
    assert wstd[0] > 4 * wstd[-1] and abs(float(std[0]) - float(wstd.square().mean().sqrt())) < 1e-6
    z = codec.encode_image(torch.rand(1, 3, 128, 128))
    assert z.shape == (1, 16, 1, 32, 32)
    with pytest.raises(ValueError, match=r"the decoder stage widens a tiny VAE's decoder; .* linear PatchPCA"):
        decoder.train_decoder(out, dataclasses.replace(decoder.PRESETS["tiny"], quiet=True))


def test_several_motions_of_one_scene_share_the_first_frame_only(tmp_path):
    torch.manual_seed(0)
    vae = autoencoder.init_weights(TinyVAE(CFG.vae)).eval()
    stats = LatentStats(CFG.vae.latent_channels)
    build_latent_cache(tmp_path / "m2", vae, stats, CFG, 9, 6, count=4, seed=2, source="photo", motions_per_scene=2,
                       say=lambda m: None)
    build_latent_cache(tmp_path / "m1", vae, stats, CFG, 9, 6, count=1, seed=2, source="photo", say=lambda m: None)
    pairs, single = load_latent_cache(tmp_path / "m2"), load_latent_cache(tmp_path / "m1")
    assert torch.equal(pairs.image[0], pairs.image[1]) and not torch.equal(pairs.image[1], pairs.image[2])
    assert not torch.equal(pairs.path[0], pairs.path[1])  # the same start points, other motions
    assert torch.equal(pairs.path[0, 0], pairs.path[1, 0])
    assert torch.equal(pairs.z[0], single.z[0])  # the first motion of a scene is the clip one motion per scene gives
    with pytest.raises(ValueError, match=r"^synthetic clips have no separate motion seed: use clip_source=photo"):
        build_latent_cache(tmp_path / "s", vae, stats, CFG, 9, 6, count=2, seed=2, motions_per_scene=2,
                           say=lambda m: None)


def test_rendering_the_cache_in_worker_processes_makes_the_same_cache(tmp_path):
    """``cache_workers``: clips are pure functions of their seeds, so rendering them in two processes writes the
    same shards, bit for bit, as rendering them here."""
    torch.manual_seed(0)
    vae = autoencoder.init_weights(TinyVAE(CFG.vae)).eval()
    stats = LatentStats(CFG.vae.latent_channels)
    kw = dict(count=5, seed=2, source="mix", shard_size=2, say=lambda m: None)
    build_latent_cache(tmp_path / "one", vae, stats, CFG, 9, 6, **kw)
    build_latent_cache(tmp_path / "two", vae, stats, CFG, 9, 6, workers=2, **kw)
    one, two = load_latent_cache(tmp_path / "one"), load_latent_cache(tmp_path / "two")
    for name in ("z", "image", "path", "visible"):
        assert torch.equal(getattr(one, name), getattr(two, name)), name
    assert one.caption == two.caption and len(one) == 5
    with pytest.raises(ValueError, match="^workers must be >= 1, got 0$"):
        build_latent_cache(tmp_path / "none", vae, stats, CFG, 9, 6, workers=0, **kw)

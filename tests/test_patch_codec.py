"""The linear codec (``patch_codec.PatchPCA``, the ``demo-pca`` model's own): exact round trip at full rank,
Wan's time alignment, streaming = whole-video decoding, PCA = an independent SVD, files and configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motionstream_core.config import ConfigError, ModelConfig, PatchCodecConfig
from motionstream_core.decoders import PatchCodec, PatchPCA, load_codec, save_autoencoder

CFG = PatchCodecConfig(latent_channels=12, stride=2, pack=4)
FULL = PatchCodecConfig(latent_channels=48, stride=2, pack=4)  # 2 x 2 px x 4 frames x 3 = 48: full rank


def video(t=9, h=8, w=12, seed=0):
    return torch.rand(2, 3, t, h, w, generator=torch.Generator().manual_seed(seed))


def test_full_rank_round_trip_is_exact_and_latent_zero_is_the_start_image():
    codec = PatchPCA.fit(FULL, video(seed=1))
    x = video(seed=2)
    z = codec.encode_video(x)
    assert z.shape == (2, 48, 3, 4, 6)
    assert (codec.decode_video(z, clamp=False) - x).abs().max() < 1e-5
    assert torch.allclose(codec.encode_video(x[:, :, :1]), z[:, :, :1], atol=1e-6)  # frame 0 alone = latent 0


def test_latent_j_holds_frames_4j_minus_3_to_4j():
    codec = PatchPCA(CFG)
    x = video()
    y = x.clone()
    y[:, :, 5] += 0.3  # frame 5 belongs to latent 2 (frames 5..8)
    dz = (codec.encode_video(y) - codec.encode_video(x)).abs().amax(dim=(0, 1, 3, 4))
    assert dz[0] == 0 and dz[1] == 0 and dz[2] > 0.01


def test_fit_matches_an_independent_svd():
    clips = video(seed=3)
    codec = PatchPCA.fit(CFG, clips)
    # reference: patches built with numpy, principal subspace from numpy's SVD
    x = clips.double().numpy()
    x = np.concatenate([np.repeat(x[:, :, :1], 3, axis=2), x], axis=2)  # [B, 3, 12, H, W]
    b, _, t, h, w = x.shape
    v = x.reshape(b, 3, t // 4, 4, h // 2, 2, w // 2, 2).transpose(0, 2, 4, 6, 3, 5, 7, 1).reshape(-1, 48)
    vc = v - v.mean(0)
    _, _, vh = np.linalg.svd(vc, full_matrices=False)
    ref = vh[:12].T
    ours = codec.basis.double().numpy()
    # same subspace: the projector onto it agrees (each basis vector's sign is arbitrary)
    assert np.abs(ours @ ours.T - ref @ ref.T).max() < 1e-4
    assert np.abs(codec.mean.double().numpy() - v.mean(0)).max() < 1e-6


def test_streaming_decode_equals_whole_video_decode():
    pca = PatchPCA.fit(CFG, video(t=13, seed=4))
    codec = PatchCodec(pca, latent_mean=[0.1] * 12, latent_std=[2.0] * 12)
    z = torch.randn(1, 12, 5, 4, 6, generator=torch.Generator().manual_seed(5))
    whole = pca.decode_video(codec.stats.denormalize(z)).permute(0, 2, 3, 4, 1)
    parts = [codec.decode_chunk(z[:, :, :2]), codec.decode_chunk(z[:, :, 2:5])]
    assert [p.shape[1] for p in parts] == [5, 12]
    assert torch.equal(torch.cat(parts, 1), whole)
    codec.reset()
    assert codec.decode_chunk(z[:, :, :1]).shape[1] == 1


def test_file_round_trip_and_config_json(tmp_path):
    pca = PatchPCA.fit(CFG, video(seed=6))
    save_autoencoder(pca, tmp_path / "codec.safetensors", [0.0] * 12, [3.0] * 12)
    codec = load_codec(tmp_path / "codec.safetensors")
    assert isinstance(codec, PatchCodec) and codec.vae.config == CFG
    img = torch.rand(1, 3, 8, 12)
    assert torch.allclose(codec.encode_image(img), pca.encode_video(img[:, :, None]) / 3.0, atol=1e-6)
    from motionstream_core.train.common import model_config

    cfg = model_config("demo-pca")
    assert ModelConfig.from_json(json.dumps(cfg.to_dict())) == cfg
    with pytest.raises(ConfigError, match=r"^PatchCodecConfig: 49 channels exceed the 48 values of a patch$"):
        PatchCodecConfig(latent_channels=49, stride=2, pack=4).validate()

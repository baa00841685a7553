"""The overfit probe's linear codec: time packed like the track head, and exact with every component."""

import numpy as np
import pytest

from motionstream_core.train.probe import LinearCodec, ProbeOptions, _other, probe_config


def test_linear_codec_is_exact_with_all_components_and_packs_time_like_the_track_head():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 9, 16, 16, 3), dtype=np.uint8)  # 9 frames -> 3 latent frames
    codec = LinearCodec(frames, stride=4, channels=4 * 4 * 4 * 3)
    z = codec.encode(frames)
    assert z.shape == (6, 192, 3, 4, 4)
    np.testing.assert_allclose(codec.decode(z).numpy(), frames / 255.0, atol=1e-4)
    # latent j >= 1 holds pixel frames 4j-3..4j only: changing frame 5 changes latent 2 alone
    other = frames.copy()
    other[:, 5] = 255 - other[:, 5]
    dz = (codec.encode(other) - z).abs().amax((0, 1, 3, 4))
    assert dz[0] == 0 and dz[1] == 0 and dz[2] > 0


def test_fewer_components_keep_the_most_variance():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (8, 5, 16, 16, 3)).astype(np.float32)
    frames = np.clip(base.mean(-1, keepdims=True) + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    err = [float(((LinearCodec(frames, 4, channels=c).decode(LinearCodec(frames, 4, channels=c).encode(frames))
                   .numpy() - frames / 255.0) ** 2).mean()) for c in (4, 16, 64)]
    assert err[0] > err[1] > err[2]


def test_probe_config_and_clip_pairs():
    cfg = probe_config(ProbeOptions(size=64, stride=4, patch=2))
    assert (cfg.height, cfg.track_head.stride, cfg.vae.spatial_stride, cfg.dit.patch_size) == (64, 4, 4, (1, 2, 2))
    assert [_other(k, 2) for k in range(4)] == [1, 0, 3, 2] and [_other(k, 3) for k in range(3)] == [1, 2, 0]


def test_a_warp_config_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"^the probe conditions on the start image itself; 'demo-warp' takes it "
                                         r"warped along the tracks \(reference 'warp'\)"):
        probe_config(ProbeOptions(base_config="demo-warp"))

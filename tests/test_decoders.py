"""Fast streaming decoders: taew2_1 key layout, strict loading, chunk-wise == whole-sequence decoding."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from motionstream_core.config import TinyVAEConfig
from motionstream_core.decoders import (TAEW2_1_CONFIG, WAN21_LATENT_MEAN, WAN21_LATENT_STD, FullVAECodec,
                                        LatentCodec, TinyVAE, TinyVAECodec, TinyVAELoadError, load_tiny_vae)
from motionstream_core.tiny_vae import MemBlock

FIXTURE = Path(__file__).parent / "data" / "taew2_1_keys.json"
TINY = TinyVAEConfig(channels=(8, 8, 8, 8), encoder_width=8, blocks_per_stage=1)
TOL = 1e-5  # fp32, chunk-wise vs whole sequence


def _taew2_1_keys() -> dict[str, tuple[int, ...]]:
    return {name: tuple(shape) for name, shape in json.loads(FIXTURE.read_text())["keys"]}


def _tiny_vae(seed: int = 0, config: TinyVAEConfig = TINY) -> TinyVAE:
    torch.manual_seed(seed)
    vae = TinyVAE(config).eval()
    with torch.no_grad():  # larger than default init, so memory paths visibly matter
        for p in vae.parameters():
            p.mul_(2.0)
    return vae


# -- taew2_1 layout and loading -------------------------------------------------------------------

def test_taew2_1_keys_and_shapes_match_on_meta():
    with torch.device("meta"):
        vae = TinyVAE(TAEW2_1_CONFIG)
    ours = [(k, tuple(v.shape)) for k, v in vae.state_dict().items()]
    assert ours == list(_taew2_1_keys().items())  # same names, shapes and nn.Sequential order
    # independent facts of the published file: 128 tensors, 58 biases, TGrow stride 1 at decoder.7
    assert len(ours) == 128 and sum(k.endswith(".bias") for k, _ in ours) == 58
    assert dict(ours)["decoder.7.conv.weight"] == (256, 256, 1, 1)
    assert dict(ours)["decoder.13.conv.weight"] == (256, 128, 1, 1)
    assert dict(ours)["encoder.2.conv.weight"] == (64, 128, 1, 1)


def test_config_defaults_are_taew2_1():
    assert TinyVAEConfig() == TAEW2_1_CONFIG


@pytest.fixture(scope="module")
def taew2_1_state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(shape, generator=g) * 0.02 for k, shape in _taew2_1_keys().items()}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_state_dict_with_taew2_1_names_loads(tmp_path, suffix, taew2_1_state):
    sd = dict(taew2_1_state)  # a copy this test may edit
    path = tmp_path / f"taew2_1{suffix}"
    save_file(sd, str(path)) if suffix == ".safetensors" else torch.save(sd, path)
    vae = load_tiny_vae(path)
    assert not vae.training
    loaded = vae.state_dict()
    assert all(torch.equal(loaded[k], sd[k]) for k in sd)
    z = torch.randn(1, 16, 2, 2, 3)
    assert vae.decode_video(z).shape == (1, 3, 5, 16, 24)


def test_wrong_names_and_shapes_fail_with_one_error_naming_them(tmp_path, taew2_1_state):
    sd = dict(taew2_1_state)  # a copy this test may edit
    sd["decoder.3.conv0.weight"] = sd.pop("decoder.3.conv.0.weight")
    sd["decoder.1.bias"] = torch.zeros(255)
    path = tmp_path / "bad.safetensors"
    save_file(sd, str(path))
    with pytest.raises(TinyVAELoadError) as err:
        load_tiny_vae(path)
    msg = str(err.value)
    assert msg == (f"{path} does not fit the tiny VAE (channels=(256, 128, 64, 64), encoder_width=64, "
                   "blocks_per_stage=3, latent_channels=16): "
                   "missing keys (1): decoder.3.conv.0.weight | "
                   "unexpected keys (1): decoder.3.conv0.weight | "
                   "shape mismatches (1): decoder.1.bias: checkpoint [255] vs model [256]")


def test_taew2_1_weights_do_not_load_into_a_narrower_config(tmp_path, taew2_1_state):
    path = tmp_path / "taew2_1.safetensors"
    save_file(taew2_1_state, str(path))
    with pytest.raises(TinyVAELoadError) as err:
        load_tiny_vae(path, TinyVAEConfig(channels=(32, 32, 32, 32), encoder_width=32))
    msg = str(err.value)
    assert "missing keys" not in msg and "unexpected keys" not in msg
    assert "decoder.1.weight: checkpoint [256, 16, 3, 3] vs model [32, 16, 3, 3]" in msg
    assert "encoder.17.weight: checkpoint [16, 64, 3, 3] vs model [16, 32, 3, 3]" in msg


def test_pth_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"encoder.0.weight": torch.zeros(1), "note": object()}, path)
    with pytest.raises(Exception, match="Weights only load failed"):
        load_tiny_vae(path)


# -- tiny VAE: shapes, training path, streaming ----------------------------------------------------

def test_encode_decode_shapes_and_gradients():
    vae = _tiny_vae()
    frames = torch.rand(2, 3, 9, 32, 48, requires_grad=True)
    z = vae.encode_video(frames)
    assert z.shape == (2, 16, 3, 4, 6)  # 1 + 4k frames -> 1 + k latents
    out = vae.decode_video(z, clamp=False)
    assert out.shape == (2, 3, 9, 32, 48)
    out.square().mean().backward()
    assert frames.grad is not None and frames.grad.abs().sum() > 0
    assert all(p.grad is not None for p in vae.parameters())
    raw = vae.decode_video(4 * z, clamp=False)  # large latents: an untrained decoder leaves [0, 1]
    assert raw.min() < 0 or raw.max() > 1
    assert torch.equal(vae.decode_video(4 * z), raw.clamp(0, 1))  # the default clamps, and only clamps


@pytest.mark.parametrize("chunks", [[1, 3, 2, 1], [7], [2, 2, 2, 1], [1, 1, 1, 1, 1, 1, 1]])
def test_tiny_chunkwise_equals_whole_sequence(chunks):
    vae = _tiny_vae()
    z = torch.randn(2, 16, sum(chunks), 4, 5)
    whole = vae.decode_video(z).permute(0, 2, 3, 4, 1)  # [B, T', H, W, 3]
    codec = TinyVAECodec(vae)
    parts, start = [], 0
    for i, n in enumerate(chunks):
        out = codec.decode_chunk(z[:, :, start:start + n])
        assert out.shape == (2, 1 + 4 * (n - 1) if i == 0 else 4 * n, 32, 40, 3)
        parts.append(out)
        start += n
    streamed = torch.cat(parts, 1)
    assert streamed.shape == whole.shape == (2, 1 + 4 * (sum(chunks) - 1), 32, 40, 3)
    assert (streamed - whole).abs().max().item() <= TOL


def test_tiny_state_is_carried_and_reset_cleanly():
    vae = _tiny_vae()
    codec = TinyVAECodec(vae)
    z = torch.randn(1, 16, 6, 4, 4)
    first = codec.decode_chunk(z[:, :, :3])
    second = codec.decode_chunk(z[:, :, 3:])
    codec.reset()
    assert torch.equal(codec.decode_chunk(z[:, :, :3]), first)  # same as a fresh stream
    assert codec.decode_chunk(z[:, :, 3:]).shape[1] == 12
    codec.reset()
    fresh = codec.decode_chunk(z[:, :, 3:])  # a new video starting here: 1 + 4*2 frames, no memory
    assert fresh.shape[1] == 9
    assert (fresh - second[:, 3:]).abs().max() > 1e-3  # carried state really changes the output


def test_tiny_chunk_runs_each_memblock_once():
    vae = _tiny_vae()
    calls = []
    for m in vae.decoder:
        if isinstance(m, MemBlock):
            m.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    codec = TinyVAECodec(vae)
    codec.decode_chunk(torch.randn(1, 16, 3, 4, 4))
    codec.decode_chunk(torch.randn(1, 16, 3, 4, 4))
    # 3 MemBlocks (1 per stage), once per chunk, each on all the chunk's frames at its stage as one
    # batch: 3 latents -> 3 (stage 1) -> 3 (stage 2, 1st TGrow has stride 1) -> 6 (stage 3)
    assert calls == [3, 3, 6, 3, 3, 6]


def test_tiny_codec_normalisation_and_encode_image():
    vae = _tiny_vae()
    codec = TinyVAECodec(vae, WAN21_LATENT_MEAN, WAN21_LATENT_STD)
    assert isinstance(codec, LatentCodec)
    assert (codec.latent_channels, codec.spatial_stride, codec.temporal_stride) == (16, 8, 4)
    mean = torch.tensor(WAN21_LATENT_MEAN).view(1, 16, 1, 1, 1)
    std = torch.tensor(WAN21_LATENT_STD).view(1, 16, 1, 1, 1)
    raw = torch.randn(1, 16, 3, 4, 4) * std + mean
    out = codec.decode_chunk((raw - mean) / std)
    assert (out - vae.decode_video(raw).permute(0, 2, 3, 4, 1)).abs().max().item() <= TOL
    image = torch.rand(2, 3, 32, 40)
    z = codec.encode_image(image)
    assert z.shape == (2, 16, 1, 4, 5)
    expected = (vae.encode_video(image[:, :, None].expand(-1, -1, 4, -1, -1)) - mean) / std
    assert (z - expected).abs().max().item() <= TOL


def test_tiny_codec_rejects_bad_input():
    codec = TinyVAECodec(_tiny_vae())
    with pytest.raises(ValueError, match=re.escape("decode_chunk expects model-space latents [B, 16, T>=1, h, w], "
                                                   "got (1, 8, 2, 4, 4)")):
        codec.decode_chunk(torch.randn(1, 8, 2, 4, 4))
    with pytest.raises(ValueError, match="encode_image: size 30x32 is not a multiple of 8"):
        codec.encode_image(torch.rand(1, 3, 32, 30))
    with pytest.raises(ValueError, match="latent_std has 3 values but the VAE has 16 latent channels"):
        TinyVAECodec(_tiny_vae(), None, [1.0, 2.0, 3.0])
    codec.decode_chunk(torch.randn(1, 16, 1, 4, 4))
    with pytest.raises(ValueError, match=re.escape("batch size changed mid-stream (1 -> 2); call reset() first")):
        codec.decode_chunk(torch.randn(2, 16, 1, 4, 4))


# -- the full VAE -----------------------------------------------------------------------------------

def _tiny_wan_vae():
    import diffusers
    torch.manual_seed(0)
    return diffusers.AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                                      attn_scales=[], temperal_downsample=[False, True, True]).eval()


@pytest.mark.parametrize("chunks", [[1, 2, 1], [3, 1]])
def test_wan_vae_chunkwise_equals_whole_sequence(chunks):
    from motionstream_core.decoders import WanVAECodec

    vae = _tiny_wan_vae()
    mean = torch.tensor(WAN21_LATENT_MEAN).view(1, 16, 1, 1, 1)
    std = torch.tensor(WAN21_LATENT_STD).view(1, 16, 1, 1, 1)
    raw = torch.randn(1, 16, sum(chunks), 3, 4) * std + mean
    with torch.no_grad():
        whole = ((vae.decode(raw).sample + 1) / 2).clamp(0, 1).permute(0, 2, 3, 4, 1)
    codec = WanVAECodec(vae)
    assert isinstance(codec, LatentCodec)
    for _ in range(2):  # the second pass checks reset()
        parts, start = [], 0
        for i, n in enumerate(chunks):
            out = codec.decode_chunk((raw[:, :, start:start + n] - mean) / std)
            assert out.shape == (1, 1 + 4 * (n - 1) if i == 0 else 4 * n, 24, 32, 3)
            parts.append(out)
            start += n
        streamed = torch.cat(parts, 1)
        assert streamed.shape == whole.shape
        assert (streamed - whole).abs().max().item() <= TOL
        codec.reset()


def test_wan_vae_stats_and_encode_image():
    from motionstream_core.decoders import WanVAECodec

    vae = _tiny_wan_vae()
    assert tuple(vae.config.latents_mean) == WAN21_LATENT_MEAN
    assert tuple(vae.config.latents_std) == WAN21_LATENT_STD
    codec = WanVAECodec(vae)
    image = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        raw = vae.encode(image[:, :, None] * 2 - 1).latent_dist.mode()
    z = codec.encode_image(image)
    assert z.shape == (1, 16, 1, 3, 4)
    expected = (raw - torch.tensor(WAN21_LATENT_MEAN).view(1, 16, 1, 1, 1)) / torch.tensor(
        WAN21_LATENT_STD).view(1, 16, 1, 1, 1)
    assert (z - expected).abs().max().item() <= TOL


def test_load_wan_vae_from_a_diffusers_folder(tmp_path):
    from motionstream_core.decoders import WanVAECodec

    vae = _tiny_wan_vae()
    vae.save_pretrained(str(tmp_path / "vae"))  # a pipeline folder with a vae/ subfolder
    codec = WanVAECodec.from_path(tmp_path)
    z = torch.randn(1, 16, 2, 2, 2)
    with torch.no_grad():
        want = ((vae.decode(codec.stats.denormalize(z)).sample + 1) / 2).permute(0, 2, 3, 4, 1)
    assert (codec.decode_chunk(z) - want).abs().max().item() <= TOL
    with pytest.raises(FileNotFoundError, match="Wan VAE not found"):
        WanVAECodec.from_path(tmp_path / "nothing")


class _WrongFrameBackend:
    latent_channels, spatial_stride, temporal_stride = 16, 8, 4

    def reset(self):
        pass

    def decode_step(self, latents):
        b, _, t, h, w = latents.shape
        return torch.zeros(b, 3, 4 * t, 8 * h, 8 * w)  # forgets that the first latent gives 1 frame

    def encode_image(self, pixels):
        return torch.zeros(pixels.shape[0], 16, 1, pixels.shape[2] // 8, pixels.shape[3] // 8)


def test_full_codec_checks_backend_frame_counts():
    codec = FullVAECodec(_WrongFrameBackend())
    with pytest.raises(RuntimeError, match="the decoder returned 8 frames for 2 latents, expected 5"):
        codec.decode_chunk(torch.zeros(1, 16, 2, 2, 2))
    with pytest.raises(TypeError, match="object is not a StreamingVAEBackend: missing latent_channels"):
        FullVAECodec(object())

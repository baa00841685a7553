"""The ComfyUI-VAE adapter's chunk bookkeeping, without the host, on a fake causal video VAE.

The fake decoder's frames for latent t depend on latents t and t-1 (a one-latent memory, zero at the
start of a call) and latent 0 of a call gives 1 frame, every later one 4 -- ComfyUI's VAE.decode
contract. With ``context`` >= the memory, overlap decoding must equal whole-video decoding exactly;
the real Wan VAE (tests/test_host_vae_adapter.py) has a much longer memory.
"""

from __future__ import annotations

import pytest
import torch

from motionstream_core.decoders import WAN21_LATENT_MEAN, WAN21_LATENT_STD
from nodes.vae_adapter import ComfyVAEBackend, can_step_exactly, comfy_vae_codec


class FakeVideoVAE:
    latent_dim = 3
    latent_channels = 16

    def __init__(self):
        self.calls = []

    def spacial_compression_decode(self):
        return 8

    def temporal_compression_decode(self):
        return 4

    def decode(self, z):  # [B, C, T, h, w] -> [B, T', 8h, 8w, 3] in [0, 1]
        self.calls.append(z.shape[2])
        prev = torch.cat([torch.zeros_like(z[:, :, :1]), z[:, :, :-1]], 2)
        mix = torch.sigmoid(z[:, :3] + 0.5 * prev[:, :3])  # [B, 3, T, h, w]
        frames = []
        for t in range(z.shape[2]):
            f = torch.nn.functional.interpolate(mix[:, :, t], scale_factor=8)  # [B, 3, H, W]
            reps = 1 if t == 0 else 4
            frames += [f * (k + 1) / 4 for k in range(4 - reps, 4)]
        return torch.stack(frames, 2).movedim(1, -1)

    def encode(self, pixels):  # [1, H, W, 3] -> [1, 16, 1, H/8, W/8]
        x = pixels.movedim(-1, 1)
        pooled = torch.nn.functional.avg_pool2d(x, 8)
        return pooled.repeat(1, 6, 1, 1)[:, :16, None]


def test_overlap_decoding_equals_whole_decoding_when_context_covers_the_memory():
    vae = FakeVideoVAE()
    z = torch.randn(1, 16, 9, 2, 3)
    whole = vae.decode(z).movedim(-1, 1) * 2 - 1
    backend = ComfyVAEBackend(vae, context=1, mode="overlap")
    assert backend.mode == "overlap"
    parts = [backend.decode_step(z[:, :, i:i + 3]) for i in (0, 3, 6)]
    assert [p.shape[2] for p in parts] == [9, 12, 12]
    assert torch.allclose(torch.cat(parts, 2), whole, atol=1e-6)
    assert vae.calls[1:] == [3, 4, 4], "each later chunk is decoded with one latent of context"
    backend.reset()
    again = backend.decode_step(z[:, :, :3])
    assert again.shape[2] == 9 and torch.allclose(again, parts[0]), "reset starts a new video"


def test_more_context_costs_more_latents_but_keeps_the_frames():
    vae = FakeVideoVAE()
    z = torch.randn(1, 16, 9, 2, 2)
    whole = vae.decode(z).movedim(-1, 1) * 2 - 1
    backend = ComfyVAEBackend(vae, context=4, mode="overlap")
    out = torch.cat([backend.decode_step(z[:, :, i:i + 3]) for i in (0, 3, 6)], 2)
    assert torch.allclose(out, whole, atol=1e-6)
    assert vae.calls[-2:] == [6, 7], "context is capped by what exists"


def test_codec_normalises_and_counts_frames():
    vae = FakeVideoVAE()
    codec = comfy_vae_codec(vae, WAN21_LATENT_MEAN, WAN21_LATENT_STD, context=2, mode="overlap")
    z = torch.randn(1, 16, 3, 2, 2)
    frames = codec.decode_chunk(z)
    assert frames.shape == (1, 9, 16, 16, 3) and frames.min() >= 0 and frames.max() <= 1
    assert codec.decode_chunk(z).shape == (1, 12, 16, 16, 3)
    lat = codec.encode_image(torch.rand(2, 3, 16, 16))
    assert lat.shape == (2, 16, 1, 2, 2), "a batch of images is encoded one image at a time"


def test_exact_mode_needs_the_wan_layout_and_falls_back():
    vae = FakeVideoVAE()
    assert not can_step_exactly(vae)
    assert ComfyVAEBackend(vae, mode="exact").mode == "overlap"


@pytest.mark.parametrize("kwargs, words", [
    ({"context": 0}, "context must be >= 1"),
    ({"mode": "fast"}, "mode must be one of exact, overlap"),
])
def test_bad_settings(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ComfyVAEBackend(FakeVideoVAE(), **kwargs)


def test_image_vae_is_refused():
    img_vae = FakeVideoVAE()
    img_vae.latent_dim = 2
    with pytest.raises(ValueError, match="not a video VAE"):
        ComfyVAEBackend(img_vae)

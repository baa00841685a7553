"""A refining stream (``StreamConfig.start_sigma`` < 1, the ``*-warp-refine`` configs): each chunk starts from its
image slot (the warp) noised to the start sigma and steps through the stream's sigmas scaled by it; the training
rollout makes the same video; a silent model streams its slot exactly; DMD matches it only below its start sigma;
the config's validation and round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from motionstream_core import flow
from motionstream_core.config import ConfigError, ModelConfig
from motionstream_core.decoders import PatchCodec
from motionstream_core.stream import MotionStream, denoising_sigmas
from motionstream_core.track_head import assign_track_ids
from motionstream_core.tracks import Tracks
from motionstream_core.train.causal import rollout, student_sigmas
from motionstream_core.train.common import build_model, model_config
from motionstream_core.train.data import encode_conditioning
from motionstream_core.train.dmd import score_sigma

from test_slot_warp import _codec


def _refiner(silent: bool = False):
    """A ``tiny-warp-refine`` model (unless ``silent``: a random, non-zero DiT head) and a random codec."""
    cfg = model_config("tiny-warp-refine")
    model = build_model(cfg, 0).eval()
    pca = _codec(cfg)
    stats = (torch.linspace(-0.2, 0.2, 16), torch.linspace(0.5, 2.0, 16))
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        for p in model.dit.head.parameters():
            p.copy_(torch.zeros_like(p) if silent else torch.randn(p.shape, generator=g) * 0.1)
        model.latent_std.copy_(torch.linspace(0.1, 1.5, cfg.latent_channels))
    return model, PatchCodec(pca, *stats)


def _drag(T: int = 33) -> Tracks:
    path = np.stack([np.linspace([20, 20], [40, 30], T), np.full((T, 2), 50.0)], 1).astype(np.float32)
    return Tracks(path=path, visible=np.ones((T, 2), bool), fps=16, width=64, height=64)


def _conditioning(model, codec, image, tracks, seed):
    with torch.no_grad():
        start = codec.encode_image(image.permute(2, 0, 1)[None].contiguous())
        ids = assign_track_ids(model.config.track_head.max_tracks, seed, model.config.track_head.max_id)
        p, v = torch.tensor(tracks.path)[None], torch.tensor(tracks.visible)[None]
        return encode_conditioning(model, p, v, ids[None, :tracks.num_tracks], start, codec)


def test_the_refine_config_scales_the_sigmas_and_is_validated():
    cfg = model_config("tiny-warp-refine")
    assert denoising_sigmas(cfg.stream) == pytest.approx([0.3, 0.2, 0.1])
    assert dataclasses.replace(cfg, name="tiny-warp", stream=model_config("tiny-warp").stream) == model_config(
        "tiny-warp")
    assert ModelConfig.from_json(cfg.to_json()).stream.start_sigma == 0.3
    assert denoising_sigmas(model_config("tiny-warp").stream)[0] == 1.0  # other configs: unchanged
    with pytest.raises(ConfigError, match=r"StreamConfig.start_sigma must be in \(0, 1\], got 1.5"):
        dataclasses.replace(cfg, stream=dataclasses.replace(cfg.stream, start_sigma=1.5)).validate()
    with pytest.raises(ConfigError, match=r"StreamConfig.start_sigma must be in \(0, 1\], got 0"):
        dataclasses.replace(cfg, stream=dataclasses.replace(cfg.stream, start_sigma=0)).validate()
    plain = model_config("tiny-photo")
    with pytest.raises(ConfigError, match=r"ModelConfig 'tiny-photo': stream.start_sigma \(0.3\) refines the "
                                          r"reference, which must be a whole video \(reference start_image or warp, "
                                          r"not first_frame\)"):
        dataclasses.replace(plain, stream=dataclasses.replace(plain.stream, start_sigma=0.3)).validate()


def test_the_first_chunk_refines_its_slot_noised_to_the_start_sigma(stream_inputs):
    """Chunk 0 re-derived by hand from the session's noise: x = 0.7 slot + 0.3 noise, then x0 predictions re-noised
    to 0.2 and 0.1 (the first chunk attends only to itself, as a plain forward does)."""
    image, text, _ = stream_inputs
    model, codec = _refiner()
    tracks = _drag()
    chunk = next(iter(MotionStream(model, codec).session(image, text, tracks, num_frames=33, seed=3)))
    track_latent, slot = _conditioning(model, codec, image, tracks, 3)
    C = model.config.stream.chunk_frames
    track_latent, slot = track_latent[:, :, :C], slot[:, :, :C]
    ctx = model.dit.context_kv(text.context, None)  # a MotionStream model streams without CLIP image tokens
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        x = 0.7 * slot + 0.3 * torch.randn(slot.shape, generator=gen)
        for sigma, following in ((0.3, 0.2), (0.2, 0.1), (0.1, None)):
            v = model.velocity(x, torch.tensor([sigma * 1000]), track_latent, slot, ctx)
            x0 = x - sigma * v
            if following is not None:
                x = (1 - following) * x0 + following * torch.randn(slot.shape, generator=gen)
    torch.testing.assert_close(chunk.latents, x0, atol=1e-5, rtol=1e-4)
    assert (chunk.latents - slot).abs().amax() > 1e-2  # the random head changes the warp: a real test of the steps


def test_the_training_rollout_makes_the_refining_stream(stream_inputs):
    image, text, _ = stream_inputs
    model, codec = _refiner()
    tracks = _drag()
    streamed = torch.cat([c.latents for c in MotionStream(model, codec).session(image, text, tracks, num_frames=33,
                                                                                   seed=5)], dim=2)
    track_latent, slot = _conditioning(model, codec, image, tracks, 5)
    with torch.no_grad():
        rolled = rollout(model, track_latent, slot, model.dit.context_kv(text.context, None), slot.shape[2],
                         torch.Generator().manual_seed(5))
    assert student_sigmas(model) == pytest.approx([0.3, 0.2, 0.1])
    assert streamed.shape == rolled.shape == (1, 16, 9, 8, 8)
    torch.testing.assert_close(rolled, streamed, atol=1e-5, rtol=1e-4)


def test_a_silent_refiner_streams_its_warp(stream_inputs):
    image, text, _ = stream_inputs
    model, codec = _refiner(silent=True)
    tracks = _drag()
    streamed = torch.cat([c.latents for c in MotionStream(model, codec).session(image, text, tracks, num_frames=33,
                                                                                   seed=2)], dim=2)
    _, slot = _conditioning(model, codec, image, tracks, 2)
    torch.testing.assert_close(streamed, slot, atol=1e-5, rtol=0)


def test_dmd_scores_a_refiner_only_below_its_start_sigma():
    u = torch.linspace(0, 1, 101)
    full = score_sigma(u, model_config("tiny-warp").stream, 0.02, 0.98)
    low = score_sigma(u, model_config("tiny-warp-refine").stream, 0.02, 0.98)
    torch.testing.assert_close(full, flow.shift_sigma(u, 5.0).float().clamp(0.02, 0.98))
    torch.testing.assert_close(low, (u * 0.3).clamp(0.02, 0.98))  # shift 1, scaled by 0.3
    assert float(low.max()) == pytest.approx(0.3)

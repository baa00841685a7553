"""The image slot warped along the tracks (``ModelConfig.slot_warp``, ``track_warp.warp_latent``): a field of tracks
moving one latent cell translates the slot; a silent clean-change model streams exactly that warp, chunk by chunk
through the cache (anchors of tracks that start mid-stream included) as the training rollout makes it for the whole
clip; the flag's validation, round trip and the named error without tracks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from motionstream_core.config import ConfigError, ModelConfig
from motionstream_core.decoders import TinyVAE, TinyVAECodec
from motionstream_core.stream import MotionStream
from motionstream_core.track_head import assign_track_ids
from motionstream_core.track_warp import warp_latent
from motionstream_core.tracks import Tracks
from motionstream_core.train.causal import rollout
from motionstream_core.train.common import build_model, model_config
from motionstream_core.train.data import encode_conditioning


def test_a_field_of_tracks_moving_one_cell_translates_the_latent():
    """Tracks every 4 px moving 8 px right over latent frame 1's four pixel frames (2 px a frame: mean 5 px), then
    staying: latent frame 2 is the image latent one 8 px cell to the right in the interior; frame 0 is the image."""
    g = torch.Generator().manual_seed(0)
    latent = torch.randn(3, 8, 8, generator=g)
    ys, xs = torch.meshgrid(torch.arange(2, 64, 4.0), torch.arange(2, 64, 4.0), indexing="ij")
    start = torch.stack([xs.flatten(), ys.flatten()], 1)
    steps = torch.tensor([0, 2, 4, 6, 8, 8, 8, 8, 8], dtype=torch.float32)  # x shift per pixel frame
    path = start[None] + torch.stack([steps, torch.zeros(9)], 1)[:, None]
    visible = torch.ones(9, len(start), dtype=torch.bool)
    out = warp_latent(latent, path, visible, start, torch.ones(len(start), dtype=torch.bool), 64, 64, radius=8.0,
                      starts_video=True, pack=4)
    assert out.shape == (3, 3, 8, 8)
    assert torch.equal(out[:, 0], latent)
    # the still anchor pulls the shift to ~0.99 of 8 px: a ~1% mix with the neighbour cell
    torch.testing.assert_close(out[:, 2, 1:-1, 2:-1], latent[:, 1:-1, 1:-2], atol=0.06, rtol=0)
    half = out[:, 1, 1:-1, 2:-1]  # moved by the mean shift, 5 px = 5/8 of a cell: between the two cells
    want = latent[:, 1:-1, 2:-1] * (3 / 8) + latent[:, 1:-1, 1:-2] * (5 / 8)
    torch.testing.assert_close(half, want, atol=0.06, rtol=0)


def _silent_warp_model():
    model = build_model(model_config("tiny-warp"), 0).eval()
    with torch.no_grad():
        model.dit.head.head.weight.zero_()
        model.dit.head.head.bias.zero_()
        model.latent_std.copy_(torch.linspace(0.1, 1.5, model.config.latent_channels))
    return model


def test_a_silent_warp_model_streams_the_warp_chunk_by_chunk_as_the_rollout_makes_it(stream_inputs):
    image, text, _ = stream_inputs
    T = 45
    drag = np.linspace([20, 20], [40, 30], T)
    late = np.linspace([44, 44], [36, 50], T)  # a track that starts at pixel frame 14 (the second chunk's)
    path = np.stack([drag, np.full((T, 2), 50.0), late], 1).astype(np.float32)
    visible = np.ones((T, 3), bool)
    visible[:14, 2] = False
    tracks = Tracks(path=path, visible=visible, fps=16, width=64, height=64)
    model = _silent_warp_model()
    codec = TinyVAECodec(TinyVAE(model.config.vae).eval())
    chunks = list(MotionStream(model, codec).session(image, text, tracks, num_frames=T, seed=3))
    streamed = torch.cat([c.latents for c in chunks], dim=2)
    with torch.no_grad():
        start = codec.encode_image(image.permute(2, 0, 1)[None].contiguous())
        ids = assign_track_ids(model.config.track_head.max_tracks, 3, model.config.track_head.max_id)[:3]
        p, v = torch.from_numpy(path)[None], torch.from_numpy(visible)[None]
        track_latent, slot = encode_conditioning(model, p, v, ids[None], start)
        rolled = rollout(model, track_latent, slot, model.dit.context_kv(text.context), slot.shape[2],
                         torch.Generator().manual_seed(0))
    assert streamed.shape == slot.shape == (1, 16, 12, 8, 8)
    torch.testing.assert_close(streamed, slot, atol=1e-5, rtol=0)  # F = 0: the clean change is 0, x0 = the warp
    torch.testing.assert_close(rolled, slot, atol=1e-5, rtol=0)
    moved = (slot[0, :, 1:] - start[0]).abs().amax(dim=(0, 2, 3))  # per latent frame after 0
    spread = (start[0, :, 0] - start[0, :, 0].mean(dim=(1, 2), keepdim=True)).abs().amax()  # the image's contrast
    assert moved[-1] > 0.1 * spread, (moved, spread)  # the warp moves content (random codec: low-contrast latents)
    assert torch.equal(slot[:, :, 0], start[:, :, 0])  # latent frame 0 is the image itself


def test_the_flag_needs_change_from_start_round_trips_and_needs_tracks():
    cfg = model_config("tiny-warp")
    assert ModelConfig.from_json(cfg.to_json()).slot_warp == 6.0
    assert ModelConfig.from_json(model_config("tiny-clean").to_json()).slot_warp == 0.0
    assert dataclasses.replace(model_config("demo-warp"), name="demo-clean", slot_warp=0.0) == model_config("demo-clean")
    with pytest.raises(ConfigError, match=r"'tiny-warp': slot_warp \(6.0\) must be 0, or positive with change_from_start"):
        dataclasses.replace(cfg, change_from_start=False).validate()
    with pytest.raises(ConfigError, match=r"slot_warp \(-1.0\) must be 0"):
        dataclasses.replace(cfg, slot_warp=-1.0).validate()
    model = _silent_warp_model()
    with pytest.raises(ValueError, match="model 'tiny-warp' warps its image slot along the tracks \\(slot_warp\\): "
                                         "give image_slot the tracks' path and visible"):
        model.image_slot(torch.zeros(1, 16, 1, 8, 8), 3, 0)


def test_eval_motion_guidance_zero_is_the_unguided_sample_for_the_empty_caption():
    """``motionstream eval --motion-guidance 0`` (``EvalOptions.motion_guidance``): with the demo's empty caption
    text guidance is a no-op, so the teacher's video is its unguided sample; the config's 1.5 differs."""
    from motionstream_core.teacher import Guidance
    from motionstream_core.train.evaluate import EvalOptions, teacher_video

    model = build_model(model_config("tiny-warp"), 1).eval()
    with torch.no_grad():
        for p in model.dit.head.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    codec = TinyVAECodec(TinyVAE(model.config.vae).eval())
    image = (torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8).numpy()
    T = 9
    path = np.stack([np.linspace([20, 20], [30, 26], T), np.full((T, 2), 48.0)], 1).astype(np.float32)
    tracks = Tracks(path=path, visible=np.ones((T, 2), bool), fps=16, width=64, height=64)
    zero = EvalOptions(motion_guidance=0.0).guidance(model)
    assert zero == Guidance(model.config.teacher.text_guidance, 0.0)
    assert EvalOptions().guidance(model) == Guidance.from_config(model.config.teacher)
    with torch.no_grad():
        guided0 = teacher_video(model, codec, image, "", tracks, 0, 3, zero)
        plain = teacher_video(model, codec, image, "", tracks, 0, 3, Guidance(0.0, 0.0))  # v = v(no text)
        default = teacher_video(model, codec, image, "", tracks, 0, 3)
    same, differs = (guided0 - plain).abs().max().item(), (default - plain).abs().max().item()
    assert differs > 1e-4 and same < 1e-3 * differs, (same, differs)  # (a random decoder: faint frames)

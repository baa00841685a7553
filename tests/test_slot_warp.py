"""The image slot warped along the tracks (the ``warp`` reference): the start image (as the run's codec
reconstructs it), warped in pixels (``reference.warp_frames``) and encoded by the run's codec, all by the reference
builder outside the model; a field of tracks translates the frames; a silent clean-change model streams exactly that
warp, chunk by chunk through the cache (anchors of tracks that start mid-stream included) as the training rollout makes
it for the whole clip, and that is the codec's encoding of the pixel warp; checkpoints that carry the codec copy of
older versions (``slot_codec.*``) load and stream the same frames, new ones hold no codec; the flag's validation,
round trip and the named errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from motionstream_core.checkpoints import load_model, save_model
from motionstream_core.config import ConfigError, ModelConfig, Parameterisation, TinyVAEConfig
from motionstream_core.decoders import PatchCodec, PatchPCA
from motionstream_core.stream import MotionStream
from motionstream_core.track_head import assign_track_ids
from motionstream_core.reference import warp_frames, warp_image
from motionstream_core.tracks import Tracks
from motionstream_core.train.causal import rollout
from motionstream_core.train.common import build_model, model_config
from motionstream_core.train.data import encode_conditioning
from motionstream_core.train.init import initial_model


def test_a_field_of_tracks_translates_the_frames_and_tracks_not_started_pull_nothing():
    """Tracks every 4 px moving 2 px right a frame: frame t is the image t x 2 px to the right in the interior (the
    still anchor pulls the shift to ~0.99 of it); frame 0 is the image; unstarted tracks leave every frame as is."""
    g = torch.Generator().manual_seed(0)
    image = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 68, 68, generator=g), 5, 1)[0]  # [3, 64, 64], smooth
    ys, xs = torch.meshgrid(torch.arange(2, 64, 4.0), torch.arange(2, 64, 4.0), indexing="ij")
    start = torch.stack([xs.flatten(), ys.flatten()], 1)
    path = start[None] + torch.stack([torch.arange(5.0) * 2, torch.zeros(5)], 1)[:, None]  # [5, N, 2]
    visible = torch.ones(5, len(start), dtype=torch.bool)
    out = warp_frames(image, path, visible, start, torch.ones(len(start), dtype=torch.bool), radius=8.0)
    assert out.shape == (3, 5, 64, 64)
    torch.testing.assert_close(out[:, 0], image, atol=1e-6, rtol=0)
    torch.testing.assert_close(out[:, 4, 8:-8, 16:-8], image[:, 8:-8, 8:-16], atol=0.02, rtol=0)
    still = warp_frames(image, path, visible, start, torch.zeros(len(start), dtype=torch.bool), radius=8.0)
    torch.testing.assert_close(still, image[:, None].expand(-1, 5, -1, -1), atol=1e-6, rtol=0)


def _codec(cfg, seed=4):
    """A PatchPCA of ``cfg.vae`` with a random orthonormal basis and mean (no fitting needed for equivalences)."""
    pca = PatchPCA(cfg.vae)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(pca.basis.shape[0], pca.basis.shape[0], generator=g))
        pca.basis.copy_(q[:, :pca.basis.shape[1]])
        pca.mean.copy_(torch.rand(pca.mean.shape, generator=g) * 0.2 + 0.4)
    return pca.eval()


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
    pca = _codec(model_config("tiny-warp"))
    stats = (torch.linspace(-0.2, 0.2, 16), torch.linspace(0.5, 2.0, 16))
    model = _silent_warp_model()
    codec = PatchCodec(pca, *stats)
    chunks = list(MotionStream(model, codec).session(image, text, tracks, num_frames=T, seed=3))
    streamed = torch.cat([c.latents for c in chunks], dim=2)
    with torch.no_grad():
        start = codec.encode_image(image.permute(2, 0, 1)[None].contiguous())
        ids = assign_track_ids(model.config.track_head.max_tracks, 3, model.config.track_head.max_id)[:3]
        p, v = torch.from_numpy(path)[None], torch.from_numpy(visible)[None]
        track_latent, slot = encode_conditioning(model, p, v, ids[None], start, codec)
        rolled = rollout(model, track_latent, slot, model.dit.context_kv(text.context), slot.shape[2],
                         torch.Generator().manual_seed(0))
    assert streamed.shape == slot.shape == (1, 16, 12, 8, 8)
    torch.testing.assert_close(streamed, slot, atol=1e-5, rtol=0)  # F = 0: the clean change is 0, x0 = the warp
    torch.testing.assert_close(rolled, slot, atol=1e-5, rtol=0)
    # the slot is the codec's encoding of the decoded start image warped in pixels (the eval's warp reference; the
    # late track anchored where it starts, which warp_image's frame-0 anchors cannot say: it is left out there, and
    # the latent frames before it starts compared)
    pixels = pca.decode_video(codec.stats.denormalize(start))[0, :, 0].permute(1, 2, 0).numpy()  # [H, W, 3]
    reference = warp_image(pixels, path[:, :2], visible[:, :2], model.config.parameterisation.warp_radius)  # [T, H, W, 3]
    want = codec.stats.normalize(pca.encode_video(torch.from_numpy(reference).permute(3, 0, 1, 2)[None]))
    torch.testing.assert_close(slot[:, :, 1:4], want[:, :, 1:4], atol=1e-4, rtol=0)  # pixel frames 1-12: no late track
    assert (slot[:, :, 4:] - want[:, :, 4:]).abs().amax() > 1e-2  # later the late track moves its neighbourhood
    assert (slot[:, :, -1] - start[:, :, 0]).abs().amax() > 0.1  # the warp moves content
    assert torch.equal(slot[:, :, 0], start[:, :, 0])  # latent frame 0 is the image's latent itself


def test_the_warp_reference_has_a_radius_round_trips_and_needs_tracks():
    cfg = model_config("tiny-warp")
    p = cfg.parameterisation
    assert ModelConfig.from_json(cfg.to_json()).parameterisation == Parameterisation("sample", "warp", 6.0)
    assert ModelConfig.from_json(model_config("tiny-clean").to_json()).parameterisation.warp_radius == 0.0
    clean = model_config("demo-clean")
    assert dataclasses.replace(model_config("demo-warp"), name="demo-clean", parameterisation=clean.parameterisation,
                               teacher=clean.teacher) == clean
    assert model_config("demo-warp").teacher.motion_guidance == 0.0 != clean.teacher.motion_guidance
    with pytest.raises(ConfigError, match=r"Parameterisation.warp_radius \(6.0\) must be > 0 for the warp reference "
                                          r"and 0 otherwise \(reference 'start_image'\)"):
        dataclasses.replace(cfg, parameterisation=dataclasses.replace(p, reference="start_image")).validate()
    with pytest.raises(ConfigError, match=r"Parameterisation.warp_radius \(-1.0\) must be > 0"):
        dataclasses.replace(cfg, parameterisation=dataclasses.replace(p, warp_radius=-1.0)).validate()
    with pytest.raises(ConfigError, match=r"'tiny-warp': the warp reference is encoded chunk by chunk, "
                                          r"which needs a codec whose latent frames encode on their own"):
        dataclasses.replace(cfg, vae=TinyVAEConfig()).validate()
    model = _silent_warp_model()
    with pytest.raises(ValueError, match=r"model 'tiny-warp' takes the start image warped along the tracks as its "
                                         r"image slot \(reference 'warp'\): build it with reference.ReferenceBuilder"):
        model.image_slot(torch.zeros(1, 16, 1, 8, 8), 3, 0)
    with pytest.raises(ValueError, match=r"the reference \(1, 16, 2, 8, 8\) does not cover 3 latent frames"):
        model.image_slot(torch.zeros(1, 16, 1, 8, 8), 3, 0, torch.zeros(1, 16, 2, 8, 8))
    p, v = torch.zeros(1, 9, 1, 2), torch.ones(1, 9, 1, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"model 'tiny-warp' warps its image slot along the tracks \(reference 'warp'\): the "
                                         "run's codec builds it from the start image; give encode_conditioning the "
                                         "clips' codec"):
        encode_conditioning(model, p, v, torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 16, 1, 8, 8))


def test_eval_motion_guidance_zero_is_the_unguided_sample_for_the_empty_caption():
    """``motionstream eval --motion-guidance 0`` (``EvalOptions.motion_guidance``): with the demo's empty caption
    text guidance is a no-op, so the teacher's video is its unguided sample (a warp config's default); 1.5 differs."""
    from motionstream_core.teacher import Guidance
    from motionstream_core.train.evaluate import EvalOptions, teacher_video

    model = build_model(model_config("tiny-warp"), 1).eval()
    with torch.no_grad():
        for p in model.dit.head.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    codec = PatchCodec(_codec(model.config))
    image = (torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8).numpy()
    T = 9
    path = np.stack([np.linspace([20, 20], [30, 26], T), np.full((T, 2), 48.0)], 1).astype(np.float32)
    tracks = Tracks(path=path, visible=np.ones((T, 2), bool), fps=16, width=64, height=64)
    zero = EvalOptions(motion_guidance=0.0).guidance(model)
    assert zero == Guidance(model.config.teacher.text_guidance, 0.0)
    assert EvalOptions().guidance(model) == Guidance.from_config(model.config.teacher) == zero
    assert EvalOptions(motion_guidance=1.5).guidance(model) == (guided := Guidance(zero.text, 1.5))
    with torch.no_grad():
        guided0 = teacher_video(model, codec, image, "", tracks, 0, 3, zero)
        plain = teacher_video(model, codec, image, "", tracks, 0, 3, Guidance(0.0, 0.0))  # v = v(no text)
        default = teacher_video(model, codec, image, "", tracks, 0, 3, guided)
    same, differs = (guided0 - plain).abs().max().item(), (default - plain).abs().max().item()
    assert differs > 1e-4 and same < 1e-3 * differs, (same, differs)  # (a random decoder: faint frames)


def test_a_checkpoint_with_the_old_codec_copy_loads_and_streams_the_same_frames(tmp_path, stream_inputs):
    """Checkpoints of warp-reference models once carried a copy of the run's codec (``slot_codec.*``, as the shipped demo's
    does): they load (the copy is ignored: the stream builds the slot with the run's codec) and stream the frames
    of the same weights saved without it; a saved model holds no codec."""
    from safetensors.torch import load_file, save_file

    image, text, _ = stream_inputs
    pca = _codec(model_config("tiny-warp"))
    stats = (torch.linspace(-0.2, 0.2, 16), torch.linspace(0.5, 2.0, 16))
    model = build_model(model_config("tiny-warp"), 3).eval()
    save_model(model, tmp_path / "new.safetensors")
    sd = load_file(tmp_path / "new.safetensors")
    assert not any(k.startswith("slot_codec.") for k in sd)
    from safetensors import safe_open
    with safe_open(str(tmp_path / "new.safetensors"), "pt") as f:
        meta = f.metadata()
    old = {**sd, "slot_codec.mean": pca.mean.detach().clone(), "slot_codec.basis": pca.basis.detach().clone(),
           "slot_codec.latent_mean": stats[0], "slot_codec.latent_std": stats[1]}
    save_file(old, str(tmp_path / "old.safetensors"), metadata=meta)
    T = 21
    tracks = Tracks(path=np.stack([np.linspace([20, 20], [40, 30], T), np.full((T, 2), 50.0)], 1).astype(np.float32),
                    visible=np.ones((T, 2), bool), fps=16, width=64, height=64)
    videos = []
    for name in ("old", "new"):
        loaded = load_model(tmp_path / f"{name}.safetensors")
        chunks = MotionStream(loaded, PatchCodec(pca, *stats)).session(image, text, tracks, num_frames=T, seed=1)
        videos.append(torch.cat([c.frames for c in chunks]))
    assert videos[0].shape == (T, 64, 64, 3)
    assert torch.equal(videos[0], videos[1])
    again = initial_model(model_config("tiny-warp"), str(tmp_path / "old.safetensors"))  # a warm start from it
    assert torch.equal(again.dit.patch_embedding.weight, model.dit.patch_embedding.weight)

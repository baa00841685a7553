"""Predicting the clean latent (prediction ``sample``, the ``demo-clean`` models): the velocity against its
definition, a silent model streaming the still video exactly at any noise, the loss weighted per unit of the DiT's
output, and the prediction carried by configs and refused across warm starts."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from motionstream_core import flow
from motionstream_core.checkpoints import CheckpointError, save_model
from motionstream_core.config import ConfigError, ModelConfig
from motionstream_core.decoders import TinyVAE, TinyVAECodec
from motionstream_core.model import MotionStreamModel
from motionstream_core.stream import MotionStream
from motionstream_core.train.common import build_model, model_config
from motionstream_core.train.init import initial_model
from motionstream_core.train.teacher_train import LOSS_WEIGHTS, velocity_loss


def _model(name: str, seed: int = 0) -> MotionStreamModel:
    model = build_model(model_config(name), seed).eval()  # with the demo's text encoder
    with torch.no_grad():  # large random weights so that every input visibly matters
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
        model.latent_std.copy_(torch.linspace(0.1, 1.5, model.config.latent_channels))
    return model


def _dit_output(model: MotionStreamModel, x, t, track, slot, ctx):
    """F: the DiT's raw output on the preconditioned input, assembled by hand (c_in = 1 / sqrt(Var x))."""
    sigma = (t / 1000).view(t.shape[0], 1, -1, 1, 1)
    s2 = model.latent_std.view(1, -1, 1, 1, 1) ** 2
    c_in = ((1 - sigma) ** 2 * s2 + sigma ** 2).rsqrt()
    return model.dit(torch.cat([x * c_in, track, slot], dim=1), t, ctx)


def test_the_velocity_is_the_noisy_latent_minus_the_predicted_clean_latent_over_sigma():
    """v = (x - std F) / sigma per channel and per frame's own sigma, F the DiT's output; and x - sigma v, the
    sampler's clean estimate, is std F itself."""
    model = _model("tiny-photo")
    model.config = dataclasses.replace(model.config, parameterisation=dataclasses.replace(
        model.config.parameterisation, prediction="sample")).validate()
    C = model.config.latent_channels
    x, track, slot = torch.randn(2, C, 3, 8, 8), torch.randn(2, C, 3, 8, 8), torch.randn(2, C, 3, 8, 8)
    t = torch.tensor([[900.0, 400.0, 30.0], [1000.0, 5.0, 600.0]])
    ctx = torch.randn(2, 8, model.config.dit.text_dim)
    sigma = (t / 1000).view(2, 1, 3, 1, 1)
    with torch.no_grad():
        v = model.velocity(x, t, track, slot, ctx)
        clean = model.latent_std.view(1, C, 1, 1, 1) * _dit_output(model, x, t, track, slot, ctx)
    torch.testing.assert_close(v, (x - clean) / sigma, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(flow.x0_from_velocity(x, v, t / 1000), clean, rtol=1e-4, atol=1e-4)
    scale = model.output_scale(t)  # |dv / dF| = std / sigma
    torch.testing.assert_close(scale, model.latent_std.view(1, C, 1, 1, 1) / sigma)


def _silent(model: MotionStreamModel) -> MotionStreamModel:
    with torch.no_grad():
        model.dit.head.head.weight.zero_()
        model.dit.head.head.bias.zero_()
    return model


@pytest.mark.parametrize("sigma", [0.999, 0.5, 0.05, 0.002])
def test_a_silent_clean_change_model_denoises_to_the_start_image_at_every_noise(sigma):
    """F = 0 is 'no change': from any noisy latent, one step's clean estimate is the start image exactly (a
    velocity model's silent network instead returns a scaled copy of the noise, which must pass its tokens)."""
    model = _silent(_model("tiny-clean"))
    C = model.config.latent_channels
    image = torch.randn(1, C, 1, 8, 8)
    x = (1 - sigma) * image + sigma * torch.randn(1, C, 3, 8, 8)
    t = torch.full((1,), sigma * 1000)
    slot = model.image_slot(image, 3, 0)
    with torch.no_grad():
        v = model.velocity(x, t, torch.randn(1, C, 3, 8, 8), slot, torch.randn(1, 8, model.config.dit.text_dim))
    torch.testing.assert_close(x - sigma * v, image.expand_as(x), rtol=0, atol=1e-5)


def test_a_silent_clean_change_model_streams_the_still_video_through_the_cache(stream_inputs):
    """Through the real stream (sink + rolling cache, 4 chunks, the t = 0 cache pass): every latent frame is the
    start image's latent, with the clean-change model's own data std (no clamp needed, unlike a velocity model)."""
    image, text, tracks = stream_inputs
    model = _silent(_model("tiny-clean"))
    codec = TinyVAECodec(TinyVAE(model.config.vae).eval())
    start = codec.encode_image(image.permute(2, 0, 1)[None].contiguous())
    chunks = list(MotionStream(model, codec).session(image, text, tracks, num_frames=45, seed=0))
    assert len(chunks) == 4
    for chunk in chunks:
        assert torch.isfinite(chunk.latents).all()
        err = (chunk.latents - start).abs().max().item()
        assert err < 1e-4, f"chunk {chunk.index}: latents differ from the start image by {err}"


def test_the_output_weighted_loss_is_the_mse_of_the_dit_output_against_its_target():
    """For a clean model: mean((F - z / std)^2) over channels, frames and samples; "velocity" is the plain MSE."""
    model = _model("tiny-clean")
    C = model.config.latent_channels
    z, noise, track = torch.randn(2, C, 3, 8, 8), torch.randn(2, C, 3, 8, 8), torch.randn(2, C, 3, 8, 8)
    image = torch.zeros(2, C, 1, 8, 8)  # the change from a zero image is the latent itself
    sigma = torch.tensor([0.7, 0.04])
    t = flow.to_timestep(sigma)
    x = flow.add_noise(z, noise, sigma)
    ctx = torch.randn(2, 8, model.config.dit.text_dim)
    slot = model.image_slot(image, 3, 0)
    with torch.no_grad():
        v = model.velocity(x, t, track, slot, ctx)
        f = _dit_output(model, x, t, track, slot, ctx)
    std = model.latent_std.view(1, C, 1, 1, 1)
    want = ((f - z / std) ** 2).mean()
    torch.testing.assert_close(velocity_loss(model, v, noise - z, t, "output"), want, rtol=1e-4, atol=0)
    torch.testing.assert_close(velocity_loss(model, v, noise - z, t, "auto"), want, rtol=1e-4, atol=0)
    torch.testing.assert_close(velocity_loss(model, v, noise - z, t, "velocity"), ((v - (noise - z)) ** 2).mean())
    with pytest.raises(ValueError, match="unknown loss_weight 'x0' \\(known: auto, velocity, output\\)"):
        velocity_loss(model, v, noise - z, t, "x0")
    assert LOSS_WEIGHTS == ("auto", "velocity", "output")


def test_a_velocity_model_weighted_per_output_divides_by_its_c_out():
    """"output" on a velocity model: the error divided by c_out^2 = std^2 / Var x; "auto" keeps the plain MSE."""
    model = _model("tiny-change")
    C = model.config.latent_channels
    v, target = torch.randn(1, C, 2, 4, 4), torch.randn(1, C, 2, 4, 4)
    t = torch.tensor([300.0])
    s2 = model.latent_std.view(1, C, 1, 1, 1) ** 2
    c_out2 = s2 / (0.7 ** 2 * s2 + 0.3 ** 2)
    torch.testing.assert_close(velocity_loss(model, v, target, t, "output"), ((v - target) ** 2 / c_out2).mean())
    torch.testing.assert_close(velocity_loss(model, v, target, t, "auto"), ((v - target) ** 2).mean())


def test_the_prediction_round_trips_and_is_one_of_the_known():
    cfg = model_config("tiny-clean")
    assert ModelConfig.from_json(cfg.to_json()).parameterisation.prediction == "sample"
    assert ModelConfig.from_json(model_config("tiny-change").to_json()).parameterisation.prediction == \
        "flow_preconditioned"
    for name, base in (("demo-clean", "demo-change"), ("demo-clean-p2", "demo-change-p2")):
        clean = model_config(name)
        assert dataclasses.replace(clean, name=base, parameterisation=dataclasses.replace(
            clean.parameterisation, prediction="flow_preconditioned")) == model_config(base)  # only the prediction
    with pytest.raises(ConfigError, match="Parameterisation.prediction must be one of flow, flow_preconditioned, "
                                          "sample, got 'epsilon'"):
        dataclasses.replace(cfg, parameterisation=dataclasses.replace(cfg.parameterisation,
                                                                      prediction="epsilon")).validate()


@pytest.mark.parametrize("source_clean", [True, False])
def test_a_warm_start_across_the_prediction_is_refused(tmp_path, source_clean):
    source, target = ("tiny-clean", "tiny-change")[::1 if source_clean else -1]
    save_model(MotionStreamModel(model_config(source)), tmp_path / "m.safetensors")
    predicts, predicted = ("'sample'", "'flow_preconditioned'")[::1 if source_clean else -1]
    with pytest.raises(CheckpointError, match=f"m.safetensors predicts {predicts} and model config '{target}' "
                                              f"predicts {predicted}: start it from scratch"):
        initial_model(model_config(target), str(tmp_path / "m.safetensors"), text_encoder=False)
    same = initial_model(model_config(source), str(tmp_path / "m.safetensors"), text_encoder=False)
    assert same.config.parameterisation.predicts_sample == source_clean


def test_the_still_video_read_out_is_zero_for_a_silent_clean_model_and_not_for_a_velocity_model():
    """``selfcheck.still_errors``: one-step x0 error of a photo's still video (change 0 everywhere) -- exactly 0 for
    a clean-change model that outputs nothing, the copied noise's share for a velocity model that outputs nothing."""
    from motionstream_core.train.selfcheck import still_errors

    image = (torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(3)) * 255).to(torch.uint8).numpy()
    for name, zero in (("tiny-clean", True), ("tiny-change", False)):
        model = _silent(_model(name))
        codec = TinyVAECodec(TinyVAE(model.config.vae).eval())
        errors = still_errors(model, codec, image, frames=21, sigmas=(0.9, 0.1))
        assert set(errors) == {0.9, 0.1}
        for sigma, (frame0, every) in errors.items():
            if zero:
                assert frame0 < 1e-5 and every < 1e-5, (name, sigma, frame0, every)
            else:  # x - sigma v - z with v the linear guess c_skip x: not 0 at any sigma
                assert frame0 > 1e-3 and every > 1e-3, (name, sigma, frame0, every)

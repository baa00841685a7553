"""Per-channel velocity preconditioning (prediction ``flow_preconditioned``): the coefficients against a least-squares
fit on samples, the model's output with a silent network, per-frame timesteps, and the channel std carried by
checkpoints and by a warm start."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from motionstream_core import flow
from motionstream_core.checkpoints import CheckpointError, load_model, save_model
from motionstream_core.config import ModelConfig, Parameterisation, get_config
from motionstream_core.model import MotionStreamModel, preconditioning
from motionstream_core.train.init import initial_model
from motionstream_core.train.teacher_train import channel_std


def _cfg(precondition: bool = True) -> ModelConfig:
    return dataclasses.replace(get_config("tiny"), parameterisation=Parameterisation(
        "flow_preconditioned" if precondition else "flow")).validate()


@pytest.mark.parametrize("sigma,std", [(0.95, 1.0), (0.5, 0.3), (0.1, 0.05), (0.02, 2.0)])
def test_skip_is_the_least_squares_velocity_and_out_the_residual_std(sigma, std):
    g = torch.Generator().manual_seed(0)
    n = 400_000
    z, noise = torch.randn(n, generator=g) * std, torch.randn(n, generator=g)
    x, v = (1 - sigma) * z + sigma * noise, noise - z
    slope = float((x * v).mean() / (x * x).mean())  # least squares through 0 (all means are 0)
    residual = float((v - slope * x).std())
    c_in, c_skip, c_out = (c.item() for c in preconditioning(torch.tensor([sigma * 1000]), torch.tensor([std]), 1000))
    assert c_skip == pytest.approx(slope, rel=0.01)
    assert c_out == pytest.approx(residual, rel=0.01)
    assert c_in == pytest.approx(1 / float(x.std()), rel=0.01)


def test_a_silent_network_gives_the_linear_velocity_per_channel_and_frame():
    torch.manual_seed(0)
    model = MotionStreamModel(_cfg()).eval()
    torch.nn.init.zeros_(model.dit.head.head.weight)
    torch.nn.init.zeros_(model.dit.head.head.bias)
    C = model.config.latent_channels
    model.latent_std.copy_(torch.linspace(0.05, 2.0, C))
    x = torch.randn(1, C, 3, 8, 8)
    t = torch.tensor([[900.0, 500.0, 20.0]])  # per-frame timesteps, as the causal student uses them
    slot = torch.zeros(1, C, 3, 8, 8)
    ctx = torch.randn(1, 8, model.config.dit.text_dim)
    with torch.no_grad():
        v = model.velocity(x, t, slot, slot, ctx)
    for f, sigma in enumerate((0.9, 0.5, 0.02)):
        s2 = model.latent_std.pow(2).view(C, 1, 1)
        expected = (sigma - (1 - sigma) * s2) / ((1 - sigma) ** 2 * s2 + sigma ** 2) * x[0, :, f]
        torch.testing.assert_close(v[0, :, f], expected)


def test_channel_std_matches_torch():
    z = torch.randn(10, 4, 3, 5, 5).half() * torch.tensor([1.0, 0.1, 3.0, 0.5]).view(1, 4, 1, 1, 1).half()
    ref = z.float().transpose(0, 1).reshape(4, -1).std(dim=1, unbiased=False)
    torch.testing.assert_close(channel_std(z, chunk=3), ref, rtol=1e-4, atol=1e-5)


def test_checkpoints_and_warm_starts_carry_the_channel_std(tmp_path):
    torch.manual_seed(0)
    model = MotionStreamModel(_cfg())
    model.latent_std.copy_(torch.rand(model.config.latent_channels) + 0.1)
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert torch.equal(loaded.latent_std, model.latent_std)
    x, t = torch.randn(1, 16, 2, 8, 8), torch.tensor([700.0])
    slot, ctx = torch.zeros(1, 16, 2, 8, 8), torch.randn(1, 8, model.config.dit.text_dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded.velocity(x, t, slot, slot, ctx), model.eval().velocity(x, t, slot, slot, ctx))
    warm = initial_model(_cfg(), str(tmp_path / "m.safetensors"), text_encoder=False)
    assert torch.equal(warm.latent_std, model.latent_std)
    save_model(MotionStreamModel(_cfg(False)), tmp_path / "plain.safetensors")
    with pytest.raises(CheckpointError, match="plain.safetensors was trained without preconditioning"):
        initial_model(_cfg(), str(tmp_path / "plain.safetensors"), text_encoder=False)


def test_the_prediction_round_trips_through_the_config_json():
    cfg = _cfg()
    assert ModelConfig.from_json(cfg.to_json()).parameterisation.preconditioned is True
    assert ModelConfig.from_json(_cfg(False).to_json()).parameterisation.preconditioned is False
    assert flow.to_timestep(0.5) == 500  # the timestep scale preconditioning reads sigma from

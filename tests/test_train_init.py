"""Stage initialisation from public weights (train/init.py), on small random files in the real layouts.

* a 16-channel Wan 2.1 DiT in a Self-Forcing-style ``.pt`` ({"generator_ema": {"model.<key>": ...}}) is
  widened function-preservingly: for any track latent and start-image slot the widened DiT returns what
  the file's DiT returned for the noisy latent alone;
* a 48-channel file (the Wan2.1-Fun-Control layout) is copied as it is;
* a file of another width is refused with one error naming the channel counts.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import save_file

from motionstream_core.checkpoints import CheckpointError
from motionstream_core.config import get_config
from motionstream_core.dit import WanDiT
from motionstream_core.train.init import initial_model

torch.set_num_threads(2)


def _config():
    """A run config whose DiT has the 128-channel heads of every released Wan 2.1 (as the loaders assume)."""
    base = get_config("tiny")
    return dataclasses.replace(base, dit=dataclasses.replace(base.dit, dim=128, num_heads=1, ffn_dim=256,
                                                             num_layers=2, image_cross_attn=False))


def _dit(cfg, in_dim: int, seed: int) -> WanDiT:
    torch.manual_seed(seed)
    dit = WanDiT(dataclasses.replace(cfg.dit, in_dim=in_dim))
    with torch.no_grad():
        for p in dit.parameters():
            p.normal_(0, 0.05)
    return dit.eval()


def test_a_causal_student_file_is_widened_function_preservingly(tmp_path):
    cfg = _config()
    narrow = _dit(cfg, 16, 1)
    path = tmp_path / "self_forcing_dmd.pt"
    torch.save({"generator_ema": {f"model.{k}": v for k, v in narrow.state_dict().items()},
                "generator": {f"model.{k}": torch.zeros_like(v) for k, v in narrow.state_dict().items()}}, path)
    model = initial_model(cfg, str(path), text_encoder=False).eval()
    assert model.dit.patch_embedding.weight.shape[1] == 48 and model.text_encoder is None
    x, t = torch.randn(1, 16, 3, 8, 8), torch.tensor([500.0])
    ctx = torch.randn(1, cfg.text_len, cfg.dit.text_dim)
    with torch.no_grad():
        want = narrow(x, t, ctx)
        got = model.velocity(x, t, torch.randn(1, 16, 3, 8, 8), torch.randn(1, 16, 3, 8, 8), ctx)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)  # the generator_ema weights, not the zeros


def test_a_48_channel_file_is_copied_as_it_is(tmp_path):
    cfg = _config()
    fun = _dit(cfg, 48, 2)
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    save_file({k: v.contiguous() for k, v in fun.state_dict().items()}, str(path))
    model = initial_model(cfg, str(path), text_encoder=False)
    for k, v in fun.state_dict().items():
        assert torch.equal(model.dit.state_dict()[k], v), k


def test_another_width_is_one_clear_error(tmp_path):
    cfg = _config()
    path = tmp_path / "odd.safetensors"
    save_file({k: v.contiguous() for k, v in _dit(cfg, 32, 3).state_dict().items()}, str(path))
    with pytest.raises(CheckpointError, match=r"odd.safetensors: 32 input channels; a MotionStream model of config "
                                              r"'tiny' starts from 16 \(Wan 2.1 T2V, causal students\) or 48 "
                                              r"\(Wan2.1-Fun-Control\)"):
        initial_model(cfg, str(path), text_encoder=False)

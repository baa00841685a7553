"""A causal Wan student (or a plain Wan DiT) opened as a MotionStream model is recognised by its keys (a Wan DiT
with no track head) and the error says which loader takes it, whatever config is named."""

from __future__ import annotations

import pytest
import torch

from motionstream_core.causal_checkpoints import causal_config, get_preset
from motionstream_core.config import DiTConfig
from motionstream_core.model import MotionStreamModel
from motionstream_core.pipeline import ModelSource, Runtime, load_model

CPU = Runtime.resolve("cpu", "fp32", "sdpa")
ADVICE = ("self_forcing_tiny.pt has no MotionStream track head: it is a causal Wan student (Self-Forcing family) or a "
          "plain Wan DiT, not a MotionStream model. Use Load Causal Wan Model")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    dit = DiTConfig(dim=128, ffn_dim=64, num_heads=1, num_layers=2, in_dim=16, out_dim=16, text_dim=32, freq_dim=32,
                    image_cross_attn=False)
    sd = {"model." + k: v for k, v in MotionStreamModel(causal_config(dit, get_preset("self-forcing"))).dit
          .state_dict().items()}
    path = tmp_path_factory.mktemp("wrong") / "self_forcing_tiny.pt"
    torch.save({"generator_ema": sd, "generator": sd}, path)
    return path


@pytest.mark.parametrize("config", [None, "tiny", "wan2.1-1.3b"])
def test_a_causal_student_in_the_motionstream_loader_names_the_causal_loader(student, config):
    with pytest.raises(ValueError) as e:
        load_model(ModelSource(student, config), CPU)
    assert ADVICE in str(e.value)
    assert "missing keys" not in str(e.value) and "name the model config" not in str(e.value)

"""Checkpoint loading: our format round-trips; DiT-only files with prefixes; one error listing every problem."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from motionstream_core.checkpoints import CheckpointError, load_model, model_state_dict, save_model
from motionstream_core.config import get_config
from motionstream_core.model import MotionStreamModel


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MotionStreamModel(get_config("tiny"))


def test_own_format_round_trip(tiny, tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_model(tiny, path)
    loaded = load_model(path)
    assert loaded.config == tiny.config
    for k, v in model_state_dict(tiny).items():
        assert torch.equal(model_state_dict(loaded)[k], v), k


@pytest.mark.parametrize("prefix", ["", "model.diffusion_model.", "model."])
def test_dit_only_file_with_prefix_loads(tiny, tmp_path, prefix):
    path = tmp_path / "dit.safetensors"
    save_file({prefix + k: v.contiguous() for k, v in tiny.dit.state_dict().items()}, str(path))
    loaded = load_model(path, config_name="tiny")
    for k, v in tiny.dit.state_dict().items():
        assert torch.equal(loaded.dit.state_dict()[k], v), k
    assert loaded.track_head.proj_in.weight.device.type == "cpu"  # freshly initialised, not meta


def test_self_forcing_pt_generator_ema(tiny, tmp_path):
    path = tmp_path / "self_forcing_dmd.pt"
    torch.save({"generator_ema": {"model." + k: v for k, v in tiny.dit.state_dict().items()},
                "critic": {"model.x": torch.zeros(1)}}, path)
    loaded = load_model(path, config_name="tiny")
    assert torch.equal(loaded.dit.blocks[1].ffn[2].weight, tiny.dit.blocks[1].ffn[2].weight)


def test_one_error_names_missing_unexpected_and_mismatched(tiny, tmp_path):
    sd = {k: v.clone() for k, v in model_state_dict(tiny).items()}
    del sd["blocks.0.self_attn.q.weight"]
    sd["blocks.0.extra.weight"] = torch.zeros(3)
    sd["head.head.weight"] = torch.zeros(5, 5)
    path = tmp_path / "bad.safetensors"
    save_file(sd, str(path), metadata={"motionstream_config": tiny.config.to_json()})
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert msg.startswith("bad.safetensors does not fit the model: ")
    assert "1 missing keys: blocks.0.self_attn.q.weight" in msg
    assert "1 unexpected keys: blocks.0.extra.weight" in msg
    assert "1 shape mismatches: head.head.weight: checkpoint (5, 5) vs model (64, 64)" in msg


def test_clear_errors_for_wrong_files(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.safetensors"):
        load_model(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="junk.safetensors is not a readable safetensors file"):
        load_model(junk)
    bare = tmp_path / "bare.safetensors"
    save_file({"x": torch.zeros(1)}, str(bare))
    with pytest.raises(CheckpointError, match="has no MotionStream config in its metadata"):
        load_model(bare)
    other = tmp_path / "w.onnx"
    other.write_bytes(b"")
    with pytest.raises(CheckpointError, match="unsupported checkpoint type '.onnx'"):
        load_model(other)


def test_1_3b_checkpoint_loads_on_meta_without_memory():
    """The 1.3B layout loads through the same strict path (meta tensors, no allocation)."""
    from motionstream_core.checkpoints import check_state_dict

    cfg = get_config("wan2.1-1.3b")
    with torch.device("meta"):
        model = MotionStreamModel(cfg)
        sd = model_state_dict(model)
    from motionstream_core.checkpoints import _OwnLayout

    check_state_dict(_OwnLayout(model), sd, "meta 1.3B")
    n = sum(v.numel() for v in sd.values())
    assert 1.55e9 < n < 1.6e9, n

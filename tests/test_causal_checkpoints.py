"""Public causal Wan students: each family's real file layout, shapes -> architecture, presets, LoRA, widening."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from motionstream_core.causal_checkpoints import (PRESETS, StreamOverrides, build_causal_model, causal_config,
                                                  causal_state_dict, get_preset, guess_preset, infer_dit_config,
                                                  load_causal_model, merge_lora, widen_for_motionstream)
from motionstream_core.checkpoints import CheckpointError, load_model, save_model
from motionstream_core.config import ConfigError, DiTConfig, TrackHeadConfig
from motionstream_core.model import MotionStreamModel
from motionstream_core.stream import denoising_sigmas

DATA = Path(__file__).parent / "data"
TINY_DIT = DiTConfig(dim=128, ffn_dim=64, num_heads=1, num_layers=2, in_dim=16, out_dim=16, text_dim=32, freq_dim=32,
                     image_cross_attn=False)


def tiny_causal(seed=0, dit=TINY_DIT, preset="self-forcing") -> MotionStreamModel:
    torch.manual_seed(seed)
    model = MotionStreamModel(causal_config(dit, get_preset(preset))).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    return model


def _sd(model, prefix="model."):
    return {prefix + k: v.clone() for k, v in model.dit.state_dict().items()}


def _same_weights(a: MotionStreamModel, b: MotionStreamModel) -> bool:
    sa, sb = a.dit.state_dict(), b.dit.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# -- architecture from shapes ------------------------------------------------------------------------

@pytest.mark.parametrize("dit", [TINY_DIT, dataclasses.replace(TINY_DIT, dim=256, num_heads=2, num_layers=3,
                                                                 ffn_dim=96, text_dim=24, freq_dim=16)])
def test_architecture_is_read_from_shapes(dit):
    model = tiny_causal(dit=dit)
    assert infer_dit_config(model.dit.state_dict()) == dit


def test_1_3b_and_14b_shapes_on_meta():
    keys = json.loads((DATA / "wan2.1_1.3b_keys.json").read_text())["Wan2.1-T2V-1.3B"]
    sd = {k: torch.empty(shape, device="meta") for k, shape in keys.items()}
    expected = DiTConfig(in_dim=16, image_cross_attn=False)  # dim 1536, 30 layers, 12 heads, ffn 8960, text 4096
    assert infer_dit_config(sd) == expected
    big = DiTConfig(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40, in_dim=16, image_cross_attn=False)
    with torch.device("meta"):
        sd14 = MotionStreamModel(causal_config(big, get_preset("self-forcing"))).dit.state_dict()
    assert infer_dit_config(sd14) == big
    assert sum(v.numel() for v in sd14.values()) > 14e9 * 0.95


@pytest.mark.parametrize("preset,key", [("self-forcing", "generator_ema"), ("causal-forcing-chunk", "generator"),
                                        ("causal-forcing-frame", "generator_ema"), ("rolling-forcing", "generator_ema"),
                                        ("infinite-forcing", "generator_ema"), ("causvid", "generator")])
def test_recorded_1_3b_key_list_loads_strictly_in_each_family_layout(preset, key):
    """The real T2V-1.3B key list, as each family stores it (a training dict, ``model.`` prefix), on meta."""
    keys = json.loads((DATA / "wan2.1_1.3b_keys.json").read_text())["Wan2.1-T2V-1.3B"]
    other = "generator" if key == "generator_ema" else "generator_ema"
    obj = {key: {"model." + k: torch.empty(s, device="meta") for k, s in keys.items()},
           other: {"model.bogus": torch.empty(1, device="meta")}}  # the other entry must not be taken
    from motionstream_core.checkpoints import unwrap_state_dict

    sd = causal_state_dict(unwrap_state_dict(obj, "meta", get_preset(preset).weights_keys))
    model = build_causal_model(sd, get_preset(preset), name="meta 1.3B")
    assert model.config.dit == DiTConfig(in_dim=16, image_cross_attn=False)
    assert sum(v.numel() for v in model.dit.state_dict().values()) == sum(
        torch.Size(s).numel() for s in keys.values())


def _longlive_lora_keys(model: MotionStreamModel, rank: int) -> dict[str, torch.Tensor]:
    """LongLive's targeting rule (every nn.Linear inside the attention blocks), PEFT key names, on meta."""
    out = {}
    for name, mod in model.dit.blocks.named_modules(prefix="blocks"):
        if isinstance(mod, torch.nn.Linear):
            out[f"base_model.model.{name}.lora_A.weight"] = torch.empty(rank, mod.in_features, device="meta")
            out[f"base_model.model.{name}.lora_B.weight"] = torch.empty(mod.out_features, rank, device="meta")
    return out


def test_longlive_1_3b_base_plus_rank_256_lora_on_meta():
    keys = json.loads((DATA / "wan2.1_1.3b_keys.json").read_text())["Wan2.1-T2V-1.3B"]
    sd = {k: torch.empty(s, device="meta") for k, s in keys.items()}
    base = build_causal_model(sd, get_preset("longlive"), name="longlive_base.pt")
    lora = _longlive_lora_keys(base, 256)
    assert len(lora) == 2 * 30 * 10  # q, k, v, o of self- and cross-attention + two FFN layers, 30 blocks
    merged = merge_lora(sd, lora, name="lora.pt")
    assert merged.keys() == sd.keys()
    assert build_causal_model(merged, get_preset("longlive")).config.stream.window_chunks == 2


# -- each family's real layout, as tiny random files ------------------------------------------------------

def test_self_forcing_pt_takes_generator_ema(tmp_path):
    ema, raw = tiny_causal(1), tiny_causal(2)
    path = tmp_path / "self_forcing_dmd.pt"
    torch.save({"generator": _sd(raw), "generator_ema": _sd(ema), "critic": _sd(raw), "step": 600}, path)
    loaded = load_causal_model(path)
    assert loaded.config.name == "self-forcing" and loaded.config.track_head is None
    assert _same_weights(loaded, ema)


def test_causal_forcing_chunk_wise_takes_generator_and_frame_wise_its_chunk(tmp_path):
    ema, raw = tiny_causal(1), tiny_causal(2)
    path = tmp_path / "causal_forcing_chunkwise.pt"
    torch.save({"generator": _sd(raw), "generator_ema": _sd(ema)}, path)
    loaded = load_causal_model(path)
    assert loaded.config.name == "causal-forcing-chunk" and _same_weights(loaded, raw)
    frame = tmp_path / "framewise.pt"
    torch.save({"generator_ema": _sd(ema)}, frame)
    loaded = load_causal_model(frame)
    assert loaded.config.stream.chunk_frames == 1 and _same_weights(loaded, ema)


def test_causvid_generator_and_its_licence(tmp_path):
    model = tiny_causal(3)
    path = tmp_path / "causvid_model.pt"
    torch.save({"generator": _sd(model)}, path)
    loaded = load_causal_model(path)
    assert loaded.config.name == "causvid" and _same_weights(loaded, model)
    assert "non-commercial" in PRESETS["causvid"].licence


@pytest.mark.parametrize("prefix", ["", "model.", "model.diffusion_model."])
def test_safetensors_conversions_with_any_prefix(tmp_path, prefix):
    model = tiny_causal(4)
    path = tmp_path / "self_forcing_dmd.safetensors"
    save_file({k: v.contiguous() for k, v in _sd(model, prefix).items()}, str(path))
    assert _same_weights(load_causal_model(path), model)


def test_pt_is_read_weights_only(tmp_path):
    import argparse

    path = tmp_path / "evil.pt"  # a pickled object that is no tensor: torch.load(weights_only=True) refuses it
    with open(path, "wb") as f:
        pickle.dump({"generator": argparse.Namespace(x=1)}, f)
    with pytest.raises(CheckpointError, match="evil.pt could not be read as a weights-only torch file"):
        load_causal_model(path)


def test_one_error_lists_every_problem(tmp_path):
    sd = _sd(tiny_causal())
    del sd["model.blocks.1.self_attn.q.weight"]
    sd["model.blocks.0.extra.weight"] = torch.zeros(3)
    sd["model.head.head.bias"] = torch.zeros(5)
    path = tmp_path / "broken.pt"
    torch.save({"generator_ema": sd}, path)
    with pytest.raises(CheckpointError) as err:
        load_causal_model(path)
    msg = str(err.value)
    assert msg.startswith("broken.pt (Self-Forcing (DMD)) does not fit the model: ")
    assert "1 missing keys: blocks.1.self_attn.q.weight" in msg
    assert "1 unexpected keys: blocks.0.extra.weight" in msg
    assert "1 shape mismatches: head.head.bias: checkpoint (5,) vs model (64,)" in msg


def test_a_motionstream_checkpoint_is_not_taken_for_a_causal_one(tmp_path):
    ms = MotionStreamModel(dataclasses.replace(tiny_causal().config, dit=dataclasses.replace(TINY_DIT, in_dim=48),
                                               track_head=TrackHeadConfig(),
                                               name="x").validate())
    path = tmp_path / "ms.pt"
    torch.save({"generator": _sd(ms)}, path)
    with pytest.raises(CheckpointError, match="48 input channels but 16 output channels: not a text-to-video"):
        load_causal_model(path)


# -- LoRA (LongLive) --------------------------------------------------------------------------------------

def _lora_forward_reference(model: MotionStreamModel, pairs: dict, scale: float):
    """PEFT's unmerged forward, written independently: y = W x + b + scale * B (A x) via forward hooks."""
    hooks = []
    modules = dict(model.dit.named_modules())
    for name, (a, b) in pairs.items():
        def hook(mod, inp, out, a=a, b=b):
            return out + scale * (inp[0] @ a.t() @ b.t())
        hooks.append(modules[name].register_forward_hook(hook))
    return hooks


@pytest.mark.parametrize("alpha", [None, 8.0])
def test_longlive_lora_merge_equals_the_unmerged_adapter(tmp_path, alpha):
    base = tiny_causal(5, preset="longlive")
    rank = 4
    g = torch.Generator().manual_seed(0)
    pairs = {}
    for name, mod in base.dit.blocks.named_modules(prefix="blocks"):
        if isinstance(mod, torch.nn.Linear):
            pairs[name] = (torch.randn(rank, mod.in_features, generator=g) * 0.1,
                           torch.randn(mod.out_features, rank, generator=g) * 0.1)
    lora = {}
    for name, (a, b) in pairs.items():
        lora[f"base_model.model.{name}.lora_A.weight"] = a
        lora[f"base_model.model.{name}.lora_B.weight"] = b
    torch.save({"generator": _sd(base)}, tmp_path / "longlive_base.pt")
    torch.save({"generator_lora": lora, "critic_lora": {}}, tmp_path / "lora.pt")
    merged = load_causal_model(tmp_path / "longlive_base.pt", lora=tmp_path / "lora.pt", lora_alpha=alpha)
    assert merged.config.name == "longlive"
    assert (merged.config.stream.sink_frames, merged.config.stream.window_frames) == (3, 6)

    x = torch.randn(1, 16, 3, 8, 8, generator=g)
    ctx = torch.randn(1, 5, 32, generator=g)
    t = torch.tensor([700.0])
    hooks = _lora_forward_reference(base, pairs, (alpha or rank) / rank)
    with torch.no_grad():
        expected = base.dit(x, t, ctx)
        for h in hooks:
            h.remove()
        plain = base.dit(x, t, ctx)
        got = merged.dit(x, t, ctx)
    err = (got - expected).abs().max().item()
    assert err < 1e-4, err
    assert (plain - expected).abs().max().item() > 100 * err  # the LoRA does change the output


def test_lora_errors_are_listed(tmp_path):
    base = tiny_causal(5, preset="longlive")
    torch.save({"generator": _sd(base)}, tmp_path / "longlive_base.pt")
    with pytest.raises(CheckpointError, match="the LongLive 1.0 \\(base \\+ LoRA\\) preset expects its LoRA file"):
        load_causal_model(tmp_path / "longlive_base.pt")
    bad = {"base_model.model.blocks.0.ffn.0.lora_A.weight": torch.zeros(2, 128),
           "base_model.model.blocks.0.ffn.0.lora_B.weight": torch.zeros(64, 2),
           "base_model.model.blocks.0.self_attn.q.lora_A.weight": torch.zeros(2, 128),
           "base_model.model.blocks.0.self_attn.q.lora_B.weight": torch.zeros(100, 2),
           "base_model.model.blocks.9.ffn.0.lora_A.weight": torch.zeros(2, 128),
           "base_model.model.blocks.9.ffn.0.lora_B.weight": torch.zeros(64, 2),
           "base_model.model.blocks.0.ffn.2.lora_A.weight": torch.zeros(2, 64)}
    torch.save(bad, tmp_path / "bad_lora.pt")
    with pytest.raises(CheckpointError, match="bad_lora.pt: 1 missing partners: blocks.0.ffn.2.lora_B"):
        load_causal_model(tmp_path / "longlive_base.pt", lora=tmp_path / "bad_lora.pt")
    del bad["base_model.model.blocks.0.ffn.2.lora_A.weight"]
    torch.save(bad, tmp_path / "bad_lora.pt")
    with pytest.raises(CheckpointError) as err:
        load_causal_model(tmp_path / "longlive_base.pt", lora=tmp_path / "bad_lora.pt")
    assert str(err.value) == ("bad_lora.pt does not fit the model: 2 problems: blocks.0.self_attn.q: A (2, 128) / "
                              "B (100, 2) do not fit weight (128, 128); blocks.9.ffn.0: no such layer in the model")


# -- presets ---------------------------------------------------------------------------------------------

def test_presets_and_overrides():
    sf = get_preset("self-forcing").stream
    # Self-Forcing's warped [1000, 750, 500, 250] at shift 5 (its configs/self_forcing_dmd.yaml)
    assert denoising_sigmas(sf) == pytest.approx([1.0, 0.9375, 5 / 6, 0.625])
    assert denoising_sigmas(get_preset("causvid").stream) == pytest.approx([1.0, 0.757, 0.522])
    assert sf.sink_frames + sf.window_frames + sf.chunk_frames == 21  # 81 video frames, as trained
    assert denoising_sigmas(sf, steps=2) == pytest.approx([1.0, 5 * 0.5 / 3])  # a step count overrides the list
    o = StreamOverrides(chunk_frames=1, window_chunks=7, step_list=(1000, 500), warp_steps=False, shift=3.0)
    cfg = causal_config(TINY_DIT, get_preset("self-forcing"), o).stream
    assert (cfg.chunk_frames, cfg.sink_chunks, cfg.window_chunks, cfg.steps, cfg.shift) == (1, 1, 7, 2, 3.0)
    assert denoising_sigmas(cfg) == pytest.approx([1.0, 0.5])
    with pytest.raises(ConfigError, match="step_list must be strictly decreasing"):
        StreamOverrides(step_list=(500, 750)).apply(sf)
    with pytest.raises(ConfigError, match="unknown causal preset 'nope'; known: self-forcing, "):
        get_preset("nope")
    assert [guess_preset(n) for n in ("self_forcing_dmd.pt", "longlive_base.pt", "causvid/model.pt",
                                      "rolling_forcing_dmd.pt", "framewise.pt", "ode_init.pt")] == [
        "self-forcing", "longlive", "causvid", "rolling-forcing", "causal-forcing-frame", "self-forcing"]


def test_causal_model_round_trips_through_our_format(tmp_path):
    model = tiny_causal(6)
    save_model(model, tmp_path / "sf.safetensors")
    loaded = load_model(tmp_path / "sf.safetensors")
    assert loaded.config == model.config and loaded.track_head is None and _same_weights(loaded, model)


# -- widened init ----------------------------------------------------------------------------------------

def test_widened_init_reproduces_the_original_exactly():
    model = tiny_causal(7)
    wide = widen_for_motionstream(model)
    assert wide.config.dit.in_dim == 48 and wide.track_head is not None
    assert wide.config.stream == model.config.stream
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 16, 3, 8, 8, generator=g)
    track, image = torch.randn(1, 16, 3, 8, 8, generator=g), torch.randn(1, 16, 3, 8, 8, generator=g)
    ctx = torch.randn(1, 5, 32, generator=g)
    t = torch.tensor([600.0])
    with torch.no_grad():
        a = model.velocity(x, t, None, None, ctx)
        b = wide.velocity(x, t, track, image, ctx)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="already has 48 input channels"):
        widen_for_motionstream(wide)

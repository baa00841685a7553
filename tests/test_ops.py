"""The DiT's layer operations: manual casting, fp8 weights (plain, quantized at load, ComfyUI's fp8_scaled
files), their error against fp32, and the bytes each device holds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from motionstream_core import ops
from motionstream_core.causal_checkpoints import causal_config, get_preset, load_causal_model
from motionstream_core.cli import main
from motionstream_core.config import DiTConfig, TinyVAEConfig
from motionstream_core.decoders import TinyVAE
from motionstream_core.model import MotionStreamModel
from motionstream_core.motion.transfer import read_video
from motionstream_core.pipeline import CausalSource, DecoderSource, Pipeline, Runtime, load_decoder, load_model
from motionstream_core.stream import TextCondition

DIT = DiTConfig(dim=128, ffn_dim=256, num_heads=1, num_layers=2, in_dim=16, out_dim=16, text_dim=32, freq_dim=32,
                image_cross_attn=False)
SIZE = (64, 48)
# The stated bounds, over 3 chunks of a random tiny Self-Forcing student (weights ~ N(0, 0.05^2)) against the same
# weights in fp32: the streamed latents' relative RMS error (|fp8 - fp32| / |fp32|), and the decoded frames' largest
# difference (frames in [0, 1]). Measured: e4m3fn 0.32% (frames <= 6e-5), e5m2 0.69% (frames <= 1e-4).
FP8_LATENT_REL, FP8_FRAME_MAX = 0.01, 2e-3
E5M2_LATENT_REL, E5M2_FRAME_MAX = 0.02, 4e-3  # e5m2 keeps 2 mantissa bits (e4m3fn: 3)


def _state_dict():
    torch.manual_seed(0)
    model = MotionStreamModel(causal_config(DIT, get_preset("self-forcing")))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    return {k: v.clone() for k, v in model.dit.state_dict().items()}


def comfy_fp8_scaled(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ComfyUI's fp8_scaled layout, written independently of ``ops.quantize``: every block Linear weight
    as float8_e4m3fn divided by a per-tensor scale, ``<layer>.scale_weight`` and the ``scaled_fp8`` marker."""
    out = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    for k, v in sd.items():
        if k.startswith("blocks.") and k.endswith(".weight") and v.ndim == 2:
            scale = v.abs().max() / 448.0
            out[k] = (v / scale).to(torch.float8_e4m3fn)
            out[k[:-len("weight")] + "scale_weight"] = scale.reshape(1)
        else:
            out[k] = v
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fp8")
    sd = _state_dict()
    torch.save({"generator_ema": {"model." + k: v for k, v in sd.items()}}, d / "self_forcing_dmd.pt")
    save_file(comfy_fp8_scaled(sd), str(d / "self_forcing_fp8_scaled.safetensors"))
    torch.manual_seed(1)
    torch.save(TinyVAE(TinyVAEConfig()).state_dict(), d / "taew2_1.pth")
    save_file({"context": torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(2))}, str(d / "ctx.safetensors"))
    return d


def _frames(files, name, weight_dtype="default", chunks=3):
    runtime = Runtime.resolve("cpu", "fp32", weight_dtype=weight_dtype)
    loaded = load_model(CausalSource(files / name, size=SIZE), runtime)
    pipe = Pipeline(loaded, load_decoder(DecoderSource(files / "taew2_1.pth")))
    text = TextCondition(torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(2)))
    run = pipe.prepare(None, embedding=text, num_frames=None, seed=0, size=SIZE)
    frames, latents = [], []
    for chunk in pipe.session(run):
        frames.append(chunk.frames)
        latents.append(chunk.latents)
        if len(frames) == chunks:
            break
    return torch.cat(frames), torch.cat(latents, 2), loaded


def _errors(got, ref):
    """(latent relative RMS error, largest frame difference) of two ``_frames`` results."""
    return ((got[1] - ref[1]).norm() / ref[1].norm()).item(), (got[0] - ref[0]).abs().max().item()


def test_layers_equal_torch_layers_when_dtypes_agree():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 16)
    ours, ref = ops.Linear(16, 8), torch.nn.Linear(16, 8)
    ref.load_state_dict(ours.state_dict())
    assert torch.equal(ours(x), ref(x))
    assert set(ours.state_dict()) == {"weight", "bias"}  # no scale unless a file brings one


def test_manual_cast_runs_bf16_weights_on_fp32_inputs():
    torch.manual_seed(0)
    lin = ops.Linear(16, 8).to(torch.bfloat16)
    x = torch.randn(4, 16)
    expected = torch.nn.functional.linear(x, lin.weight.float(), lin.bias.float())
    assert torch.equal(lin(x), expected) and lin(x).dtype == torch.float32


@pytest.mark.parametrize("dtype,rel", [(torch.float8_e4m3fn, 2**-4), (torch.float8_e5m2, 2**-3)])
def test_quantize_error_is_within_half_a_step_of_the_format(dtype, rel):
    w = torch.randn(64, 64, generator=torch.Generator().manual_seed(0)) * 0.02
    q, scale = ops.quantize(w, dtype)
    assert q.dtype == dtype and scale.ndim == 0
    err = (q.float() * scale - w).abs()
    tiny = torch.finfo(dtype).smallest_normal * scale  # below it the format is evenly spaced (subnormals)
    assert bool((err <= rel * w.abs() + tiny).all()), err.max()


def test_fp8_scaled_file_streams_within_the_stated_bound_of_fp32(files):
    ref = _frames(files, "self_forcing_dmd.pt")
    got = _frames(files, "self_forcing_fp8_scaled.safetensors")
    full, loaded = ref[2], got[2]
    linear = loaded.model.dit.blocks[0].self_attn.q
    assert linear.weight.dtype == torch.float8_e4m3fn and linear.scale_weight.dtype == torch.float32
    rel, frame = _errors(got, ref)
    assert 0 < rel <= FP8_LATENT_REL and frame <= FP8_FRAME_MAX, (rel, frame)
    # bytes: the block Linear weights at 1 byte each instead of 4
    fp32 = full.weight_bytes()["cpu"]["float32"]
    fp8 = loaded.weight_bytes()["cpu"]
    linear_params = sum(m.weight.numel() for b in loaded.model.dit.blocks for m in b.modules()
                        if isinstance(m, torch.nn.Linear))
    assert fp8["float8_e4m3fn"] == linear_params
    assert fp32 - fp8["float32"] == 4 * linear_params - 4 * sum(
        1 for b in loaded.model.dit.blocks for m in b.modules() if isinstance(m, torch.nn.Linear))


@pytest.mark.parametrize("weight_dtype,bounds", [("fp8_e4m3fn", (FP8_LATENT_REL, FP8_FRAME_MAX)),
                                                 ("fp8_e5m2", (E5M2_LATENT_REL, E5M2_FRAME_MAX))])
def test_weight_dtype_quantizes_at_load_within_the_bound(files, weight_dtype, bounds):
    ref = _frames(files, "self_forcing_dmd.pt")
    got = _frames(files, "self_forcing_dmd.pt", weight_dtype)
    loaded = got[2]
    assert loaded.model.dit.blocks[1].ffn[0].weight.dtype == ops.WEIGHT_DTYPES[weight_dtype]
    assert loaded.model.dit.head.head.weight.dtype == torch.float32  # outside the blocks: compute dtype
    rel, frame = _errors(got, ref)
    assert 0 < rel <= bounds[0] and frame <= bounds[1], (rel, frame)


def test_an_fp8_scaled_file_streams_through_the_cli(files, capsys):
    outs = {}
    for name in ("self_forcing_dmd.pt", "self_forcing_fp8_scaled.safetensors"):
        out = files / f"{name}.mp4"
        assert main(["generate", "--checkpoint", str(files / name), "--preset", "self-forcing", "--text-embedding",
                     str(files / "ctx.safetensors"), "--decoder", str(files / "taew2_1.pth"), "--device", "cpu",
                     "--frames", "21", "--width", "64", "--height", "48", "--out", str(out)]) == 0
        outs[name] = read_video(out)[0].astype(np.float32) / 255
    a, b = outs.values()
    assert a.shape == b.shape == (21, 48, 64, 3)
    assert np.abs(a - b).mean() <= 1 / 255  # FP8_FRAME_MAX + the video codec's own rounding


def test_to_runtime_keeps_fp8_and_scales():
    lin = ops.Linear(8, 4)
    q, s = ops.quantize(lin.weight.detach(), torch.float8_e4m3fn)
    lin.weight, lin.scale_weight = torch.nn.Parameter(q, requires_grad=False), s
    ops.to_runtime(lin, "cpu", torch.bfloat16)
    assert lin.weight.dtype == torch.float8_e4m3fn and lin.scale_weight.dtype == torch.float32
    assert lin.bias.dtype == torch.bfloat16
    assert ops.describe_bytes(ops.bytes_by_device(lin)).startswith("cpu 0.0 MiB (float8_e4m3fn")


def test_unknown_weight_dtype_and_lora_onto_fp8_are_named(files):
    with pytest.raises(ValueError, match="unknown weight dtype 'fp4'; choose one of default, fp8_e4m3fn, fp8_e5m2"):
        Runtime.resolve("cpu", weight_dtype="fp4")
    from motionstream_core.causal_checkpoints import merge_lora
    from motionstream_core.checkpoints import CheckpointError

    sd = {"blocks.0.self_attn.q.weight": torch.zeros(4, 4, dtype=torch.float8_e4m3fn)}
    lora = {"blocks.0.self_attn.q.lora_A.weight": torch.zeros(2, 4), "blocks.0.self_attn.q.lora_B.weight": torch.zeros(4, 2)}
    with pytest.raises(CheckpointError, match="fp8 weights"):
        merge_lora(sd, lora)


"""ComfyUI owns the model's memory and attention in the real host.

* model management lists the loaded model (a ModelPatcher over it) while it is loaded, unloads it when asked
  (``unload_all_models``: what another model's load or ``/free`` does), and the next run loads it back;
* ``POST /free`` releases a causal model of a few hundred MB: the host's resident memory drops by >= 70% of
  the weights' bytes, and queueing the workflow again works;
* an fp8_scaled file in the Self-Forcing layout streams through the node within the bound of the same
  weights in fp32 (``tests/test_ops.py`` states it);
* "auto" attention is ComfyUI's optimized attention (on this CPU host its sub-quadratic one), equal to
  PyTorch SDPA to float32 rounding.

On this CPU-only host the load and offload devices are both the CPU: what moves is ComfyUI's record (listed,
loaded bytes), not the tensors' device; on a GPU host the same calls move the weights.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from host_scripts.host_client import http
from test_host_causal import causal_prompt
from test_host_stream import decode, frames_of, rss_mb, run
from test_ops import comfy_fp8_scaled

pytestmark = pytest.mark.host

BIG = dict(dim=1024, ffn_dim=4096, num_heads=8, num_layers=5, in_dim=16, out_dim=16, text_dim=32, freq_dim=32,
           image_cross_attn=False)  # ~350 MB of fp32 weights


def _student(dit_kwargs: dict, seed: int) -> dict[str, torch.Tensor]:
    from motionstream_core.causal_checkpoints import causal_config, get_preset
    from motionstream_core.config import DiTConfig
    from motionstream_core.model import MotionStreamModel

    torch.manual_seed(seed)
    model = MotionStreamModel(causal_config(DiTConfig(**dit_kwargs), get_preset("self-forcing")))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * (1.0 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.02))
    return {k: v.contiguous() for k, v in model.dit.state_dict().items()}


@pytest.fixture(scope="module")
def files(comfy_host):
    folder = comfy_host.base_dir / "models" / "diffusion_models"
    big = _student(BIG, 7)
    save_file(big, str(folder / "self_forcing_big.safetensors"))
    small = _student(dict(dim=128, ffn_dim=256, num_heads=1, num_layers=2, in_dim=16, out_dim=16, text_dim=32,
                          freq_dim=32, image_cross_attn=False), 8)
    save_file(small, str(folder / "self_forcing_small.safetensors"))
    save_file(comfy_fp8_scaled(small), str(folder / "self_forcing_small_fp8_scaled.safetensors"))
    return {"big": "self_forcing_big.safetensors", "big_bytes": sum(v.numel() * 4 for v in big.values()),
            "small": "self_forcing_small.safetensors", "fp8": "self_forcing_small_fp8_scaled.safetensors"}


def _ours(host) -> list[dict]:
    status, models = http(host, "GET", "/motionstream-test/loaded_models")
    assert status == 200, models
    return [m for m in models if m["class"] == "MotionStreamWeights"]


def _stream(host, model: str, frames: int = 9, seed: int = 0):
    ws, _, end = run(host, causal_prompt(host, frames, seed=seed, model=model))
    assert end["type"] == "execution_success", end
    return [decode(f) for f in frames_of(ws)]


def test_model_management_lists_the_model_and_unloads_it_when_asked(comfy_host, files):
    _stream(comfy_host, files["small"])
    ours = _ours(comfy_host)
    assert len(ours) == 1 and ours[0]["device"] == "cpu", ours
    assert ours[0]["loaded_bytes"] == ours[0]["size"] > 0  # fully loaded, counted by the host
    status, after = http(comfy_host, "POST", "/motionstream-test/unload")
    assert status == 200 and not [m for m in after if m["class"] == "MotionStreamWeights"], after
    frames = _stream(comfy_host, files["small"])  # loaded back for the next run
    assert len(frames) == 9 and len(_ours(comfy_host)) == 1


def test_free_releases_the_model_and_the_next_run_works(comfy_host, files):
    _stream(comfy_host, files["big"])
    assert any(m["size"] >= files["big_bytes"] for m in _ours(comfy_host))
    before, _ = rss_mb(comfy_host.pid)
    status, _ = http(comfy_host, "POST", "/free", {"unload_models": True, "free_memory": True})
    assert status == 200
    dropped, deadline = 0.0, time.monotonic() + 30
    while time.monotonic() < deadline:
        dropped = before - rss_mb(comfy_host.pid)[0]
        if dropped * 2**20 >= 0.7 * files["big_bytes"] and not _ours(comfy_host):
            break
        time.sleep(0.5)
    assert dropped * 2**20 >= 0.7 * files["big_bytes"], (
        f"resident memory dropped {dropped:.0f} MB of {files['big_bytes'] / 2**20:.0f} MB of weights")
    assert not _ours(comfy_host)
    assert len(_stream(comfy_host, files["big"])) == 9


def test_an_fp8_scaled_file_streams_through_the_node_within_the_bound(comfy_host, files):
    ref = np.stack(_stream(comfy_host, files["small"], 21, seed=4))
    got = np.stack(_stream(comfy_host, files["fp8"], 21, seed=4))
    assert got.shape == ref.shape == (21, 48, 64, 3)
    diff = np.abs(got - ref)
    assert diff.mean() <= 1 / 255, diff.mean()  # FP8_FRAME_MAX of test_ops + the JPEG previews' rounding
    log = comfy_host.log_path.read_text(errors="replace")
    assert "self_forcing_small_fp8_scaled.safetensors loaded; weights cpu" in log and "float8_e4m3fn" in log


def test_auto_attention_is_comfyuis_and_equals_sdpa(comfy_host):
    status, result = http(comfy_host, "POST", "/motionstream-test/attention")
    assert status == 200, result
    # what a CPU host started without attention flags picks: ComfyUI's chunked (sub-quadratic) attention
    assert result["function"] == "attention_sub_quad", result
    assert result["max_abs_err"] <= 1e-5, result

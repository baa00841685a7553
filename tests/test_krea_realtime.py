"""Krea Realtime Video 14B: its single file's key list (tests/data/krea_realtime_14b_keys.json, the Wan 2.1 T2V
14B keys of ComfyUI's WanModel) loads on the meta device as a causal student with the Krea preset, and the
bytes it holds match the published file size."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from motionstream_core.causal_checkpoints import build_causal_model, causal_state_dict, get_preset, guess_preset
from motionstream_core.ops import prepare_state_dict

KEYS = json.loads((Path(__file__).parent / "data" / "krea_realtime_14b_keys.json").read_text())


def _meta_state_dict(prefix: str = "") -> dict[str, torch.Tensor]:
    return {prefix + k: torch.empty(shape, dtype=torch.bfloat16, device="meta") for k, shape in KEYS["keys"].items()}


def test_the_single_file_layout_loads_on_the_meta_device_with_the_krea_preset():
    for prefix in ("", "model."):  # the file as published, and a Self-Forcing-style conversion
        model = build_causal_model(causal_state_dict(_meta_state_dict(prefix)), get_preset("krea-realtime"),
                                   name="krea-realtime-video-14b.safetensors")
        d = model.config.dit
        assert (d.dim, d.ffn_dim, d.num_heads, d.num_layers, d.in_dim, d.text_dim) == (5120, 13824, 40, 40, 16, 4096)
        assert all(p.device.type == "meta" for p in model.parameters())
    st = model.config.stream
    assert (st.chunk_frames, st.sink_frames, st.window_frames) == (3, 3, 3)
    assert st.step_list == (1000.0, 750.0, 500.0, 250.0) and st.warp_steps and st.shift == 5.0
    assert guess_preset("models/diffusion_models/krea-realtime-video-14b.safetensors") == "krea-realtime"


def test_the_key_list_is_the_published_files_size():
    params = sum(torch.Size(s).numel() for s in KEYS["keys"].values())
    assert params == KEYS["parameters"] == 14_288_491_584
    assert abs(params * 2 - KEYS["file_bytes_published"]) < 0.01e9  # bf16: 28.58 GB published


def test_fp8_weight_dtype_on_the_meta_device_halves_the_block_weights():
    sd = prepare_state_dict(causal_state_dict(_meta_state_dict()), torch.float8_e4m3fn)
    model = build_causal_model(sd, get_preset("krea-realtime"), name="krea")
    fp8 = sum(p.numel() for p in model.parameters() if p.dtype == torch.float8_e4m3fn)
    rest = sum(p.numel() * p.element_size() for p in model.parameters() if p.dtype != torch.float8_e4m3fn)
    assert fp8 / KEYS["parameters"] > 0.98
    assert 13.4 < (fp8 + rest) / 2**30 < 13.6  # docs/MEMORY.md: 13.5 GiB of weights in fp8 + bf16

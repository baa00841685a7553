"""The Wan DiT: official parameter layout, equivalence with ComfyUI's WanModel, causal/bidirectional consistency."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from motionstream_core.config import DiTConfig, get_config
from motionstream_core.dit import WanDiT

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
COMFYUI_PATH = Path(os.environ.get("COMFYUI_PATH", "/opt/ComfyUI"))
COMFYUI_PYTHON = Path(os.environ.get("COMFYUI_PYTHON", "/opt/comfyui-venv/bin/python"))


def _meta_shapes(cfg: DiTConfig) -> dict[str, list[int]]:
    with torch.device("meta"):
        return {k: list(v.shape) for k, v in WanDiT(cfg).state_dict().items()}


@pytest.mark.parametrize("checkpoint, in_dim, image", [("Wan2.1-T2V-1.3B", 16, False),
                                                       ("Wan2.1-Fun-1.3B-Control", 48, True)])
def test_1_3b_names_and_shapes_match_official(checkpoint, in_dim, image):
    official = json.loads((DATA / "wan2.1_1.3b_keys.json").read_text())[checkpoint]
    ours = _meta_shapes(DiTConfig(in_dim=in_dim, image_cross_attn=image))
    assert sorted(set(official) - set(ours)) == [] and sorted(set(ours) - set(official)) == []
    assert {k: v for k, v in ours.items() if v != official[k]} == {}
    assert len(official) == (825 if checkpoint.endswith("T2V-1.3B") else 983)


def test_named_1_3b_config_is_fun_control_layout():
    cfg = get_config("wan2.1-1.3b")
    assert (cfg.dit.dim, cfg.dit.ffn_dim, cfg.dit.num_heads, cfg.dit.num_layers) == (1536, 8960, 12, 30)
    assert cfg.dit.rope_split == (44, 42, 42) and cfg.dit.in_dim == 48 and cfg.dit.image_cross_attn


@pytest.mark.host
def test_bidirectional_dit_equals_comfyui_wanmodel():
    if not (COMFYUI_PATH / "comfy" / "ldm" / "wan" / "model.py").is_file() or not COMFYUI_PYTHON.is_file():
        pytest.skip(f"ComfyUI host not installed at {COMFYUI_PATH} (python {COMFYUI_PYTHON}); "
                    "see ../shared/comfyui-host.md")
    proc = subprocess.run([str(COMFYUI_PYTHON), str(REPO / "tests/host_scripts/dit_vs_comfy.py"), str(COMFYUI_PATH),
                           str(REPO)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(result["cases"]) == 3
    assert result["max_abs_err"] <= 1e-4, result


def test_first_streamed_chunk_equals_bidirectional_pass():
    """With an empty cache, a causal chunk is exactly a bidirectional pass over that chunk."""
    from motionstream_core.kv_cache import CacheShape, RollingKVCache

    torch.manual_seed(0)
    cfg = get_config("tiny")
    dit = WanDiT(cfg.dit).eval()
    with torch.no_grad():
        for p in dit.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    d = cfg.dit
    rope = dit.rope_table(cfg.stream.max_rope_frames, 2, 2)
    cache = RollingKVCache(CacheShape(d.num_layers, 1, d.num_heads, d.head_dim, 4), cfg.stream, rope, "cpu",
                           torch.float32)
    x, text, t = torch.randn(1, d.in_dim, 3, 4, 4), torch.randn(1, 3, d.text_dim), torch.tensor([420.0])
    with torch.no_grad():
        cache.begin_chunk(3)
        streamed = dit(x, t, text, cache=cache)
        full = dit(x, t, text)
    torch.testing.assert_close(streamed, full, rtol=0, atol=1e-5)

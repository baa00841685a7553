"""Block offload (blocks in host memory, each copied to the device as it runs) streams exactly what the
model streams without it; the loader's memory estimate counts what the cache and the weights hold."""

from __future__ import annotations

import torch

from motionstream_core.causal_checkpoints import PRESETS, causal_variant
from motionstream_core.config import get_config
from motionstream_core.kv_cache import CacheShape, RollingKVCache
from motionstream_core.memory import estimate, weight_bytes
from motionstream_core.pipeline import CausalSource, DecoderSource, Pipeline, Runtime, load_decoder, load_model
from motionstream_core.rope import RopeTable
from motionstream_core.stream import TextCondition
from test_ops import SIZE, files  # noqa: F401  (the module's fixture: tiny Self-Forcing files)


def _stream(files, offload: str, chunks: int = 4):
    loaded = load_model(CausalSource(files / "self_forcing_dmd.pt", size=SIZE),
                        Runtime.resolve("cpu", "fp32", offload=offload))
    pipe = Pipeline(loaded, load_decoder(DecoderSource(files / "taew2_1.pth")))
    text = TextCondition(torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(2)))
    run = pipe.prepare(None, embedding=text, num_frames=None, seed=0, size=SIZE)
    out = []
    for chunk in pipe.session(run):
        out.append(chunk.latents)
        if len(out) == chunks:
            break
    return torch.cat(out, 2), loaded


def test_offloaded_blocks_stream_exactly_what_the_resident_model_streams(files):  # noqa: F811
    ref, _ = _stream(files, "none")
    got, loaded = _stream(files, "blocks")
    assert torch.equal(got, ref)
    dit = loaded.model.dit
    runner = dit.block_runner
    passes = 4 * (len(loaded.model.config.stream.step_list) + 1)  # 4 chunks x (4 steps + the cache pass)
    assert runner.copies == passes * len(dit.blocks) + 1  # every block of every pass, + the next pass's first
    assert all(p.device.type == "cpu" for p in dit.blocks.parameters())


def test_memory_estimate_counts_the_cache_and_weights():
    cfg = causal_variant(get_config("wan2.1-1.3b"), PRESETS["self-forcing"])
    est = estimate(cfg, 832, 480, torch.bfloat16)
    d, st = cfg.dit, cfg.stream
    rope = RopeTable(d.rope_split, d.rope_theta, st.max_rope_frames, 30, 52, "meta")
    cache = RollingKVCache(CacheShape(d.num_layers, 1, d.num_heads, d.head_dim, 30 * 52), st, rope, "meta",
                           torch.bfloat16)
    assert est.cache == cache.nbytes() + cache.read_buffer_nbytes()
    params = 1_418_996_800  # Wan 2.1 T2V 1.3B
    assert est.weights == 2 * params
    fp8 = weight_bytes(cfg, torch.bfloat16, torch.float8_e4m3fn)
    assert 0.50 < fp8 / est.weights < 0.51  # blocks' Linear weights at 1 byte, the rest (1.9%) at 2
    offloaded = weight_bytes(cfg, torch.bfloat16, offload="blocks")
    per_block = (est.weights - offloaded) / (d.num_layers - 2)  # all but the two blocks on the device
    assert abs(per_block * d.num_layers - 2 * params * 0.981) / (2 * params) < 0.002

"""KV cache bytes per model family and window, read from the cache the stream builds.

    python bench/bench_kv_cache.py            # one JSON line per case, then a Markdown table
    python bench/bench_kv_cache.py --time     # + the price of one copy: the read (window rotated) vs attention

Every cache is built on the meta device (no memory is taken): its buffers' bytes are summed
(``RollingKVCache.nbytes``) and compared with one copy of each cached key and value,
layers x 2 x cached tokens x dim x element size, where cached tokens = (sink + window + chunk)
frames x tokens per frame. The size does not depend on the weights, only on the architecture, the
window and the video size.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import torch

from motionstream_core.causal_checkpoints import PRESETS, causal_variant
from motionstream_core.config import DiTConfig, get_config
from motionstream_core.kv_cache import CacheShape, RollingKVCache
from motionstream_core.rope import RopeTable

WAN_14B = DiTConfig(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40, in_dim=16, image_cross_attn=False)


def cases():
    """(label, ModelConfig, dtype) of every model family the pack runs."""
    sf = PRESETS["self-forcing"]
    wan13 = get_config("wan2.1-1.3b")
    yield "tiny (MotionStream c3s1w1)", get_config("tiny"), torch.float32
    yield "demo (MotionStream c3s1w1)", get_config("demo"), torch.float32
    yield "Wan 1.3B MotionStream c3s1w1", wan13, torch.bfloat16
    yield "tiny as Self-Forcing (c3 s1 w5)", causal_variant(get_config("tiny"), sf), torch.float32
    for name in ("self-forcing", "longlive", "causal-forcing-frame"):
        yield f"Wan 1.3B {name}", causal_variant(wan13, PRESETS[name]), torch.bfloat16
    krea = PRESETS.get("krea-realtime")
    if krea is not None:
        cfg14 = dataclasses.replace(wan13, dit=WAN_14B)
        yield "Wan 14B krea-realtime", causal_variant(cfg14, krea), torch.bfloat16


def measure(label, cfg, dtype) -> dict:
    d = cfg.dit
    s = cfg.spatial_stride
    gh, gw = cfg.height // s // d.patch_size[1], cfg.width // s // d.patch_size[2]
    L = gh * gw
    st = cfg.stream
    rope = RopeTable(d.rope_split, d.rope_theta, st.max_rope_frames, gh, gw, "meta")
    cache = RollingKVCache(CacheShape(d.num_layers, 1, d.num_heads, d.head_dim, L), st, rope, "meta", dtype)
    tokens = st.max_rope_frames * L
    one_copy = d.num_layers * 2 * tokens * d.dim * torch.empty(0, dtype=dtype).element_size()
    got = cache.nbytes()
    return {"case": label, "size": f"{cfg.width}x{cfg.height}", "dtype": str(dtype).removeprefix("torch."),
            "layers": d.num_layers, "dim": d.dim, "sink_window_chunk_frames": [st.sink_frames, st.window_frames,
                                                                                st.chunk_frames],
            "cached_tokens": tokens, "cache_mib": round(got / 2**20, 2),
            "one_copy_mib": round(one_copy / 2**20, 2), "over_one_copy": round(got / one_copy, 4),
            "buffers": {k: list(t.shape) for k, t in cache.tensors().items()}}


def main() -> list[dict]:
    rows = [measure(*c) for c in cases()]
    for r in rows:
        print(json.dumps(r), flush=True)
    print("\n| case | size | dtype | sink+window+chunk frames | cache MiB | one copy MiB | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        s, w, c = r["sink_window_chunk_frames"]
        print(f"| {r['case']} | {r['size']} | {r['dtype']} | {s}+{w}+{c} | {r['cache_mib']} | {r['one_copy_mib']} "
              f"| {r['over_one_copy']} |")
    return rows


def time_read(width: int = 416, height: int = 240, repeats: int = 5) -> dict:
    """On this machine (fp32): one layer's cache read with the window full -- the window's keys rotated as they
    are read, the sink and the chunk copied (what one copy costs per pass) -- against the attention it feeds,
    for a Wan 1.3B Self-Forcing layer (12 heads x 128, sink 3 + window 15 + chunk 3 frames)."""
    from motionstream_core.attention import sdpa

    cfg = causal_variant(get_config("wan2.1-1.3b"), PRESETS["self-forcing"])
    d, st = cfg.dit, cfg.stream
    gh, gw = height // 16, width // 16
    L = gh * gw
    rope = RopeTable(d.rope_split, d.rope_theta, st.max_rope_frames, gh, gw)
    cache = RollingKVCache(CacheShape(1, 1, d.num_heads, d.head_dim, L), st, rope, "cpu", torch.float32)
    cache.sink_filled, cache.window_filled = st.sink_frames, st.window_frames  # a full cache (values random)
    cache.tensors()["k"].normal_()
    n = st.chunk_frames * L
    q, k, v = (torch.randn(1, n, d.num_heads, d.head_dim) for _ in range(3))

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    with torch.no_grad():
        cache.begin_chunk(st.chunk_frames)
        read = best(lambda: cache.keys_values(0, k, k, v, write=False))
        keys, values = cache.keys_values(0, k, k, v, write=False)
        attend = best(lambda: sdpa(q, keys, values))
    out = {"size": f"{width}x{height}", "tokens_per_frame": L, "threads": torch.get_num_threads(),
           "read_ms": round(1000 * read, 2), "attention_ms": round(1000 * attend, 2),
           "read_over_attention": round(read / attend, 4)}
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main()
    if "--time" in sys.argv[1:]:
        time_read()

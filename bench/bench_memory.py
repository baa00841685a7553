"""GPU memory of a streaming run per model family x weight precision x offload, computed (not measured).

    python bench/bench_memory.py            # one JSON line per case, then a Markdown table

``motionstream_core.memory.estimate``: weights (exact, from the architecture on the meta device) + KV cache
(exact: the cache's buffers and its read buffer) + text context (512 tokens) + activations (an estimate of one
block's working set over a chunk), at 832x480 with bf16 activations. The decoder is not included (taew2_1:
~11 MB of weights). No GPU was lent to measure these; the load logs print the same estimate.
"""

from __future__ import annotations

import dataclasses
import json

import torch

from motionstream_core.causal_checkpoints import PRESETS, causal_variant
from motionstream_core.config import DiTConfig, get_config
from motionstream_core.memory import estimate

WAN_14B = DiTConfig(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40, in_dim=16, image_cross_attn=False)
PRECISIONS = (("bf16", None), ("fp8_e4m3fn", torch.float8_e4m3fn))


def cases():
    wan13 = get_config("wan2.1-1.3b")
    yield "Wan 1.3B MotionStream (c3 s1 w1)", wan13
    yield "Wan 1.3B Self-Forcing family (c3 s1 w5)", causal_variant(wan13, PRESETS["self-forcing"])
    yield "Wan 1.3B LongLive (c3 s1 w2)", causal_variant(wan13, PRESETS["longlive"])
    yield "Krea Realtime 14B (c3 s1 w1)", causal_variant(dataclasses.replace(wan13, dit=WAN_14B),
                                                          PRESETS["krea-realtime"])
    yield "Wan 14B Self-Forcing layout (c3 s1 w5)", causal_variant(dataclasses.replace(wan13, dit=WAN_14B),
                                                                    PRESETS["self-forcing"])


def main() -> list[dict]:
    rows = []
    for label, cfg in cases():
        for precision, wdt in PRECISIONS:
            for offload in ("none", "blocks"):
                e = estimate(cfg, 832, 480, torch.bfloat16, wdt, offload)
                rows.append({"model": label, "weights_precision": precision, "offload": offload,
                             **{k: round(v / 2**30, 2) for k, v in dataclasses.asdict(e).items()},
                             "total_gib": round(e.total / 2**30, 2)})
                print(json.dumps(rows[-1]), flush=True)
    print("\n| model (832x480, bf16 activations) | weights | offload | weights GiB | KV cache GiB | context + "
          "activations GiB | total GiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['weights_precision']} | {r['offload']} | {r['weights']} | {r['cache']} | "
              f"{round(r['context'] + r['activations'], 2)} | **{r['total_gib']}** |")
    return rows


if __name__ == "__main__":
    main()

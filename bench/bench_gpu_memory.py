"""Measured GPU memory of streaming next to the computed estimate (``motionstream_core.memory``), per weight
precision and offload: the check to run where a GPU is lent (docs/MEMORY.md's table is computed).

    python bench/bench_gpu_memory.py                     # Wan 1.3B as a Self-Forcing student, 832x480, random weights
    python bench/bench_gpu_memory.py --checkpoint krea-realtime-video-14b.safetensors --preset krea-realtime  # safetensors

Each case runs ``motionstream bench`` (12 chunks: the Self-Forcing window has rolled) and prints one JSON line:
the CUDA peak allocated over the measured chunks (weights, cache and activations included; the decoder too)
and the estimate for the same model, size and settings. On a machine without CUDA it says so and stops.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from motionstream_core.causal_checkpoints import causal_variant, get_preset
from motionstream_core.cli import build_parser
from motionstream_core.config import get_config
from motionstream_core.memory import estimate
from motionstream_core.ops import WEIGHT_DTYPES

CASES = (("default", "none"), ("fp8_e4m3fn", "none"), ("default", "blocks"), ("fp8_e4m3fn", "blocks"))


def _config(checkpoint: str | None, preset: str):
    """The model config the bench streams: a file's (from its safetensors header: shapes only) or the 1.3B's."""
    if checkpoint is None:
        return causal_variant(get_config("wan2.1-1.3b"), get_preset(preset))
    from safetensors import safe_open

    from motionstream_core.causal_checkpoints import causal_config, causal_state_dict, infer_dit_config

    with safe_open(checkpoint, framework="pt") as f:
        shapes = {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}
    return causal_config(infer_dit_config(causal_state_dict(shapes)), get_preset(preset))


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--preset", default="self-forcing")
    p.add_argument("--width", type=int, default=832)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--chunks", type=int, default=12)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device: GPU memory cannot be measured here"}))
        return []
    rows = []
    for weight_dtype, offload in CASES:
        bench = ["bench", "--device", "cuda", "--dtype", "bf16", "--chunks", str(args.chunks), "--warmup-chunks", "2",
                 "--width", str(args.width), "--height", str(args.height), "--weight-dtype", weight_dtype,
                 "--offload", offload, "--decoder", "full-size-tiny", "--preset", args.preset]
        bench += ["--checkpoint", args.checkpoint] if args.checkpoint else ["--config", "wan2.1-1.3b"]
        parsed = build_parser().parse_args(bench)
        torch.cuda.empty_cache()
        figures = parsed.func(parsed)
        cfg = _config(args.checkpoint, args.preset)
        est = estimate(cfg, args.width, args.height, torch.bfloat16, WEIGHT_DTYPES[weight_dtype], offload)
        rows.append({"weights": weight_dtype, "offload": offload, "gpu": figures["device"],
                     "measured_peak_gib": round(figures["memory"]["at_end_mb"] / 1024, 2),
                     "estimate_gib": round(est.total / 2**30, 2), "frames_per_s": figures["frames_per_s"],
                     "chunk_latency_ms": figures["chunk_latency_ms_at"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])

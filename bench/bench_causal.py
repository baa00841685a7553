"""Causal Wan students (Self-Forcing family): per-chunk latency from chunk 10 to chunk 200, frames/s, memory.

    python bench/bench_causal.py                                     # CPU: tiny DiT as a Self-Forcing student, 64x64
    python bench/bench_causal.py --device cuda --config wan2.1-1.3b --width 832 --height 480 --decoder full-size-tiny
    python bench/bench_causal.py --device cuda --checkpoint self_forcing_dmd.pt --decoder taew2_1.safetensors \\
        --width 832 --height 480                                      # a real file

Runs `motionstream bench` (random weights unless --checkpoint; speed does not depend on them) with the
Self-Forcing preset (chunk 3, sink 1 chunk, window 5 chunks, 4 steps + the cache pass) for 200 chunks,
prints its JSON line, then one summary line: median per-chunk latency around chunk 10 (chunks 6-15)
and over the last ten chunks (191-200), and their ratio, measured in the same run. Never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import sys

from motionstream_core.cli import build_parser


def run(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, default=200)
    args, rest = p.parse_known_args(argv)
    bench_args = ["bench", "--chunks", str(args.chunks), *rest]
    if "--checkpoint" not in rest and "--preset" not in rest:
        bench_args += ["--preset", "self-forcing"]
    if "--config" not in rest and "--checkpoint" not in rest:
        bench_args += ["--config", "tiny"]
    parsed = build_parser().parse_args(bench_args)
    figures = parsed.func(parsed)
    print(json.dumps(figures), flush=True)
    at = figures["chunk_latency_ms_at"]
    summary = {"model": figures["model"], "config": figures["config"], "device": figures["device"],
               "size": f"{figures['width']}x{figures['height']}", "chunks": figures["chunks"],
               "chunk_latency_ms_at": at, "last_over_chunk_10": figures["last_over_chunk_10"],
               "frames_per_s": figures["frames_per_s"], "first_chunk_latency_s": figures["first_chunk_latency_s"],
               "memory": figures["memory"]}
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    run(sys.argv[1:])


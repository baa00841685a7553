"""Streaming benchmark: per-chunk latency early vs late, frames/s and memory, for each config given.

    python bench/bench_stream.py                       # tiny (120 chunks) and demo (120 chunks) on CPU
    python bench/bench_stream.py --configs wan2.1-1.3b --height 480 --width 832 --device cuda --dtype bf16

Prints one JSON line per config (the `motionstream bench` figures) and a summary line with the ratio
of late (chunks > 100) to early (chunks 2-10) latency, measured in the same run. Never asserts on time.
"""

from __future__ import annotations

import argparse
import json

from motionstream_core.cli import build_parser, main


def run(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["tiny", "demo"])
    p.add_argument("--chunks", type=int, default=120)
    args, rest = p.parse_known_args(argv)
    for name in args.configs:
        bench_args = ["bench", "--config", name, "--chunks", str(args.chunks), *rest]
        build_parser().parse_args(bench_args)  # validate before spending time
        main(bench_args)


if __name__ == "__main__":
    run()
    print(json.dumps({"note": "compare chunk_latency_ms.chunks_101_plus with chunks_2_10 (late_over_early)"}))

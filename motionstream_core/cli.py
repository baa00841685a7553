"""`motionstream` command line: demo, generate, bench (+ train and eval from motionstream_core.train).

    motionstream demo --out out/                      # the embedded demo model, no downloads
    motionstream generate --checkpoint m.safetensors --image start.png --tracks t.json \\
        --text-embedding prompt.safetensors --out video.mp4
    motionstream bench --config tiny --chunks 120     # one JSON line of figures
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _add_runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=DTYPES, default=None, help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--attention", default="auto", choices=["auto", "sdpa", "flash"])
    p.add_argument("--steps", type=int, default=None, help="denoising steps per chunk (default: the model's, 3)")
    p.add_argument("--seed", type=int, default=0)


def _dtype(args) -> torch.dtype:
    if args.dtype:
        return DTYPES[args.dtype]
    return torch.bfloat16 if str(args.device).startswith("cuda") else torch.float32


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motionstream", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the embedded demo model on its sample image and drag tracks")
    demo.add_argument("--out", default="out", help="output folder (video.mp4 and tracks_overlay.mp4)")
    demo.add_argument("--frames", type=int, default=None, help="frames to generate (default: the tracks' length)")
    _add_runtime_args(demo)

    gen = sub.add_parser("generate", help="write a video from a checkpoint, an image, tracks and a text embedding")
    gen.add_argument("--checkpoint", required=True, help="a MotionStream .safetensors, or 'demo'")
    gen.add_argument("--image", required=True)
    gen.add_argument("--tracks", default=None, help="tracks file (our JSON, KJNodes coord_str, ATI JSON, .npy/.pt)")
    text = gen.add_mutually_exclusive_group()
    text.add_argument("--text-embedding", default=None,
                      help="a .safetensors/.pt holding 'context' [1, L, text_dim] (and optional 'clip')")
    text.add_argument("--prompt", default=None, help="a prompt, for models with a built-in text encoder (the demo)")
    gen.add_argument("--decoder", default=None, help="tiny decoder weights (taew2_1 .pth/.safetensors); "
                                                     "default: the one stored beside the demo model")
    gen.add_argument("--frames", type=int, default=None)
    gen.add_argument("--out", required=True, help="output video (.mp4, .webm or .gif)")
    gen.add_argument("--overlay", default=None, help="also write the video with the tracks drawn over it")
    _add_runtime_args(gen)

    bench = sub.add_parser("bench", help="stream random-weight chunks and print one JSON line of figures")
    bench.add_argument("--config", default="tiny", help="tiny | demo | wan2.1-1.3b")
    bench.add_argument("--chunks", type=int, default=120)
    bench.add_argument("--height", type=int, default=None)
    bench.add_argument("--width", type=int, default=None)
    bench.add_argument("--tracks", type=int, default=16, help="number of random drag tracks")
    bench.add_argument("--warmup-chunks", type=int, default=3, help="chunks of a discarded warm-up session")
    bench.add_argument("--decoder", choices=["tiny", "full-size-tiny"], default="tiny",
                       help="tiny: the config's tiny VAE; full-size-tiny: the taew2_1 architecture")
    _add_runtime_args(bench)

    try:  # the training stages and evaluation live in motionstream_core.train
        from .train.cli import add_eval_parser, add_train_parser
    except ImportError:
        pass
    else:
        add_train_parser(sub)
        add_eval_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        from .bench import run_bench

        print(json.dumps(run_bench(args)), flush=True)
        return 0
    try:
        if args.command not in ("demo", "generate"):
            return args.func(args)
        from .generate import run_demo, run_generate

        paths = run_demo(args) if args.command == "demo" else run_generate(args)
    except (ValueError, FileNotFoundError) as e:  # bad input, a missing file or stage: one clear line, no traceback
        print(f"motionstream {args.command}: error: {e}", file=sys.stderr)
        return 2
    for label, path in paths.items():
        print(f"{label}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser", "DTYPES", "Path"]

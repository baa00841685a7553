"""A causal Wan student driven by a region drag in the warp drag mode: writes the frames, prints frames/s.

    # the real Self-Forcing file, its tiny decoder and a prompt's umT5 embedding, on a GPU at 832x480
    python bench/bench_warp_drag.py --device cuda --dtype bf16 --checkpoint self_forcing_dmd.pt \\
        --decoder taew2_1.safetensors --text-embedding ctx.safetensors --out warp_drag.mp4
    # no weights at hand: random weights of the same layout (the speed is the same; the frames are noise)
    python bench/bench_warp_drag.py --device cuda --dtype bf16 --random --out warp_drag_random.mp4
    # CPU smoke run: the tiny DiT as a Self-Forcing student at 64x48
    python bench/bench_warp_drag.py --random --config tiny --width 64 --height 48 --frames 33

Inputs are fixed so runs compare: the demo's sample photo (``motionstream_core/demo``) resized to the run's size,
one region -- a square of a fifth of the image's height around the image centre -- dragged right by a quarter of
the width over the clip (one track at its centre carrying the square as its ``region``), and 4 pins at the
corners. The video goes to ``--out``; one JSON line reports frames/s over the chunks after the first
(``frames_per_s``), the first chunk's latency, the median per-chunk latency, the drag mode's t_weak / t_strong,
the device and the model. Without ``--text-embedding`` the text is a zero context [1, 512, text_dim] (say so when
you quote frames). Never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from motionstream_core.decoders import TAEW2_1_CONFIG
from motionstream_core.demo import DEMO_ASSETS
from motionstream_core.generate import load_text_embedding
from motionstream_core.pipeline import (DecoderSource, Pipeline, Runtime, TextCondition, load_decoder, load_model,
                                        random_model, source_for)
from motionstream_core.tracks import Tracks
from motionstream_core.video_io import read_image, write_video


def region_drag(width: int, height: int, frames: int, fps: float) -> Tracks:
    """The fixed request: a square region around the centre dragged right by width / 4, and 4 corner pins."""
    side = height / 5
    cx, cy = width / 2, height / 2
    square = np.array([[cx - side / 2, cy - side / 2], [cx + side / 2, cy - side / 2],
                       [cx + side / 2, cy + side / 2], [cx - side / 2, cy + side / 2]], np.float32)
    drag = np.linspace([cx, cy], [cx + width / 4, cy], frames)
    pins = [[width * 0.1, height * 0.1], [width * 0.9, height * 0.1], [width * 0.1, height * 0.9],
            [width * 0.9, height * 0.9]]
    path = np.concatenate([drag[:, None], np.repeat(np.float32(pins)[None], frames, 0)], 1).astype(np.float32)
    return Tracks(path, np.ones(path.shape[:2], bool), fps, width, height, kinds=("drag",) + ("static",) * 4,
                  regions=(square,) + (None,) * 4)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="a causal Wan student file (self_forcing_dmd.pt)")
    p.add_argument("--random", action="store_true", help="random weights of --config as a Self-Forcing student")
    p.add_argument("--config", default="wan2.1-1.3b", help="with --random: tiny | demo | wan2.1-1.3b")
    p.add_argument("--decoder", default=None, help="taew2_1 .pth/.safetensors (default with --random: random "
                                                   "weights of the taew2_1 layout)")
    p.add_argument("--text-embedding", default=None, help="'context' [1, L, 4096] (umT5) of the prompt")
    p.add_argument("--width", type=int, default=832)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--frames", type=int, default=81)
    p.add_argument("--t-weak", type=float, default=None)
    p.add_argument("--t-strong", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--out", default="warp_drag.mp4")
    args = p.parse_args(argv)
    if (args.checkpoint is None) == (not args.random):
        p.error("give --checkpoint FILE or --random")
    runtime = Runtime.resolve(args.device, args.dtype)
    if args.random:
        layout = TAEW2_1_CONFIG if args.config == "wan2.1-1.3b" else None
        loaded = random_model(args.config, runtime, layout, seed=args.seed, preset="self-forcing")
    else:
        loaded = load_model(source_for(args.checkpoint), runtime)
    decoder = None if args.decoder is None else load_decoder(DecoderSource(args.decoder), prefer=loaded.config.vae)
    if decoder is None and loaded.own_codec is None:
        p.error("--decoder is required for a real checkpoint (taew2_1.safetensors)")
    pipe = Pipeline(loaded, decoder, drag_mode="warp", t_weak=args.t_weak, t_strong=args.t_strong)
    cfg = pipe.config
    image = read_image(DEMO_ASSETS["image"], args.width, args.height)
    if args.text_embedding is not None:
        text = load_text_embedding(args.text_embedding)
    else:
        text = TextCondition(torch.zeros(1, cfg.text_len, cfg.dit.text_dim))
    run = pipe.prepare(image, embedding=text, tracks=[region_drag(args.width, args.height, args.frames, pipe.fps)],
                       num_frames=args.frames, seed=args.seed)
    frames, latency = [], []
    t0 = time.perf_counter()
    for chunk in pipe.session(run):
        latency.append(chunk.timing.total_s)
        frames.append(chunk.frames)
    wall = time.perf_counter() - t0
    video = torch.cat(frames)
    write_video(args.out, video, pipe.fps)
    later = [f.shape[0] for f in frames[1:]]
    figures = {"model": args.checkpoint or f"random {args.config}", "device": str(runtime.device),
               "dtype": str(runtime.dtype).replace("torch.", ""), "size": f"{args.width}x{args.height}",
               "frames": int(video.shape[0]), "chunks": len(frames), "t_weak": pipe.drag.t_weak,
               "t_strong": pipe.drag.t_strong, "first_chunk_latency_s": round(latency[0], 4),
               "median_chunk_latency_s": round(statistics.median(latency[1:] or latency), 4),
               "frames_per_s": round(sum(later) / sum(latency[1:]), 2) if later else None,
               "wall_s": round(wall, 2), "text": "embedding" if args.text_embedding else "zero context",
               "out": args.out}
    print(json.dumps(figures), flush=True)
    return figures


if __name__ == "__main__":
    main()

"""Decode throughput of the tiny streaming decoder (taew2_1 architecture) vs the full Wan 2.1 VAE.

Both decode the same model-space latents chunk by chunk through their ``LatentCodec``, exactly as the
streaming generator does (chunk = 3 latents = 12 frames), and the script prints frames/s for each and
their ratio, measured in one run. Weights are random unless ``--tiny-weights`` / ``--wan-vae`` are
given: throughput does not depend on the values.

    python bench/bench_decoders.py                        # CPU: 160x96 (832x480 is far too slow on CPU)
    python bench/bench_decoders.py --device cuda          # GPU: 832x480, fp16 by default
    python bench/bench_decoders.py --height 480 --width 832 --chunks 8

The first chunk after ``reset()`` (1 + 4*2 frames) is a warm-up and is not timed. Never asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from motionstream_core.config import get_config  # noqa: E402
from motionstream_core.decoders import (TAEW2_1_CONFIG, WAN21_LATENT_MEAN, WAN21_LATENT_STD, TinyVAE,  # noqa: E402
                                        TinyVAECodec, WanVAECodec, load_tiny_vae, load_wan_vae)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--height", type=int, default=None, help="pixels (default 480 on GPU, 96 on CPU)")
    p.add_argument("--width", type=int, default=None, help="pixels (default 832 on GPU, 160 on CPU)")
    p.add_argument("--dtype", choices=DTYPES, default=None, help="default fp16 on GPU, fp32 on CPU")
    p.add_argument("--chunks", type=int, default=None, help="timed chunks per decoder (default 8 GPU, 2 CPU)")
    p.add_argument("--chunk-latents", type=int, default=3, help="latent frames per chunk (MotionStream: 3)")
    p.add_argument("--tiny-config", choices=["taew2_1", "demo", "tiny"], default="taew2_1",
                   help="tiny decoder architecture: taew2_1, or the named model config's VAE")
    p.add_argument("--tiny-weights", help="weights for --tiny-config (.pth/.safetensors; default: random)")
    p.add_argument("--wan-vae", help="diffusers Wan VAE folder or single file (default: random weights)")
    p.add_argument("--skip-full", action="store_true", help="only the tiny decoder")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p.parse_args(argv)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_codec(name: str, codec, shape: tuple[int, ...], chunks: int, device: torch.device) -> float:
    """Decode a warm-up chunk and then ``chunks`` timed chunks; print and return frames/s."""
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(shape, generator=g).to(device) for _ in range(chunks + 1)]
    codec.reset()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    codec.decode_chunk(latents[0])  # warm-up: the first chunk of the video (1 + 4(T-1) frames)
    sync(device)
    frames, times = 0, []
    for z in latents[1:]:
        t0 = time.perf_counter()
        out = codec.decode_chunk(z)
        sync(device)
        times.append(time.perf_counter() - t0)
        frames += out.shape[1]
    total = sum(times)
    fps = frames / total
    mem = f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if device.type == "cuda" else ""
    print(f"{name:>18}: {fps:9.2f} frames/s  ({frames} frames in {total:.3f} s; per chunk of {out.shape[1]} frames "
          f"median {sorted(times)[len(times) // 2] * 1e3:.1f} ms{mem})", flush=True)
    return fps


def main(argv=None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    if gpu:
        torch.backends.cudnn.benchmark = True
    height = args.height or (480 if gpu else 96)
    width = args.width or (832 if gpu else 160)
    dtype = DTYPES[args.dtype or ("fp16" if gpu else "fp32")]
    chunks = args.chunks or (8 if gpu else 2)
    if height % 8 or width % 8:
        raise SystemExit(f"--height/--width must be multiples of 8, got {width}x{height}")
    shape = (1, 16, args.chunk_latents, height // 8, width // 8)
    name = torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} threads"
    note = "" if (height, width) == (480, 832) else "  [smaller than the paper's 832x480]"
    print(f"device {device} ({name}), {dtype}, {width}x{height}{note}, chunk = {args.chunk_latents} latents "
          f"({4 * args.chunk_latents} frames), {chunks} timed chunks, torch {torch.__version__}")

    torch.manual_seed(0)
    tiny_cfg = TAEW2_1_CONFIG if args.tiny_config == "taew2_1" else get_config(args.tiny_config).vae
    tiny = load_tiny_vae(args.tiny_weights, tiny_cfg) if args.tiny_weights else TinyVAE(tiny_cfg).eval()
    tiny = tiny.to(device, dtype)
    stats = (WAN21_LATENT_MEAN, WAN21_LATENT_STD) if args.tiny_config == "taew2_1" else (None, None)
    tiny_fps = bench_codec(f"tiny VAE ({args.tiny_config})", TinyVAECodec(tiny, *stats), shape, chunks, device)
    if args.skip_full:
        return
    try:
        if args.wan_vae:
            wan = load_wan_vae(args.wan_vae, device=device, dtype=dtype)
        else:
            from diffusers import AutoencoderKLWan  # the Wan 2.1 VAE config is diffusers' default
            from diffusers.utils import logging as diffusers_logging
            diffusers_logging.set_verbosity_error()  # random weights: no fp32-module advice needed
            wan = AutoencoderKLWan().to(device, dtype).eval()
    except ImportError as e:
        print(f"  full Wan VAE skipped: {e}")
        return
    full_fps = bench_codec("Wan VAE", WanVAECodec(wan), shape, chunks, device)
    print(f"             ratio: tiny decoder is {tiny_fps / full_fps:.1f}x faster than the full Wan VAE")


if __name__ == "__main__":
    main()

"""`motionstream bench`: stream random-weight chunks through the real inference path and report figures.

Reports end-to-end frames/s, first-chunk latency, median per-chunk latency for chunks 2-10 and for
chunks past 100, and around chunk 10 vs the last ten chunks (e.g. chunks 191-200), the decoder's
share of each chunk, and memory (CUDA: peak allocated, measured separately after chunk 10; CPU: the
process's peak RSS at chunk 10 and at the end), so constant cost per chunk can be read off one run.

Random weights of a named config by default; ``preset`` makes that DiT a text-to-video causal
student of the family (no tracks, no start image); ``model`` streams a real file instead (a causal
student such as ``self_forcing_dmd.pt``), with ``decoder`` a decoder file or a random one.
"""

from __future__ import annotations

import platform
import resource
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .causal_checkpoints import StreamOverrides
from .config import TinyVAEConfig
from .decoders import build_autoencoder, codec_over
from .pipeline import CausalSource, DecoderSource, ModelSource, Pipeline, Runtime, load_decoder, load_model, random_model
from .stream import TextCondition
from .tracks import Tracks

DECODERS = ("tiny", "full-size-tiny")


@dataclass(frozen=True)
class BenchOptions:
    """One `motionstream bench` run. ``decoder``: "tiny" (the config's tiny VAE), "full-size-tiny"
    (the taew2_1 architecture), both random, or a decoder file. ``model``: a real model instead of
    random weights of ``config``; ``preset`` (+ ``overrides``): random weights as a causal student."""

    runtime: Runtime
    config: str = "tiny"
    chunks: int = 120
    height: int | None = None
    width: int | None = None
    tracks: int = 16
    warmup_chunks: int = 3
    decoder: str = "tiny"
    steps: int | None = None
    seed: int = 0
    model: ModelSource | CausalSource | None = None
    preset: str | None = None
    overrides: StreamOverrides = StreamOverrides()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def random_tracks(n: int, num_frames: int, width: int, height: int, fps: float, seed: int = 0) -> Tracks:
    """n smooth random drags (sines), for benchmarks."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames, dtype=np.float32)[:, None] / fps
    cx, cy = rng.uniform(0.2, 0.8, (2, n)) * [[width], [height]]
    ax, ay = rng.uniform(0.05, 0.2, (2, n)) * [[width], [height]]
    fx, fy = rng.uniform(0.1, 0.5, (2, n))
    path = np.stack([cx + ax * np.sin(2 * np.pi * fx * t), cy + ay * np.cos(2 * np.pi * fy * t)], -1)
    return Tracks(path=path.astype(np.float32), visible=np.ones((num_frames, n), bool), fps=fps, width=width,
                  height=height)


def _pipeline(opts: BenchOptions) -> Pipeline:
    random_decoder = opts.decoder in DECODERS
    if not random_decoder and not Path(opts.decoder).is_file():
        raise ValueError(f"bench decoder {opts.decoder!r} is neither one of {', '.join(DECODERS)} nor a file")
    layout = TinyVAEConfig() if opts.decoder == "full-size-tiny" else None
    runtime = opts.runtime
    if opts.model is None:
        loaded = random_model(opts.config, runtime, layout, seed=opts.seed, preset=opts.preset,
                              overrides=opts.overrides)
    else:
        loaded = load_model(opts.model, runtime)
        if random_decoder:  # a random codec of the model's layout: only the cost matters here
            torch.manual_seed(opts.seed)
            vae = build_autoencoder(layout or loaded.config.vae).to(runtime.device, runtime.dtype).eval()
            loaded.own_codec = codec_over(vae)
    decoder = None if random_decoder else load_decoder(DecoderSource(opts.decoder), prefer=loaded.config.vae)
    return Pipeline(loaded, decoder, steps=opts.steps)


def run_bench(opts: BenchOptions) -> dict:
    runtime = opts.runtime
    device, dtype = runtime.device, runtime.dtype
    pipe = _pipeline(opts)
    cfg = pipe.config
    height, width = opts.height or cfg.height, opts.width or cfg.width
    cfg.check_size(height, width)
    stream = pipe.stream
    text = TextCondition(torch.randn(1, cfg.text_len, cfg.dit.text_dim),
                         torch.randn(1, 257, cfg.dit.clip_dim) if cfg.dit.image_cross_attn else None)
    if cfg.takes_tracks:
        tracks = random_tracks(opts.tracks, 64, width, height, cfg.stream.fps, opts.seed)
        run = pipe.prepare(torch.rand(height, width, 3), embedding=text, tracks=[tracks], num_frames=None,
                           seed=opts.seed)
    else:  # a text-to-video causal student: no tracks, no start image
        run = pipe.prepare(None, embedding=text, num_frames=None, seed=opts.seed, size=(width, height))
    cuda = device.type == "cuda"
    # Warm-up session (discarded): first calls pay for allocation, kernel selection and lazy init; that is
    # start-up cost, not the per-chunk cost whose constancy the measured session shows.
    for chunk in pipe.session(run):
        if chunk.index + 1 >= opts.warmup_chunks:
            break
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    lat, dec, frames, mem = [], [], 0, {"before_session_mb": _rss_mb() if not cuda else 0.0}
    t_start = time.perf_counter()
    session = pipe.session(run)
    for chunk in session:
        lat.append(chunk.timing.total_s)
        dec.append(chunk.timing.decode_s)
        frames += chunk.frames.shape[0]
        n = chunk.index + 1
        if n == 10:
            mem["at_chunk_10_mb"] = (torch.cuda.max_memory_allocated(device) / 2**20) if cuda else _rss_mb()
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
        if n >= opts.chunks:
            break
    elapsed = time.perf_counter() - t_start
    mem["at_end_mb"] = (torch.cuda.max_memory_allocated(device) / 2**20) if cuda else _rss_mb()
    early, late = lat[1:10], lat[100:]
    around_10, last_10 = lat[5:15], lat[-10:]
    median_ms = lambda xs: round(1000 * statistics.median(xs), 2) if xs else None  # noqa: E731
    min_ms = lambda xs: round(1000 * min(xs), 2) if xs else None  # noqa: E731
    return {
        "config": cfg.name, "model": "random" if opts.model is None else pipe.loaded.name, "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "dtype": str(dtype).replace("torch.", ""), "height": height, "width": width,
        "steps": stream.steps, "chunk_frames": cfg.stream.chunk_frames, "sink_chunks": cfg.stream.sink_chunks,
        "window_chunks": cfg.stream.window_chunks, "chunks": len(lat), "frames": frames,
        "frames_per_s": round(frames / elapsed, 2),
        "first_chunk_latency_s": round(lat[0], 4),
        "chunk_latency_ms": {"chunks_2_10": median_ms(early), "chunks_101_plus": median_ms(late)},
        # Minimums are the least disturbed by other processes on a shared machine: the work is what we compare.
        "chunk_latency_min_ms": {"chunks_2_10": min_ms(early), "chunks_101_plus": min_ms(late)},
        "late_over_early": round(statistics.median(late) / statistics.median(early), 4) if late and early else None,
        "late_over_early_min": round(min(late) / min(early), 4) if late and early else None,
        # per-chunk latency around chunk 10 (chunks 6-15) vs the last ten chunks (e.g. 191-200): flat = constant cost
        "chunk_latency_ms_at": {"chunk_10": median_ms(around_10), f"chunk_{len(lat)}": median_ms(last_10)},
        "last_over_chunk_10": (round(statistics.median(last_10) / statistics.median(around_10), 4)
                               if len(lat) >= 25 else None),
        "decode_share": round(sum(dec) / sum(lat), 4),
        "memory": {"kind": "cuda_peak_allocated" if cuda else "process_peak_rss", **{k: round(v, 1) for k, v in mem.items()}},
        "kv_cache_mb": round(session.cache_nbytes / 2**20, 2),
        "warmup_chunks": opts.warmup_chunks, "attention": runtime.attention, "torch": torch.__version__, "threads": torch.get_num_threads(),
    }

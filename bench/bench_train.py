"""Training throughput: measured samples/s, tokens/s and peak memory per rank of a stage, and the
analytic estimates docs/TRAINING.md quotes for the paper's recipe.

Measure (random latents and text embeddings written as a prepared folder, then the stage's own code):

    python bench/bench_train.py measure --config tiny --frames 21 --stage teacher --steps 8
    torchrun --nproc_per_node 8 bench/bench_train.py measure --config wan2.1-1.3b --frames 81 \\
        --stage teacher --steps 10 --batch 8 --precision bf16 --checkpointing

prints one JSON line per stage: the stage's read-outs, its analytic FLOPs per sample and the achieved
FLOP rate per rank (FLOPs per sample x samples/s / ranks).

Estimate (no hardware needed; every figure printed is an estimate, from the formulas below):

    python bench/bench_train.py estimate --gpus 8 32 --tflops 125

FLOPs per sample count the matmuls of the DiT (linear layers 2 x in x out per token; self-attention
4 x L_q x L_kv x dim; cross-attention over 512 text tokens), a backward pass as 2x its forward, and each
stage's passes: teacher = forward + backward on the whole clip; ODE = per chunk one pass with gradient
and one clean cache pass; DMD generator step = a rollout (on average 1.5 passes without gradient, the
exit pass with gradient and the clean pass per chunk) + 3 guided teacher evaluations + 1 critic
evaluation, and ``critic_steps`` critic steps of a rollout without gradient + a critic forward/backward.
Memory per GPU: FSDP2 shards fp32 weights, gradients, AdamW moments and the EMA over the GPUs; the
gathered bf16 root unit, one block's gathered parameters, the frozen bf16 teacher (DMD), and
activations (with checkpointing: one [tokens, dim] bf16 tensor per block, plus one block's working set).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import torch

from motionstream_core.config import ModelConfig
from motionstream_core.train.common import model_config
from motionstream_core.train.data import Clips
from motionstream_core.train.distributed import DistEnv
from motionstream_core.train.prepare import NULL_TEXT, PrepareOptions, write_manifest, write_shard
from motionstream_core.train.stages import get_stage

A100_BF16_PEAK_TFLOPS = 312.0


# -- analytic FLOPs -----------------------------------------------------------------------------------

def tokens(cfg: ModelConfig, frames: int) -> tuple[int, int]:
    """(latent frames, DiT tokens per latent frame) of a clip of ``frames`` pixel frames."""
    f = 1 + (frames - 1) // cfg.vae.temporal_stride
    _, ph, pw = cfg.dit.patch_size
    s = cfg.vae.spatial_stride
    return f, (cfg.height // s // ph) * (cfg.width // s // pw)


def forward_flops(cfg: ModelConfig, q_tokens: int, kv_tokens: int, text_tokens: int = 512) -> float:
    """One DiT forward over ``q_tokens`` tokens attending to ``kv_tokens`` (matmuls only)."""
    d, ff, layers = cfg.dit.dim, cfg.dit.ffn_dim, cfg.dit.num_layers
    linear = 2 * q_tokens * (4 * d * d + 2 * d * d + 2 * d * ff)  # self qkvo, cross q/o, FFN
    attention = 4 * q_tokens * kv_tokens * d + 4 * q_tokens * text_tokens * d
    cross_kv = 2 * text_tokens * 2 * d * d
    return layers * (linear + attention + cross_kv)


def stage_flops(cfg: ModelConfig, frames: int, stage: str, critic_steps: int = 5) -> float:
    """FLOPs per training sample of ``stage`` (see the module docstring)."""
    f, per = tokens(cfg, frames)
    whole = forward_flops(cfg, f * per, f * per)
    if stage == "teacher":
        return 3 * whole
    s = cfg.stream
    chunk_passes = []
    for start in range(0, f, s.chunk_frames):
        n = min(s.chunk_frames, f - start)
        ctx = min(start, s.sink_frames + s.window_frames)
        chunk_passes.append(forward_flops(cfg, n * per, (ctx + n) * per))
    chunk_total = sum(chunk_passes)
    if stage == "ode":
        return 3 * chunk_total + chunk_total  # a pass with gradient + the clean pass, per chunk
    if stage == "dmd":
        rollout_grad = (1.5 + 3 + 1) * chunk_total
        rollout_nograd = (1.5 + 1 + 1) * chunk_total
        generator = rollout_grad + 3 * whole + whole
        critic = rollout_nograd + 3 * whole
        return generator + critic_steps * critic
    raise ValueError(stage)


def params(cfg: ModelConfig) -> tuple[int, int]:
    """(all parameters, those of the FSDP root unit: everything but the blocks' self-attention and FFN)."""
    with torch.device("meta"):
        from motionstream_core.model import MotionStreamModel

        m = MotionStreamModel(cfg)
    total = sum(p.numel() for p in m.parameters())
    blocks = sum(p.numel() for b in m.dit.blocks for mod in (b.self_attn, b.ffn) for p in mod.parameters())
    return total, total - blocks


def memory_gb(cfg: ModelConfig, frames: int, stage: str, gpus: int, checkpointing: bool = True) -> float:
    """Estimated peak memory per GPU (GB) at one clip per GPU, bf16 compute, FSDP2 over ``gpus``."""
    total, root = params(cfg)
    trainable = 2 if stage == "dmd" else 1  # DMD trains the generator and the critic
    sharded = trainable * total * (4 + 4 + 8) / gpus + (total * 4 / gpus if stage == "teacher" else 0)  # + EMA
    gathered = trainable * root * 2 + 2 * (total - root) / cfg.dit.num_layers * 2
    frozen = total * 2 if stage in ("ode", "dmd") else 0  # bf16 teacher (trajectories / real score)
    f, per = tokens(cfg, frames)
    t = f * per if stage == "teacher" else min(f, cfg.stream.chunk_frames) * per
    d, ff = cfg.dit.dim, cfg.dit.ffn_dim
    per_block_saved = t * d * 2 if checkpointing else t * (10 * d + 2 * ff) * 2
    working = t * (6 * d + 2 * ff) * 2
    acts = cfg.dit.num_layers * per_block_saved + working
    if stage in ("ode", "dmd"):
        acts *= -(-f // cfg.stream.chunk_frames)  # every chunk's graph is kept until the backward pass
    return (sharded + gathered + frozen + acts) / 1e9


def estimate(args) -> None:
    cfg = model_config(args.config)
    total, root = params(cfg)
    f, per = tokens(cfg, args.frames)
    print(json.dumps({"config": cfg.name, "parameters": total, "root_unit_parameters": root, "frames": args.frames,
                      "tokens_per_clip": f * per, "assumed_tflops_per_gpu": args.tflops, "kind": "estimate"}))
    for stage in ("teacher", "ode", "dmd"):
        fl = stage_flops(cfg, args.frames, stage)
        for gpus in args.gpus:
            step_s = fl * args.batch_per_gpu / (args.tflops * 1e12)
            print(json.dumps({"stage": stage, "gpus": gpus, "global_batch": gpus * args.batch_per_gpu,
                              "tflops_per_sample": round(fl / 1e12, 1), "seconds_per_step": round(step_s, 2),
                              "hours_per_1000_steps": round(step_s * 1000 / 3600, 2),
                              "hours_per_600k_samples": round(600_000 / (gpus * args.batch_per_gpu) * step_s / 3600, 1),
                              "memory_gb_per_gpu": round(memory_gb(cfg, args.frames, stage, gpus), 1),
                              "memory_gb_per_gpu_no_checkpointing": round(
                                  memory_gb(cfg, args.frames, stage, gpus, False), 1),
                              "kind": "estimate"}))


# -- measurement -----------------------------------------------------------------------------------

def random_data(folder: Path, cfg: ModelConfig, frames: int, clips: int, points: int = 64, text_tokens: int = 64):
    """A prepared folder of random clips (the format ``prepare`` writes), for speed only."""
    g = torch.Generator().manual_seed(0)
    f, _ = tokens(cfg, frames)
    s = cfg.vae.spatial_stride
    c, h, w = cfg.latent_channels, cfg.height // s, cfg.width // s
    path = torch.rand(clips, frames, points, 2, generator=g) * torch.tensor([cfg.width, cfg.height])
    data = Clips(torch.randn(clips, c, f, h, w, generator=g), torch.randn(clips, c, 1, h, w, generator=g), path,
                 torch.ones(clips, frames, points, dtype=torch.bool), ["random"] * clips,
                 [torch.randn(text_tokens, cfg.dit.text_dim, generator=g) for _ in range(clips)])
    folder.mkdir(parents=True, exist_ok=True)
    write_shard(folder / "shard_00000", data, ["random"] * clips)
    (folder / "shard_00000.json").write_text(json.dumps({"clips": clips, "failed": []}))
    from safetensors.torch import save_file

    save_file({"text": torch.randn(1, cfg.dit.text_dim, generator=g).to(torch.bfloat16)}, str(folder / NULL_TEXT))
    opts = PrepareOptions(videos="random", data=str(folder), vae="none", text_encoder="none", config=cfg.name,
                          frames=frames, points=points)
    write_manifest(folder, cfg, float(cfg.stream.fps), opts, 1, clips)


def measure(args) -> None:
    cfg = model_config(args.config)
    env = DistEnv.from_environment(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_train_"))
    if env.main and not (work / "data" / "manifest.json").is_file():
        random_data(work / "data", cfg, args.frames, max(args.clips, args.batch))
    env.barrier()
    out = str(work / "run")
    needs = {"teacher": [], "ode": ["teacher"], "dmd": ["teacher", "ode"]}[args.stage]
    for stage in needs + [args.stage]:
        spec = get_stage(stage)
        steps = args.steps if stage == args.stage else 1
        opts = dataclasses.replace(spec.options("tiny"), data=str(work / "data"), steps=steps, batch=args.batch,
                                   precision=args.precision, checkpointing=args.checkpointing, log_every=1,
                                   save_every_s=1e9, max_tracks=64)
        if stage == "ode":
            opts = dataclasses.replace(opts, traj_clips=args.batch, traj_batch=max(1, args.batch // env.world),
                                       teacher_steps=cfg.stream.steps)
        result = spec.function()(out, opts, config_name=cfg.name)
        if stage == args.stage and env.main:
            r = result["readout"]
            fl = stage_flops(cfg, args.frames, stage, getattr(opts, "critic_steps", 5))
            print(json.dumps({"stage": stage, "config": cfg.name, "frames": args.frames, "batch": args.batch,
                              "ranks": r["world"], "precision": args.precision, "checkpointing": args.checkpointing,
                              "samples_per_s": round(r["samples_per_s"], 4),
                              "tokens_per_s": round(r["tokens_per_s"], 1),
                              "peak_mb_per_rank": [round(p) for p in r["peak_mb_per_rank"]],
                              "tflops_per_sample_analytic": fl / 1e12,
                              "achieved_tflops_per_rank": round(fl * r["samples_per_s"] / r["world"] / 1e12, 6),
                              "device": str(torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"),
                              "kind": "measured (steps include the first, warm-up step)"}), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--config", default="tiny")
    m.add_argument("--frames", type=int, default=45, help="pixel frames a clip (ode and dmd need clips that roll "
                   "the window: 45 at the default chunk, sink and window)")
    m.add_argument("--stage", default="teacher", choices=["teacher", "ode", "dmd"])
    m.add_argument("--steps", type=int, default=8)
    m.add_argument("--batch", type=int, default=2, help="global batch")
    m.add_argument("--clips", type=int, default=8)
    m.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    m.add_argument("--checkpointing", action="store_true")
    m.add_argument("--work", default=None, help="folder for the random data and the run (default: a temp dir)")
    e = sub.add_parser("estimate")
    e.add_argument("--config", default="wan2.1-1.3b")
    e.add_argument("--frames", type=int, default=81)
    e.add_argument("--gpus", type=int, nargs="+", default=[8, 32])
    e.add_argument("--batch-per-gpu", dest="batch_per_gpu", type=int, default=1)
    e.add_argument("--tflops", type=float, default=0.4 * A100_BF16_PEAK_TFLOPS,
                   help="sustained bf16 TFLOP/s per GPU (default: 40%% of an A100's peak; measure it with 'measure')")
    args = p.parse_args(argv)
    (measure if args.cmd == "measure" else estimate)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Stage 3: ODE-regression warm start of the causal student on teacher trajectories (CausVid / Self-Forcing).

1. Trajectories (cached in ``ode/trajectories/``, resumable): for clips of the latent cache, the guided
   teacher (joint text/motion guidance) integrates the flow ODE from noise with ``teacher_steps``
   Euler steps at the *student's* shift; because ``teacher_steps`` is a multiple of the student's
   steps, every student sigma lies on the teacher's grid, and the states there plus the final x0 are
   stored: ``[noise, x(s_1), x(s_2), x0]`` for 3 student steps.
2. Regression: the student (initialised from the teacher's weights, text encoder frozen) runs causally
   chunk by chunk through the stream's sink + rolling-window cache (``causal.teacher_forced_losses``);
   each chunk starts from a random stored state and regresses the teacher's x0; the cache holds the
   teacher's clean chunks. The product is ``ode/student.safetensors``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoints import load_model, save_model
from ..teacher import Guidance, teacher_sample
from .causal import student_sigmas, teacher_forced_losses
from .common import Budget, Stage, pick_device, run_config, text_context, warmup_lr
from .data import TrackSampling, encode_tracks, load_latent_cache, sample_track_batch
from .teacher_train import CACHE, load_teacher

NAME = "ode"
PRODUCT = "student.safetensors"


@dataclass
class ODEOptions:
    steps: int = 100_000
    minutes: float | None = None
    batch: int = 4
    lr: float = 1e-4
    warmup: int = 50
    traj_clips: int = 160
    traj_batch: int = 4
    traj_minutes: float | None = None  # stop making trajectories after this long (keeps what is done)
    teacher_steps: int = 12  # a multiple of the student's steps
    track_drop: float = 0.05
    text_drop: float = 0.05
    mask_prob: float = 0.3
    max_tracks: int = 64
    seed: int = 0
    device: str | None = None
    log_every: int = 10
    save_every_s: float = 120.0
    quiet: bool = False


PRESETS = {"demo": ODEOptions(),
           "tiny": ODEOptions(steps=20, batch=2, lr=2e-3, warmup=1, traj_clips=4, traj_batch=2, teacher_steps=6,
                              max_tracks=8, log_every=5)}


def make_trajectories(out: str, teacher, opts: ODEOptions, say) -> Path:
    """Teacher ODE states at the student's sigmas for ``traj_clips`` cached clips (resumable shards)."""
    import time

    cfg = teacher.config
    folder = Path(out) / NAME / "trajectories"
    folder.mkdir(parents=True, exist_ok=True)
    cache = load_latent_cache(Path(out) / CACHE)
    steps = cfg.stream.steps
    if opts.teacher_steps % steps:
        raise ValueError(f"teacher_steps ({opts.teacher_steps}) must be a multiple of the student's {steps} steps")
    every = opts.teacher_steps // steps
    guidance = Guidance.from_config(cfg.teacher)
    sampling = TrackSampling(max_tracks=opts.max_tracks, drop_prob=opts.track_drop, mask_prob=opts.mask_prob,
                             ids_max=cfg.track_head.max_id)
    shards = math.ceil(opts.traj_clips / opts.traj_batch)
    t0 = time.monotonic()
    for s in range(shards):
        path = folder / f"traj_{s:04d}.pt"
        if path.is_file():
            continue
        if opts.traj_minutes is not None and time.monotonic() - t0 > 60 * opts.traj_minutes:
            say(f"trajectory budget spent: keeping {s} shards")
            break
        gen = torch.Generator().manual_seed(opts.seed * 1_000_003 + 7 * s + 1)
        index = torch.arange(s * opts.traj_batch, min(opts.traj_clips, (s + 1) * opts.traj_batch)) % len(cache["z"])
        p, v, ids = sample_track_batch(cache["path"][index], cache["visible"][index], sampling, gen)
        captions = [cache["caption"][int(i)] if torch.rand((), generator=gen).item() >= opts.text_drop else ""
                    for i in index]
        image = cache["image"][index].float().to(teacher.device)
        z = cache["z"][index]
        with torch.no_grad():
            tracks = encode_tracks(teacher, p, v, ids)
            text = text_context(teacher, captions)
            null = text_context(teacher, [""] * len(index))
            noise = torch.randn(z.shape, generator=gen).to(teacher.device)
            _, traj = teacher_sample(teacher, noise, tracks, teacher.image_slot(image, z.shape[2], 0), text, null,
                                     opts.teacher_steps, cfg.stream.shift, guidance, return_trajectory=True)
        states = traj[::every].transpose(0, 1).half().cpu()  # [b, steps + 1, C, F, h, w]
        torch.save({"states": states, "image": image.half().cpu(), "path": p, "visible": v, "ids": ids,
                    "caption": captions}, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
        say(f"trajectories: shard {s + 1}/{shards} ({time.monotonic() - t0:.0f} s)")
    return folder


def load_trajectories(folder: Path) -> dict:
    files = sorted(folder.glob("traj_*.pt"))
    if not files:
        raise FileNotFoundError(f"no teacher trajectories in {folder}")
    parts = [torch.load(f, weights_only=False) for f in files]
    out = {k: torch.cat([p[k] for p in parts]) for k in ("states", "image", "path", "visible", "ids")}
    out["caption"] = [c for p in parts for c in p["caption"]]
    return out


def init_student(path: Path, device) -> torch.nn.Module:
    """A trainable student from a MotionStream checkpoint; its text encoder stays frozen."""
    model = load_model(path, device=device)
    model.requires_grad_(True)
    model.text_encoder.requires_grad_(False)
    return model.train()


def train_ode(out: str, opts: ODEOptions, config_name: str | None = None) -> dict:
    cfg = run_config(out, config_name)
    device = pick_device(opts.device)
    stage = Stage(out, NAME, opts.steps, opts.log_every, opts.save_every_s, opts.quiet)
    teacher = load_teacher(out, device)
    folder = make_trajectories(out, teacher, opts, stage.say)
    data = load_trajectories(folder)
    n = len(data["states"])
    del teacher
    student = init_student(Path(out) / "teacher" / "teacher.safetensors", device)
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.0, betas=(0.9, 0.99))
    step = 0
    state = stage.load()
    if state is not None:
        student.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
    gen = torch.Generator().manual_seed(opts.seed * 1_000_003 + 11 * step + 5)
    sigmas = student_sigmas(student)
    budget = Budget(opts.steps, opts.minutes)
    stage.say(f"ODE regression of the causal student ({cfg.stream.chunk_frames}-frame chunks, sink "
              f"{cfg.stream.sink_chunks}, window {cfg.stream.window_chunks}, sigmas "
              f"{[round(s, 3) for s in sigmas]}) on {n} teacher trajectories, batch {opts.batch}")
    history = []

    def checkpoint():
        stage.save({"step": step, "model": student.state_dict(), "opt": opt.state_dict()})
        save_model(student, stage.dir / PRODUCT, {"stage": NAME, "steps": str(step)})

    while not budget.done(step):
        index = torch.randint(0, n, (opts.batch,), generator=gen)
        states = data["states"][index].float()
        with torch.no_grad():
            text = text_context(student, [data["caption"][int(i)] for i in index])
        tracks = encode_tracks(student, data["path"][index], data["visible"][index], data["ids"][index])
        ctx = student.dit.context_kv(text)
        warmup_lr(opt, opts.lr, step, opts.warmup)
        per_chunk = teacher_forced_losses(student, states, tracks, data["image"][index].float().to(device), ctx,
                                          sigmas, gen)
        loss = per_chunk.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        history.append(loss.item())
        stage.record(step, loss=loss.item(), **{f"chunk{i}": c.item() for i, c in enumerate(per_chunk)},
                     grad_norm=float(grad))
        if stage.should_save():
            checkpoint()
    checkpoint()
    stage.say(f"saved {stage.dir / PRODUCT} at step {step}")
    return {"step": step, "history": history, "path": stage.dir / PRODUCT}

"""Stage 3: ODE-regression warm start of the causal student on teacher trajectories (CausVid / Self-Forcing).

1. Trajectories (cached in ``ode/trajectories/``, resumable): for clips of the latent cache, the guided
   teacher (joint text/motion guidance) integrates the flow ODE from noise with ``teacher_steps``
   Euler steps at the *student's* shift; because ``teacher_steps`` is a multiple of the student's
   steps, every student sigma lies on the teacher's grid, and the states there plus the final x0 are
   stored: ``[noise, x(s_1), x(s_2), x0]`` for 3 student steps. A refining student (``StreamConfig.start_sigma``
   < 1) gets the teacher refining its image slot noised to that sigma, every sigma scaled by it.
2. Regression: the student (initialised from the teacher's weights, text encoder frozen) runs causally
   chunk by chunk through the stream's sink + rolling-window cache (``causal.teacher_forced_losses``);
   each chunk starts from a random stored state and regresses the teacher's x0; the cache holds the
   teacher's clean chunks. The product is ``ode/student.safetensors``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import flow
from ..checkpoints import load_model
from ..teacher import Guidance, teacher_sample
from .causal import forgetting_chunks, require_rolling, student_sigmas, teacher_forced_losses
from .common import ModelStageOptions, warmup_lr
from .data import (
    Clips,
    encode_conditioning,
    null_batch,
    randn,
    sample_track_batch,
    text_batch,
    track_sampling,
)
from .init import initial_student
from .loop import StageRun, seeded, tokens_per_clip
from .autoencoder import attach_stage_codec
from .prepare import check_data, stage_data
from .teacher_train import load_teacher

NAME = "ode"
PRODUCT = "student.safetensors"
EMA_PRODUCT = "student_ema.safetensors"  # with --set ema=<decay>


@dataclass
class ODEOptions(ModelStageOptions):
    steps: int = 100_000
    batch: int = 4
    lr: float = 1e-4
    warmup: int = 50
    init: str = ""  # the student's start: "" = the run's teacher; else a file (see train/init.py)
    traj_clips: int = 160
    traj_batch: int = 4
    traj_minutes: float | None = None  # stop making trajectories after this long (keeps what is done)
    teacher_steps: int = 12  # a multiple of the student's steps
    track_drop: float = 0.05
    text_drop: float = 0.05
    mask_prob: float = 0.3


PRESETS = {"demo": ODEOptions(),
           # the shipped refiner's recipe (docs/DEMO_MODEL.md): 6 teacher steps (3 per student step)
           "refine": ODEOptions(max_tracks=32, track_drop=0.0, teacher_steps=6, traj_clips=128, ema=0.99),
           # the learned-motion models: 6 teacher steps from noise (2 per student step), user-style requests
           "learn": ODEOptions(max_tracks=16, min_tracks=1, user_tracks=True, teacher_steps=6, traj_clips=64, ema=0.99),
           "tiny": ODEOptions(steps=20, batch=2, lr=2e-3, warmup=1, traj_clips=4, traj_batch=2, teacher_steps=6,
                              max_tracks=8, log_every=5)}


def make_trajectories(out: str, teacher, data: Clips, opts: ODEOptions, say, rank: int = 0, world: int = 1) -> Path:
    """Teacher ODE states at the student's sigmas for ``traj_clips`` clips (resumable shards; shard s is
    made by rank s mod world, and each sample draws from its own generator)."""
    cfg = teacher.config
    folder = Path(out) / NAME / "trajectories"
    folder.mkdir(parents=True, exist_ok=True)
    steps = cfg.stream.steps
    if opts.teacher_steps % steps:
        raise ValueError(f"teacher_steps ({opts.teacher_steps}) must be a multiple of the student's {steps} steps")
    every = opts.teacher_steps // steps
    grid = (flow.sampling_sigmas(opts.teacher_steps, cfg.stream.shift)[:-1:every] * cfg.stream.start_sigma).tolist()
    if not torch.allclose(torch.tensor(grid), torch.tensor(student_sigmas(teacher)), atol=1e-9):
        raise ValueError(f"the student's sigmas {student_sigmas(teacher)} are not on the teacher's grid {grid}: "
                         "ODE trajectories are taken at uniform warped steps (no StreamConfig.step_list)")
    guidance = Guidance.from_config(cfg.teacher)
    sampling = track_sampling(opts, cfg)
    shards = math.ceil(opts.traj_clips / opts.traj_batch)
    t0 = time.monotonic()
    for s in range(rank, shards, world):
        path = folder / f"traj_{s:04d}.pt"
        if path.is_file():
            continue
        if opts.traj_minutes is not None and time.monotonic() - t0 > 60 * opts.traj_minutes:
            say("trajectory budget spent: keeping the shards made so far")
            break
        index = [i % len(data) for i in range(s * opts.traj_batch, min(opts.traj_clips, (s + 1) * opts.traj_batch))]
        gens = [seeded(opts.seed, 7, i) for i in range(s * opts.traj_batch, s * opts.traj_batch + len(index))]
        clips = data.take(index)
        p, v, ids = sample_track_batch(clips.path, clips.visible, sampling, gens, owners=clips.owner)
        keep = torch.tensor([torch.rand((), generator=g).item() >= opts.text_drop for g in gens])
        image = clips.image.float().to(teacher.device)
        z = clips.z
        with torch.no_grad():
            tracks, slot = encode_conditioning(teacher, p, v, ids, image, data.codec)
            null = null_batch(teacher, data, len(index))
            text = torch.where(keep.view(-1, 1, 1).to(null.device), text_batch(teacher, clips.caption, clips.text),
                               null)
            noise = randn(tuple(z.shape), gens).to(teacher.device)
            _, traj = teacher_sample(teacher, noise, tracks, slot, text, null,
                                     opts.teacher_steps, cfg.stream.shift, guidance, return_trajectory=True,
                                     start_sigma=cfg.stream.start_sigma)
        states = traj[::every].transpose(0, 1).half().cpu()  # [b, steps + 1, C, F, h, w]
        torch.save({"states": states, "image": image.half().cpu(), "path": p, "visible": v, "ids": ids,
                    "index": torch.tensor(index), "text_kept": keep,
                    "caption": [c if k else "" for c, k in zip(clips.caption, keep.tolist())]},
                   path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
        say(f"trajectories: shard {s + 1}/{shards} ({time.monotonic() - t0:.0f} s)")
    return folder


def load_trajectories(folder: Path) -> dict:
    files = sorted(folder.glob("traj_*.pt"))
    if not files:
        raise FileNotFoundError(f"no teacher trajectories in {folder}")
    parts = [torch.load(f, weights_only=True) for f in files]
    for p in parts:  # shards made before the clip index was stored: synthetic clips, captions stored inline
        p.setdefault("index", torch.zeros(len(p["states"]), dtype=torch.long))
        p.setdefault("text_kept", torch.tensor([c != "" for c in p["caption"]]))
    out = {k: torch.cat([p[k] for p in parts]) for k in ("states", "image", "path", "visible", "ids", "index",
                                                         "text_kept")}
    out["caption"] = [c for p in parts for c in p["caption"]]
    return out


def trajectory_text(model, data: Clips, traj: dict, index: list[int]) -> torch.Tensor:
    """The context a trajectory was made with: its clip's caption or embedding, or the empty prompt."""
    clips = data.take([int(traj["index"][i]) for i in index])
    keep = traj["text_kept"][index]
    text = text_batch(model, [traj["caption"][i] for i in index], clips.text)
    return torch.where(keep.view(-1, 1, 1).to(text.device), text, null_batch(model, data, len(index)))


def trajectory_losses(model, traj: dict, samples: list, text: torch.Tensor, device, codec=None) -> torch.Tensor:
    """``model``'s ODE-regression losses per chunk [num_chunks] on the trajectories ``samples`` index, with their
    ``text`` context (``trajectory_text``) and the clips' codec (``Clips.codec``); call it through ``StageRun.call``."""
    index = [x.index for x in samples]
    tracks, slot = encode_conditioning(model, traj["path"][index], traj["visible"][index], traj["ids"][index],
                                       traj["image"][index].float().to(device), codec)
    return teacher_forced_losses(model, traj["states"][index].float(), tracks, slot, model.dit.context_kv(text),
                                 student_sigmas(model), [x.gen for x in samples])


def init_student(path: Path, device) -> torch.nn.Module:
    """A trainable student from a MotionStream checkpoint; its text encoder stays frozen."""
    model = load_model(path, device=device)
    return trainable_student(model)


def trainable_student(model: torch.nn.Module) -> torch.nn.Module:
    model.requires_grad_(True)
    if model.text_encoder is not None:
        model.text_encoder.requires_grad_(False)
    return model.train()


def train_ode(out: str, opts: ODEOptions, config_name: str | None = None) -> dict:
    run = StageRun(out, NAME, opts, config_name)
    cfg, device = run.cfg, run.device
    data = attach_stage_codec(stage_data(out, opts.data), cfg, out)
    check_data(data, cfg)
    require_rolling(cfg.stream, data.latent_shape[1], NAME)
    teacher = load_teacher(out, device)
    folder = make_trajectories(out, teacher, data, opts, run.stage.say, run.env.rank, run.env.world)
    run.env.barrier()
    traj = load_trajectories(folder)
    n = len(traj["states"])
    del teacher
    start = initial_student(cfg, opts.init, Path(out) / "teacher" / "teacher.safetensors", text_encoder=not opts.data)
    student = run.prepare(trainable_student(start))
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.0, betas=(0.9, 0.99))
    run.keep_model("model", student)
    run.keep_optimizer("opt", opt, student)
    run.on_save(lambda: run.save_model(student, run.stage.dir / PRODUCT, {"stage": NAME, "steps": str(run.step)}))
    ema = run.keep_ema(student, opts.ema, run.stage.dir / EMA_PRODUCT)
    run.resume()
    run.tokens_per_sample = tokens_per_clip(cfg, traj["states"].shape[2:])
    sigmas = student_sigmas(student)
    run.stage.say(f"ODE regression of the causal student ({cfg.stream.chunk_frames}-frame chunks, sink "
                  f"{cfg.stream.sink_chunks}, window {cfg.stream.window_chunks}, sigmas "
                  f"{[round(s, 3) for s in sigmas]}) on {n} teacher trajectories, batch {opts.batch}; the window rolls: "
                  f"{forgetting_chunks(cfg.stream, traj['states'].shape[3])} chunks a clip attend a context that has "
                  "forgotten one")

    def step(i: int) -> dict:
        samples = run.batch(n)
        with torch.no_grad():
            text = run.call(student, trajectory_text, student, data, traj, [x.index for x in samples])
        warmup_lr(opt, opts.lr, i, opts.warmup)
        with run.autocast():
            per_chunk = run.call(student, trajectory_losses, student, traj, samples, text, device, data.codec)
            loss = per_chunk.mean()
        grad = run.optimize(loss, opt, student, opts.grad_clip)
        if ema is not None:
            ema.update(student, i + 1)
        return {"loss": loss.item(), **{f"chunk{i}": c.item() for i, c in enumerate(per_chunk)}, "grad_norm": grad}

    run.loop(step)
    run.stage.say(f"saved {run.stage.dir / PRODUCT} at step {run.step}")
    return run.result(run.stage.dir / PRODUCT)

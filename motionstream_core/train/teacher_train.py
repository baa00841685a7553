"""Stage 2: the bidirectional teacher (rectified flow over whole clips, track head, demo text encoder).

Per step, for a batch of cached clips (``data.build_latent_cache``; built here on first run):

* tracks: a random subset (uniform or log-uniform count), random IDs, mid-clip masking, and track dropout
  (all hidden) with ``track_drop`` -- so the motion-unconditional branch of the guidance exists;
* text: the caption, or the empty prompt with ``text_drop`` -- the text-unconditional branch;
* sigma: half the batch uniform, half warped by the sampling shift (the teacher samples at shift 6,
  the student at 5: most of their steps are at high noise);
* loss: MSE between the predicted velocity and ``noise - x0`` over every latent frame.

The DiT, the track head and the text encoder train jointly. The product ``teacher/teacher.safetensors``
holds the EMA weights in the MotionStream checkpoint format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import flow
from ..checkpoints import load_model, save_model
from .autoencoder import load_stage_codec_parts
from .common import EMA, Budget, Stage, build_model, pick_device, run_config, text_context, warmup_lr
from .data import (TrackSampling, build_latent_cache, clip_config, encode_tracks, load_latent_cache,
                   make_batch)

NAME = "teacher"
PRODUCT = "teacher.safetensors"
CACHE = "latents"


@dataclass
class TeacherOptions:
    steps: int = 200_000
    minutes: float | None = None
    batch: int = 4
    lr: float = 5e-4
    warmup: int = 100
    weight_decay: float = 0.0
    ema: float = 0.995
    frames: int = 33  # pixel frames per clip (9 latent frames = 3 student chunks)
    cache_clips: int = 1000
    tracks_per_clip: int = 64
    max_tracks: int = 64
    track_drop: float = 0.1
    text_drop: float = 0.1
    mask_prob: float = 0.5
    seed: int = 0
    device: str | None = None
    log_every: int = 10
    save_every_s: float = 120.0
    quiet: bool = False


PRESETS = {"demo": TeacherOptions(),
           "tiny": TeacherOptions(steps=40, batch=2, lr=2e-3, warmup=1, frames=21, cache_clips=4,
                                  tracks_per_clip=8, max_tracks=8, log_every=5)}


def sample_sigma(batch: int, shift: float, gen: torch.Generator) -> torch.Tensor:
    u = torch.rand(batch, generator=gen)
    warped = flow.shift_sigma(u, shift).float()
    pick = torch.arange(batch) % 2 == 1
    return torch.where(pick, warped, u).clamp(1e-3, 1.0)


def ensure_latent_cache(out: str, cfg, opts, device, say) -> dict:
    vae, stats = load_stage_codec_parts(out, device=device)
    folder = Path(out) / CACHE
    build_latent_cache(folder, vae, stats, clip_config(cfg, opts.frames, opts.tracks_per_clip), opts.cache_clips,
                       seed=opts.seed, say=say)
    return load_latent_cache(folder)


def flow_matching_loss(model, batch, shift: float, gen: torch.Generator) -> torch.Tensor:
    """Rectified-flow loss of ``model`` (bidirectional) on one ``data.Batch``."""
    z = batch.z
    b = z.shape[0]
    sigma = sample_sigma(b, shift, gen).to(z.device)
    noise = torch.randn(z.shape, generator=gen).to(z.device, z.dtype)
    x_t = flow.add_noise(z, noise, sigma)
    tracks = encode_tracks(model, batch.path, batch.visible, batch.ids)
    image_slot = model.image_slot(batch.image, z.shape[2], 0)
    context = text_context(model, batch.caption)
    v = model.velocity(x_t, flow.to_timestep(sigma), tracks, image_slot, context)
    return F.mse_loss(v.float(), (noise - z).float())


def train_teacher(out: str, opts: TeacherOptions, config_name: str | None = None) -> dict:
    cfg = run_config(out, config_name)
    device = pick_device(opts.device)
    stage = Stage(out, NAME, opts.steps, opts.log_every, opts.save_every_s, opts.quiet)
    cache = ensure_latent_cache(out, cfg, opts, device, stage.say)
    n = cache["z"].shape[0]
    model = build_model(cfg, opts.seed).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay, betas=(0.9, 0.99))
    ema = EMA(model, opts.ema)
    step = 0
    state = stage.load()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        ema.load_state_dict(state["ema"])
        step = state["step"]
    gen = torch.Generator().manual_seed(opts.seed * 1_000_003 + step)
    sampling = TrackSampling(max_tracks=opts.max_tracks, drop_prob=opts.track_drop, mask_prob=opts.mask_prob,
                             ids_max=cfg.track_head.max_id)
    budget = Budget(opts.steps, opts.minutes)
    params = sum(p.numel() for p in model.parameters())
    stage.say(f"teacher {cfg.name}: {params / 1e6:.2f}M parameters on {device}, {n} cached clips of "
              f"{opts.frames} frames, batch {opts.batch}, until step {opts.steps}"
              + (f" or {opts.minutes} min" if opts.minutes else ""))
    history = []

    def checkpoint():
        stage.save({"step": step, "model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.state_dict()})
        export(stage.dir / PRODUCT)

    def export(path):
        shadow = build_model(cfg)
        ema.copy_to(shadow)
        save_model(shadow, path, {"stage": NAME, "steps": str(step)})

    model.train()
    while not budget.done(step):
        index = torch.randint(0, n, (opts.batch,), generator=gen)
        batch = make_batch(cache, index, sampling, gen, device, opts.text_drop)
        warmup_lr(opt, opts.lr, step, opts.warmup)
        loss = flow_matching_loss(model, batch, cfg.teacher.shift, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema.update(model, step)
        history.append(loss.item())
        stage.record(step, loss=loss.item(), grad_norm=float(grad))
        if stage.should_save():
            checkpoint()
    checkpoint()
    stage.say(f"saved {stage.dir / PRODUCT} at step {step}")
    return {"step": step, "history": history, "path": stage.dir / PRODUCT}


def load_teacher(out: str, device="cpu"):
    """The run's teacher (EMA weights), frozen, eval mode."""
    path = Path(out) / NAME / PRODUCT
    if not path.is_file():
        raise FileNotFoundError(f"no teacher in {path}: run `motionstream train teacher --out {out}` first")
    model = load_model(path, device=device)
    model.requires_grad_(False)
    return model.eval()

"""Stage 2: the bidirectional teacher (rectified flow over whole clips, track head, demo text encoder).

Per step, for a batch of cached clips (``data.build_latent_cache``; built here on first run):

* tracks: a random subset (uniform or log-uniform count), random IDs, mid-clip masking, and track dropout
  (all hidden) with ``track_drop`` -- so the motion-unconditional branch of the guidance exists;
* text: the caption, or the empty prompt with ``text_drop`` -- the text-unconditional branch;
* sigma: half the batch uniform, half warped by the sampling shift (the teacher samples at shift 6,
  the student at 5: most of their steps are at high noise);
* loss: MSE between the predicted velocity and ``noise - x0`` over every latent frame (``loss_weight``
  "velocity"), or that error per unit of the DiT's output (``loss_weight`` "output": the MSE of the normalised
  target, equal weight at every noise level; what a model that predicts the clean latent trains on).

The DiT, the track head and the text encoder train jointly. The product ``teacher/teacher.safetensors``
holds the EMA weights in the MotionStream checkpoint format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .. import flow
from ..checkpoints import load_model
from .autoencoder import attach_stage_codec, load_stage_codec_parts
from .common import ModelStageOptions, warmup_lr
from .data import (
    CACHE,
    Batch,
    Clips,
    build_latent_cache,
    encode_conditioning,
    load_latent_cache,
    make_batch,
    randn,
    track_sampling,
)
from .init import initial_model
from .loop import StageRun, tokens_per_clip
from .prepare import check_data, stage_data

NAME = "teacher"
PRODUCT = "teacher.safetensors"


@dataclass
class TeacherOptions(ModelStageOptions):
    steps: int = 200_000
    batch: int = 4
    lr: float = 5e-4
    warmup: int = 100
    weight_decay: float = 0.0
    ema: float = 0.995  # the product is the EMA
    init: str = ""  # start from public weights (see train/init.py); "" = from scratch
    # "unit": the track head's output at the scale of the latents it is concatenated with (the overfit probe
    # learned to read tracks sooner with it, docs/DEMO_MODEL.md); "torch": PyTorch's default init (std ~0.04)
    track_head_init: str = "unit"
    # rendered data: pixel frames per clip; 45 = 12 latent frames = 4 student chunks, the fewest whose last chunk
    # streams past the sink + window (1 + 1 chunks), as ``causal.require_rolling`` asks of the ODE and DMD stages
    frames: int = 45
    cache_clips: int = 1000  # rendered data: clips in the latent cache
    cache_workers: int = 1  # rendered data: processes rendering the clips (a GPU machine's spare cores)
    tracks_per_clip: int = 64  # rendered data: tracks rendered per clip
    clip_source: str = "synthetic"  # rendered data: "synthetic" shapes, "photo" layers cut from photos or "mix" (data.CLIP_SOURCES)
    motions_per_scene: int = 1  # rendered photo data: clips sharing a first frame, told apart only by their tracks
    photo_dir: str = ""  # rendered photo data: a photo_folder whose photos and cut-outs join the bundled ones
    # rendered photo data: the chance a clip's camera pans and zooms; None: the renderer's default
    # (``PhotoClipConfig.camera_motion_prob``)
    camera_motion_prob: float | None = None
    loss_weight: str = "auto"  # LOSS_WEIGHTS: "velocity", "output", or "auto" (output iff the model predicts clean)
    # < 1: train only at noise levels up to this sigma (the recipe's sigmas scaled down): a refiner, for a teacher that
    # samples from its slot noised to a start sigma (``teacher_sample(start_sigma)``, ``--start-sigma``)
    max_sigma: float = 1.0


PRESETS = {"demo": TeacherOptions(),
           # the shipped refiner's recipe (docs/DEMO_MODEL.md): trained only below sigma 0.3 (it samples
           # from its warp noised to 0.15), on half synthetic shapes (camera pans included) and half photo clips
           # (still camera), 32 tracks a sample, none dropped
           "refine": TeacherOptions(frames=45, cache_clips=1024, clip_source="mix", camera_motion_prob=0.0,
                                    max_tracks=32, track_drop=0.0, ema=0.99, max_sigma=0.3),
           # the learned-motion models (``demo-learn64`` / ``demo-learn128``, docs/DEMO_MODEL.md): layered photo clips
           # (objects moving as wholes over a still camera), 4 motions of each first frame, requests as users make them
           "learn": TeacherOptions(frames=45, cache_clips=1024, clip_source="photo", camera_motion_prob=0.0,
                                  motions_per_scene=4, max_tracks=16, min_tracks=1, user_tracks=True, ema=0.99),
           "tiny": TeacherOptions(steps=40, batch=2, lr=2e-3, warmup=1, frames=45, cache_clips=4,
                                  tracks_per_clip=8, max_tracks=8, log_every=5)}


LOSS_WEIGHTS = ("auto", "velocity", "output")


def velocity_loss(model, v: torch.Tensor, target: torch.Tensor, t: torch.Tensor, weight: str = "auto") -> torch.Tensor:
    """MSE of velocities v and target [B, C, F, h, w] at timesteps t [B] or [B, F], weighted per ``weight``:
    "velocity" -- plain (the paper's); "output" -- divided by the model's ``output_scale`` squared, i.e. the MSE of
    what the DiT outputs, the same weight at every noise level and channel; "auto" -- "output" for a model that
    predicts the clean latent (whose velocity error grows as 1 / sigma), else "velocity"."""
    if weight not in LOSS_WEIGHTS:
        raise ValueError(f"unknown loss_weight {weight!r} (known: {', '.join(LOSS_WEIGHTS)})")
    err = (v.float() - target.float()) ** 2
    if weight == "output" or (weight == "auto" and model.config.parameterisation.predicts_sample):
        err = err / model.output_scale(t, v.ndim).pow(2)
    return err.mean()


def sample_sigma(slots: list[int], shift: float, gens: list[torch.Generator], max_sigma: float = 1.0) -> torch.Tensor:
    """One sigma per sample: uniform at even slots of the global batch, warped by ``shift`` at odd ones, scaled by
    ``max_sigma``."""
    assert 0 < max_sigma <= 1, f"max_sigma must be in (0, 1], got {max_sigma}"
    u = torch.stack([torch.rand((), generator=g) for g in gens])
    warped = flow.shift_sigma(u, shift).float()
    pick = torch.tensor([s % 2 == 1 for s in slots])
    return (torch.where(pick, warped, u) * max_sigma).clamp(1e-3, 1.0)


def ensure_latent_cache(out: str, cfg, opts, device, say) -> Clips:
    vae, stats = load_stage_codec_parts(out, device=device)
    folder = Path(out) / CACHE
    build_latent_cache(folder, vae, stats, cfg, opts.frames, opts.tracks_per_clip, opts.cache_clips,
                       seed=opts.seed, source=opts.clip_source,
                       motions_per_scene=opts.motions_per_scene, say=say, photo_dir=opts.photo_dir,
                       camera_motion_prob=opts.camera_motion_prob, workers=opts.cache_workers)
    return load_latent_cache(folder)


def flow_matching_loss(model, batch: Batch, shift: float, sigma: torch.Tensor | None = None,
                       weight: str = "auto", max_sigma: float = 1.0) -> torch.Tensor:
    """Rectified-flow loss of ``model`` (bidirectional) on one ``data.Batch`` (mean over its samples);
    ``sigma`` [B] replaces the recipe's noise levels (``sample_sigma``, up to ``max_sigma``); ``weight``:
    ``velocity_loss``'s."""
    z = batch.z
    sigma = (sample_sigma(batch.slots, shift, batch.gens, max_sigma) if sigma is None else sigma).to(z.device)
    noise = randn(tuple(z.shape), batch.gens).to(z.device, z.dtype)
    x_t = flow.add_noise(z, noise, sigma)
    tracks, image_slot = encode_conditioning(model, batch.path, batch.visible, batch.ids, batch.image, batch.codec)
    t = flow.to_timestep(sigma)
    v = model.velocity(x_t, t, tracks, image_slot, batch.context(model))
    return velocity_loss(model, v, noise - z, t, weight)


def channel_std(z: torch.Tensor, start: torch.Tensor | None = None, chunk: int = 64) -> torch.Tensor:
    """Per-channel std [C] of latents [N, C, F, h, w] (fp16 on disk), or of their change from the start-image
    latents ``start`` [N, C, 1, h, w], accumulated in float64 chunk by chunk."""
    C = z.shape[1]
    total, sq, n = torch.zeros(C, dtype=torch.float64), torch.zeros(C, dtype=torch.float64), 0
    for i in range(0, len(z), chunk):
        x = z[i:i + chunk].double() - (0 if start is None else start[i:i + chunk].double())
        x = x.transpose(0, 1).reshape(C, -1)
        total += x.sum(1)
        sq += x.pow(2).sum(1)
        n += x.shape[1]
    mean = total / n
    return (sq / n - mean ** 2).clamp(min=0).sqrt().float()


def train_teacher(out: str, opts: TeacherOptions, config_name: str | None = None) -> dict:
    if opts.loss_weight not in LOSS_WEIGHTS:
        raise ValueError(f"unknown loss_weight {opts.loss_weight!r} (known: {', '.join(LOSS_WEIGHTS)})")
    run = StageRun(out, NAME, opts, config_name)
    cfg, device = run.cfg, run.device
    if run.env.main and not opts.data:
        ensure_latent_cache(out, cfg, opts, device, run.stage.say)
    run.env.barrier()
    data = attach_stage_codec(stage_data(out, opts.data), cfg, out)
    check_data(data, cfg)
    model = initial_model(cfg, opts.init, opts.seed, text_encoder=not opts.data, track_head_init=opts.track_head_init)
    if cfg.parameterisation.preconditioned and not opts.init:  # a fresh model learns relative to its data's std
        model.latent_std.copy_(channel_std(data.z, data.image if cfg.parameterisation.from_reference else None))
        run.stage.say("latent channel std: " + " ".join(f"{v:.3f}" for v in model.latent_std.tolist()))
    model = run.prepare(model)
    opt = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay, betas=(0.9, 0.99))
    run.keep_model("model", model)
    run.keep_optimizer("opt", opt, model)
    ema = run.keep_ema(model, opts.ema, run.stage.dir / PRODUCT)
    if ema is None:  # no average: the product is the trained weights themselves
        run.on_save(lambda: run.save_model(model, run.stage.dir / PRODUCT, {"stage": NAME, "steps": str(run.step)}))
    run.resume()
    run.tokens_per_sample = tokens_per_clip(cfg, data.latent_shape)
    sampling = track_sampling(opts, cfg)
    params = sum(p.numel() for p in model.parameters())
    run.stage.say(f"teacher {cfg.name}: {params / 1e6:.2f}M parameters on {device} x {run.env.world}, {len(data)} "
                  f"clips of {data.latent_shape[1]} latent frames, batch {opts.batch}, until step {opts.steps}"
                  + (f" or {opts.minutes} min" if opts.minutes else ""))
    model.train()

    def step(i: int) -> dict:
        batch = make_batch(data, run.batch(len(data)), sampling, device, opts.text_drop)
        warmup_lr(opt, opts.lr, i, opts.warmup)
        with run.autocast():
            loss = run.call(model, flow_matching_loss, model, batch, cfg.teacher.shift, None, opts.loss_weight,
                            opts.max_sigma)
        grad = run.optimize(loss, opt, model, opts.grad_clip)
        if ema is not None:
            ema.update(model, i + 1)
        return {"loss": loss.item(), "grad_norm": grad}

    run.loop(step)
    run.stage.say(f"saved {run.stage.dir / PRODUCT} at step {run.step}")
    return run.result(run.stage.dir / PRODUCT)


def load_teacher(out: str, device="cpu"):
    """The run's teacher (EMA weights), frozen, eval mode."""
    path = Path(out) / NAME / PRODUCT
    if not path.is_file():
        raise FileNotFoundError(f"no teacher in {path}: run `motionstream train teacher --out {out}` first")
    model = load_model(path, device=device)
    model.requires_grad_(False)
    return model.eval()

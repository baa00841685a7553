"""Stage 4: Self-Forcing DMD (paper Sec. 3.2, App. D; Yin et al. DMD/DMD2; Huang et al. Self-Forcing).

The generator (the causal student, from the ODE stage) produces whole clips *with its own inference
procedure*: chunk by chunk through the stream's sink + rolling-window ``RollingKVCache``, each chunk
denoised from noise over the 3 warped sigmas, a random exit step (the same for every chunk of a
rollout) whose x0 prediction keeps its gradient, all earlier steps and the clean cache-writing pass
without gradient (``causal.rollout``). Conditioning (start image, tracks, captions) comes from the
latent cache; no video is used as a target.

* Generator step: noise the generated clip at a random sigma (uniform, warped by the stream shift, scaled by a
  refining stream's ``start_sigma``, clipped to [0.02, 0.98]); real score = the frozen teacher with joint
  text/motion guidance (3 evaluations), fake score = the critic; the DMD gradient
  ``(x0_fake - x0_real) / mean|x0 - x0_real|`` is applied through ``0.5 * ||x0 - sg(x0 - grad)||^2``.
* Critic step: flow-matching loss of the critic (a trainable bidirectional copy of the teacher) on
  fresh generator rollouts (no gradient into the generator). ``critic_steps`` (5) critic steps per
  generator step. ``critic_warmup`` steps first train the critic alone: the critic starts as the teacher, so
  until it has fitted the generator's own outputs ``x0_fake - x0_real`` is its training noise, not the gap
  between the two distributions -- the case of a student already close to its teacher (an ODE-initialised
  refiner). Such a student also needs rates well below the demo preset's (2e-6 / 1e-5): at 1e-5 / 4e-5 it
  diverges with or without the warm-up (docs/DEMO_MODEL.md, the ablations).
* ``reg_weight`` > 0 adds DMD's first regression term (Yin et al. 2024, Sec. 3.3): the ODE stage's own loss
  (``ode_init.trajectory_losses``) on its cached teacher trajectories, times the weight. A refiner's DMD gradient
  is mostly critic noise: without an anchor the generator drifts into texture the critic then learns to keep
  (docs/DEMO_MODEL.md, the ablations).

The product is ``dmd/student.safetensors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import flow
from ..checkpoints import load_model
from ..config import StreamConfig
from ..teacher import Guidance, guided_velocity
from .causal import forgetting_chunks, require_rolling, rollout, student_sigmas
from .common import ModelStageOptions
from .data import (
    Clips,
    encode_conditioning,
    null_batch,
    randn,
    sample_track_batch,
    text_batch,
    track_sampling,
)
from .loop import Sample, StageRun, tokens_per_clip
from .ode_init import init_student, load_trajectories, trajectory_losses, trajectory_text
from .autoencoder import attach_stage_codec
from .prepare import check_data, stage_data
from .teacher_train import load_teacher, velocity_loss

NAME = "dmd"
PRODUCT = "student.safetensors"
EMA_PRODUCT = "student_ema.safetensors"  # with --set ema=<decay>


@dataclass
class DMDOptions(ModelStageOptions):
    steps: int = 100_000  # generator steps
    batch: int = 2
    lr: float = 1e-5  # generator
    critic_lr: float = 4e-5
    critic_steps: int = 5  # critic updates per generator update (1:5)
    grad_clip: float = 10.0  # the generator's gradient-norm clip (Self-Forcing's max_grad_norm_generator)
    critic_grad_clip: float = 10.0  # the critic's (Self-Forcing's max_grad_norm_critic)
    weight_decay: float = 0.01  # AdamW's, generator and critic (Self-Forcing's)
    critic_warmup: int = 0  # steps of critic updates only before the generator first moves
    min_sigma: float = 0.02
    max_sigma: float = 0.98
    track_drop: float = 0.05
    text_drop: float = 0.0
    mask_prob: float = 0.3
    reg_weight: float = 0.0  # > 0: DMD's regression loss on the ODE stage's trajectories, with this weight
    log_every: int = 1


PRESETS = {"demo": DMDOptions(),
           # the shipped refiner's recipe (docs/DEMO_MODEL.md): a critic warm-up, rates 5x / 4x below
           # the demo's (a refiner close to its teacher diverges at those), and the regression anchor (without it the
           # generator drifts into speckle: 0.41x -> 0.55x a still video in 216 steps; with it 0.42x)
           "refine": DMDOptions(max_tracks=32, track_drop=0.0, ema=0.99, critic_warmup=20, lr=2e-6, critic_lr=1e-5,
                                reg_weight=100.0),
           # the learned-motion models: the refiner's warm-up and rates, a lighter anchor (a student sampled from
           # noise is where DMD's gradient has something to carry)
           "learn": DMDOptions(max_tracks=16, min_tracks=1, user_tracks=True, ema=0.99, critic_warmup=20, lr=2e-6,
                               critic_lr=1e-5, reg_weight=10.0),
           "tiny": DMDOptions(steps=3, batch=2, lr=1e-4, critic_lr=1e-3, critic_steps=5, max_tracks=8)}


@dataclass
class Conditioning:
    image: torch.Tensor  # [B, C, 1, h, w] start-image latents
    path: torch.Tensor
    visible: torch.Tensor
    ids: torch.Tensor
    caption: list[str]
    text: list[torch.Tensor] | None
    gens: list[torch.Generator]


def score_sigma(u: torch.Tensor, stream: StreamConfig, min_sigma: float, max_sigma: float) -> torch.Tensor:
    """The noise levels [B] where both scores are read, from uniform ``u`` [B]: warped by the stream's shift and
    scaled by its start sigma (a refining student is matched only below the sigma it starts from), clipped."""
    return (flow.shift_sigma(u, stream.shift).float() * stream.start_sigma).clamp(min_sigma, max_sigma)


class DMDTrainer:
    """Generator, critic and frozen teacher, with the two losses."""

    def __init__(self, run: StageRun, generator, critic, teacher, data: Clips, opts: DMDOptions,
                 trajectories: dict | None = None):
        self.run, self.g, self.critic, self.teacher, self.data, self.opts = run, generator, critic, teacher, data, opts
        self.trajectories = trajectories  # the ODE stage's, for ``reg_weight``
        cfg = teacher.config
        self.cfg = cfg
        self.guidance = Guidance.from_config(cfg.teacher)
        self.sampling = track_sampling(opts, cfg)
        self.frames = data.latent_shape[1]
        self.steps = len(student_sigmas(teacher))
        g_params = [p for p in generator.parameters() if p.requires_grad]
        c_params = [p for p in critic.parameters() if p.requires_grad]
        self.g_opt = torch.optim.AdamW(g_params, lr=opts.lr, betas=(0.0, 0.999), weight_decay=opts.weight_decay)
        self.c_opt = torch.optim.AdamW(c_params, lr=opts.critic_lr, betas=(0.0, 0.999), weight_decay=opts.weight_decay)
        self.ema = None  # the generator's EMA (``--set ema=<decay>``)

    def conditioning(self, samples: list[Sample]) -> Conditioning:
        clips = self.data.take([x.index for x in samples])
        gens = [x.gen for x in samples]
        path, vis, ids = sample_track_batch(clips.path, clips.visible, self.sampling, gens, owners=clips.owner)
        keep = [torch.rand((), generator=g).item() >= self.opts.text_drop for g in gens]
        text = None if clips.text is None else [t if k else self.data.null_text for t, k in zip(clips.text, keep)]
        return Conditioning(clips.image.float().to(self.run.device), path, vis, ids,
                            [c if k else "" for c, k in zip(clips.caption, keep)], text, gens)

    def context(self, model, cond: Conditioning) -> torch.Tensor:
        return text_batch(model, cond.caption, cond.text)

    def generate(self, cond: Conditioning, exit_k: int, grad: bool) -> torch.Tensor:
        """A Self-Forcing rollout of the generator through the inference cache (sink + rolling window);
        one exit step for all chunks."""
        return self.run.call(self.g, self._rollout, cond, exit_k, grad)

    def _rollout(self, cond: Conditioning, exit_k: int, grad: bool) -> torch.Tensor:
        g = self.g
        chunks = -(-self.frames // self.cfg.stream.chunk_frames)
        with torch.set_grad_enabled(grad):
            with torch.no_grad():
                text = self.context(g, cond)
            tracks, slot = encode_conditioning(g, cond.path, cond.visible, cond.ids, cond.image, self.data.codec)
            ctx = g.dit.context_kv(text)
            return rollout(g, tracks, slot, ctx, self.frames, cond.gens, [exit_k] * chunks, grad=grad)

    def _noisy(self, x0: torch.Tensor, gens: list[torch.Generator]):
        u = torch.stack([torch.rand((), generator=g) for g in gens])
        sigma = score_sigma(u, self.cfg.stream, self.opts.min_sigma, self.opts.max_sigma).to(x0.device)
        noise = randn(tuple(x0.shape), gens).to(x0.device, x0.dtype)
        return flow.add_noise(x0, noise, sigma), sigma, noise

    def _score_inputs(self, model, cond: Conditioning):
        return encode_conditioning(model, cond.path, cond.visible, cond.ids, cond.image, self.data.codec)

    def critic_velocity(self, x_t: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        """The fake score: the critic's velocity (its text context without gradient)."""
        def velocity():
            tracks, slot = self._score_inputs(self.critic, cond)
            with torch.no_grad():
                text = self.context(self.critic, cond)
            return self.critic.velocity(x_t, t, tracks, slot, text)

        return self.run.call(self.critic, velocity)

    def exit_step(self, salt: int) -> int:
        return int(torch.randint(0, self.steps, (), generator=self.run.generator(salt)))

    def generator_step(self, samples: list[Sample]) -> dict:
        cond = self.conditioning(samples)
        with self.run.autocast():
            x0 = self.generate(cond, self.exit_step(0), grad=True)
            with torch.no_grad():
                x_t, sigma, _ = self._noisy(x0.detach(), cond.gens)
                t = flow.to_timestep(sigma)
                tr, slot = self._score_inputs(self.teacher, cond)
                text = self.context(self.teacher, cond)
                null = null_batch(self.teacher, self.data, len(cond.gens))
                v_real = guided_velocity(self.teacher, x_t.to(self.teacher.dtype), t, tr, slot, text, null,
                                         self.guidance).float()
                x0_real = flow.x0_from_velocity(x_t, v_real, sigma)
                v_fake = self.critic_velocity(x_t, t, cond).float()
                x0_fake = flow.x0_from_velocity(x_t, v_fake, sigma)
                normalizer = (x0.detach() - x0_real).abs().mean(dim=(1, 2, 3, 4), keepdim=True).clamp(min=1e-6)
                grad = torch.nan_to_num((x0_fake - x0_real) / normalizer)
            loss = 0.5 * F.mse_loss(x0.float(), (x0 - grad).detach().float())
            reg = self.regression() if self.opts.reg_weight > 0 else None
            total = loss if reg is None else loss + self.opts.reg_weight * reg
        gnorm = self.run.optimize(total, self.g_opt, self.g, self.opts.grad_clip, tag="generator")
        if self.ema is not None:
            self.ema.update(self.g, self.run.step + 1)
        return {"dmd": loss.item(), "dmd_grad": grad.abs().mean().item(), "g_grad_norm": gnorm,
                "real_gap": (x0.detach() - x0_real).abs().mean().item(), **({} if reg is None else {"reg": reg.item()})}

    def regression(self) -> torch.Tensor:
        """The generator's ODE-regression loss on a batch of the ODE stage's trajectories (a scalar)."""
        traj = self.trajectories
        assert traj is not None, "reg_weight > 0 needs the ODE stage's trajectories"
        samples = self.run.batch(len(traj["states"]), salt=self.opts.critic_steps + 1)
        with torch.no_grad():
            text = self.run.call(self.g, trajectory_text, self.g, self.data, traj, [x.index for x in samples])
        return self.run.call(self.g, trajectory_losses, self.g, traj, samples, text, self.run.device,
                             self.data.codec).mean()

    def critic_step(self, samples: list[Sample], k: int) -> tuple[float, float]:
        """One critic update on fresh rollouts -> (its loss, its gradient norm before clipping)."""
        cond = self.conditioning(samples)
        with self.run.autocast():
            with torch.no_grad():
                x0 = self.generate(cond, self.exit_step(k + 1), grad=False)
            x_t, sigma, noise = self._noisy(x0, cond.gens)
            v = self.critic_velocity(x_t, flow.to_timestep(sigma), cond)
            loss = velocity_loss(self.critic, v, noise - x0, flow.to_timestep(sigma))
        norm = self.run.optimize(loss, self.c_opt, self.critic, self.opts.critic_grad_clip, tag=f"critic{k}")
        return loss.item(), norm


def train_dmd(out: str, opts: DMDOptions, config_name: str | None = None) -> dict:
    run = StageRun(out, NAME, opts, config_name)
    device = run.device
    data = attach_stage_codec(stage_data(out, opts.data), run.cfg, out)
    check_data(data, run.cfg)
    require_rolling(run.cfg.stream, data.latent_shape[1], NAME)
    teacher = run.frozen(load_teacher(out, device))
    source = Path(out) / "ode" / "student.safetensors"
    if not source.is_file():
        raise FileNotFoundError(f"no ODE-initialised student in {source}: run `motionstream train ode` first")
    generator = run.prepare(init_student(source, device))
    critic = load_model(Path(out) / "teacher" / "teacher.safetensors", device=device).train()
    if critic.text_encoder is not None:
        critic.text_encoder.requires_grad_(False)
    critic = run.prepare(critic)
    trajectories = load_trajectories(Path(out) / "ode" / "trajectories") if opts.reg_weight > 0 else None
    trainer = DMDTrainer(run, generator, critic, teacher, data, opts, trajectories)
    run.keep_model("generator", generator)
    run.keep_model("critic", critic)
    run.keep_optimizer("g_opt", trainer.g_opt, generator)
    run.keep_optimizer("c_opt", trainer.c_opt, critic)
    run.on_save(lambda: run.save_model(generator, run.stage.dir / PRODUCT, {"stage": NAME, "steps": str(run.step)}))
    trainer.ema = run.keep_ema(generator, opts.ema, run.stage.dir / EMA_PRODUCT)
    run.resume()
    run.tokens_per_sample = tokens_per_clip(run.cfg, data.latent_shape)
    run.stage.say(f"Self-Forcing DMD: generator lr {opts.lr}, critic lr {opts.critic_lr}, generator:critic "
                  f"1:{opts.critic_steps}, batch {opts.batch}, {trainer.frames} latent frames per rollout (the "
                  f"window rolls: {forgetting_chunks(run.cfg.stream, trainer.frames)} chunks attend a context that has "
                  "forgotten one)"
                  + (f", the critic alone for the first {opts.critic_warmup} steps" if opts.critic_warmup else "")
                  + (f", ODE regression on {len(trajectories['states'])} trajectories at weight {opts.reg_weight}"
                     if trajectories is not None else ""))
    critic_history: list[float] = []

    def step(i: int) -> dict:
        # every pass on its own clips, as Self-Forcing draws a new batch for each critic and generator update
        passes = opts.critic_steps + 1
        critic = [trainer.critic_step(run.batch(len(data), salt=k, passes=passes), k) for k in range(opts.critic_steps)]
        critic_losses = [c[0] for c in critic]
        g = ({} if i < opts.critic_warmup
             else trainer.generator_step(run.batch(len(data), salt=opts.critic_steps, passes=passes)))
        critic_history.extend(critic_losses)
        return {"critic": sum(critic_losses) / len(critic_losses),
                "c_grad_norm": max(c[1] for c in critic), **g}

    run.loop(step)
    run.stage.say(f"saved {run.stage.dir / PRODUCT} at step {run.step}")
    return run.result(run.stage.dir / PRODUCT, critic_history=critic_history)

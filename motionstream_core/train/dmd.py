"""Stage 4: Self-Forcing DMD (paper Sec. 3.2, App. D; Yin et al. DMD/DMD2; Huang et al. Self-Forcing).

The generator (the causal student, from the ODE stage) produces whole clips *with its own inference
procedure*: chunk by chunk through the stream's sink + rolling-window ``RollingKVCache``, each chunk
denoised from noise over the 3 warped sigmas, a random exit step (the same for every chunk of a
rollout) whose x0 prediction keeps its gradient, all earlier steps and the clean cache-writing pass
without gradient (``causal.rollout``). Conditioning (start image, tracks, captions) comes from the
latent cache; no video is used as a target.

* Generator step: noise the generated clip at a random sigma (uniform, warped by the stream shift,
  clipped to [0.02, 0.98]); real score = the frozen teacher with joint text/motion guidance
  (3 evaluations), fake score = the critic; the DMD gradient ``(x0_fake - x0_real) / mean|x0 - x0_real|``
  is applied through ``0.5 * ||x0 - sg(x0 - grad)||^2``.
* Critic step: flow-matching loss of the critic (a trainable bidirectional copy of the teacher) on
  fresh generator rollouts (no gradient into the generator). ``critic_steps`` (5) critic steps per
  generator step.

The product is ``dmd/student.safetensors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import flow
from ..checkpoints import load_model, save_model
from ..teacher import Guidance, guided_velocity
from .causal import rollout, student_sigmas
from .common import Budget, Stage, pick_device, run_config, text_context
from .data import TrackSampling, encode_tracks, load_latent_cache, sample_track_batch
from .ode_init import init_student
from .teacher_train import CACHE, load_teacher

NAME = "dmd"
PRODUCT = "student.safetensors"


@dataclass
class DMDOptions:
    steps: int = 100_000  # generator steps
    minutes: float | None = None
    batch: int = 2
    lr: float = 1e-5  # generator
    critic_lr: float = 4e-5
    critic_steps: int = 5  # critic updates per generator update (1:5)
    min_sigma: float = 0.02
    max_sigma: float = 0.98
    track_drop: float = 0.05
    text_drop: float = 0.0
    mask_prob: float = 0.3
    max_tracks: int = 64
    seed: int = 0
    device: str | None = None
    log_every: int = 1
    save_every_s: float = 120.0
    quiet: bool = False


PRESETS = {"demo": DMDOptions(),
           "tiny": DMDOptions(steps=3, batch=2, lr=1e-4, critic_lr=1e-3, critic_steps=5, max_tracks=8)}


class DMDTrainer:
    """Generator, critic and frozen teacher, with the two losses."""

    def __init__(self, generator, critic, teacher, cache: dict, opts: DMDOptions):
        self.g, self.critic, self.teacher, self.cache, self.opts = generator, critic, teacher, cache, opts
        cfg = generator.config
        self.cfg = cfg
        self.guidance = Guidance.from_config(cfg.teacher)
        self.sampling = TrackSampling(max_tracks=opts.max_tracks, drop_prob=opts.track_drop, mask_prob=opts.mask_prob,
                                      ids_max=cfg.track_head.max_id)
        self.frames = cache["z"].shape[2]
        self.steps = len(student_sigmas(generator))
        self.g_params = [p for p in generator.parameters() if p.requires_grad]
        self.c_params = [p for p in critic.parameters() if p.requires_grad]
        self.g_opt = torch.optim.AdamW(self.g_params, lr=opts.lr, betas=(0.0, 0.999), weight_decay=0.0)
        self.c_opt = torch.optim.AdamW(self.c_params, lr=opts.critic_lr, betas=(0.0, 0.999), weight_decay=0.0)

    def conditioning(self, gen: torch.Generator) -> dict:
        cache, dev = self.cache, self.g.device
        index = torch.randint(0, len(cache["z"]), (self.opts.batch,), generator=gen)
        path, vis, ids = sample_track_batch(cache["path"][index], cache["visible"][index], self.sampling, gen)
        captions = [cache["caption"][int(i)] if torch.rand((), generator=gen).item() >= self.opts.text_drop else ""
                    for i in index]
        return {"image": cache["image"][index].float().to(dev), "path": path, "visible": vis, "ids": ids,
                "caption": captions}

    def generate(self, cond: dict, gen: torch.Generator, grad: bool) -> torch.Tensor:
        """A Self-Forcing rollout of the generator; one random exit step shared by all chunks."""
        g = self.g
        exit_k = int(torch.randint(0, self.steps, (), generator=gen))
        chunks = -(-self.frames // self.cfg.stream.chunk_frames)
        with torch.set_grad_enabled(grad):
            with torch.no_grad():
                text = text_context(g, cond["caption"])
            tracks = encode_tracks(g, cond["path"], cond["visible"], cond["ids"])
            ctx = g.dit.context_kv(text)
            return rollout(g, tracks, cond["image"], ctx, self.frames, gen, [exit_k] * chunks, grad=grad)

    def _noisy(self, x0: torch.Tensor, gen: torch.Generator):
        b = x0.shape[0]
        u = torch.rand(b, generator=gen)
        sigma = flow.shift_sigma(u, self.cfg.stream.shift).float().clamp(self.opts.min_sigma, self.opts.max_sigma)
        sigma = sigma.to(x0.device)
        noise = torch.randn(x0.shape, generator=gen).to(x0.device, x0.dtype)
        return flow.add_noise(x0, noise, sigma), sigma, noise

    def _score_inputs(self, model, cond: dict, x0: torch.Tensor):
        tracks = encode_tracks(model, cond["path"], cond["visible"], cond["ids"])
        slot = model.image_slot(cond["image"], x0.shape[2], 0)
        return tracks, slot

    def generator_step(self, gen: torch.Generator) -> dict:
        cond = self.conditioning(gen)
        x0 = self.generate(cond, gen, grad=True)
        with torch.no_grad():
            x_t, sigma, _ = self._noisy(x0.detach(), gen)
            t = flow.to_timestep(sigma)
            tr, slot = self._score_inputs(self.teacher, cond, x0)
            text = text_context(self.teacher, cond["caption"])
            null = text_context(self.teacher, [""] * len(cond["caption"]))
            v_real = guided_velocity(self.teacher, x_t, t, tr, slot, text, null, self.guidance)
            x0_real = flow.x0_from_velocity(x_t, v_real, sigma)
            tr_c, slot_c = self._score_inputs(self.critic, cond, x0)
            v_fake = self.critic.velocity(x_t, t, tr_c, slot_c, text_context(self.critic, cond["caption"]))
            x0_fake = flow.x0_from_velocity(x_t, v_fake, sigma)
            normalizer = (x0.detach() - x0_real).abs().mean(dim=(1, 2, 3, 4), keepdim=True).clamp(min=1e-6)
            grad = torch.nan_to_num((x0_fake - x0_real) / normalizer)
        loss = 0.5 * F.mse_loss(x0.float(), (x0 - grad).detach().float())
        self.g_opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.g_params, 10.0)
        self.g_opt.step()
        return {"dmd": loss.item(), "dmd_grad": grad.abs().mean().item(), "g_grad_norm": float(gnorm),
                "real_gap": (x0.detach() - x0_real).abs().mean().item()}

    def critic_step(self, gen: torch.Generator) -> float:
        cond = self.conditioning(gen)
        with torch.no_grad():
            x0 = self.generate(cond, gen, grad=False)
        x_t, sigma, noise = self._noisy(x0, gen)
        tr, slot = self._score_inputs(self.critic, cond, x0)
        with torch.no_grad():
            text = text_context(self.critic, cond["caption"])
        v = self.critic.velocity(x_t, flow.to_timestep(sigma), tr, slot, text)
        loss = F.mse_loss(v.float(), (noise - x0).float())
        self.c_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.c_params, 1.0)
        self.c_opt.step()
        return loss.item()

    def state_dict(self) -> dict:
        return {"generator": self.g.state_dict(), "critic": self.critic.state_dict(), "g_opt": self.g_opt.state_dict(),
                "c_opt": self.c_opt.state_dict()}

    def load_state_dict(self, sd: dict) -> None:
        self.g.load_state_dict(sd["generator"])
        self.critic.load_state_dict(sd["critic"])
        self.g_opt.load_state_dict(sd["g_opt"])
        self.c_opt.load_state_dict(sd["c_opt"])


def train_dmd(out: str, opts: DMDOptions, config_name: str | None = None) -> dict:
    cfg = run_config(out, config_name)
    device = pick_device(opts.device)
    stage = Stage(out, NAME, opts.steps, opts.log_every, opts.save_every_s, opts.quiet)
    teacher = load_teacher(out, device)
    source = Path(out) / "ode" / "student.safetensors"
    if not source.is_file():
        raise FileNotFoundError(f"no ODE-initialised student in {source}: run `motionstream train ode` first")
    generator = init_student(source, device)
    critic = load_model(Path(out) / "teacher" / "teacher.safetensors", device=device).train()
    critic.text_encoder.requires_grad_(False)
    trainer = DMDTrainer(generator, critic, teacher, load_latent_cache(Path(out) / CACHE), opts)
    step = 0
    state = stage.load()
    if state is not None:
        trainer.load_state_dict(state["trainer"])
        step = state["step"]
    gen = torch.Generator().manual_seed(opts.seed * 1_000_003 + 13 * step + 3)
    budget = Budget(opts.steps, opts.minutes)
    stage.say(f"Self-Forcing DMD: generator lr {opts.lr}, critic lr {opts.critic_lr}, generator:critic "
              f"1:{opts.critic_steps}, batch {opts.batch}, {trainer.frames} latent frames per rollout")
    history = {"critic": [], "dmd": []}

    def checkpoint():
        stage.save({"step": step, "trainer": trainer.state_dict()})
        save_model(generator, stage.dir / PRODUCT, {"stage": NAME, "steps": str(step)})

    while not budget.done(step):
        critic_losses = [trainer.critic_step(gen) for _ in range(opts.critic_steps)]
        g = trainer.generator_step(gen)
        step += 1
        history["critic"].extend(critic_losses)
        history["dmd"].append(g["dmd"])
        stage.record(step, critic=sum(critic_losses) / len(critic_losses), **g)
        if stage.should_save():
            checkpoint()
    checkpoint()
    stage.say(f"saved {stage.dir / PRODUCT} at step {step}")
    return {"step": step, "history": history, "path": stage.dir / PRODUCT}

"""Shared training machinery: run directories, resumable checkpoints, progress lines, loss logs, EMA.

A run directory (``--out``, default ``runs/demo``) holds one folder per stage::

    runs/demo/run.json            the model config every stage uses (fixed by the first stage run)
    runs/demo/<stage>/ckpt.pt     resumable state (weights, optimiser, step, wall-clock spent)
    runs/demo/<stage>/log.jsonl   one JSON line per logged step (losses, steps/s)
    runs/demo/<stage>/*.safetensors  the stage's product (what the next stage reads)

Every stage stops at ``--steps`` (a total, counted across resumes) or after ``--minutes`` of this
invocation, whichever comes first, saves a checkpoint every ``--save-every`` seconds, and resumes
from ``ckpt.pt`` when run again.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..config import ModelConfig, get_config
from ..model import MotionStreamModel
from .configs import TRAIN_CONFIGS

DEFAULT_OUT = "runs/demo"
DEFAULT_CONFIG = "demo-small"


def model_config(name: str) -> ModelConfig:
    """A named model config: the training's own (``configs.TRAIN_CONFIGS``), then ``config.get_config``'s."""
    if name in TRAIN_CONFIGS:
        return TRAIN_CONFIGS[name]().validate()
    return get_config(name)


# -- the options every stage has -------------------------------------------------------------------

@dataclass
class StageOptions:
    """What every stage takes; a stage's options subclass this, adding fields and re-defaulting these.

    ``batch`` is the global batch: under ``torchrun`` each of N processes takes ``batch / N`` samples.
    """
    steps: int = 1000  # total optimiser steps, counted across resumes
    minutes: float | None = None  # wall-clock budget of this invocation
    batch: int = 4
    lr: float = 1e-4
    seed: int = 0
    device: str | None = None  # default: this rank's GPU when there is one, else the CPU
    precision: str = "fp32"  # "bf16": bf16 compute with fp32 master weights
    checkpointing: bool = False  # activation checkpointing (recompute block activations in backward)
    log_every: int = 10
    save_every_s: float = 120.0
    grad_dump: str = ""  # write each step's gradients here (<stem>_<tag>_<step>.pt; for equivalence checks)
    quiet: bool = False


@dataclass
class ModelStageOptions(StageOptions):
    """The teacher, ODE and DMD stages: where their clips come from and how tracks and text are dropped."""
    data: str = ""  # a prepared folder (`motionstream train prepare`); "" = the run's synthetic latent cache
    max_tracks: int = 64  # tracks per sample (padded)
    # fewest tracks a conditioned sample gets (the count is drawn between this and max_tracks): with few, a moving
    # layer often has none, and the model learns that untracked content may move on its own
    min_tracks: int = 1
    # > 0: the tracks first cover every motion of the clip, within this many px RMS (data.covering_order): few
    # tracks, as a user gives, without leaving a mover untracked
    cover_px: float = 0.0
    # True: requests as a user makes them (``data.TrackSampling.user``: 1-3 points on each moving layer, a few pins);
    # needs a latent cache of layered clips (clip_source photo)
    user_tracks: bool = False
    track_drop: float = 0.1  # no tracks at all: the motion-unconditional branch
    text_drop: float = 0.1  # the empty prompt: the text-unconditional branch
    mask_prob: float = 0.5  # hide some tracks over a mid-clip interval
    ema: float = 0.0  # > 0: also keep an exponential moving average of the trained model (its own product)
    grad_clip: float = 1.0  # the largest gradient norm a step applies (DMD: the generator's); larger ones are scaled


# -- run directory and model config -----------------------------------------------------------------

def run_config(out: str | os.PathLike, config_name: str | None = None, latent_space: str | None = None) -> ModelConfig:
    """The run's model config: fixed in ``run.json`` by the first stage that runs in ``out``. ``latent_space``: the
    latent space of the stage's data (``prepare.data_latent_space``), which a new run takes over its config's own --
    a small config trained on Wan latents makes Wan latents and must say so to the decoders."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = out / "run.json"
    if meta.is_file():
        stored = json.loads(meta.read_text())
        cfg = ModelConfig.from_dict(stored["model_config"])
        if config_name is not None and config_name != stored.get("config_name"):
            raise ValueError(f"{out} was started with model config {stored.get('config_name')!r}, not "
                             f"{config_name!r}: use another --out")
        return cfg
    name = config_name or DEFAULT_CONFIG
    cfg = model_config(name)
    if latent_space is not None and latent_space != cfg.latent_space:
        log(f"{out}: model config {name!r} takes its data's latent space {latent_space!r} (instead of "
            f"{cfg.latent_space!r})")
        cfg = dataclasses.replace(cfg, latent_space=latent_space).validate()
    meta.write_text(json.dumps({"config_name": name, "model_config": cfg.to_dict()}, indent=1))
    return cfg


# -- models -----------------------------------------------------------------------------------------

TRACK_HEAD_INITS = ("torch", "unit")


def build_model(cfg: ModelConfig, seed: int = 0, text_encoder: bool = True,
                track_head_init: str = "torch") -> MotionStreamModel:
    """A freshly initialised MotionStream model, with the demo text encoder unless ``text_encoder`` is False
    (real data brings umT5 embeddings) (training init).

    Linear layers get Xavier-uniform weights and zero biases, the output head starts at zero (the
    first prediction is v = 0), as is usual for DiTs trained from scratch. ``track_head_init``: "torch"
    leaves the track head at PyTorch's default init (its track latent then has std ~0.04 where tracks are,
    ~20x below the noisy-latent and start-image slots it is concatenated with); "unit" (``init_track_head``)
    gives it unit-scale outputs where tracks are and exactly zero where none is.
    """
    from ..text_encoder import DemoTextEncoder

    if track_head_init not in TRACK_HEAD_INITS:
        raise ValueError(f"track_head_init must be one of {TRACK_HEAD_INITS}, got {track_head_init!r}")
    torch.manual_seed(seed)
    model = MotionStreamModel(cfg, text_encoder=DemoTextEncoder.from_config(cfg) if text_encoder else None)
    for m in model.dit.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    nn.init.zeros_(model.dit.head.head.weight)
    nn.init.zeros_(model.dit.head.head.bias)
    if track_head_init == "unit":
        init_track_head(model.track_head)
    return model


def init_track_head(head: nn.Module) -> nn.Module:
    """He-normal ``proj_in`` and ``1/sqrt(hidden)``-normal ``proj_out``, zero biases: the sinusoidal IDs
    (unit-RMS per pair of channels) map to a track latent of std ~0.5 where a track is, and to exactly
    zero where none is (SiLU(0) = 0), so the DiT sees the tracks at the scale of its other inputs from step 0."""
    nn.init.kaiming_normal_(head.proj_in.weight, nonlinearity="relu")
    nn.init.normal_(head.proj_out.weight, std=head.proj_out.weight.shape[1] ** -0.5)
    nn.init.zeros_(head.proj_in.bias)
    nn.init.zeros_(head.proj_out.bias)
    return head


def frozen_copy(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model).eval()
    m.requires_grad_(False)
    return m


def text_context(model: MotionStreamModel, captions: list[str]) -> Tensor:
    """[B, text_len, text_dim]; gradients reach the text encoder only when it is trainable."""
    return model.text_encoder.encode(captions).to(model.dtype)


# -- EMA ----------------------------------------------------------------------------------------------

class EMA:
    """Exponential moving average of a model's floating-point state, with the usual warm-up
    ``decay_t = min(decay, (1 + t) / (10 + t))`` so early averages are not dominated by the init."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        # under FSDP2 the state dict holds this rank's shards (DTensors): the average is sharded the same way
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach(), 1 - d)

    def full(self) -> dict[str, Tensor]:
        """The whole averaged tensors on the CPU (collective when sharded: call on every rank)."""
        from .distributed import full_tensor

        return {k: full_tensor(v).cpu() for k, v in self.shadow.items()}

    def copy_to(self, model: nn.Module) -> nn.Module:
        model.load_state_dict({**model.state_dict(), **self.full()})
        return model

    def state_dict(self) -> dict:
        return {"decay": self.decay, "shadow": self.full()}

    def load_state_dict(self, sd: dict) -> None:
        from torch.distributed.tensor import distribute_tensor

        from .distributed import is_dtensor

        self.decay = sd["decay"]
        for k, v in sd["shadow"].items():
            mine = self.shadow.get(k)
            if mine is not None and is_dtensor(mine):
                self.shadow[k] = distribute_tensor(v.to(mine.device, mine.dtype), mine.device_mesh, mine.placements)
            else:
                self.shadow[k] = v.clone() if mine is None else v.to(mine.device, mine.dtype).clone()


# -- stage bookkeeping ----------------------------------------------------------------------------------

@dataclass
class Budget:
    steps: int
    minutes: float | None = None

    def __post_init__(self):
        self.start = time.monotonic()

    def done(self, step: int) -> bool:
        if step >= self.steps:
            return True
        return self.minutes is not None and time.monotonic() - self.start > 60 * self.minutes


class Stage:
    """One stage's folder: resumable checkpoint, JSON-lines loss log and progress printing."""

    def __init__(self, out: str | os.PathLike, name: str, total_steps: int, log_every: int = 10,
                 save_every_s: float = 120.0, quiet: bool = False, writer: bool = True):
        self.name, self.total, self.writer = name, total_steps, writer
        self.samples_per_step = self.tokens_per_step = 0  # for the samples/s and tokens/s read-outs
        self.dir = Path(out) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_path, self.log_path = self.dir / "ckpt.pt", self.dir / "log.jsonl"
        self.log_every, self.save_every_s, self.quiet = log_every, save_every_s, quiet
        self.elapsed_before = 0.0
        self._t0 = self._last_save = self._last_log = time.monotonic()
        self._last_step = 0
        self._acc: dict[str, list[float]] = {}

    # checkpoints
    def load(self) -> dict | None:
        if not self.ckpt_path.is_file():
            return None
        state = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self._last_step = int(state.get("step", 0))
        self.say(f"resuming from {self.ckpt_path} at step {self._last_step}")
        return state

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self._t0

    def save(self, state: dict) -> None:
        state = {**state, "elapsed_s": self.elapsed()}
        tmp = self.ckpt_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.ckpt_path)
        self.mark_saved()

    def mark_saved(self) -> None:
        self._last_save = time.monotonic()

    def should_save(self) -> bool:
        return time.monotonic() - self._last_save > self.save_every_s

    # logging
    def say(self, msg: str) -> None:
        if not self.quiet:
            print(f"[{self.name}] {msg}", flush=True)

    def record(self, step: int, **values: float) -> None:
        """Accumulate losses; every ``log_every`` steps print a progress line and append to the log."""
        for k, v in values.items():
            self._acc.setdefault(k, []).append(float(v))
        if step % self.log_every and step != self.total:
            return
        now = time.monotonic()
        rate = (step - self._last_step) / max(now - self._last_log, 1e-9)
        self._last_step, self._last_log = step, now
        means = {k: sum(v) / len(v) for k, v in self._acc.items()}
        self._acc = {}
        row = {"step": step, **{k: round(v, 6) for k, v in means.items()}, "steps_per_s": round(rate, 4),
               "elapsed_s": round(self.elapsed(), 1)}
        speed = ""
        if self.samples_per_step:
            row["samples_per_s"] = round(rate * self.samples_per_step, 4)
            speed += f" | {rate * self.samples_per_step:.2f} samples/s"
        if self.tokens_per_step:
            row["tokens_per_s"] = round(rate * self.tokens_per_step, 1)
            speed += f", {rate * self.tokens_per_step:.0f} tokens/s"
        if self.writer:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(row) + "\n")
        eta = (self.total - step) / rate if rate > 0 else math.inf
        losses = " ".join(f"{k} {v:.4f}" for k, v in means.items())
        self.say(f"step {step}/{self.total} {losses} | {rate:.2f} steps/s{speed} | {_hms(self.elapsed())} spent"
                 + (f", ~{_hms(eta)} left at most" if math.isfinite(eta) else ""))


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a stage's log.jsonl."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def warmup_lr(opt: torch.optim.Optimizer, base_lr: float, step: int, warmup: int) -> None:
    lr = base_lr * min(1.0, (step + 1) / max(warmup, 1))
    for g in opt.param_groups:
        g["lr"] = lr


def set_threads(threads: int | None = None) -> None:
    """CPU threads: ``threads`` if given, else every core this process may run on (torch's default can
    be lower inside containers). On a machine shared with other busy processes, 1 thread is often
    several times faster than 2: OpenMP threads wait for each other whenever one is descheduled."""
    if threads:
        torch.set_num_threads(threads)
        return
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    if torch.get_num_threads() < n:
        torch.set_num_threads(n)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)

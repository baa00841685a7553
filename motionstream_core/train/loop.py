"""One run of one training stage: setup, resume, the step loop, checkpoints, read-outs -- shared by every stage.

A stage builds its models and optimisers, hands them to ``StageRun`` (``keep_model``, ``keep_optimizer``,
``keep``), calls ``resume()`` and then ``loop(step_fn)``; ``step_fn(step)`` does one optimiser step and
returns the values to log. ``StageRun`` owns everything else, the same for every stage, on one process
or under ``torchrun``:

* the run's model config, the device (this rank's GPU, else the CPU), the stage folder;
* the data order: ``batch(n)`` draws this step's global batch (``--batch``, all ranks together) from a
  ``DistributedSampler`` over ``n`` clips, this rank's share of it, and one random generator per sample
  seeded by (seed, step, slot in the global batch). Everything random about a sample (track subsets,
  sigma, noise) comes from its generator, so a global batch gives the same samples -- and the same
  gradients -- on any number of processes, and the data position after a resume is the step itself;
* ``optimize``: backward, gradient clipping, the optimiser step (and, with ``grad_dump``, the gradients
  written to a file for checking distributed equivalence);
* stopping (``--steps``/``--minutes``, or SIGINT/SIGTERM: the step finishes and is checkpointed, a second signal
  stops at once) and periodic checkpoints, decided the same on every rank;
* rank-0 logging and checkpoint files (full state dicts, resumable at any world size);
* read-outs: samples/s and tokens/s in every progress line, peak memory per rank at the end.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from ..checkpoints import build_text_encoder, save_model
from ..model import MotionStreamModel
from .common import Budget, Stage, StageOptions, run_config
from .distributed import (DistEnv, enable_activation_checkpointing, full_tensor, load_model_state,
                          load_optimizer_state, model_state, optimizer_state, peak_memory_mb, precision_context,
                          shard_model, sharded_call)
from .prepare import data_latent_space


@dataclass(frozen=True)
class Sample:
    """One sample of this rank's share of the global batch."""
    index: int  # clip index in the stage's data
    gen: torch.Generator  # everything random about this sample
    slot: int  # position in the global batch


def seeded(*keys: int) -> torch.Generator:
    """A generator seeded by a tuple of integers (numpy's SeedSequence mixes them)."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0]))


class StageRun:
    def __init__(self, out: str, name: str, opts: StageOptions, config_name: str | None = None):
        hint = torch.device(opts.device) if opts.device else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self.env = DistEnv.from_environment(hint)
        self.device = self.env.device(opts.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.opts, self.name, self.out = opts, name, Path(out)
        data = getattr(opts, "data", "")
        space = data_latent_space(data) if data else None  # a new run takes its prepared data's latent space
        if self.env.main:  # the first stage of a run fixes run.json; the other ranks read it
            self.cfg = run_config(out, config_name, space)
        self.env.barrier()
        if not self.env.main:
            self.cfg = run_config(out, config_name, space)
        self.stage = Stage(out, name, opts.steps, opts.log_every, opts.save_every_s, opts.quiet or not self.env.main,
                           writer=self.env.main)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.tokens_per_sample = 0
        self.readout: dict = {}
        self._models: dict[str, nn.Module] = {}
        self._optims: dict[str, tuple[torch.optim.Optimizer, nn.Module]] = {}
        self._parts: dict[str, Any] = {}
        self._on_save: list[Callable[[], None]] = []
        self._sampler: DistributedSampler | None = None
        self._epoch = -1
        self._order: list[int] = []
        if opts.batch % self.env.world:
            raise ValueError(f"--batch {opts.batch} (the global batch) must be a multiple of the {self.env.world} "
                             "processes")

    # -- models ----------------------------------------------------------------------------------

    def prepare(self, model: nn.Module) -> nn.Module:
        """A trainable model on this rank: activation checkpointing (``opts.checkpointing``), then FSDP2
        across ranks (``opts.precision``); build its optimiser afterwards."""
        model = model.to(self.device)
        if self.opts.checkpointing:
            enable_activation_checkpointing(model)
        return shard_model(model, self.env, self.opts.precision)

    def frozen(self, model: nn.Module) -> nn.Module:
        """A frozen model (teacher) on this rank, in the compute precision (replicated, not sharded)."""
        model = model.to(self.device).eval().requires_grad_(False)
        return model.to(torch.bfloat16) if self.opts.precision == "bf16" else model

    def call(self, model: nn.Module, fn: Callable[..., Any], *args, **kwargs):
        """One training pass of ``model`` (``fn(*args, **kwargs)``), its shards gathered under FSDP2."""
        return sharded_call(model, fn, *args, **kwargs)

    def autocast(self):
        return precision_context(self.device, self.env, self.opts.precision)

    # -- checkpoint parts --------------------------------------------------------------------------

    def keep_model(self, name: str, model: nn.Module) -> None:
        self._models[name] = model

    def keep_optimizer(self, name: str, opt: torch.optim.Optimizer, model: nn.Module) -> None:
        self._optims[name] = (opt, model)

    def keep(self, name: str, part: Any) -> None:
        """Anything with ``state_dict``/``load_state_dict`` (EMA); its state dict must be full tensors."""
        self._parts[name] = part

    def on_save(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on every rank after each checkpoint (writing a stage product; rank 0 writes files)."""
        self._on_save.append(fn)

    def resume(self) -> bool:
        state = self.stage.load()
        if state is None:
            return False
        state = {**state.pop("trainer", {}), **state}  # older DMD checkpoints nest their parts
        for name, model in self._models.items():
            load_model_state(model, state[name], self.env)
        for name, (opt, model) in self._optims.items():
            load_optimizer_state(model, opt, state[name], self.env)
        for name, part in self._parts.items():
            part.load_state_dict(state[name])
        self.step = int(state["step"])
        return True

    def checkpoint(self) -> None:
        state: dict[str, Any] = {"step": self.step}
        state.update({k: model_state(m, self.env) for k, m in self._models.items()})
        state.update({k: optimizer_state(m, o, self.env) for k, (o, m) in self._optims.items()})
        state.update({k: p.state_dict() for k, p in self._parts.items()})
        if self.env.main:
            self.stage.save(state)
        else:
            self.stage.mark_saved()
        for fn in self._on_save:
            fn()
        self.env.barrier()

    def save_model(self, model: MotionStreamModel, path: Path, metadata: dict[str, str],
                   overrides: dict | None = None) -> None:
        """A MotionStream checkpoint of ``model`` (gathered from its shards; ``overrides`` replace some of its
        tensors, e.g. the EMA weights), written by rank 0. Call on every rank."""
        if not self.env.distributed and overrides is None:
            save_model(model, path, metadata)
            return
        sd = {**model_state(model, self.env), **(overrides or {})}
        if self.env.main:
            self.save_state(model, sd, path, metadata)

    def keep_ema(self, model: MotionStreamModel, decay: float, path: Path):
        """With ``decay`` > 0: an EMA of ``model``, checkpointed, and written to ``path`` at every checkpoint."""
        if decay <= 0:
            return None
        from .common import EMA

        ema = EMA(model, decay)
        self.keep("ema", ema)
        self.on_save(lambda: self.save_model(model, path, {"stage": self.name, "steps": str(self.step),
                                                           "ema": str(decay)}, overrides=ema.full()))
        return ema

    def save_state(self, model: MotionStreamModel, sd: dict, path: Path, metadata: dict[str, str]) -> None:
        """A MotionStream checkpoint with ``model``'s architecture and the full state dict ``sd`` (rank 0)."""
        te = model.text_encoder
        with torch.device("meta"):
            shadow = MotionStreamModel(model.config, build_text_encoder(type(te).__name__, model.config)
                                       if te is not None else None)
        shadow.load_state_dict({k: full_tensor(v).detach().cpu() for k, v in sd.items()}, assign=True)
        save_model(shadow, path, metadata)

    # -- data order and randomness ----------------------------------------------------------------

    def batch(self, n: int, salt: int = 0, passes: int = 1) -> list[Sample]:
        """This rank's samples of this step's global batch over ``n`` clips (epochs reshuffle, drop last).

        A stage that makes ``passes`` passes a step, each on its own clips (DMD: the critic's, then the
        generator's), asks for pass ``salt`` < ``passes``: the data order then advances ``passes`` global batches a
        step, pass ``salt`` taking batch ``step * passes + salt``. With ``passes`` = 1, ``salt`` > 0 gives the step's
        clips with other random draws. Either way the position is a function of the step: resuming is exact."""
        B, w = self.opts.batch, self.env.world
        per_epoch = n // B
        if per_epoch == 0:
            raise ValueError(f"{self.name}: the data has {n} clips, fewer than one global batch of {B}")
        if self._sampler is None or len(self._sampler.dataset) != n:  # type: ignore[arg-type]
            self._sampler = DistributedSampler(range(n), num_replicas=w, rank=self.env.rank, shuffle=True,
                                               seed=self.opts.seed, drop_last=True)
            self._epoch = -1
        if passes > 1 and not 0 <= salt < passes:
            raise ValueError(f"pass {salt} of {passes}")
        epoch, s = divmod(self.step * passes + (salt if passes > 1 else 0), per_epoch)
        if epoch != self._epoch:
            self._sampler.set_epoch(epoch)
            self._order, self._epoch = list(self._sampler), epoch
        b = B // w
        local = self._order[s * b:(s + 1) * b]
        slots = [self.env.rank + w * j for j in range(b)]
        return [Sample(i, seeded(self.opts.seed, self.step, slot, salt), slot) for i, slot in zip(local, slots)]

    def generator(self, salt: int = 0) -> torch.Generator:
        """This step's generator shared by every rank (choices made once per global batch)."""
        return seeded(self.opts.seed, self.step, 1 << 30, salt)

    # -- optimisation ----------------------------------------------------------------------------

    def optimize(self, loss: torch.Tensor, opt: torch.optim.Optimizer, module: nn.Module, max_norm: float,
                 tag: str = "") -> float:
        """zero_grad, backward, clip (``max_norm``), [dump gradients], step; returns the gradient norm.

        The parameters are listed after ``backward``: under FSDP2 the root unit stays unsharded from its forward
        until its backward ends, so a list taken earlier holds the root's gathered copies, which never receive
        gradients -- clipping and the norm would leave out every parameter outside the blocks' units."""
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in module.parameters() if p.requires_grad]
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if self.opts.grad_dump:
            self._dump_grads(module, tag)
        opt.step()
        return float(full_tensor(norm)) if not isinstance(norm, float) else norm

    def _dump_grads(self, module: nn.Module, tag: str) -> None:
        grads = {k: full_tensor(p.grad).detach().cpu().float() for k, p in module.named_parameters()
                 if p.grad is not None}
        if self.env.main:
            path = Path(self.opts.grad_dump)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(grads, path.with_name(f"{path.stem}_{tag or self.name}_{self.step}{path.suffix or '.pt'}"))

    # -- the loop ----------------------------------------------------------------------------------

    def loop(self, step_fn: Callable[[int], dict[str, float]]) -> int:
        """Run ``step_fn`` until the budget is spent; checkpoint periodically and at the end."""
        budget = Budget(self.opts.steps, self.opts.minutes)
        self.stage.samples_per_step = self.opts.batch
        self.stage.tokens_per_step = self.opts.batch * self.tokens_per_sample
        t0, s0 = time.monotonic(), self.step
        stop, _ = self.env.any([budget.done(self.step), False])
        asked = False
        with StopSignals() as signals:
            while not stop and not asked:
                values = self.env.mean(step_fn(self.step))
                self.step += 1
                self.history.append(values)
                self.stage.record(self.step, **values)
                stop, save, asked = self.env.any([budget.done(self.step), self.stage.should_save(), signals.received])
                if save and not stop and not asked:
                    self.checkpoint()
            self.checkpoint()
        if asked:
            self.stage.say(f"stopped on a signal at step {self.step}, checkpointed: the same command resumes")
        self.report(time.monotonic() - t0, self.step - s0)
        return self.step

    def report(self, seconds: float, steps: int) -> None:
        """Throughput of this invocation and the peak memory of every rank."""
        peaks = self.env.gather(peak_memory_mb(self.device))
        self.readout = {"steps": steps, "seconds": seconds, "peak_mb_per_rank": peaks, "world": self.env.world}
        if steps:
            sps = steps * self.opts.batch / max(seconds, 1e-9)
            self.readout.update(samples_per_s=sps, tokens_per_s=sps * self.tokens_per_sample)
            self.stage.say(f"{steps} steps in {seconds:.1f} s: {sps:.3f} samples/s, "
                           f"{sps * self.tokens_per_sample:.0f} tokens/s on {self.env.world} process(es)")
        what = "peak GPU memory allocated" if self.device.type == "cuda" else "peak resident memory"
        self.stage.say(f"{what} per rank: " + ", ".join(f"{p:.0f} MiB" for p in peaks))

    def result(self, product: Path | None = None, **extra) -> dict:
        """What a stage returns: the step reached, this invocation's logged values, its product, the read-outs."""
        return {"step": self.step, "history": self.history, "path": product, "readout": self.readout, **extra}


class StopSignals:
    """While a stage's loop runs: SIGINT (Ctrl-C) or SIGTERM (a scheduler, ``kill``) sets ``received``, so the loop
    finishes its step, checkpoints and returns -- the steps since the last periodic checkpoint are kept. A second
    signal raises ``KeyboardInterrupt`` at once. Outside the main thread (where Python cannot install handlers) it
    does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received = False
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.received:
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name} again: stopped without a checkpoint")
        self.received = True

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def tokens_per_clip(cfg, latent_shape) -> int:
    """DiT tokens of one clip whose latents are [C, F, h, w] (patch ``cfg.dit.patch_size``)."""
    _, f, h, w = latent_shape
    pt, ph, pw = cfg.dit.patch_size
    return (f // pt) * (h // ph) * (w // pw)

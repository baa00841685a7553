"""How a run turns drags into motion: ``model`` (the learned track head) or ``warp`` (training-free dual clock).

``warp`` is Time-to-Move's dual-clock denoising (Singer et al., arXiv 2511.08633, ICLR 2026) for a causal
student, chunk by chunk: each chunk's reference (the start image with its regions cut and dragged along the
tracks, the rest moved by the kernel warp, holes filled; ``reference.ReferenceBuilder.warp``, encoded by the
run's codec) is noised to ``t_weak`` with one noise draw and denoised with the model's own steps below
``t_weak``; at every step whose noise level is ``t_strong`` or more, the latent cells the drags placed
(``Reference.held``) are replaced by the reference noised to that level with the same draw. So the dragged
regions keep the reference down to ``t_strong`` while the rest of the frame (and what a region uncovered) is
free from ``t_weak``: the model fills and moves it. What was generated goes into the cache as usual.

Noise levels are sigmas in [0, 1] (timestep / 1000): ``0 <= t_strong <= t_weak <= 1``. Both 0: the chunk is
its reference (no step runs). The defaults come from the model's own schedule (``resolve_drag``): for a
few-step student the second and third of its sigmas (the 4-step Self-Forcing schedule 1000/750/500/250 warped
by shift 5: sigmas 1, 0.9375, 0.8333, 0.625 -> t_weak 0.9375, t_strong 0.8333; the same for Rolling/Infinite
Forcing, Krea Realtime and chunk-wise Causal Forcing, which share it), for a refining stream (the demo) its
first two. Starting points only: quality on the public 1.3B weights is not measured here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from . import flow
from .config import ModelConfig

DRAG_MODES = ("model", "warp")
WARP_MAX_TRACKS = 1024  # tracks a warp-mode run takes at once on a model without a track head (a camera grid fits)


@dataclass(frozen=True)
class DragMode:
    """``mode`` one of ``DRAG_MODES``; ``t_weak`` / ``t_strong``: the dual clock's noise levels (``warp`` only)."""

    mode: str = "model"
    t_weak: float = 0.0
    t_strong: float = 0.0

    @property
    def warp(self) -> bool:
        return self.mode == "warp"

    def validate(self) -> "DragMode":
        if self.mode not in DRAG_MODES:
            raise ValueError(f"drag mode must be one of {', '.join(DRAG_MODES)}; got {self.mode!r}")
        for name in ("t_weak", "t_strong"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ValueError(f"{name} must be a noise level in [0, 1]; got {v!r}")
        if self.t_strong > self.t_weak:
            raise ValueError(f"t_strong ({self.t_strong:g}) must not exceed t_weak ({self.t_weak:g}): the dragged "
                             "regions are held to the reference down to t_strong, the rest is free from t_weak")
        return self

    def sigmas(self, base: list[float]) -> list[float]:
        """A chunk's denoising sigmas in this mode: ``base`` (the model's), or (``warp``) ``t_weak`` and then the
        base sigmas below it; none when ``t_weak`` is 0 (the chunk is its reference)."""
        if not self.warp:
            return list(base)
        if self.t_weak <= 0:
            return []
        return [float(self.t_weak)] + [s for s in base if s < self.t_weak - 1e-9]

    def holds(self, sigma: float) -> bool:
        """Whether the dragged cells are re-noised from the reference at a step of noise level ``sigma``."""
        return self.warp and sigma >= self.t_strong - 1e-9

    def start(self, reference: Tensor, noise: Tensor, sigmas: list[float]) -> Tensor:
        """Where a chunk starts: its reference latents noised to the first of ``sigmas`` (the reference itself when
        there is no step), in ``noise``'s dtype."""
        if not sigmas:
            return reference.to(noise.dtype)
        return flow.add_noise(reference.float(), noise.float(), sigmas[0]).to(noise.dtype)

    def hold(self, x: Tensor, reference: Tensor, held: Tensor, noise: Tensor, sigma: float) -> Tensor:
        """``x`` with the ``held`` cells (bool, broadcast over it) set to the reference noised to ``sigma`` with the
        chunk's start ``noise``, when ``holds(sigma)``; else ``x`` as it is."""
        if not self.holds(sigma):
            return x
        return torch.where(held, flow.add_noise(reference.float(), noise.float(), sigma).to(x.dtype), x)


def default_mode(config: ModelConfig) -> str:
    """``model`` for a checkpoint with a track head, ``warp`` for the text-to-video students (they have none)."""
    return "model" if config.takes_tracks else "warp"


def resolve_drag(config: ModelConfig, sigmas: list[float], mode: str | None = None, t_weak: float | None = None,
                 t_strong: float | None = None) -> DragMode:
    """The run's drag mode: ``mode`` (default ``default_mode``) with the strengths given, else the defaults from
    the model's sampling ``sigmas`` (module docstring). One clear error for a mode the model cannot run."""
    mode = default_mode(config) if mode is None else mode
    if mode == "model" and not config.takes_tracks:
        raise ValueError(f"model {config.name!r} has no track head: it takes drags in warp mode only "
                         "(--drag-mode warp, the default for it)")
    if mode != "warp":
        if t_weak is not None or t_strong is not None:
            raise ValueError("t_weak / t_strong set the warp drag mode's dual clock; this run's drag mode is "
                             f"{mode!r}")
        return DragMode(mode).validate()
    refining = config.stream.start_sigma < 1
    first = 0 if refining or len(sigmas) < 3 else 1
    weak = float(sigmas[first]) if t_weak is None else t_weak
    strong = float(sigmas[min(first + 1, len(sigmas) - 1)]) if t_strong is None else t_strong
    if t_strong is None and isinstance(weak, (int, float)):
        strong = min(strong, weak)  # a t_weak given below the default t_strong holds down to t_weak
    return DragMode("warp", weak, strong).validate()

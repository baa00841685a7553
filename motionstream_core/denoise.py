"""One chunk of a causal student, the same at inference and in training.

The stream (``stream.StreamSession._chunk``) and the training of the causal student (``train/causal.py``: the
Self-Forcing rollout of the DMD generator, the ODE regression) run a chunk the same way, with these functions:

1. ``new_cache``: a ``RollingKVCache`` with the stream's sink + rolling window for ``batch`` videos;
2. ``chunk_start``: the chunk starts from noise, or (a refining stream, ``StreamConfig.start_sigma`` < 1) from its
   image slot noised to the first of ``denoising_sigmas``;
3. ``denoise_chunk``: the denoising passes, each attending to the cached context: predict x0, re-noise it to the next
   sigma, until the exit step (the last, at inference);
4. ``clean_pass``: one pass at t = 0 writes the chunk's keys / values, ``commit()`` moves them into the sink or the
   window.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from . import flow
from .config import StreamConfig
from .dit import ContextKV
from .kv_cache import CacheShape, RollingKVCache
from .model import MotionStreamModel


def denoising_sigmas(cfg: StreamConfig, steps: int | None = None) -> list[float]:
    """The sigmas of a chunk's denoising passes: the config's step list, or ``steps`` uniform warped ones; a
    refining stream's (``cfg.start_sigma`` < 1) scaled by its start sigma."""
    if steps is None and cfg.step_list:
        sigmas = flow.step_list_sigmas(cfg.step_list, cfg.shift, cfg.warp_steps, cfg.num_train_timesteps)
    else:
        sigmas = flow.sampling_sigmas(steps or cfg.steps, cfg.shift)[:-1]
    return (sigmas * cfg.start_sigma).tolist() if cfg.start_sigma < 1 else sigmas.tolist()


def chunk_start(cfg: StreamConfig, noise: Tensor, image_slot: Tensor | None, sigma: float) -> Tensor:
    """Where a chunk's denoising starts: ``noise`` [B, C, F, h, w], or for a refining stream (``cfg.start_sigma``
    < 1) its image slot noised to the first sigma ``sigma``."""
    if cfg.start_sigma >= 1:
        return noise
    return flow.add_noise(image_slot.float(), noise.float(), sigma).to(noise.dtype)


def new_cache(model: MotionStreamModel, batch: int, h: int, w: int) -> RollingKVCache:
    """The stream's sink + rolling-window cache for ``batch`` videos of latent size h x w."""
    cfg = model.config
    gh, gw = model.dit.token_grid(h, w)
    rope = model.dit.rope_table(cfg.stream.max_rope_frames, gh, gw)
    shape = CacheShape(cfg.dit.num_layers, batch, cfg.dit.num_heads, cfg.dit.head_dim, gh * gw)
    return RollingKVCache(shape, cfg.stream, rope, model.device, model.dtype)


def denoise_chunk(model: MotionStreamModel, x: Tensor, sigmas: list[float], track_latent: Tensor | None,
                  image_slot: Tensor | None, ctx: ContextKV, cache: RollingKVCache, noise: Callable[[], Tensor],
                  exit_step: int | None = None, grad: bool = False,
                  before_step: Callable[[int, float, Tensor], Tensor] | None = None) -> Tensor:
    """Denoise one chunk ``x`` [B, C, F, h, w] (at ``sigmas[0]``, ``chunk_start``) -> its x0 prediction.

    Each pass predicts x0 at its sigma; before the exit step (default: the last) x0 is re-noised to the next sigma
    with ``noise()`` (a fresh draw of x's shape). With ``grad`` only the exit step's pass is differentiated (as in
    Self-Forcing). ``before_step(k, sigma, x)`` may replace x before pass k (the warp drag mode's held cells).
    No sigmas: x is the chunk (the warp drag mode at zero strength streams its reference). The caller opened the
    chunk in the cache (``cache.begin_chunk``) and writes it after (``clean_pass``).
    """
    x0 = x
    exit_step = len(sigmas) - 1 if exit_step is None else exit_step
    steps = model.config.stream.num_train_timesteps
    for k, sigma in enumerate(sigmas):
        if before_step is not None:
            x = before_step(k, sigma, x)
        with torch.set_grad_enabled(grad and k == exit_step):
            t = flow.to_timestep(sigma, steps).to(x.device).expand(x.shape[0])
            x0 = flow.x0_from_velocity(x, model.velocity(x, t, track_latent, image_slot, ctx, cache=cache), sigma)
        if k == exit_step:
            break
        x = flow.add_noise(x0, noise(), sigmas[k + 1])
    return x0


def clean_pass(model: MotionStreamModel, x0: Tensor, track_latent: Tensor | None, image_slot: Tensor | None,
               ctx: ContextKV, cache: RollingKVCache) -> str:
    """The t = 0 pass that writes a chunk's x0 into the cache (never differentiated), then ``commit``: returns
    where the chunk went ("sink" or "window")."""
    with torch.no_grad():
        model.velocity(x0, torch.zeros(x0.shape[0], device=x0.device), track_latent, image_slot, ctx, cache=cache,
                       write_cache=True)
    return cache.commit()

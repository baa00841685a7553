"""The causal student during training, run chunk by chunk with the stream's own steps (``denoise``: the cache,
the chunk's start, its denoising passes, the clean pass that writes it into the sink or the window).

* ``rollout``: Self-Forcing generation (the generator side of DMD, and plain sampling). Every chunk is
  denoised from fresh noise (a refining stream: its image slot noised) over the stream's sigmas; at the
  chunk's exit step the x0 prediction is kept (with gradient when ``grad``; every earlier step runs without
  gradient, as in Self-Forcing) and its clean pass fills the cache. With every exit at the last step and one sample this is the
  stream's own computation, noise draw for noise draw (tests check it).
* ``teacher_forced_losses``: ODE regression; each chunk's input is a teacher trajectory state at one
  of the student's sigmas and the cache holds the teacher's clean chunks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import flow
from ..denoise import chunk_start, clean_pass, denoise_chunk, denoising_sigmas, new_cache
from ..dit import ContextKV
from ..model import MotionStreamModel
from .data import Gens, randint, randn


def student_sigmas(model: MotionStreamModel, steps: int | None = None) -> list[float]:
    """The stream's denoising sigmas (``stream.denoising_sigmas``): what the student is trained at."""
    return denoising_sigmas(model.config.stream, steps)


def chunks(frames: int, chunk: int) -> list[tuple[int, int]]:
    """(first latent frame, count) of each chunk of a clip of ``frames`` latent frames."""
    return [(s, min(chunk, frames - s)) for s in range(0, frames, chunk)]


def forgetting_chunks(stream, frames: int) -> int:
    """How many chunks of a clip of ``frames`` latent frames attend a context that has forgotten an earlier chunk.

    Chunk i attends the sink and the window; they hold all i earlier chunks while i <= sink + window chunks, so the
    first chunk whose context has lost one (rolled out of the window) is chunk sink + window + 1."""
    return max(0, len(chunks(frames, stream.chunk_frames)) - stream.sink_chunks - stream.window_chunks - 1)


def require_rolling(stream, frames: int, stage: str) -> None:
    """One clear error when clips of ``frames`` latent frames never roll past the cache's window: the student would
    train only on contexts that remember everything, and stream on ones that forget (paper Sec. 3.2)."""
    if forgetting_chunks(stream, frames) > 0:
        return
    need = (stream.sink_chunks + stream.window_chunks + 2) * stream.chunk_frames
    raise ValueError(f"{stage}: clips of {frames} latent frames ({len(chunks(frames, stream.chunk_frames))} chunks of "
                     f"{stream.chunk_frames}) never roll past the cache's sink + window ({stream.sink_chunks} + "
                     f"{stream.window_chunks} chunks), so the student would never train on a context that forgets, "
                     f"as it streams: give clips of at least {need} latent frames ({4 * (need - 1) + 1} video "
                     "frames: --set frames=N on prepare, or on the teacher stage for its rendered clips)")


def rollout(model: MotionStreamModel, tracks: Tensor, image_slot: Tensor, ctx: ContextKV, frames: int,
            gen: Gens, exit_steps: list[int] | None = None, grad: bool = False,
            sigmas: list[float] | None = None) -> Tensor:
    """Generate ``frames`` latent frames chunk by chunk -> x0 [B, C, frames, h, w].

    tracks and image_slot [B, C, frames, h, w] (the track head's output and ``model.image_slot`` for the whole
    clip, ``data.encode_conditioning``); ``exit_steps[i]``: the denoising step whose prediction chunk i keeps (default:
    the last). With ``grad`` only that step's pass is differentiated. ``gen``: one generator, or one
    per sample.
    """
    cfg = model.config
    b, c, _, h, w = image_slot.shape
    sigmas = sigmas or student_sigmas(model)
    cache = new_cache(model, b, h, w)
    outs = []
    try:
        for i, (first, count) in enumerate(chunks(frames, cfg.stream.chunk_frames)):
            exit_k = len(sigmas) - 1 if exit_steps is None else exit_steps[i]
            track_i = tracks[:, :, first:first + count]
            slot = image_slot[:, :, first:first + count]
            cache.begin_chunk(count)
            shape = (b, c, count, h, w)

            def noise() -> Tensor:
                return randn(shape, gen).to(model.device, model.dtype)

            x = chunk_start(cfg.stream, noise(), slot, sigmas[0])
            x0 = denoise_chunk(model, x, sigmas, track_i, slot, ctx, cache, noise, exit_step=exit_k, grad=grad)
            clean_pass(model, x0.detach(), track_i, slot, ctx, cache)
            outs.append(x0)
    finally:
        cache.free()
    return torch.cat(outs, dim=2)


def teacher_forced_losses(model: MotionStreamModel, states: Tensor, tracks: Tensor, image_slot: Tensor,
                          ctx: ContextKV, sigmas: list[float], gen: Gens) -> Tensor:
    """ODE regression loss, chunk by chunk through the cache.

    states [B, S + 1, C, F, h, w]: the teacher trajectory at the student's S sigmas, then its x0; tracks and
    image_slot [B, C, F, h, w] for the whole clip (``data.encode_conditioning``).
    Each chunk of each sample gets a random step k; the student predicts x0 from ``states[:, k]``.
    Returns the per-chunk mean-squared x0 errors, [num_chunks].
    """
    cfg = model.config
    b, S1, c, frames, h, w = states.shape
    steps = S1 - 1
    sig = torch.tensor(sigmas, dtype=torch.float32)
    cache = new_cache(model, b, h, w)
    losses = []
    try:
        for first, count in chunks(frames, cfg.stream.chunk_frames):
            k = randint(steps, b, gen)
            x = states[torch.arange(b), k][:, :, first:first + count].to(model.device, model.dtype)
            target = states[:, -1, :, first:first + count].to(model.device, model.dtype)
            track_i = tracks[:, :, first:first + count]
            slot = image_slot[:, :, first:first + count]
            cache.begin_chunk(count)
            s = sig[k].to(model.device)
            v = model.velocity(x, flow.to_timestep(s), track_i, slot, ctx, cache=cache)
            x0 = flow.x0_from_velocity(x, v, s)
            losses.append(torch.mean((x0.float() - target.float()) ** 2))
            clean_pass(model, target, track_i, slot, ctx, cache)
    finally:
        cache.free()
    return torch.stack(losses)

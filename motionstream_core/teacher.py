"""The bidirectional teacher: the same DiT over a whole clip, with joint text / motion guidance.

Paper Eq. 2, as this project reads it (3 evaluations a step, batched into one forward):

    v = v(no text, motion) + w_t * (v(text, motion) - v(no text, motion))
                           + w_m * (v(text, motion) - v(text, no motion))

with w_t = 3.0, w_m = 1.5. "No motion" is the track head's output on the all-zero track grid (no track visible
anywhere: ``TrackHead.no_tracks``, what the teacher learned from track dropout, which hides every track) and "no
text" is the null prompt's embedding (the empty / negative prompt).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from . import flow
from .config import TeacherConfig
from .model import MotionStreamModel


@dataclass(frozen=True)
class Guidance:
    text: float = 3.0
    motion: float = 1.5

    @classmethod
    def from_config(cls, cfg: TeacherConfig) -> "Guidance":
        return cls(cfg.text_guidance, cfg.motion_guidance)


def guided_velocity(model: MotionStreamModel, x: Tensor, t: Tensor, track_latent: Tensor, image_slot: Tensor,
                    text: Tensor, null_text: Tensor, guidance: Guidance, clip_fea: Tensor | None = None) -> Tensor:
    """Joint-guided velocity for x [B, 16, F, h, w]; text/null_text [B, L, text_dim]; t [B] or [B, F]."""
    b = x.shape[0]
    xs = torch.cat([x, x, x])
    ts = torch.cat([t, t, t])
    tracks = torch.cat([track_latent, track_latent, model.track_head.no_tracks(track_latent)])
    images = torch.cat([image_slot, image_slot, image_slot])
    texts = torch.cat([text, null_text, text])
    clips = None if clip_fea is None else torch.cat([clip_fea, clip_fea, clip_fea])
    v_full, v_no_text, v_no_motion = model.velocity(xs, ts, tracks, images, texts, clips).split(b)
    return v_no_text + guidance.text * (v_full - v_no_text) + guidance.motion * (v_full - v_no_motion)


@torch.no_grad()
def teacher_sample(model: MotionStreamModel, noise: Tensor, track_latent: Tensor, image_slot: Tensor, text: Tensor,
                   null_text: Tensor, steps: int, shift: float, guidance: Guidance | None = None,
                   clip_fea: Tensor | None = None, return_trajectory: bool = False, start_sigma: float = 1.0):
    """Euler-sample a whole clip from ``noise`` [B, 16, F, h, w].

    Returns x0, or (x0, trajectory) where trajectory is the latents at ``sampling_sigmas``
    (the ODE pairs for the student's regression warm start).

    ``start_sigma`` < 1 refines instead (SDEdit): the image slot -- for a model whose reference is a whole video, the
    video with no change (or the warp) -- noised to ``start_sigma``, then the sampling sigmas scaled by it (as a
    refining stream's, ``StreamConfig.start_sigma``: ``steps`` steps whatever the start).
    """
    sigmas = flow.sampling_sigmas(steps, shift)
    x = noise
    if start_sigma < 1:
        if not model.config.parameterisation.from_reference:
            raise ValueError(f"start_sigma {start_sigma} refines the image slot, which must be a whole video (reference "
                             f"start_image or warp); model {model.config.name!r}'s is its first frame")
        assert 0 < start_sigma, f"start_sigma must be in (0, 1], got {start_sigma}"
        sigmas = sigmas * start_sigma
        x = flow.add_noise(image_slot.float(), noise.float(), start_sigma).to(noise.dtype)
    trajectory = [x]
    for k in range(len(sigmas) - 1):
        t = flow.to_timestep(sigmas[k]).to(x.device).expand(x.shape[0])
        if guidance is None:
            v = model.velocity(x, t, track_latent, image_slot, text, clip_fea)
        else:
            v = guided_velocity(model, x, t, track_latent, image_slot, text, null_text, guidance, clip_fea)
        x = flow.euler_step(x, v, sigmas[k], sigmas[k + 1])
        trajectory.append(x)
    return (x, torch.stack(trajectory)) if return_trajectory else x

"""Rectified-flow arithmetic shared by the teacher, the student and training.

x_sigma = (1 - sigma) * x0 + sigma * noise;  the DiT predicts v = noise - x0;  t = 1000 * sigma.
"""

from __future__ import annotations

import torch
from torch import Tensor


def shift_sigma(sigma: Tensor | float, shift: float) -> Tensor:
    """Warp sigmas towards the noisy end: shift * s / (1 + (shift - 1) * s)."""
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    return shift * sigma / (1 + (shift - 1) * sigma)


def sampling_sigmas(steps: int, shift: float) -> Tensor:
    """[steps + 1] float64 sigmas from 1 to 0, uniformly spaced then warped by ``shift``."""
    assert steps >= 1, f"steps must be >= 1, got {steps}"
    return shift_sigma(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)


def step_list_sigmas(timesteps, shift: float, warp: bool, num_train_timesteps: int = 1000) -> Tensor:
    """Sigmas of an explicit timestep list (Self-Forcing's ``denoising_step_list``), float64.

    ``warp``: the list names positions on the uniform grid, warped by ``shift`` like ``sampling_sigmas``
    (Self-Forcing's ``warp_denoising_step``: 750 -> sigma 0.9375 at shift 5); else sigma = t / 1000.
    """
    sigma = torch.as_tensor(timesteps, dtype=torch.float64) / num_train_timesteps
    return shift_sigma(sigma, shift) if warp else sigma


def to_timestep(sigma: Tensor | float, num_train_timesteps: int = 1000) -> Tensor:
    return torch.as_tensor(sigma, dtype=torch.float32) * num_train_timesteps


def add_noise(x0: Tensor, noise: Tensor, sigma: Tensor | float) -> Tensor:
    sigma = _bcast(sigma, x0)
    return (1 - sigma) * x0 + sigma * noise


def x0_from_velocity(x_t: Tensor, v: Tensor, sigma: Tensor | float) -> Tensor:
    return x_t - _bcast(sigma, x_t) * v


def euler_step(x_t: Tensor, v: Tensor, sigma: Tensor | float, sigma_next: Tensor | float) -> Tensor:
    """One deterministic ODE step of the flow (the teacher's sampler)."""
    return x_t + (_bcast(sigma_next, x_t) - _bcast(sigma, x_t)) * v


def _bcast(sigma: Tensor | float, like: Tensor) -> Tensor:
    s = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if s.ndim == 0:
        return s
    if s.ndim == 1:  # per sample [B]
        return s.view(-1, *([1] * (like.ndim - 1)))
    if s.ndim == 2:  # per frame [B, F] for [B, C, F, H, W]
        return s[:, None, :, None, None]
    raise ValueError(f"sigma of shape {tuple(s.shape)} does not broadcast to {tuple(like.shape)}")

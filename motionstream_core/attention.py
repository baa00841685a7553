"""Attention backends: PyTorch SDPA everywhere, flash-attn on CUDA when it is importable.

All backends take and return the [B, L, H, D] layout the DiT works in.
"""

from __future__ import annotations

import importlib.util

import torch
import torch.nn.functional as F
from torch import Tensor

BACKENDS = ("auto", "sdpa", "flash")


def flash_available() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None


def resolve_backend(name: str) -> str:
    """'auto' -> 'flash' when usable, else 'sdpa'. Raises for an unknown or unusable backend."""
    if name not in BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "auto":
        return "flash" if flash_available() else "sdpa"
    if name == "flash" and not flash_available():
        raise ValueError("attention backend 'flash' needs CUDA and the flash-attn package; use 'sdpa'")
    return name


def sdpa(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """q [B, Lq, H, D], k/v [B, Lk, H, D] -> [B, Lq, H, D]; full (non-causal) attention."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)


def flash(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Same contract as ``sdpa``; fp16/bf16 CUDA tensors only (others fall back to sdpa)."""
    if q.dtype not in (torch.float16, torch.bfloat16) or not q.is_cuda:
        return sdpa(q, k, v)
    from flash_attn import flash_attn_func  # imported lazily: CUDA-only optional dependency

    return flash_attn_func(q, k, v)


def get_attention(name):
    """A backend by name, or ``name`` itself when it is an attention function (a host's, same contract)."""
    if callable(name):
        return name
    return {"sdpa": sdpa, "flash": flash}[resolve_backend(name)]

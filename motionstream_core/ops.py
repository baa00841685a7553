"""The DiT's layer operations and weight precisions (ComfyUI's ``operations`` pattern).

``WanDiT`` builds every Linear, Conv3d, LayerNorm and RMSNorm through one ``operations`` namespace
(``OPERATIONS`` by default), so how weights are stored is decided in one place:

* manual casting: a layer whose stored weight differs in dtype or device from its input casts the
  weight (and bias) to the input's dtype and device as it runs; when they agree the layer is exactly
  the torch layer (the same kernels, the same results);
* fp8 weights: a Linear may store ``float8_e4m3fn`` / ``float8_e5m2`` weights with an optional
  per-tensor ``scale_weight`` (float32 scalar): it computes with ``weight.to(x.dtype) * scale``.

Files: ComfyUI's "fp8_scaled" checkpoints hold ``<layer>.weight`` in fp8, ``<layer>.scale_weight``
(float32, one value) and a top-level ``scaled_fp8`` marker tensor; plain fp8 files hold fp8 weights
only (scale 1). ``prepare_state_dict`` reads both. A ``weight_dtype`` (as in ComfyUI's Load Diffusion
Model) quantizes the transformer blocks' Linear weights at load -- 98% of a Wan DiT's parameters --
with a per-tensor scale (max |w| / the format's largest value); everything else (under 2%) stays in the
compute dtype. fp8 halves the weights' bytes against bf16; the activations and the KV cache keep the
compute dtype.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)
WEIGHT_DTYPES = {"default": None, "fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
SCALE = "scale_weight"
_DROPPED = ("scaled_fp8",)  # ComfyUI's format marker
_INPUT_SCALE = ".scale_input"  # for fp8 matrix products; this implementation computes in the compute dtype
_BLOCK_LINEAR = re.compile(r"^blocks\.\d+\..+\.weight$")


def resolve_weight_dtype(name: str | torch.dtype | None) -> torch.dtype | None:
    """"default" / None: the file's own precision; "fp8_e4m3fn" / "fp8_e5m2": quantized at load."""
    if name is None or isinstance(name, torch.dtype):
        if name is not None and name not in FP8:
            raise ValueError(f"weight dtype {name} is not an fp8 format; choose one of {', '.join(WEIGHT_DTYPES)}")
        return name
    if name not in WEIGHT_DTYPES:
        raise ValueError(f"unknown weight dtype {name!r}; choose one of {', '.join(WEIGHT_DTYPES)}")
    return WEIGHT_DTYPES[name]


def _like(t: Tensor | None, x: Tensor) -> Tensor | None:
    if t is None or (t.dtype == x.dtype and t.device == x.device):
        return t
    return t.to(device=x.device, dtype=x.dtype, non_blocking=True)


class CastWeight:
    """Weight and bias as the input needs them: its device and dtype, the fp8 scale applied."""

    def cast_weight(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        w, scale = self.weight, getattr(self, SCALE, None)
        if scale is not None:
            w = w.to(device=x.device, dtype=x.dtype, non_blocking=True) * scale.to(device=x.device, dtype=x.dtype)
        else:
            w = _like(w, x)
        return w, _like(self.bias, x)


class Linear(CastWeight, nn.Linear):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer(SCALE, None)  # a tensor only for scaled fp8 weights (then saved and loaded)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, *self.cast_weight(x))


class Conv3d(CastWeight, nn.Conv3d):
    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, *self.cast_weight(x))


class LayerNorm(nn.LayerNorm):
    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, _like(self.weight, x), _like(self.bias, x), self.eps)


class RMSNorm(nn.RMSNorm):
    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, _like(self.weight, x), self.eps)


OPERATIONS = SimpleNamespace(Linear=Linear, Conv3d=Conv3d, LayerNorm=LayerNorm, RMSNorm=RMSNorm)


# -- weights: quantizing, loading, placing ---------------------------------------------------------

def quantize(w: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """A weight as (fp8 tensor, float32 scale): ``q.float() * scale`` approximates ``w``, |w|'s maximum
    mapped to the format's largest finite value."""
    amax = w.detach().abs().max().float()
    scale = torch.where(amax > 0, amax / torch.finfo(dtype).max, torch.ones_like(amax))  # all-zero: scale 1
    return (w.float() / scale).to(dtype), scale.reshape(())


def prepare_state_dict(sd: dict[str, Tensor], weight_dtype: torch.dtype | None) -> dict[str, Tensor]:
    """A DiT state dict (unprefixed Wan keys) as the ops load it, changed in place and returned.

    Drops ComfyUI's ``scaled_fp8`` marker and the input scales (``*.scale_input``); keeps each
    ``<layer>.scale_weight`` as a float32 scalar. With ``weight_dtype``, every block Linear weight that
    is not fp8 yet is quantized (``quantize``), one tensor at a time, so the full-precision copy is
    freed as it goes. fp8 weights already in the file are kept as they are.
    """
    for key in [k for k in sd if k in _DROPPED or k.endswith(_INPUT_SCALE)]:
        del sd[key]
    for key in [k for k in sd if k.endswith("." + SCALE)]:
        sd[key] = sd[key].float().reshape(())
    if weight_dtype is not None:
        for key in [k for k in sd if _BLOCK_LINEAR.match(k) and sd[k].ndim == 2 and sd[k].dtype not in FP8]:
            scale_key = key[:-len("weight")] + SCALE
            w = sd.pop(key)
            if scale_key in sd:  # a scaled weight in high precision: quantize what it stands for
                w = w.float() * sd[scale_key]
            sd[key], sd[scale_key] = quantize(w, weight_dtype)
    return sd


def attach_scales(module: nn.Module, sd: dict[str, Tensor]) -> None:
    """Give every Linear that ``sd`` has a ``scale_weight`` for a (placeholder) scale buffer, so a strict
    ``load_state_dict`` takes the file's scales."""
    for name, sub in module.named_modules():
        key = f"{name}.{SCALE}" if name else SCALE
        if key in sd:
            if not isinstance(sub, Linear):
                raise ValueError(f"{key}: per-tensor scales are read for Linear layers only, not {type(sub).__name__}")
            setattr(sub, SCALE, torch.ones((), dtype=torch.float32, device=sd[key].device))


def apply_weight_dtype(module: nn.Module, weight_dtype: torch.dtype | None) -> nn.Module:
    """Quantize a loaded module's block Linear weights to ``weight_dtype`` in place (None: unchanged)."""
    if weight_dtype is None:
        return module
    sd = prepare_state_dict(dict(module.state_dict()), weight_dtype)
    attach_scales(module, sd)
    module.load_state_dict(sd, assign=True)
    return module


def to_runtime(module: nn.Module, device: torch.device | str, dtype: torch.dtype) -> nn.Module:
    """``module.to(device, dtype)`` that keeps fp8 weights fp8 and scales float32 (``.to(dtype)`` would
    widen them)."""
    for sub in module.modules():
        for store in (sub._parameters, sub._buffers):
            for name, t in store.items():
                if t is None:
                    continue
                keep = t.dtype in FP8 or name == SCALE or not t.is_floating_point()
                new = t.data.to(device=device, dtype=t.dtype if keep else dtype)
                store[name] = nn.Parameter(new, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else new
    return module


def bytes_by_device(module: nn.Module) -> dict[str, dict[str, int]]:
    """{device: {dtype: bytes}} of a module's parameters and buffers (each tensor counted once)."""
    out: dict[str, dict[str, int]] = {}
    seen: set[int] = set()
    for t in list(module.parameters()) + list(module.buffers()):
        if id(t) in seen:
            continue
        seen.add(id(t))
        per = out.setdefault(str(t.device), {})
        name = str(t.dtype).removeprefix("torch.")
        per[name] = per.get(name, 0) + t.numel() * t.element_size()
    return out


def describe_bytes(per_device: dict[str, dict[str, int]]) -> str:
    """"cuda:0 1.31 GiB (float8_e4m3fn 1.28 GiB, bfloat16 0.03 GiB); cpu 0 B" style summary."""
    def size(n: int) -> str:
        return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"

    parts = []
    for dev, per in per_device.items():
        detail = ", ".join(f"{k} {size(v)}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
        parts.append(f"{dev} {size(sum(per.values()))} ({detail})")
    return "; ".join(parts)


__all__ = ["FP8", "OPERATIONS", "WEIGHT_DTYPES", "Linear", "Conv3d", "LayerNorm", "RMSNorm", "apply_weight_dtype",
           "attach_scales", "bytes_by_device", "describe_bytes", "prepare_state_dict", "quantize",
           "resolve_weight_dtype", "to_runtime"]

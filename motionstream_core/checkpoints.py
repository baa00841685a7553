"""Loading and saving weights: our MotionStream safetensors, official Wan 2.1 files, Self-Forcing .pt.

* MotionStream checkpoints (ours): safetensors; DiT keys as in Wan (no prefix), ``track_head.*``,
  optional ``text_encoder.*``; the ModelConfig JSON in the metadata under ``motionstream_config``.
* Official ``diffusion_pytorch_model.safetensors`` (Wan2.1-T2V-1.3B, Wan2.1-Fun-1.3B-Control) and
  ComfyUI-repackaged files: DiT keys, with or without ``model.diffusion_model.`` / ``model.``.
* Self-Forcing ``self_forcing_dmd.pt``: a dict with ``generator_ema`` (or ``generator``) whose keys
  are prefixed ``model.``; read with ``weights_only=True``.

Loading is strict: missing keys, unexpected keys and shape mismatches are all collected and raised
as one ``CheckpointError`` that lists every problem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .config import ConfigError, ModelConfig, get_config
from .model import MotionStreamModel
from .track_head import TrackHead

CONFIG_KEY = "motionstream_config"
FORMAT_KEY = "format"
FORMAT = "motionstream"
PREFIXES = ("model.diffusion_model.", "diffusion_model.", "model.")
LATENT_STD = "latent_std"  # the preconditioned models' channel std (a preconditioned parameterisation)
# a copy of the run's codec that checkpoints of warp-reference models carried before the reference builder (which takes
# the run's codec) existed; read and ignored, never written
SLOT_CODEC = "slot_codec."
OWN_PREFIXES = ("track_head.", "text_encoder.", LATENT_STD, SLOT_CODEC)


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the model; the message lists every problem."""


WEIGHTS_KEYS = ("generator_ema", "generator", "state_dict", "model")


def read_checkpoint(path: str | os.PathLike, weights_keys: tuple[str, ...] = WEIGHTS_KEYS
                    ) -> tuple[dict[str, Tensor], dict[str, str]]:
    """(state dict, metadata) from .safetensors, or .pt/.pth/.ckpt read with weights_only=True.

    ``weights_keys``: which entry of a training dict holds the weights, in order of preference.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
            return load_file(str(path)), metadata
        except Exception as e:  # safetensors raises its own error types for corrupt files
            raise CheckpointError(f"{path.name} is not a readable safetensors file: {e}") from None
    if path.suffix in (".pt", ".pth", ".ckpt", ".bin"):
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"{path.name} could not be read as a weights-only torch file: {e}") from None
        return unwrap_state_dict(obj, path.name, weights_keys), {}
    raise CheckpointError(f"{path.name}: unsupported checkpoint type {path.suffix!r} (use .safetensors, .pt or .pth)")


def unwrap_state_dict(obj, name: str = "checkpoint", weights_keys: tuple[str, ...] = WEIGHTS_KEYS
                      ) -> dict[str, Tensor]:
    """The tensor dict inside a training checkpoint (Self-Forcing: ``generator_ema`` first)."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{name} holds a {type(obj).__name__}, not a state dict")
    for key in weights_keys:
        inner = obj.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(v, Tensor) for v in inner.values()):
            return inner
    tensors = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if not tensors:
        raise CheckpointError(f"{name} contains no tensors (keys: {', '.join(list(obj)[:8])})")
    return tensors


ALIGN = 64  # bytes: what the allocator gives every fresh tensor


def aligned(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """The tensors of ``sd``, each at an ``ALIGN``-byte address (copied only where it is not).

    safetensors hands out tensors at their offsets in the file, so their alignment depends on the
    length of the header (the metadata); CPU kernels take other vector paths on unaligned data and
    round differently. Aligned, the same weights give the same frames however the file was written.
    """
    return {k: v if v.data_ptr() % ALIGN == 0 else v.clone() for k, v in sd.items()}


def strip_prefixes(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop a ``model.diffusion_model.`` / ``diffusion_model.`` / ``model.`` prefix shared by the DiT keys."""
    for prefix in PREFIXES:
        dit_keys = [k for k in sd if not k.startswith(OWN_PREFIXES)]
        if dit_keys and all(k.startswith(prefix) for k in dit_keys):
            return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in sd.items()}
    return sd


def check_state_dict(module: nn.Module, sd: dict[str, Tensor], what: str = "checkpoint") -> None:
    """Raise one CheckpointError listing missing keys, unexpected keys and shape mismatches."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    mismatched = sorted(f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(expected[k].shape)}"
                        for k in set(sd) & set(expected) if tuple(sd[k].shape) != tuple(expected[k].shape))
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if items:
            shown = ", ".join(items[:20]) + (f", ... ({len(items) - 20} more)" if len(items) > 20 else "")
            problems.append(f"{len(items)} {label}: {shown}")
    if problems:
        raise CheckpointError(f"{what} does not fit the model: " + "; ".join(problems))


def model_state_dict(model: MotionStreamModel) -> dict[str, Tensor]:
    """Our checkpoint layout: DiT keys unprefixed, then track_head.*, text_encoder.*, latent_std."""
    sd = {k: v for k, v in model.dit.state_dict().items()}
    if model.track_head is not None:
        sd.update({f"track_head.{k}": v for k, v in model.track_head.state_dict().items()})
    if model.text_encoder is not None:
        sd.update({f"text_encoder.{k}": v for k, v in model.text_encoder.state_dict().items()})
    if model.config.parameterisation.preconditioned:
        sd[LATENT_STD] = model.latent_std
    return sd


def save_model(model: MotionStreamModel, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    meta = {FORMAT_KEY: FORMAT, CONFIG_KEY: model.config.to_json(), **(metadata or {})}
    if model.text_encoder is not None:
        meta["text_encoder"] = type(model.text_encoder).__name__
    tensors = {k: v.detach().contiguous().cpu() for k, v in model_state_dict(model).items()}
    save_file(tensors, str(path), metadata=meta)


def load_model(path: str | os.PathLike, config_name: str | None = None, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32, text_encoder: nn.Module | None = None,
               dit_only: Callable[[str], str] | None = None) -> MotionStreamModel:
    """A MotionStreamModel from one of our checkpoints, or from a DiT-only file plus a config name.

    A DiT-only file (official Wan, Self-Forcing) has no track head weights: pass ``config_name`` and
    the track head is freshly initialised (that is a training starting point, not a usable model).
    ``dit_only``: refuse such a file instead, with the message ``dit_only(file name)`` (inference).
    """
    sd, meta = read_checkpoint(path)
    sd = aligned({k: v for k, v in strip_prefixes(sd).items() if not k.startswith(SLOT_CODEC)})  # see SLOT_CODEC
    name = Path(path).name
    if dit_only is not None and CONFIG_KEY not in meta and not any(k.startswith("track_head.") for k in sd):
        raise CheckpointError(dit_only(name))
    if CONFIG_KEY in meta:
        try:
            config = ModelConfig.from_json(meta[CONFIG_KEY])
        except ConfigError as e:
            raise CheckpointError(f"{name}: its stored config is invalid: {e}") from None
    elif config_name is not None:
        config = get_config(config_name)
    else:
        raise CheckpointError(f"{name} has no MotionStream config in its metadata: name the model config "
                              f"(e.g. 'wan2.1-1.3b') to load a DiT-only checkpoint")
    has_text_encoder = any(k.startswith("text_encoder.") for k in sd)
    with torch.device("meta"):
        model = MotionStreamModel(config, text_encoder=build_text_encoder(meta.get("text_encoder"), config)
                                  if has_text_encoder else None)
    if any(k.startswith("track_head.") for k in sd):
        check_state_dict(_OwnLayout(model), sd, name)
        _OwnLayout(model).load_state_dict(sd, assign=True)
    else:  # DiT only: a fresh track head (a training starting point, not a usable model)
        check_state_dict(model.dit, sd, f"{name} (DiT)")
        model.dit.load_state_dict(sd, assign=True)
        if config.track_head is not None:
            model.track_head = TrackHead(config.track_head)
    if text_encoder is not None:
        model.text_encoder = text_encoder
    return model.to(device=device, dtype=dtype).eval()


def build_text_encoder(kind: str | None, config: ModelConfig) -> nn.Module:
    """The built-in text encoder named in a checkpoint's metadata."""
    if kind in (None, "DemoTextEncoder"):
        from .text_encoder import DemoTextEncoder

        return DemoTextEncoder(text_len=config.text_len, text_dim=config.dit.text_dim)
    raise CheckpointError(f"unknown built-in text encoder {kind!r}")


class _OwnLayout(nn.Module):
    """A view of a MotionStreamModel whose state-dict keys are our checkpoint layout."""

    def __init__(self, model: MotionStreamModel):
        super().__init__()
        object.__setattr__(self, "_model", model)

    def state_dict(self, *args, **kwargs):
        return model_state_dict(self._model)

    def load_state_dict(self, sd, strict=True, assign=False):
        m = self._model
        m.dit.load_state_dict({k: v for k, v in sd.items() if not k.startswith(OWN_PREFIXES)}, assign=assign)
        if m.track_head is not None:
            m.track_head.load_state_dict({k[11:]: v for k, v in sd.items() if k.startswith("track_head.")},
                                         assign=assign)
        if m.text_encoder is not None:
            m.text_encoder.load_state_dict({k[13:]: v for k, v in sd.items() if k.startswith("text_encoder.")},
                                           assign=assign)
        if m.config.parameterisation.preconditioned:
            if assign:
                m.latent_std = sd[LATENT_STD]
            else:
                m.latent_std.copy_(sd[LATENT_STD])

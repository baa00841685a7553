"""Loading a run's parts: the runtime (device, dtype policy, attention, weight precision, offload), model sources
(a MotionStream checkpoint, the demo, a public causal student), decoder sources, and the one place a codec is chosen
for a latent space (``codec_for``). ``pipeline.py`` re-exports all of it: callers import from there.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .attention import BACKENDS
from .causal_checkpoints import PRESETS, StreamOverrides, causal_variant, get_preset, load_causal_model
from .checkpoints import CONFIG_KEY, FORMAT, FORMAT_KEY, CheckpointError
from .checkpoints import load_model as load_checkpoint
from .config import NAMED_CONFIGS, OWN, WAN21, CodecConfig, ModelConfig, TinyVAEConfig, get_config
from .decoders import (LATENT_SPACE_STATS, TAEW2_1_CONFIG, FullVAECodec, LatentCodec, StreamingVAEBackend,
                       TinyDecoder, TinyVAELoadError, build_autoencoder, codec_over,
                       load_tiny_decoder)
from .demo import load_demo
from .memory import OFFLOAD, estimate
from .model import MotionStreamModel
from .offload import enable_block_offload
from .ops import apply_weight_dtype, bytes_by_device, describe_bytes, resolve_weight_dtype

log = logging.getLogger("motionstream")

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
ATTENTION = BACKENDS  # the attention choices of a Runtime
MODEL_CONFIGS = tuple(NAMED_CONFIGS)  # config names for checkpoints saved without their config
CAUSAL_PRESETS = tuple(PRESETS)  # the causal Wan students' preset names (CausalSource.preset)
# Also handed on from below, so that callers (nodes, CLI) reach the core through this module only: the
# errors a load raises (CheckpointError, ConfigError: both ValueErrors), StreamOverrides (a CausalSource's
# stream settings), FullVAECodec (a host's own VAE as a codec) and frames_to_chunks (how many chunks a
# video of N frames takes).


# -- runtime: device, dtype, attention ------------------------------------------------------------

def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``None`` / "auto": CUDA when available, else the CPU. A CUDA device this PyTorch lacks is an error."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {str(name)!r} is not available: this PyTorch has no CUDA device (choose 'cpu')")
    return torch.device(name)


def resolve_dtype(name: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The one dtype policy. ``None`` / "auto": fp32 on the CPU; on CUDA bf16 where the GPU supports it,
    else fp16 (the DiT is trained in bf16; fp32 on a GPU only doubles memory and time)."""
    if isinstance(name, torch.dtype):
        return name
    if name is None or name == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose one of auto, {', '.join(DTYPES)}")
    return DTYPES[name]


@dataclass(frozen=True)
class Runtime:
    """Where and how a model runs. Build it with :meth:`resolve`, which applies the policies.

    ``dtype``: the compute dtype (activations, KV cache, weights by default); ``weight_dtype``: an fp8
    format the transformer blocks' Linear weights are stored in (None: the file's own precision, fp8
    files included); ``attention``: a backend name (``attention.BACKENDS``) or an attention function
    with the ``attention.sdpa`` contract (a host's own, e.g. ComfyUI's); ``offload``: "blocks" keeps the
    transformer blocks in host memory and streams each to the device as it runs (``offload.py``), for
    models larger than the device.
    """

    device: torch.device
    dtype: torch.dtype
    attention: str | Callable = "auto"
    weight_dtype: torch.dtype | None = None
    offload: str = "none"

    @classmethod
    def resolve(cls, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
                attention: str | Callable = "auto", weight_dtype: str | torch.dtype | None = None,
                offload: str = "none") -> "Runtime":
        dev = resolve_device(device)
        if not callable(attention) and attention not in BACKENDS:
            raise ValueError(f"unknown attention backend {attention!r}; choose one of {', '.join(BACKENDS)}")
        if offload not in OFFLOAD:
            raise ValueError(f"unknown offload {offload!r}; choose one of {', '.join(OFFLOAD)}")
        return cls(dev, resolve_dtype(dtype, dev), attention, resolve_weight_dtype(weight_dtype), offload)


# -- where the model comes from ---------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSource:
    """A MotionStream checkpoint (``path``), or the embedded demo model (``path=None``).

    ``config``: a named model config, only for checkpoints saved without one.
    """

    path: str | os.PathLike | None = None
    config: str | None = None

    @property
    def is_demo(self) -> bool:
        return self.path is None


@dataclass(frozen=True)
class CausalSource:
    """A public causal Wan student (Self-Forcing family, text-to-video, no track head).

    ``preset``: the family's sampling settings (None: from the file name, else Self-Forcing);
    ``lora``: LongLive's ``lora.pt``, merged at load; ``overrides``: preset values replaced;
    ``size`` (width, height): the video size without a start image (None: the family's).
    """

    path: str | os.PathLike
    preset: str | None = None
    lora: str | os.PathLike | None = None
    lora_alpha: float | None = None
    overrides: StreamOverrides = StreamOverrides()
    size: tuple[int, int] | None = None


def is_motionstream_checkpoint(path: str | os.PathLike) -> bool:
    """True for our own checkpoints (safetensors with a stored config or a track head), read from the
    header only; False for anything else (a causal student, a plain Wan DiT)."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            return (CONFIG_KEY in meta or meta.get(FORMAT_KEY) == FORMAT
                    or any(k.startswith("track_head.") for k in f.keys()))
    except Exception:  # unreadable: let the loader name the problem
        return True


def source_for(path: str | os.PathLike, causal: CausalSource | None = None) -> "ModelSource | CausalSource":
    """Where a model file comes from: our checkpoint -> ModelSource; any other file -> a causal student
    (``causal`` gives its settings; its path is replaced by ``path``)."""
    if causal is None and is_motionstream_checkpoint(path):
        return ModelSource(path)
    return dataclasses.replace(causal or CausalSource(path), path=path)


@dataclass
class LoadedModel:
    """A model ready to stream: the core model, a display name, and its own codec when it ships one."""

    model: MotionStreamModel
    name: str
    own_codec: LatentCodec | None = None  # the demo's autoencoder; None: needs a decoder
    host: object | None = None  # what a host keeps with the model to manage its memory (ComfyUI: a ModelPatcher)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def latent_space(self) -> str:
        return self.model.config.latent_space

    def weight_bytes(self) -> dict[str, dict[str, int]]:
        """{device: {dtype: bytes}} of the model's weights (``ops.bytes_by_device``)."""
        return bytes_by_device(self.model)


class DemoUnavailable(FileNotFoundError):
    """The embedded demo model is not in this install."""


def load_model(source: ModelSource | CausalSource, runtime: Runtime, name: str | None = None) -> LoadedModel:
    """Load a model for inference: the demo (with its own codec), a checkpoint with a trained track head,
    or a causal Wan student (``CausalSource``). A file that cannot be loaded raises one ValueError naming
    it and every problem."""
    final = runtime
    if runtime.offload == "blocks":  # loaded in host memory, then placed block by block
        runtime = dataclasses.replace(runtime, device=torch.device("cpu"))
    if isinstance(source, CausalSource):
        model = load_causal_model(source.path, source.preset, source.lora, source.lora_alpha, source.overrides,
                                  device=runtime.device, dtype=runtime.dtype, size=source.size,
                                  weight_dtype=runtime.weight_dtype)
        loaded = LoadedModel(model, name or Path(source.path).name)
    elif source.is_demo:
        try:
            model, codec = load_demo(device=runtime.device, dtype=runtime.dtype)
        except (ImportError, FileNotFoundError) as e:
            raise DemoUnavailable(f"the built-in MotionStream demo model is not available in this install: {e}") \
                from None
        loaded = LoadedModel(model, name or "demo", codec)
    else:
        label = name or Path(source.path).name
        refuse_dit_only(source.path)
        try:
            model = load_checkpoint(source.path, config_name=source.config, device=runtime.device,
                                    dtype=runtime.dtype, dit_only=not_a_motionstream_model)
        except CheckpointError as e:
            raise ValueError(f"{label} cannot be loaded as a MotionStream model: {e}") from None
        loaded = LoadedModel(model, label)
    if not isinstance(source, CausalSource):
        apply_weight_dtype(loaded.model.dit, runtime.weight_dtype)
    if final.offload == "blocks":
        enable_block_offload(loaded.model, final.device, blocks=loaded.model.dit)
    loaded.model.dit.set_attention_backend(runtime.attention)
    cfg = loaded.config
    size = (source.size if isinstance(source, CausalSource) else None) or (cfg.width, cfg.height)
    log.info("MotionStream: %s loaded; weights %s; memory estimate at %dx%d: %s", loaded.name,
             describe_bytes(loaded.weight_bytes()), *size,
             estimate(cfg, *size, final.dtype, final.weight_dtype, final.offload).describe())
    return loaded


def random_model(config_name: str, runtime: Runtime, decoder_layout: TinyVAEConfig | None = None,
                 seed: int = 0, preset: str | None = None, overrides: StreamOverrides | None = None) -> LoadedModel:
    """Random weights of a named config, with a random tiny codec of ``decoder_layout`` (default: the
    config's own) as its own codec: for benchmarks, where only the cost matters. ``preset``: the config's
    DiT as a text-to-video causal student with that family's sampling settings."""
    cfg = get_config(config_name)
    if preset is not None:
        cfg = causal_variant(cfg, get_preset(preset), overrides)
    torch.manual_seed(seed)
    with torch.device(runtime.device):
        model = MotionStreamModel(cfg).to(runtime.dtype)
        vae = build_autoencoder(decoder_layout or cfg.vae).to(runtime.dtype)
    apply_weight_dtype(model.dit, runtime.weight_dtype)
    if runtime.offload == "blocks":
        enable_block_offload(model, runtime.device, blocks=model.dit)
    model.dit.set_attention_backend(runtime.attention)
    return LoadedModel(model.eval(), f"random {cfg.name}", codec_over(vae.eval()))


def refuse_dit_only(path: str | os.PathLike) -> None:
    """A plain Wan / Self-Forcing DiT has no trained track head: it cannot follow tracks (read from the
    safetensors header, before any weights are loaded)."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{path.name} is not a readable safetensors file: {e}") from None
    if keys and not any(k.startswith("track_head.") for k in keys):
        raise ValueError(not_a_motionstream_model(path.name))


def not_a_motionstream_model(name: str) -> str:
    """What to do with a Wan DiT file (a causal Wan student, a plain Wan model) opened as a MotionStream model."""
    return (f"{name} has no MotionStream track head: it is a causal Wan student (Self-Forcing family) or a plain Wan "
            "DiT, not a MotionStream model. Use Load Causal Wan Model (CLI: `motionstream generate --preset ...`); "
            "to start training from it, see `motionstream train`")


# -- where the decoder comes from -------------------------------------------------------------------

@dataclass(frozen=True)
class DecoderSource:
    """How latents become frames: the model's own decoder (neither field set), a tiny decoder file
    (``path``: taew2_1, or an autoencoder this project trained), or a full causal VAE (``backend``:
    a factory of a ``StreamingVAEBackend`` over the raw latents of ``backend_latent_space``)."""

    path: str | os.PathLike | None = None
    backend: Callable[[], StreamingVAEBackend] | None = None
    backend_latent_space: str = WAN21
    name: str | None = None

    @property
    def is_builtin(self) -> bool:
        return self.path is None and self.backend is None


@dataclass
class Decoder:
    """A loaded decoder: a tiny one (``tiny``) or a full-VAE factory (``backend``), and the latent space
    it reads (``WAN21``; None: the latents of one model's own autoencoder)."""

    name: str
    latent_space: str | None
    tiny: TinyDecoder | None = None
    backend: Callable[[], StreamingVAEBackend] | None = None


def tiny_decoder_layouts(prefer: CodecConfig | None = None) -> list[TinyVAEConfig]:
    """The architectures a plain tiny-decoder state dict is tried against, in order (a linear codec's file
    always carries its config, so only tiny-VAE layouts are tried)."""
    layouts = [prefer] if isinstance(prefer, TinyVAEConfig) else []
    return layouts + [TAEW2_1_CONFIG] + [v for v in (get_config(n).vae for n in NAMED_CONFIGS)
                                         if isinstance(v, TinyVAEConfig)]


def load_decoder(source: DecoderSource, prefer: CodecConfig | None = None) -> Decoder | None:
    """A ``Decoder`` for ``source``; None for the model's own. ``prefer``: the layout tried first for a
    plain state dict (the model's own autoencoder layout, when the model is known)."""
    if source.is_builtin:
        return None
    if source.backend is not None:
        return Decoder(source.name or "VAE", source.backend_latent_space, backend=source.backend)
    label = source.name or Path(source.path).name
    try:
        tiny = load_tiny_decoder(source.path, tiny_decoder_layouts(prefer))
    except (TinyVAELoadError, RuntimeError) as e:
        raise ValueError(f"decoder {label}: {e}") from None
    return Decoder(label, tiny.latent_space, tiny=tiny)


def codec_for(loaded: LoadedModel, decoder: Decoder | None) -> LatentCodec:
    """The one place a codec is chosen for a model's latent space.

    No decoder: the model's own codec. A tiny decoder: its stored statistics, else those of the
    model's latent space when the decoder reads that space (Wan 2.1), else identity. A full VAE: the
    statistics of its latent space. A decoder of another latent space decodes, with a warning (the
    video will not look right); a different channel count is an error.
    """
    model, cfg = loaded.model, loaded.config
    if decoder is None:
        if loaded.own_codec is None:
            raise ValueError(f"model {loaded.name!r} has no built-in decoder: give it a decoder that fits: "
                             f"{decoders_that_fit(loaded)} (in ComfyUI: 'Load MotionStream Decoder')")
        return loaded.own_codec
    reads = decoder.latent_space if decoder.latent_space is not None else OWN
    if reads != cfg.latent_space:
        log.warning("MotionStream: decoder %r reads %s latents but model %r makes %s latents; the video will not "
                    "look right (decoders that fit: %s)", decoder.name, reads, loaded.name, cfg.latent_space,
                    decoders_that_fit(loaded))
    space_stats = LATENT_SPACE_STATS.get(cfg.latent_space) if reads == cfg.latent_space else None
    mean, std = space_stats or (None, None)
    if decoder.tiny is not None:
        tiny = decoder.tiny
        if tiny.latent_mean is not None:
            mean, std = tiny.latent_mean, tiny.latent_std
        _check_decoder_shape(loaded, decoder.name, tiny.vae)
        codec = codec_over(tiny.vae.to(model.device, model.dtype), mean, std)
    else:
        codec = FullVAECodec(decoder.backend(), mean, std)
        _check_decoder_shape(loaded, decoder.name, codec)
    return codec


def decoders_that_fit(loaded: LoadedModel) -> str:
    """In words, the decoders that read ``loaded``'s latents."""
    cfg = loaded.config
    if cfg.latent_space == WAN21:
        return "taew2_1 (models/vae_approx) or the Wan 2.1 VAE (decoder 'ComfyUI VAE' with Load VAE)"
    if loaded.own_codec is not None:
        return "its built-in decoder (the model's own)"
    return (f"the autoencoder trained with it ({cfg.latent_channels} channels, stride {cfg.spatial_stride}, "
            f"{cfg.temporal_stride} frames a latent: the run's autoencoder/autoencoder.safetensors)")


def _check_decoder_shape(loaded: LoadedModel, name: str, codec) -> None:
    """A decoder whose channels or strides differ from the model's cannot decode its latents at all: one
    error before the run starts, naming what differs and which decoders fit."""
    cfg = loaded.config
    mine = (cfg.latent_channels, cfg.spatial_stride, cfg.temporal_stride)
    theirs = (int(codec.latent_channels), int(codec.spatial_stride), int(codec.temporal_stride))
    if theirs != mine:
        what = ", ".join(f"{label} {b} (model {a})" for label, a, b in
                         zip(("latent channels", "spatial stride", "temporal stride"), mine, theirs) if a != b)
        raise ValueError(f"decoder {name!r} does not fit model {loaded.name!r}: {what}, so it cannot decode this "
                         f"model's {cfg.latent_space} latents. Decoders that fit: {decoders_that_fit(loaded)}")


# -- one run ---------------------------------------------------------------------------------------

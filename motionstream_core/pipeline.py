"""One way in: the typed inputs of a run, and the one path from them to a streaming session.

The CLI, ``bench``, the demo and every ComfyUI node call this module and nothing below it:

    runtime = Runtime.resolve("cpu")                       # device, the dtype policy, attention
    loaded = load_model(ModelSource(), runtime)            # ModelSource(): the embedded demo model
    decoder = load_decoder(DecoderSource())                # DecoderSource(): the model's own decoder
    pipe = Pipeline(loaded, decoder, steps=None)           # the codec is resolved here, once
    run = pipe.prepare(image, prompt="a red circle", tracks=[connected, drawn], num_frames=49, seed=0)
    for chunk in pipe.session(run, steering=steering, on_pause=check):
        show(chunk.frames)                                 # [F, H, W, 3] float in [0, 1], CPU

``prepare`` is where inputs become what ``stream`` takes: the start image as [H, W, 3] float,
checked against the model's size rules; the prompt or text embedding the model reads; every
track source fitted (explicitly resampled) to the image and the model's frame rate, combined in
order and checked against the model's track limit.

Layers (one-way): CLI / bench / nodes -> pipeline -> stream, checkpoints, decoders, demo ->
model parts -> config. Nothing here parses command lines or knows ComfyUI.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .attention import BACKENDS
from .causal_checkpoints import PRESETS, StreamOverrides, causal_variant, get_preset, load_causal_model
from .checkpoints import CONFIG_KEY, FORMAT, FORMAT_KEY, CheckpointError, read_checkpoint
from .checkpoints import load_model as load_checkpoint
from .config import NAMED_CONFIGS, OWN, WAN21, CodecConfig, ConfigError, ModelConfig, TinyVAEConfig, get_config
from .decoders import (LATENT_SPACE_STATS, TAEW2_1_CONFIG, FullVAECodec, LatentCodec, StreamingVAEBackend, TinyDecoder,
                       TinyVAELoadError, build_autoencoder, codec_over, load_tiny_decoder)
from .drag_mode import DRAG_MODES, WARP_MAX_TRACKS, DragMode, resolve_drag  # noqa: F401  (for the nodes, CLI)
from .demo import DEMO_ASSETS, DemoSample, load_demo, load_demo_sample  # noqa: F401  (the sample: for the nodes)
from .memory import OFFLOAD, estimate
from .model import MotionStreamModel
from .offload import enable_block_offload
from .ops import WEIGHT_DTYPES, apply_weight_dtype, bytes_by_device, describe_bytes, resolve_weight_dtype
from .steering import Steering
from .stream import MotionStream, PromptSwitch, StreamSession, TextCondition, denoising_sigmas, frames_to_chunks
from .tracks import TrackError, Tracks, combine_tracks, fit_tracks

log = logging.getLogger("motionstream")

__all__ = ["ATTENTION", "CAUSAL_PRESETS", "DTYPES", "OFFLOAD", "WEIGHT_DTYPES", "MODEL_CONFIGS", "CausalSource", "CheckpointError", "ConfigError",
           "Decoder", "DecoderSource", "DemoUnavailable", "FullVAECodec", "LoadedModel", "ModelSource", "Pipeline", "PromptSwitch",
           "Runtime", "StreamInputs", "StreamOverrides", "TextCondition", "codec_for", "frames_to_chunks",
           "is_motionstream_checkpoint", "load_decoder", "load_model", "load_text_embedding", "random_model", "refuse_dit_only",
           "resolve_device", "resolve_dtype", "tiny_decoder_layouts"]

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

@dataclass(frozen=True)
class StreamInputs:
    """What ``prepare`` made of a run's inputs: exactly what ``MotionStream.session`` takes.

    ``image`` [H, W, 3] float32 in [0, 1] (CPU), or None (a text-to-video model streaming from the
    prompt alone at ``width`` x ``height``); ``text`` a prompt for models with a built-in text encoder,
    else a TextCondition; ``tracks`` every source fitted and combined (None: no tracks);
    ``source_tracks`` how many tracks each source contributed, in order (source i's first track is
    slot ``sum(source_tracks[:i])``); ``prompts`` prompt switches to replay.
    """

    image: Tensor | None
    width: int
    height: int
    text: TextCondition | str
    tracks: Tracks | None
    num_frames: int | None
    seed: int
    source_tracks: tuple[int, ...] = ()
    prompts: tuple[PromptSwitch, ...] = ()


class Pipeline:
    """A loaded model + its resolved codec, ready to prepare and stream runs (one at a time)."""

    def __init__(self, loaded: LoadedModel, decoder: Decoder | None = None, steps: int | None = None,
                 drag_mode: str | None = None, t_weak: float | None = None, t_strong: float | None = None):
        """``drag_mode`` (``drag_mode.DRAG_MODES``; None: the model's default) and the warp mode's ``t_weak`` /
        ``t_strong`` (None: from the model's schedule, ``drag_mode.resolve_drag``)."""
        self.loaded = loaded
        self.config = loaded.config
        drag = resolve_drag(self.config, denoising_sigmas(self.config.stream, steps), drag_mode, t_weak, t_strong)
        self.stream = MotionStream(loaded.model, codec_for(loaded, decoder), steps=steps, drag=drag)

    @property
    def drag(self) -> DragMode:
        return self.stream.drag

    @property
    def fps(self) -> float:
        return float(self.config.stream.fps)

    @property
    def max_tracks(self) -> int:
        """Tracks (planned + live) the model takes at once: its track head's limit, ``WARP_MAX_TRACKS`` for a model
        without one in warp mode (0 otherwise)."""
        if self.config.track_head is not None:
            return self.config.track_head.max_tracks
        return WARP_MAX_TRACKS if self.drag.warp else 0

    @property
    def reads_prompts(self) -> bool:
        """True for models with a built-in text encoder (the demo): they take prompt text."""
        return self.loaded.model.text_encoder is not None

    def prepare(self, image: Tensor | np.ndarray | None, prompt: str = "", embedding: TextCondition | None = None,
                tracks: Sequence[Tracks | None] = (), num_frames: int | None = None, seed: int = 0,
                size: tuple[int, int] | None = None, prompts: Sequence[PromptSwitch] = ()) -> StreamInputs:
        """Image, text and track sources -> ``StreamInputs`` (see the class); one clear error otherwise.

        ``size`` (width, height): only without an image (text-to-video models; default: the model's own).
        """
        img = None if image is None else _start_image(image)
        if img is None:
            if self.config.takes_tracks:
                raise ValueError(f"model {self.loaded.name!r} needs a start image")
            width, height = (int(v) for v in (size or (self.config.width, self.config.height)))
        else:
            height, width = int(img.shape[0]), int(img.shape[1])
            if size is not None and tuple(size) != (width, height):
                raise ValueError(f"size {size[0]}x{size[1]} differs from the start image's {width}x{height}")
        self.check_size(width, height)
        text = self._text(prompt, embedding)
        try:
            fitted = [None if t is None else fit_tracks(t, width, height, self.fps) for t in tracks]
            plan = None
            for t in fitted:
                plan = combine_tracks(plan, t)
        except TrackError as e:
            raise TrackError(f"tracks: {e}") from None
        if plan is not None and not self.config.takes_tracks and not self.drag.warp:
            raise ValueError(f"model {self.loaded.name!r} takes no tracks: it is a text-to-video causal student (it "
                             "streams from the prompt and, optionally, a start image); remove the tracks")
        if plan is not None and img is None:
            raise ValueError("drags need a start image (warp mode moves it; a region drag cuts its region from it)")
        if plan is not None and plan.num_tracks > self.max_tracks:
            raise TrackError(f"tracks: {plan.num_tracks} tracks, but model {self.loaded.name!r} takes at most "
                             f"{self.max_tracks} (use a larger grid_spacing)")
        if num_frames is not None and num_frames < 1:
            raise ValueError(f"num_frames must be >= 1 or None (until stopped), got {num_frames}")
        counts = tuple(0 if t is None else t.num_tracks for t in fitted)
        return StreamInputs(img, width, height, text, plan, num_frames, int(seed), counts, tuple(prompts))

    def session(self, inputs: StreamInputs, steering: Steering | None = None,
                on_pause: Callable[[], None] | None = None) -> StreamSession:
        """A streaming session over prepared inputs (iterate it for chunks)."""
        return self.stream.session(inputs.image, inputs.text, inputs.tracks, steering=steering,
                                   num_frames=inputs.num_frames, seed=inputs.seed, on_pause=on_pause,
                                   size=(inputs.width, inputs.height), prompts=inputs.prompts)

    def check_size(self, width: int, height: int) -> None:
        try:
            self.config.check_size(height, width)
        except ConfigError as e:
            m = self.config.spatial_stride * self.config.dit.patch_size[1]
            w2, h2 = max(m, round(width / m) * m), max(m, round(height / m) * m)
            raise ValueError(f"image: {e}. Resize or crop the start image first (e.g. to {w2}x{h2}).") from None

    def _text(self, prompt: str, embedding: TextCondition | None) -> TextCondition | str:
        if self.reads_prompts:
            if embedding is not None:
                log.info("MotionStream: %s reads the prompt text with its own encoder; the text embedding is not "
                         "used", self.loaded.name)
            return prompt or ""
        if embedding is None:
            raise ValueError(f"model {self.loaded.name!r} has no built-in text encoder: give it a text embedding "
                             "(in ComfyUI: connect 'positive', CLIPTextEncode with the Wan umT5-XXL text encoder, "
                             "CLIPLoader type 'wan')")
        return embedding


def load_text_embedding(path: str | Path) -> TextCondition:
    """A file holding 'context' [1, L, text_dim] (and optionally 'clip' [1, 257, 1280])."""
    sd, _ = read_checkpoint(path)
    if "context" not in sd:
        raise ValueError(f"{Path(path).name} has no 'context' tensor (found: {', '.join(sorted(sd)) or 'nothing'})")
    context = sd["context"]
    if context.ndim == 2:
        context = context[None]
    if context.ndim != 3 or context.shape[0] != 1:
        raise ValueError(f"'context' in {Path(path).name} must be [1, L, text_dim], got {tuple(context.shape)}")
    return TextCondition(context.float(), sd.get("clip"))


def _start_image(image: Tensor | np.ndarray) -> Tensor:
    """[H, W, 3] (float in [0, 1] or uint8; array or tensor) -> [H, W, 3] float32 tensor on the CPU."""
    t = image if isinstance(image, Tensor) else torch.from_numpy(np.ascontiguousarray(image))
    if t.ndim != 3 or t.shape[-1] != 3:
        raise ValueError(f"the start image must be [H, W, 3] (RGB), got shape {tuple(t.shape)}")
    t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    return t.cpu()

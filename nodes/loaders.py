"""Loader nodes: the MotionStream model and its decoder.

Models come from ``models/motionstream`` (every file) and ``models/diffusion_models`` (only files
whose safetensors metadata says they are MotionStream checkpoints); the built-in demo model is
always listed first. Decoders: the model's own (the demo's autoencoder), a tiny TAEHV decoder
(``taew2_1`` from ``models/vae_approx`` or ``models/vae``, or any tiny VAE this project trained),
or any ComfyUI video VAE (full quality).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
from comfy_api.latest import io

import folder_paths

from motionstream_core.attention import BACKENDS
from motionstream_core.checkpoints import CONFIG_KEY, CheckpointError, load_model
from motionstream_core.config import NAMED_CONFIGS, TinyVAEConfig, get_config
from motionstream_core.decoders import (TAEW2_1_CONFIG, WAN21_LATENT_MEAN, WAN21_LATENT_STD, TinyVAE, TinyVAECodec,
                                        TinyVAELoadError, check_state_dict, load_tiny_vae)

from .types import DecoderType, ModelType
from .vae_adapter import DEFAULT_CONTEXT, MODES, comfy_vae_codec

log = logging.getLogger("motionstream")

FOLDER = "motionstream"
DEMO_MODEL = "MotionStream demo (built-in)"
BUILTIN_DECODER = "built-in (the model's own decoder)"
COMFY_VAE = "ComfyUI VAE (connect 'vae')"
WAN = "wan2.1"  # latent space of Wan-family models: raw Wan 2.1 VAE latents, normalised per channel
_IMAGE_TAESD = ("taesd", "taesdxl", "taesd3", "taef1")  # image (not video) tiny decoders in vae_approx


def register_folder() -> None:
    """``models/motionstream`` as a ComfyUI model folder (extra_model_paths.yaml may add more paths)."""
    path = os.path.join(folder_paths.models_dir, FOLDER)
    exts = set(folder_paths.supported_pt_extensions)
    if FOLDER in folder_paths.folder_names_and_paths:
        paths, old = folder_paths.folder_names_and_paths[FOLDER]
        if path not in paths:
            paths.append(path)
        folder_paths.folder_names_and_paths[FOLDER] = (paths, exts | set(old or ()))
    else:
        folder_paths.folder_names_and_paths[FOLDER] = ([path], exts)


# -- what the custom sockets carry --------------------------------------------------------------

@dataclass
class LoadedModel:
    """MOTIONSTREAM_MODEL: the core model, its name, and its own decoder when it has one."""

    model: Any  # motionstream_core.model.MotionStreamModel
    name: str
    builtin_codec: Any = None  # a LatentCodec (the demo's autoencoder)

    @property
    def latent_space(self) -> str:
        return WAN if self.model.config.dit.text_dim == 4096 else f"own:{self.name}"


@dataclass
class LoadedDecoder:
    """MOTIONSTREAM_DECODER: how to turn the model's latents into frames."""

    kind: str  # "builtin" | "tiny" | "vae"
    name: str
    vae: Any = None  # TinyVAE or a ComfyUI VAE
    latent_mean: Any = None
    latent_std: Any = None
    wan_latents: bool = False  # decodes raw Wan 2.1 latents (taew2_1, the Wan VAE)
    vae_mode: str = "exact"
    context: int = DEFAULT_CONTEXT

    def codec(self, loaded: LoadedModel):
        """A fresh LatentCodec for ``loaded`` (the stream resets it per session)."""
        model = loaded.model
        if self.kind == "builtin":
            if loaded.builtin_codec is None:
                raise ValueError(f"model {loaded.name!r} has no built-in decoder: connect 'Load MotionStream "
                                 "Decoder' (taew2_1 or a ComfyUI VAE)")
            return loaded.builtin_codec
        if self.wan_latents != (loaded.latent_space == WAN):
            log.warning("MotionStream: decoder %r and model %r use different latent spaces; the video will not "
                        "look right", self.name, loaded.name)
        mean, std = self.latent_mean, self.latent_std
        if mean is None and self.wan_latents and loaded.latent_space == WAN:
            mean, std = WAN21_LATENT_MEAN, WAN21_LATENT_STD
        if self.kind == "tiny":
            codec = TinyVAECodec(self.vae.to(model.device), mean, std)
        else:
            codec = comfy_vae_codec(self.vae, mean, std, self.context, self.vae_mode)
        if codec.latent_channels != model.config.latent_channels:
            raise ValueError(f"decoder {self.name!r} has {codec.latent_channels} latent channels but model "
                             f"{loaded.name!r} makes {model.config.latent_channels}")
        return codec


# -- listing and resolving files -----------------------------------------------------------------

_header_cache: dict[tuple, bool] = {}


def _is_motionstream_file(path: str) -> bool:
    if not path.endswith(".safetensors"):
        return False
    try:
        st = os.stat(path)
        key = (path, st.st_mtime, st.st_size)
        if key not in _header_cache:
            from safetensors import safe_open

            with safe_open(path, framework="pt") as f:
                meta = f.metadata() or {}
            _header_cache[key] = CONFIG_KEY in meta or meta.get("format") == "motionstream"
        return _header_cache[key]
    except Exception:
        return False


def list_models() -> list[str]:
    names = [DEMO_MODEL] + folder_paths.get_filename_list(FOLDER)
    for name in folder_paths.get_filename_list("diffusion_models"):
        path = folder_paths.get_full_path("diffusion_models", name)
        if name not in names and path and _is_motionstream_file(path):
            names.append(name)
    return names


def model_path(name: str) -> str:
    for folder in (FOLDER, "diffusion_models"):
        path = folder_paths.get_full_path(folder, name)
        if path:
            return path
    raise FileNotFoundError(f"model file {name!r} was not found in models/{FOLDER} or models/diffusion_models "
                            "(was it moved or deleted? refresh the node list)")


def list_decoders() -> list[str]:
    tiny = [n for n in folder_paths.get_filename_list("vae_approx")
            if not os.path.basename(n).lower().startswith(_IMAGE_TAESD)]
    tiny += [n for n in folder_paths.get_filename_list("vae")
             if os.path.basename(n).lower().startswith(("taew", "taehv", "lighttae")) and n not in tiny]
    return [BUILTIN_DECODER] + tiny + [COMFY_VAE]


def decoder_path(name: str) -> str:
    for folder in ("vae_approx", "vae"):
        path = folder_paths.get_full_path(folder, name)
        if path:
            return path
    raise FileNotFoundError(f"decoder file {name!r} was not found in models/vae_approx or models/vae")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        import comfy.model_management as mm

        return mm.get_torch_device()
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} is not available: this PyTorch has no CUDA device (choose 'cpu')")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def load_tiny_decoder(path: str) -> LoadedDecoder:
    """A tiny TAEHV decoder file: the demo autoencoder format (config + stats in the metadata), or a
    plain state dict whose architecture is recognised (taew2_1, or one of our named configs)."""
    name = os.path.basename(path)
    meta = {}
    if path.endswith(".safetensors"):
        from safetensors import safe_open

        try:
            with safe_open(path, framework="pt") as f:
                meta = f.metadata() or {}
        except Exception as e:
            raise ValueError(f"decoder {name}: not a readable safetensors file ({e})") from None
    if "tiny_vae_config" in meta:
        from motionstream_core.demo.loader import load_autoencoder

        vae, mean, std = load_autoencoder(path)
        return LoadedDecoder("tiny", name, vae, mean, std, wan_latents=vae.config == TAEW2_1_CONFIG)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        sd = load_file(path)
    else:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ValueError(f"decoder {name}: not a readable weights file ({e})") from None
    if not isinstance(sd, dict):
        raise ValueError(f"decoder {name}: not a state dict of tensors")
    candidates = [TAEW2_1_CONFIG, TinyVAEConfig()] + [get_config(n).vae for n in NAMED_CONFIGS]
    first_error = None
    for cfg in candidates:
        with torch.device("meta"):
            probe = TinyVAE(cfg)
        try:
            check_state_dict(probe, sd, source=name)
        except TinyVAELoadError as e:
            first_error = first_error or e
            continue
        return LoadedDecoder("tiny", name, load_tiny_vae(path, cfg), wan_latents=cfg == TAEW2_1_CONFIG)
    raise ValueError(f"decoder {name} is not a tiny video decoder this pack knows (taew2_1 / TAEHV layout, or a "
                     f"MotionStream autoencoder). {str(first_error)[:600]}")


# -- nodes ---------------------------------------------------------------------------------------

class MotionStreamModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        return io.Schema(
            node_id="MotionStreamModelLoader",
            display_name="Load MotionStream Model",
            category="MotionStream",
            description="Loads a MotionStream model: the built-in demo, or a checkpoint from models/motionstream "
                        "or models/diffusion_models.",
            inputs=[
                io.Combo.Input("model_name", options=list_models(), default=DEMO_MODEL,
                               tooltip="The built-in demo model, or a MotionStream checkpoint."),
                io.Combo.Input("config", options=["auto"] + list(NAMED_CONFIGS), default="auto",
                               tooltip="'auto' reads the config stored in the checkpoint; name one only for "
                                       "checkpoints saved without it."),
                io.Combo.Input("dtype", options=["auto", "fp32", "bf16", "fp16"], default="auto",
                               tooltip="auto: fp32 on CPU, bf16 (or fp16) on CUDA."),
                io.Combo.Input("device", options=devices, default="auto",
                               tooltip="auto: ComfyUI's main device."),
                io.Combo.Input("attention", options=list(BACKENDS), default="auto",
                               tooltip="auto: flash-attn on CUDA when installed, else PyTorch SDPA."),
            ],
            outputs=[ModelType.Output(display_name="model")],
        )

    @classmethod
    def validate_inputs(cls, model_name):  # this host does not check V3 combo values itself
        if model_name in list_models():
            return True
        return (f"model file {model_name!r} was not found in models/{FOLDER} or models/diffusion_models "
                "(download or move it there, then refresh)")

    @classmethod
    def execute(cls, model_name, config="auto", dtype="auto", device="auto", attention="auto") -> io.NodeOutput:
        dev = resolve_device(device)
        dt = resolve_dtype(dtype, dev)
        builtin = None
        if model_name == DEMO_MODEL:
            try:
                from motionstream_core.demo import load_demo

                model, builtin = load_demo(device=dev, dtype=dt)
            except (ImportError, FileNotFoundError) as e:
                raise ValueError("the built-in MotionStream demo model is not available in this install: "
                                 f"{e}. Pick a checkpoint from models/motionstream instead.") from None
        else:
            path = model_path(model_name)
            cfg = None if config == "auto" else config
            _refuse_dit_only(path, cfg)
            try:
                model = load_model(path, config_name=cfg, device=dev, dtype=dt)
            except CheckpointError as e:
                raise ValueError(f"{model_name} cannot be loaded as a MotionStream model: {e}") from None
        model.dit.set_attention_backend(attention)
        return io.NodeOutput(LoadedModel(model, model_name, builtin))


def _refuse_dit_only(path: str, config_name: str | None) -> None:
    """A plain Wan / Self-Forcing DiT has no trained track head: it cannot follow tracks."""
    if not path.endswith(".safetensors"):
        return
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            keys = list(f.keys())
    except Exception as e:
        raise ValueError(f"{os.path.basename(path)} is not a readable safetensors file: {e}") from None
    if keys and not any(k.startswith("track_head.") for k in keys):
        raise ValueError(f"{os.path.basename(path)} has no MotionStream track head: it is a plain Wan / Self-Forcing "
                         "DiT (a training starting point, see `motionstream train`), not a MotionStream model")


class MotionStreamDecoderLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamDecoderLoader",
            display_name="Load MotionStream Decoder",
            category="MotionStream",
            description="How the stream turns latents into frames: the model's own decoder, a tiny streaming "
                        "decoder (taew2_1 in models/vae_approx), or any ComfyUI video VAE (full quality).",
            inputs=[
                io.Combo.Input("decoder", options=list_decoders(), default=BUILTIN_DECODER),
                io.Vae.Input("vae", optional=True, tooltip=f"Used when decoder is {COMFY_VAE!r} (e.g. the Wan 2.1 "
                                                           "VAE from Load VAE)."),
                io.Combo.Input("vae_decoding", options=list(MODES), default="exact", optional=True,
                               tooltip="ComfyUI VAE only. exact: steps the Wan 2.1 VAE with its causal cache "
                                       "carried between chunks (equals whole-video decoding); overlap: any video "
                                       "VAE, each chunk decoded with previous latents as context (approximate)."),
            ],
            outputs=[DecoderType.Output(display_name="decoder")],
        )

    @classmethod
    def validate_inputs(cls, decoder):
        if decoder in list_decoders():
            return True
        return f"decoder file {decoder!r} was not found in models/vae_approx or models/vae"

    @classmethod
    def execute(cls, decoder, vae=None, vae_decoding="exact") -> io.NodeOutput:
        if decoder == BUILTIN_DECODER:
            return io.NodeOutput(LoadedDecoder("builtin", decoder))
        if decoder == COMFY_VAE:
            if vae is None:
                raise ValueError(f"decoder is {COMFY_VAE!r} but nothing is connected to 'vae' (use Load VAE)")
            from .vae_adapter import ComfyVAEBackend

            ComfyVAEBackend(vae, mode=vae_decoding)  # checks it is a video VAE now, not mid-stream
            return io.NodeOutput(LoadedDecoder("vae", "ComfyUI VAE", vae, wan_latents=True, vae_mode=vae_decoding))
        if vae is not None:
            log.warning("MotionStream: a VAE is connected but decoder is %r; the VAE is not used", decoder)
        try:
            return io.NodeOutput(load_tiny_decoder(decoder_path(decoder)))
        except (TinyVAELoadError, RuntimeError) as e:
            raise ValueError(f"decoder {decoder}: {e}") from None

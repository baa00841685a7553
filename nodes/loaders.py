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

import folder_paths
from comfy_api.latest import io

from motionstream_core.pipeline import (MODEL_CONFIGS, DecoderSource, DemoUnavailable, ModelSource,
                                        is_motionstream_checkpoint, load_decoder, load_model, not_a_motionstream_model)

from .choices import check_choices, runtime_inputs
from .host_memory import host_runtime, manage
from .types import DecoderType, ModelType
from .vae_adapter import DEFAULT_CONTEXT, MODES, ComfyVAEBackend

log = logging.getLogger("motionstream")

FOLDER = "motionstream"
DEMO_MODEL = "MotionStream demo (built-in)"
BUILTIN_DECODER = "built-in (the model's own decoder)"
COMFY_VAE = "ComfyUI VAE (connect 'vae')"
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


# -- listing and resolving files -----------------------------------------------------------------

_header_cache: dict[tuple, bool] = {}


def _is_motionstream_file(path: str) -> bool:
    """The pipeline's header check, remembered per (path, mtime, size): the list is rebuilt often."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    key = (path, st.st_mtime, st.st_size)
    if key not in _header_cache:
        _header_cache[key] = is_motionstream_checkpoint(path)
    return _header_cache[key]


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


# -- nodes ---------------------------------------------------------------------------------------

class MotionStreamModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamModelLoader",
            display_name="Load MotionStream Model",
            category="MotionStream",
            description="Loads a MotionStream model: the built-in demo, or a checkpoint from models/motionstream "
                        "or models/diffusion_models.",
            inputs=[
                io.Combo.Input("model_name", options=list_models(), default=DEMO_MODEL,
                               tooltip="The built-in demo model, or a MotionStream checkpoint."),
                io.Combo.Input("config", options=["auto"] + list(MODEL_CONFIGS), default="auto",
                               tooltip="'auto' reads the config stored in the checkpoint; name one only for "
                                       "checkpoints saved without it."),
                *runtime_inputs(),
            ],
            outputs=[ModelType.Output(display_name="model")],
        )

    @classmethod
    def validate_inputs(cls, model_name):  # this host does not check V3 combo values itself
        if model_name in list_models():
            return True
        if folder_paths.get_full_path("diffusion_models", model_name):  # there, but no MotionStream model
            return not_a_motionstream_model(f"{model_name} (models/diffusion_models)")
        return (f"model file {model_name!r} was not found in models/{FOLDER} or models/diffusion_models "
                "(download or move it there, then refresh)")

    @classmethod
    def execute(cls, model_name, config="auto", dtype="auto", device="auto", attention="auto",
                weight_dtype="default") -> io.NodeOutput:
        check_choices(cls, config=config, dtype=dtype, device=device, attention=attention, weight_dtype=weight_dtype)
        runtime, load_runtime = host_runtime(device, dtype, attention, weight_dtype)
        if model_name == DEMO_MODEL:
            source = ModelSource()
        else:
            source = ModelSource(model_path(model_name), None if config == "auto" else config)
        try:
            return io.NodeOutput(manage(load_model(source, load_runtime, name=model_name), runtime, load_runtime))
        except DemoUnavailable as e:
            raise ValueError(f"{e}. Pick a checkpoint from models/motionstream instead.") from None


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
        check_choices(cls, vae_decoding=vae_decoding)
        if decoder == BUILTIN_DECODER:
            return io.NodeOutput(load_decoder(DecoderSource(name=decoder)))
        if decoder == COMFY_VAE:
            if vae is None:
                raise ValueError(f"decoder is {COMFY_VAE!r} but nothing is connected to 'vae' (use Load VAE)")
            ComfyVAEBackend(vae, mode=vae_decoding)  # checks it is a video VAE now, not mid-stream
            # A fresh backend per run: it carries the decoding state of one stream.
            source = DecoderSource(backend=lambda: ComfyVAEBackend(vae, DEFAULT_CONTEXT, vae_decoding),
                                   name="ComfyUI VAE")  # the ComfyUI video VAE is the Wan 2.1 VAE: Wan latents
            return io.NodeOutput(load_decoder(source))
        if vae is not None:
            log.warning("MotionStream: a VAE is connected but decoder is %r; the VAE is not used", decoder)
        return io.NodeOutput(load_decoder(DecoderSource(decoder_path(decoder), name=decoder)))

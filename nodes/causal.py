"""Load Causal Wan Model: the public causal Wan students (Self-Forcing family) as a MOTIONSTREAM_MODEL.

They stream through the same Generate node (its canvas, Stop, the IMAGE output); they take no drags.
Text: connect ``positive`` (CLIPTextEncode with the Wan text encoder) to the Generate node, or connect
the Wan text encoder itself (``clip``) here: then the Generate node's ``prompt`` is the prompt, and a
prompt typed while the stream runs takes effect at the next chunk (KV re-cache).
"""

from __future__ import annotations

import os

from comfy_api.latest import io

import folder_paths

from motionstream_core.pipeline import (CAUSAL_PRESETS, CausalSource, CheckpointError, ConfigError, StreamOverrides,
                                        load_model)

from .sockets import text_condition
from .choices import check_choices, runtime_inputs
from .host_memory import host_runtime, manage
from .loaders import FOLDER
from .types import CATEGORY, ModelType

AUTO_PRESET = "auto (from the file name)"
NO_LORA = "none"
_EXTS = (".pt", ".pth", ".safetensors", ".ckpt")


def list_checkpoints() -> list[str]:
    names: list[str] = []
    for folder in ("diffusion_models", FOLDER):
        for name in folder_paths.get_filename_list(folder):
            if name.lower().endswith(_EXTS) and name not in names:
                names.append(name)
    return names


def checkpoint_path(name: str) -> str:
    for folder in ("diffusion_models", FOLDER):
        path = folder_paths.get_full_path(folder, name)
        if path:
            return path
    raise FileNotFoundError(f"model file {name!r} was not found in models/diffusion_models or models/{FOLDER}")


class ComfyTextEncoder:
    """A ComfyUI CLIP (the Wan umT5 text encoder) as the model's own text encoder: prompts -> [1, L, D]."""

    def __init__(self, clip, text_dim: int, text_len: int):
        self.clip, self.text_dim, self.text_len = clip, text_dim, text_len

    def encode(self, prompts: list[str]):
        tokens = self.clip.tokenize(prompts[0])
        conditioning = self.clip.encode_from_tokens_scheduled(tokens)
        return text_condition(conditioning, text_dim=self.text_dim, text_len=self.text_len, clip_dim=None).context


class MotionStreamCausalModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamCausalModelLoader",
            display_name="Load Causal Wan Model (Self-Forcing family)",
            category=CATEGORY,
            description="Loads a public causal Wan 2.1 student (Self-Forcing, Causal Forcing, Rolling Forcing, "
                        "Infinite-Forcing, LongLive base + LoRA, CausVid) for live streaming in MotionStream "
                        "Generate. Text-to-video: these models take no drags.",
            inputs=[
                io.Combo.Input("checkpoint", options=list_checkpoints(),
                               tooltip="The student file (.pt or .safetensors) in models/diffusion_models."),
                io.Combo.Input("preset", options=[AUTO_PRESET] + list(CAUSAL_PRESETS), default=AUTO_PRESET,
                               tooltip="The family's sampling settings (chunk, timesteps, shift, sink, window). "
                                       "auto: a hint in the file name, else Self-Forcing."),
                io.Combo.Input("lora", options=[NO_LORA] + folder_paths.get_filename_list("loras"), default=NO_LORA,
                               tooltip="LongLive: its lora.pt (models/loras), merged at load."),
                io.Int.Input("width", default=832, min=16, max=4096, step=16,
                             tooltip="Video width when Generate has no start image."),
                io.Int.Input("height", default=480, min=16, max=4096, step=16,
                             tooltip="Video height when Generate has no start image."),
                *runtime_inputs(),
                io.Int.Input("chunk_frames", default=0, min=0, max=21, optional=True,
                             tooltip="Latent frames per chunk; 0: the preset's."),
                io.Int.Input("sink_chunks", default=0, min=0, max=21, optional=True,
                             tooltip="Attention-sink chunks; 0: the preset's."),
                io.Int.Input("window_chunks", default=-1, min=-1, max=64, optional=True,
                             tooltip="Rolling-window chunks; -1: the preset's."),
                io.Clip.Input("clip", optional=True,
                              tooltip="The Wan text encoder (CLIPLoader, type wan): Generate then reads its "
                                      "'prompt', and a prompt typed during the stream switches it live."),
            ],
            outputs=[ModelType.Output(display_name="model")],
        )

    @classmethod
    def validate_inputs(cls, checkpoint):
        if checkpoint in list_checkpoints():
            return True
        return f"model file {checkpoint!r} was not found in models/diffusion_models (download it there, then refresh)"

    @classmethod
    def execute(cls, checkpoint, preset=AUTO_PRESET, lora=NO_LORA, width=832, height=480, chunk_frames=0,
                sink_chunks=0, window_chunks=-1, dtype="auto", device="auto", attention="auto",
                clip=None, weight_dtype="default") -> io.NodeOutput:
        check_choices(cls, preset=preset, lora=lora, dtype=dtype, device=device, attention=attention,
                      weight_dtype=weight_dtype)
        runtime, load_runtime = host_runtime(device, dtype, attention, weight_dtype)
        overrides = StreamOverrides(chunk_frames=chunk_frames or None, sink_chunks=sink_chunks or None,
                                    window_chunks=None if window_chunks < 0 else window_chunks)
        source = CausalSource(checkpoint_path(checkpoint), None if preset == AUTO_PRESET else preset,
                              None if lora == NO_LORA else folder_paths.get_full_path("loras", lora),
                              overrides=overrides, size=(width, height))
        try:
            loaded = manage(load_model(source, load_runtime, name=os.path.basename(checkpoint)), runtime, load_runtime)
        except (CheckpointError, ConfigError) as e:
            raise ValueError(f"{checkpoint} cannot be loaded as a causal Wan model: {e}") from None
        if clip is not None:
            cfg = loaded.config
            loaded.model.text_encoder = ComfyTextEncoder(clip, cfg.dit.text_dim, cfg.text_len)
        return io.NodeOutput(loaded)


NODES = [MotionStreamCausalModelLoader]

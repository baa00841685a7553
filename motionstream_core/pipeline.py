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

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .causal_checkpoints import StreamOverrides
from .checkpoints import CheckpointError, read_checkpoint
from .config import ConfigError
from .decoders import FullVAECodec
from .drag_mode import DRAG_MODES, WARP_MAX_TRACKS, DragMode, resolve_drag  # noqa: F401  (for the nodes, CLI)
from .demo import DEMO_ASSETS, DemoSample, load_demo, load_demo_sample  # noqa: F401  (the sample: for the nodes)
from .memory import OFFLOAD
from .ops import WEIGHT_DTYPES
from .steering import Steering
from .denoise import denoising_sigmas
from .stream import MotionStream, PromptSwitch, StreamSession, TextCondition, frames_to_chunks
from .stream_parts import StreamInputs, check_image_size, start_image, stream_inputs
from .tracks import TrackError, Tracks, combine_tracks, fit_tracks
# the loading half of the way in, re-exported: callers import it from here
from .loading import (ATTENTION, CAUSAL_PRESETS, CausalSource, DTYPES, Decoder, DecoderSource, DemoUnavailable,
                      LoadedModel, MODEL_CONFIGS, ModelSource, Runtime, codec_for,
                      decoders_that_fit, is_motionstream_checkpoint, load_decoder, load_model,
                      not_a_motionstream_model, random_model, refuse_dit_only, resolve_device,
                      resolve_dtype, source_for, tiny_decoder_layouts)  # noqa: F401  (re-exported)

log = logging.getLogger("motionstream")

__all__ = ["ATTENTION", "CAUSAL_PRESETS", "DTYPES", "OFFLOAD", "WEIGHT_DTYPES", "MODEL_CONFIGS", "CausalSource", "CheckpointError", "ConfigError",
           "Decoder", "DecoderSource", "DemoUnavailable", "FullVAECodec", "LoadedModel", "ModelSource", "Pipeline", "PromptSwitch",
           "Runtime", "StreamInputs", "StreamOverrides", "TextCondition", "codec_for", "frames_to_chunks",
           "is_motionstream_checkpoint", "load_decoder", "load_model", "load_text_embedding", "random_model", "refuse_dit_only",
           "resolve_device", "resolve_dtype", "tiny_decoder_layouts"]


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
        img = None if image is None else start_image(image)
        width, height = (int(v) for v in (size or (self.config.width, self.config.height))) if img is None else \
            (int(img.shape[1]), int(img.shape[0]))
        text = self._text(prompt, embedding)
        try:
            fitted = [None if t is None else fit_tracks(t, width, height, self.fps) for t in tracks]
            plan = None
            for t in fitted:
                plan = combine_tracks(plan, t)
        except TrackError as e:
            raise TrackError(f"tracks: {e}") from None
        if plan is not None and plan.num_tracks > self.max_tracks and (self.config.takes_tracks or self.drag.warp):
            raise TrackError(f"tracks: {plan.num_tracks} tracks, but model {self.loaded.name!r} takes at most "
                             f"{self.max_tracks} (use a larger grid_spacing)")
        counts = tuple(0 if t is None else t.num_tracks for t in fitted)
        return stream_inputs(self.config, self.drag.warp, img, text, plan, num_frames, seed, size, prompts, counts)

    def session(self, inputs: StreamInputs, steering: Steering | None = None,
                on_pause: Callable[[], None] | None = None) -> StreamSession:
        """A streaming session over prepared inputs (iterate it for chunks)."""
        return self.stream.open(inputs, steering, on_pause)

    def check_size(self, width: int, height: int) -> None:
        """The model's size rules for a ``width`` x ``height`` image (``prepare`` checks them too)."""
        check_image_size(self.config, width, height)

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

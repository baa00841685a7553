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

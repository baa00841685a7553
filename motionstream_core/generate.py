"""`motionstream generate` and `motionstream demo`: files in, a video (and a tracks overlay) out.

Typed options in (the CLI builds them; no argparse namespace reaches this module), one pipeline run,
files out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from . import track_formats
from .demo import load_demo_sample
from .motion.draw import draw_tracks
from .pipeline import (CausalSource, DecoderSource, ModelSource, Pipeline, Runtime, StreamInputs, load_decoder,
                       load_model, load_text_embedding)
from .video_io import read_image, to_uint8, write_video

DEFAULT_FRAMES = 49  # frames when neither --frames nor tracks say how many


@dataclass(frozen=True)
class GenerateOptions:
    """One `motionstream generate` run. ``prompt`` is for models with a built-in text encoder (the demo),
    ``text_embedding`` a file holding 'context' [1, L, text_dim] (and optional 'clip') for the others.

    ``image`` None: a text-to-video causal student streams from the prompt alone, at ``size``
    (width, height; default the model's). With an image, a causal student starts from it (cache
    prefill) at ``size`` or the model's size; a MotionStream model takes it at its native size.
    """

    model: ModelSource | CausalSource
    decoder: DecoderSource
    runtime: Runtime
    image: Path | None
    out: Path
    tracks: Path | None = None
    prompt: str | None = None
    text_embedding: Path | None = None
    frames: int | None = None
    overlay: Path | None = None
    steps: int | None = None
    seed: int = 0
    size: tuple[int, int] | None = None
    drag_mode: str | None = None  # ``drag_mode.DRAG_MODES``; None: the model's default
    t_weak: float | None = None  # the warp mode's dual clock (None: from the model's schedule)
    t_strong: float | None = None


@dataclass(frozen=True)
class DemoOptions:
    """`motionstream demo`: the embedded demo model on its bundled image, prompt and drag tracks."""

    out: Path
    runtime: Runtime
    frames: int | None = None
    steps: int | None = None
    seed: int = 0


def run_generate(opts: GenerateOptions) -> dict[str, Path]:
    loaded = load_model(opts.model, opts.runtime)
    if opts.decoder.is_builtin and loaded.own_codec is None:
        raise ValueError("--decoder is required for a checkpoint other than 'demo' (e.g. taew2_1.safetensors)")
    pipe = Pipeline(loaded, load_decoder(opts.decoder, prefer=loaded.config.vae), steps=opts.steps,
                    drag_mode=opts.drag_mode, t_weak=opts.t_weak, t_strong=opts.t_strong)
    cfg = pipe.config
    width, height = opts.size or (cfg.width, cfg.height)
    # resized explicitly to the model's native size (or --width/--height), as the CLI documents
    image = None if opts.image is None else read_image(opts.image, width, height)
    tracks = None
    if opts.tracks is not None:
        tracks = track_formats.load(opts.tracks, width=width, height=height, fps=cfg.stream.fps)
    embedding = None if opts.text_embedding is None else load_text_embedding(opts.text_embedding)
    run = _with_length(pipe.prepare(image, opts.prompt or "", embedding, [tracks], opts.frames, opts.seed,
                                    size=(width, height) if image is None else None))
    return _stream_to_files(pipe, run, opts.out, opts.overlay)


def run_demo(opts: DemoOptions) -> dict[str, Path]:
    """The embedded demo model on its bundled start image and drag tracks."""
    pipe = Pipeline(load_model(ModelSource(), opts.runtime), steps=opts.steps)
    sample = load_demo_sample()  # written at the shipped model's size by ``motionstream train export``
    run = _with_length(pipe.prepare(sample.image, sample.prompt, None, [sample.tracks], opts.frames, opts.seed))
    return _stream_to_files(pipe, run, opts.out / "video.mp4", opts.out / "tracks_overlay.mp4")


def _with_length(run: StreamInputs) -> StreamInputs:
    """A file has an end: no --frames means as long as the (fitted) tracks, or ``DEFAULT_FRAMES``."""
    if run.num_frames is not None:
        return run
    return dataclasses.replace(run, num_frames=run.tracks.num_frames if run.tracks is not None else DEFAULT_FRAMES)


def _stream_to_files(pipe: Pipeline, run: StreamInputs, out: Path, overlay: Path | None) -> dict[str, Path]:
    fps = pipe.config.stream.fps
    session = pipe.session(run)
    video = torch.cat([chunk.frames for chunk in session])
    paths = {"video": write_video(out, video, fps)}
    if overlay is not None:
        used = session.recorded_tracks(trim=True)
        paths["overlay"] = write_video(overlay, draw_tracks(to_uint8(video), used), fps)
    return paths

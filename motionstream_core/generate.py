"""`motionstream generate` and `motionstream demo`: files in, a video (and a tracks overlay) out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .checkpoints import load_model, read_checkpoint
from .config import ModelConfig, TinyVAEConfig
from .decoders import WAN21_LATENT_MEAN, WAN21_LATENT_STD, TinyVAECodec, load_tiny_vae
from .motion.draw import draw_tracks
from .stream import MotionStream, TextCondition
from .tracks import Tracks
from .video_io import read_image, to_uint8, write_video


def codec_for(config: ModelConfig, decoder_path: str | Path) -> TinyVAECodec:
    """A tiny-VAE codec for a model: a taew2_1-layout decoder means Wan latents (Wan 2.1 statistics)."""
    wan_latents = config.vae == TinyVAEConfig()
    vae = load_tiny_vae(decoder_path, None if wan_latents else config.vae)
    if wan_latents:
        return TinyVAECodec(vae, WAN21_LATENT_MEAN, WAN21_LATENT_STD)
    return TinyVAECodec(vae)


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


def _load(args):
    from .cli import _dtype

    device, dtype = torch.device(args.device), _dtype(args)
    if args.checkpoint == "demo":
        from .demo import load_demo

        model, codec = load_demo(device=device, dtype=dtype)
    else:
        model = load_model(args.checkpoint, device=device, dtype=dtype)
        if not args.decoder:
            raise ValueError("--decoder is required for a checkpoint other than 'demo' (e.g. taew2_1.safetensors)")
        codec = codec_for(model.config, args.decoder)
    if hasattr(codec, "vae"):
        codec.vae.to(device=device, dtype=dtype)
    model.dit.set_attention_backend(args.attention)
    return model, codec


def _stream_to_files(model, codec, image, text, tracks: Tracks | None, frames: int | None, seed: int, steps,
                     out: Path, overlay: Path | None) -> dict[str, Path]:
    cfg = model.config
    if frames is None:
        frames = tracks.num_frames if tracks is not None else 49
    session = MotionStream(model, codec, steps=steps).session(image, text, tracks, num_frames=frames, seed=seed)
    video = torch.cat([chunk.frames for chunk in session])
    paths = {"video": write_video(out, video, cfg.stream.fps)}
    if overlay is not None:
        used = session.recorded_tracks(trim=True)
        paths["overlay"] = write_video(overlay, draw_tracks(to_uint8(video), used), cfg.stream.fps)
    return paths


def run_generate(args) -> dict[str, Path]:
    model, codec = _load(args)
    cfg = model.config
    image = _image(args.image, cfg)
    height, width = image.shape[:2]
    tracks = None
    if args.tracks:
        tracks = Tracks.load(args.tracks, width=width, height=height, fps=cfg.stream.fps)
        if (tracks.width, tracks.height) != (width, height) or tracks.fps != cfg.stream.fps:
            tracks = tracks.resample(fps=cfg.stream.fps, width=width, height=height)
    if args.text_embedding:
        text = load_text_embedding(args.text_embedding)
    else:
        text = args.prompt if args.prompt is not None else ""
    return _stream_to_files(model, codec, image, text, tracks, args.frames, args.seed, args.steps, Path(args.out),
                            Path(args.overlay) if args.overlay else None)


def run_demo(args) -> dict[str, Path]:
    """The embedded demo model on its bundled start image and drag tracks."""
    from .demo import DEMO_ASSETS, load_demo

    device = torch.device(args.device)
    model, codec = load_demo(device=device, dtype=torch.float32)
    cfg = model.config
    image = _image(DEMO_ASSETS["image"], cfg)
    tracks = Tracks.load(DEMO_ASSETS["tracks"])
    prompt = Path(DEMO_ASSETS["prompt"]).read_text().strip() if "prompt" in DEMO_ASSETS else ""
    out = Path(args.out)
    return _stream_to_files(model, codec, image, prompt, tracks, args.frames, args.seed, args.steps,
                            out / "video.mp4", out / "tracks_overlay.mp4")


def _image(path, cfg: ModelConfig) -> np.ndarray:
    """The start image at the model's native size (resized explicitly, as the CLI documents)."""
    return read_image(path, cfg.width, cfg.height)

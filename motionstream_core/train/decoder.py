"""Stage 1b (optional): a wider decoder for the run's autoencoder, its encoder frozen.

The teacher and the student live in the autoencoder's latent space, so retraining the whole autoencoder
means retraining them as well. This stage keeps the encoder -- hence every cached latent, the latent
statistics and every later stage -- and trains a new decoder of other widths (``channels``, latent side
first) from scratch with the autoencoder's losses (``autoencoder.ae_losses``: reconstruction, temporal
consistency, latent-noise augmentation). The product ``decoder/autoencoder.safetensors`` is then the
run's codec for ``eval`` and ``export`` (``autoencoder.run_codec_path``).

    motionstream train decoder --out runs/demo --set channels=64,64,32,32 --minutes 30
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from ..decoders import TinyVAE
from ..demo.loader import load_autoencoder, save_autoencoder
from .autoencoder import DECODER_NAME, NAME as AE_NAME, PRODUCT, AEOptions, fit, init_weights
from .common import Stage, pick_device, run_config

NAME = DECODER_NAME


@dataclass
class DecoderOptions(AEOptions):
    channels: str = "64,64,32,32"  # decoder widths, latent side first (TinyVAEConfig.channels)


PRESETS = {"demo": DecoderOptions(),
           "tiny": DecoderOptions(steps=20, batch=2, frames=5, crop=0, lr=3e-3, log_every=5, crops_per_clip=1,
                                  channels="16,16,8,8")}


def parse_channels(text: str) -> tuple[int, int, int, int]:
    try:
        widths = tuple(int(c) for c in str(text).split(","))
    except ValueError:
        widths = ()
    if len(widths) != 4 or min(widths) < 1:
        raise ValueError(f"decoder channels must be 4 positive integers like '64,64,32,32', got {text!r}")
    return widths  # type: ignore[return-value]


def train_decoder(out: str, opts: DecoderOptions, config_name: str | None = None) -> dict:
    cfg = run_config(out, config_name)
    device = pick_device(opts.device)
    channels = parse_channels(opts.channels)
    trained, mean, std = load_autoencoder(Path(out) / AE_NAME / PRODUCT)
    vae_cfg = dataclasses.replace(trained.config, channels=channels)
    stage = Stage(out, NAME, opts.steps, opts.log_every, opts.save_every_s, opts.quiet)
    torch.manual_seed(opts.seed)
    vae = init_weights(TinyVAE(vae_cfg))
    vae.encoder.load_state_dict(trained.encoder.state_dict())
    vae.encoder.requires_grad_(False)
    vae = vae.to(device)
    params = list(vae.decoder.parameters())
    stage.say(f"training a {vae_cfg.channels} decoder ({sum(p.numel() for p in params) / 1e6:.2f}M parameters) "
              f"for the run's frozen {trained.config.channels} autoencoder's encoder on {device}, "
              f"until step {opts.steps}" + (f" or {opts.minutes} min" if opts.minutes else ""))
    step, history = fit(vae, params, stage, cfg, opts, device)
    save_autoencoder(vae.cpu().eval(), stage.dir / PRODUCT, mean, std, {"steps": str(step), "stage": NAME})
    stage.say(f"saved {stage.dir / PRODUCT}")
    return {"step": step, "history": history, "path": stage.dir / PRODUCT}

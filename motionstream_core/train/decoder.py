"""Stage 1b (optional): a wider decoder for the run's autoencoder, its encoder frozen.

The teacher and the student live in the autoencoder's latent space, so retraining the whole autoencoder
means retraining them as well. This stage keeps the encoder -- hence every cached latent, the latent
statistics and every later stage -- and trains a new decoder of other widths (``channels``, latent side
first) from scratch with the autoencoder's losses (``autoencoder.ae_losses``: reconstruction, temporal
consistency, latent-noise augmentation). The product ``decoder/autoencoder.safetensors`` is then the
run's codec for ``eval`` and ``export`` (``autoencoder.run_codec_path``).

``init=widen`` (the default) starts from the trained decoder, widened without changing what it computes
(:func:`widen_decoder`): the stage then only improves on the autoencoder's decoder. ``init=scratch`` starts
from random weights (much slower: two demo-scale trials stayed below the trained decoder for 10 minutes).

    motionstream train decoder --out runs/demo --set channels=64,64,32,32 --minutes 30
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..decoders import TinyVAE, load_autoencoder, save_autoencoder
from ..tiny_vae import MemBlock, TGrow
from .autoencoder import DECODER_NAME, NAME as AE_NAME, PRODUCT, AEOptions, fit, init_weights
from .loop import StageRun

NAME = DECODER_NAME
INITS = ("widen", "scratch")


@dataclass
class DecoderOptions(AEOptions):
    channels: str = "64,64,32,32"  # decoder widths, latent side first (TinyVAEConfig.channels)
    init: str = "widen"  # "widen": the trained decoder, widened function-preserving; "scratch": random
    # a warm start fine-tunes: a lower rate, and larger crops (an 8x decoder sees 4x4 latents in a 32 px
    # crop, mostly border; the 128 px frames it decodes at inference are mostly interior)
    lr: float = 2e-4
    crop: int = 64
    batch: int = 4
    crops_per_clip: int = 2


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


def _memory_inputs(old: int, new: int) -> torch.Tensor:
    """Where a MemBlock's first conv, reading cat([x, past]), finds the ``old`` channels of each half."""
    return torch.cat([torch.arange(old), new + torch.arange(old)])


def _grown_outputs(old: int, new: int, stride: int) -> torch.Tensor:
    """Where a TGrow, whose output is ``stride`` frames of ``new`` channels each, puts the ``old`` ones."""
    return torch.cat([k * new + torch.arange(old) for k in range(stride)])


def widen_decoder(trained: TinyVAE, wide: TinyVAE) -> None:
    """Copy ``trained``'s decoder into the (at least as wide) decoder of ``wide`` so that it computes
    exactly the same frames: every old weight goes to its old channels, the weights from new channels
    into old ones are zero, and the new units keep ``wide``'s random incoming weights (so they get
    gradients and learn; zero-in, zero-out units never would). Modifies ``wide`` in place."""
    old_c, new_c = trained.config.channels, wide.config.channels
    if any(n < o for n, o in zip(new_c, old_c)) or trained.config.blocks_per_stage != wide.config.blocks_per_stage:
        raise ValueError(f"init=widen needs decoder channels at least the trained {','.join(map(str, old_c))} "
                         f"(got {','.join(map(str, new_c))}); use init=scratch for narrower ones")
    cur_old, cur_new = trained.latent_channels, wide.latent_channels
    convs = []  # (old conv, new conv, in_map, out_map)
    for m_old, m_new in zip(trained.decoder, wide.decoder):
        if isinstance(m_new, MemBlock):
            same = torch.arange(m_old.conv[0].out_channels)
            convs.append((m_old.conv[0], m_new.conv[0], _memory_inputs(cur_old, cur_new), same))
            convs.append((m_old.conv[2], m_new.conv[2], same, same))
            convs.append((m_old.conv[4], m_new.conv[4], same, same))
        elif isinstance(m_new, TGrow):
            convs.append((m_old.conv, m_new.conv, torch.arange(cur_old),
                          _grown_outputs(cur_old, cur_new, m_new.stride)))
        elif isinstance(m_new, nn.Conv2d):
            convs.append((m_old, m_new, torch.arange(cur_old), torch.arange(m_old.out_channels)))
            cur_old, cur_new = m_old.out_channels, m_new.out_channels
    with torch.no_grad():
        for c_old, c_new, in_map, out_map in convs:
            w = c_new.weight
            w[out_map] = 0.0  # old units: nothing from new channels ...
            w[out_map[:, None], in_map[None, :]] = c_old.weight  # ... and their old weights
            if c_old.bias is not None:
                c_new.bias[out_map] = c_old.bias


def train_decoder(out: str, opts: DecoderOptions, config_name: str | None = None) -> dict:
    channels = parse_channels(opts.channels)
    if opts.init not in INITS:
        raise ValueError(f"decoder init must be one of {', '.join(INITS)}, got {opts.init!r}")
    trained, mean, std = load_autoencoder(Path(out) / AE_NAME / PRODUCT)
    if not isinstance(trained, TinyVAE):
        raise ValueError(f"the decoder stage widens a tiny VAE's decoder; {out}'s codec is a linear "
                         f"{type(trained).__name__}, whose decoder is its fitted basis: nothing to train")
    vae_cfg = dataclasses.replace(trained.config, channels=channels)
    run = StageRun(out, NAME, opts, config_name)
    torch.manual_seed(opts.seed)
    vae = init_weights(TinyVAE(vae_cfg))
    if opts.init == "widen":
        widen_decoder(trained, vae)
    vae.encoder.load_state_dict(trained.encoder.state_dict())
    vae.encoder.requires_grad_(False)
    vae = vae.to(run.device)
    params = sum(p.numel() for p in vae.decoder.parameters())
    run.stage.say(f"training a {vae_cfg.channels} decoder (init: {opts.init}) ({params / 1e6:.2f}M parameters) "
                  f"for the run's frozen {trained.config.channels} autoencoder's encoder on {run.device}, "
                  f"until step {opts.steps}" + (f" or {opts.minutes} min" if opts.minutes else ""))
    fit(run, vae, vae.decoder, opts)
    save_autoencoder(vae.cpu().eval(), run.stage.dir / PRODUCT, mean, std, {"steps": str(run.step), "stage": NAME})
    run.stage.say(f"saved {run.stage.dir / PRODUCT}")
    return run.result(run.stage.dir / PRODUCT)

"""Stage 1: the demo's own autoencoder, in the tiny-decoder (TAEHV) architecture.

Trained on synthetic clips rendered on the fly (random crops, so the fully convolutional network
sees many more clips per second), with

    loss = L1 + MSE of the decoded video            (reconstruction)
         + w_t * L1(frame differences of the decoded video - those of the input)
                                                     (temporal consistency: without it the decoder invents
                                                      different fine texture in every frame, and the video
                                                      flickers so much that no tracker can follow it)
         + w_mom * sum_c (mean_c^2 + (std_c - 1)^2)  (a weak pull of the latent scale towards unit; a strong
                                                      one washes out colours, as batch statistics of a few
                                                      clips are dominated by their colours)

and the decoder fed slightly noised latents (``z + U(0, noise_max) * std(z) * eps``) so that it tolerates the
small errors of generated latents. The product ``autoencoder/autoencoder.safetensors`` stores the
weights with the measured per-channel latent statistics (``TinyVAECodec`` normalises with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import PatchCodecConfig
from ..decoders import LatentStats, PatchPCA, TinyVAE, codec_over, load_autoencoder, save_autoencoder
from ..tiny_vae import MemBlock
from .common import StageOptions, warmup_lr
from .data import clip_renderer, frames_to_tensor
from .loop import StageRun

NAME = "autoencoder"
PRODUCT = "autoencoder.safetensors"
DECODER_NAME = "decoder"  # the optional wider-decoder stage (train/decoder.py) writes DECODER_NAME/PRODUCT


@dataclass
class AEOptions(StageOptions):
    steps: int = 20_000
    batch: int = 8
    frames: int = 5  # 1 + 4k
    crop: int = 32  # random square crops (0: full frames)
    crops_per_clip: int = 4  # crops taken from each rendered clip
    lr: float = 1e-3
    moment_weight: float = 0.001
    temporal_weight: float = 2.0
    noise_max: float = 0.2
    stats_clips: int = 32
    fit_clips: int = 96  # a linear (PatchPCA) codec: clips of 33 frames its components are fitted on
    whiten: bool = False  # a linear codec: one std per channel (True) or one scale for all channels (False)
    clip_source: str = "synthetic"  # the clips it learns from: "synthetic" shapes, "photo" or "mix" (data.CLIP_SOURCES)
    photo_dir: str = ""  # photo clips: a photo_folder whose photos and cut-outs join the bundled ones


PRESETS = {"demo": AEOptions(),
           # the shipped refiner's recipe (docs/DEMO_MODEL.md): a codec fitted on photo clips
           "refine": AEOptions(clip_source="photo"),
           "tiny": AEOptions(steps=20, batch=2, frames=5, crop=0, lr=3e-3, stats_clips=4, log_every=5,
                             crops_per_clip=1)}


def _clips(cfg, opts: AEOptions, step: int, rng: np.random.Generator) -> torch.Tensor:
    """uint8 clips of ``opts.clip_source`` rendered at the model's size -> [batch, 3, T, crop, crop] float in [0, 1]."""
    render = clip_renderer(opts.clip_source, cfg, opts.frames, num_points=8, photo_dir=opts.photo_dir)
    cropping = bool(opts.crop) and opts.crop < min(cfg.height, cfg.width)
    per = max(1, opts.crops_per_clip) if cropping else 1
    n = -(-opts.batch // per)
    rendered = [render(10_000_019 + step * n + b).frames for b in range(n)]
    out = []
    for b in range(opts.batch):
        f = rendered[b // per]
        if cropping:
            y, x = rng.integers(0, cfg.height - opts.crop + 1), rng.integers(0, cfg.width - opts.crop + 1)
            f = f[:, y:y + opts.crop, x:x + opts.crop]
        out.append(f)
    return frames_to_tensor(torch.from_numpy(np.stack(out)))


def init_weights(vae: TinyVAE) -> TinyVAE:
    """He-normal convolutions for the ReLU stacks, residual branches scaled down (trains much faster
    from scratch than PyTorch's default init)."""
    for m in vae.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for m in vae.modules():
        if isinstance(m, MemBlock):
            m.conv[-1].weight.data.mul_(0.2)
    return vae


def ae_losses(vae: TinyVAE, x: torch.Tensor, opts: AEOptions, gen: torch.Generator | None = None) -> dict:
    z = vae.encode_video(x)
    scale = torch.rand((), generator=gen).item() * opts.noise_max * z.detach().std()  # relative to the latents' scale
    noise = torch.randn(z.shape, generator=gen).to(z.device) * scale
    rec = vae.decode_video(z + noise, clamp=False)
    rec_loss = F.l1_loss(rec, x) + F.mse_loss(rec, x)
    temporal = F.l1_loss(rec.diff(dim=2), x.diff(dim=2)) if x.shape[2] > 1 else rec_loss.new_zeros(())
    zc = z.transpose(0, 1).flatten(1)
    mom = (zc.mean(1) ** 2 + (zc.std(1) - 1) ** 2).mean()
    psnr = -10 * torch.log10(F.mse_loss(rec.detach().clamp(0, 1), x))
    return {"loss": rec_loss + opts.temporal_weight * temporal + opts.moment_weight * mom, "rec": rec_loss.detach(),
            "temporal": temporal.detach(), "moment": mom.detach(),
            "psnr": psnr}


@torch.no_grad()
def latent_stats(vae: TinyVAE, cfg, opts: AEOptions) -> tuple[list[float], list[float]]:
    """Per-channel mean/std of the latents of full-size held-out-style clips (seeds apart from training)."""
    render = clip_renderer(opts.clip_source, cfg, 33, num_points=8, photo_dir=opts.photo_dir)
    p = next(vae.parameters())
    zs = []
    for i in range(opts.stats_clips):
        x = frames_to_tensor(torch.from_numpy(render(77_000_003 + i).frames[None])).to(p.device)
        zs.append(vae.encode_video(x).transpose(0, 1).flatten(1))
    z = torch.cat(zs, 1)
    return z.mean(1).tolist(), z.std(1).clamp(min=1e-3).tolist()


def train_autoencoder(out: str, opts: AEOptions, config_name: str | None = None) -> dict:
    run = StageRun(out, NAME, opts, config_name)
    cfg, device = run.cfg, run.device
    if isinstance(cfg.vae, PatchCodecConfig):
        return fit_patch_codec(run, opts)
    torch.manual_seed(opts.seed)
    vae = init_weights(TinyVAE(cfg.vae)).to(device)
    run.stage.say(f"training the {cfg.vae.channels} tiny autoencoder on {device}, batch {opts.batch} x {opts.frames} "
                  f"frames, crop {opts.crop or 'none'}, until step {opts.steps}"
                  + (f" or {opts.minutes} min" if opts.minutes else ""))
    fit(run, vae, vae, opts)
    vae.eval()
    mean, std = latent_stats(vae, cfg, opts)
    save_autoencoder(vae.cpu(), run.stage.dir / PRODUCT, mean, std, {"steps": str(run.step)})
    run.stage.say(f"saved {run.stage.dir / PRODUCT} (latent std {min(std):.2f}..{max(std):.2f}, "
                  f"|mean| <= {max(abs(m) for m in mean):.2f})")
    return run.result(run.stage.dir / PRODUCT)


@torch.no_grad()
def fit_patch_codec(run: StageRun, opts: AEOptions) -> dict:
    """A linear codec's "training": principal components of ``opts.fit_clips`` rendered clips (one pass, no
    optimiser), then its latent statistics and its round-trip PSNR on clips it was not fitted on."""
    cfg = run.cfg
    render = clip_renderer(opts.clip_source, cfg, 33, num_points=8, photo_dir=opts.photo_dir)
    clips = frames_to_tensor(torch.from_numpy(np.stack([render(10_000_019 + i).frames for i in range(opts.fit_clips)])))
    codec = PatchPCA.fit(cfg.vae, clips, seed=opts.seed).eval()
    mean, std = latent_stats(codec, cfg, opts)
    if not opts.whiten:
        # One scale for every channel: the basis is orthonormal, so the latent MSE the teacher minimises is then
        # the pixel MSE, as in pixel-space diffusion, and noise buries fine detail before layout. Whitening
        # would give the 16th component (~38x smaller in std on photo clips) the weight of the first.
        std = [float(np.sqrt(np.mean(np.square(std))))] * len(std)
    held = frames_to_tensor(torch.from_numpy(np.stack([render(88_000_007 + i).frames for i in range(8)])))
    psnr = float(-10 * torch.log10(F.mse_loss(codec.decode_video(codec.encode_video(held)), held)))
    save_autoencoder(codec, run.stage.dir / PRODUCT, mean, std, {"fit_clips": str(opts.fit_clips), "source": opts.clip_source,
                                                                 "heldout_psnr": f"{psnr:.2f}", "whiten": str(opts.whiten)})
    run.stage.say(f"fitted the linear {cfg.vae.stride}x{cfg.vae.stride}x{cfg.vae.pack} -> {cfg.vae.latent_channels} "
                  f"codec on {opts.fit_clips} {opts.clip_source} clips: {psnr:.2f} dB on 8 other clips; saved "
                  f"{run.stage.dir / PRODUCT}")
    return run.result(run.stage.dir / PRODUCT, heldout_psnr=psnr)


def fit(run: StageRun, vae: TinyVAE, trainable: nn.Module, opts: AEOptions) -> None:
    """The reconstruction training loop of ``trainable`` (``vae``, or its decoder), resumable through ``run``.

    The codec stages run in one process: their latent-moment loss uses statistics of the whole batch.
    """
    if run.env.distributed:
        raise ValueError(f"the {run.name} stage (the demo's own codec) runs in one process, not under torchrun")
    cfg, device = run.cfg, run.device
    opt = torch.optim.AdamW(trainable.parameters(), lr=opts.lr, weight_decay=0.0)
    run.keep_model("vae", vae)
    run.keep_optimizer("opt", opt, vae)
    run.resume()
    vae.train()

    def step(i: int) -> dict:
        x = _clips(cfg, opts, i, np.random.default_rng([opts.seed, i])).to(device)
        warmup_lr(opt, opts.lr, i, 100)
        losses = ae_losses(vae, x, opts, run.generator())
        run.optimize(losses["loss"], opt, trainable, 1.0)
        return {k: float(v.detach()) for k, v in losses.items()}

    run.loop(step)


def run_codec_path(out: str):
    """The run's codec file: the wider decoder of the ``decoder`` stage when it was trained, else the
    autoencoder (both share the encoder, hence the latents every later stage was trained on)."""
    wider = Path(out) / DECODER_NAME / PRODUCT
    return wider if wider.is_file() else Path(out) / NAME / PRODUCT


def load_stage_codec_parts(out: str, device="cpu") -> tuple[TinyVAE, LatentStats]:
    """The trained autoencoder of a run and its latent statistics."""
    vae, mean, std = load_autoencoder(Path(out) / NAME / PRODUCT, device=device)
    return vae, LatentStats(vae.latent_channels, mean, std)


def attach_stage_codec(data, cfg, out: str, device="cpu"):
    """``data`` (``data.Clips``) with the run's autoencoder as its codec (``Clips.codec``) when model config ``cfg``
    builds its image slot from the start image in pixels (the ``warp`` reference): the reference builder needs it."""
    if cfg.parameterisation.warps and data.codec is None:
        vae, stats = load_stage_codec_parts(out, device)
        data.codec = codec_over(vae, stats.mean, stats.std)
    return data

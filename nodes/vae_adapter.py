"""A ComfyUI ``VAE`` as the stream's full-quality decoder (a core ``StreamingVAEBackend``).

Two ways to decode chunk by chunk:

* ``exact`` (default for the Wan 2.1 VAE): the VAE's causal decoder is stepped latent frame by
  latent frame with its feature cache carried from chunk to chunk -- exactly what
  ``VAE.decode`` does for a whole video in one call, so chunked output equals whole-video output
  (to float rounding) at constant cost per chunk. It calls the host VAE's ``first_stage_model``
  (``conv2``, ``decoder(x, feat_cache=, feat_idx=)``), so it is used only when that module has the
  Wan 2.1 layout; anything else falls back to ``overlap``.
* ``overlap`` (any ComfyUI video VAE): ``VAE.decode`` starts every call with an empty causal
  cache, so each chunk is decoded together with the last ``context`` latent frames before it and
  the frames those context latents produce are dropped:

    call 1: [z0 z1 z2]              -> 1 + 4*2 frames, all kept
    call k: [z(n-c) .. z(n-1) | zn .. zn+2] -> drop 1 + 4*(c-1) frames, keep 4*3

  Everything further back than ``context`` latents is forgotten, and the fresh start of each
  call (zero-padded causal convolutions, the first-frame special case of the time upsampler) is
  not what the whole-video decode saw. Measured with ``tests/host_scripts/vae_overlap.py`` on a
  random-weight Wan 2.1 VAE (16x16 px, 15 latents = 5 chunks): mean abs error in [0, 1] pixels
  0.145 / 0.135 / 0.090 / 0.050 / 0.017 for context 1 / 2 / 4 / 6 / 9 (PSNR 14 / 15 / 17 / 20 /
  27 dB) -- random weights have a long memory; a trained VAE forgets faster, but the approximation
  is never exact. Use it only for VAEs the exact mode cannot step.
"""

from __future__ import annotations

import inspect
import logging

import torch

from motionstream_core.pipeline import FullVAECodec

log = logging.getLogger("motionstream")
DEFAULT_CONTEXT = 2
MODES = ("exact", "overlap")


def can_step_exactly(vae) -> bool:
    """True when the VAE's model has the Wan 2.1 causal layout the exact mode steps."""
    fsm = getattr(vae, "first_stage_model", None)
    dec = getattr(fsm, "decoder", None)
    if fsm is None or dec is None or not hasattr(fsm, "conv2") or type(fsm).__name__ != "WanVAE":
        return False
    try:
        params = inspect.signature(dec.forward).parameters
    except (TypeError, ValueError):
        return False
    return "feat_cache" in params and "feat_idx" in params and "first_chunk" not in params


class ComfyVAEBackend:
    """``StreamingVAEBackend`` over a ComfyUI ``VAE``: raw latents in, pixels in [-1, 1] out."""

    def __init__(self, vae, context: int = DEFAULT_CONTEXT, mode: str = "exact"):
        if getattr(vae, "latent_dim", None) != 3:
            raise ValueError("this VAE is not a video VAE (it makes single images): load the Wan 2.1 VAE "
                             "(wan_2.1_vae.safetensors) or use the tiny decoder")
        self.vae = vae
        self.latent_channels = int(vae.latent_channels)
        self.spatial_stride = int(vae.spacial_compression_decode())
        t = vae.temporal_compression_decode()
        if t is None:
            raise ValueError("this VAE has no temporal compression: it cannot decode video latents chunk by chunk")
        self.temporal_stride = int(t)
        if context < 1:
            raise ValueError(f"context must be >= 1 latent frame; got {context}")
        self.context = int(context)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        if mode == "exact" and not can_step_exactly(vae):
            log.warning("MotionStream: this VAE cannot be stepped with a carried cache; decoding chunks with "
                        "%d latents of overlap instead (approximate)", self.context)
            mode = "overlap"
        self.mode = mode
        if mode == "exact":
            fsm = vae.first_stage_model
            self._num_convs = sum(type(m).__name__ == "CausalConv3d" for m in fsm.decoder.modules())
        self.reset()

    def reset(self) -> None:
        self._tail: torch.Tensor | None = None
        self._cache: list | None = [None] * self._num_convs if self.mode == "exact" else None
        self.latents_decoded = 0

    @torch.no_grad()
    def decode_step(self, latents: torch.Tensor) -> torch.Tensor:
        if latents.ndim != 5 or latents.shape[1] != self.latent_channels:
            raise ValueError(f"expected raw latents [B, {self.latent_channels}, T, h, w]; got {tuple(latents.shape)}")
        if self.mode == "exact":
            return self._decode_exact(latents)
        latents = latents.float().cpu()
        tail = self._tail
        x = latents if tail is None else torch.cat([tail, latents], 2)
        frames = self.vae.decode(x)  # [B, T', H, W, 3] in [0, 1]
        if frames.ndim == 4:  # a batch of one video may come back without its batch axis
            frames = frames[None]
        if tail is not None:  # drop what the context latents decode to
            frames = frames[:, 1 + self.temporal_stride * (tail.shape[2] - 1):]
        self._tail = x[:, :, -min(self.context, x.shape[2]):]
        self.latents_decoded += latents.shape[2]
        return frames.movedim(-1, 1).float() * 2 - 1  # [B, 3, T', H, W] in [-1, 1]

    def _decode_exact(self, latents: torch.Tensor) -> torch.Tensor:
        """What ``WanVAE.decode`` does per latent frame, with the feature cache kept between calls."""
        import comfy.model_management as mm

        vae, fsm = self.vae, self.vae.first_stage_model
        mm.load_models_gpu([vae.patcher], memory_required=vae.memory_used_decode(latents.shape, vae.vae_dtype))
        x = fsm.conv2(latents.to(vae.device, vae.vae_dtype))
        outs = [fsm.decoder(x[:, :, i:i + 1], feat_cache=self._cache, feat_idx=[0]) for i in range(x.shape[2])]
        self.latents_decoded += latents.shape[2]
        return torch.cat(outs, 2).float().clamp(-1, 1).cpu()

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> raw latent [B, C, 1, h, w] (one image at a time: ComfyUI's video
        VAE reads a batch of images as the frames of one video)."""
        out = []
        for img in ((pixels.float().cpu() + 1) / 2).clamp(0, 1).movedim(1, -1):
            z = self.vae.encode(img[None])
            out.append(z if z.ndim == 5 else z[:, :, None])
        return torch.cat(out, 0)


def comfy_vae_codec(vae, latent_mean=None, latent_std=None, context: int = DEFAULT_CONTEXT,
                    mode: str = "exact") -> FullVAECodec:
    """A core ``LatentCodec`` over a ComfyUI VAE (latent statistics map model space <-> raw)."""
    return FullVAECodec(ComfyVAEBackend(vae, context, mode), latent_mean, latent_std)

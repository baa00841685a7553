"""The full Wan VAE, stepped latent frame by latent frame with its causal cache (the quality option).

Two backends implement ``StreamingVAEBackend`` (raw latent space, the VAE's own [-1, 1] pixels):

* ``DiffusersWanBackend`` here, over diffusers' ``AutoencoderKLWan`` (the optional extra
  ``wanvae``; diffusers is imported only when a Wan VAE is built or loaded);
* inside ComfyUI, a node-side adapter over the host's own ``VAE`` object (``nodes/``), which steps
  its ``first_stage_model`` the same way.

``motionstream_core.decoders.FullVAECodec`` turns a backend into a ``LatentCodec`` (model-space
latents, latent mean/std, [0, 1] channel-last frames).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["StreamingVAEBackend", "DiffusersWanBackend", "require_diffusers", "load_wan_vae"]

INSTALL_HINT = "pip install 'diffusers>=0.33' (the optional extra 'wanvae')"


@runtime_checkable
class StreamingVAEBackend(Protocol):
    """A causal video VAE decoded chunk by chunk, in raw latent space.

    ``decode_step(latents)``: raw ``[B, C, T, h, w]`` -> pixels ``[B, 3, T', H, W]`` in [-1, 1],
    ``T' = 1 + s(T-1)`` on the first call after ``reset()`` and ``sT`` afterwards
    (``s = temporal_stride``); the causal cache is carried from call to call, so decoding a video
    in chunks equals decoding it at once. ``encode_image(pixels)``: ``[B, 3, H, W]`` in [-1, 1] ->
    raw latent ``[B, C, 1, H/8, W/8]`` (the posterior mean), independent of the decode state.
    """

    latent_channels: int
    spatial_stride: int
    temporal_stride: int

    def reset(self) -> None: ...

    def decode_step(self, latents: torch.Tensor) -> torch.Tensor: ...

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor: ...


def require_diffusers():
    """Import diffusers, or raise ImportError saying how to install the extra (AutoencoderKLWan
    first shipped in diffusers 0.33)."""
    try:
        import diffusers
    except ImportError as e:
        raise ImportError(f"the full Wan VAE needs diffusers, which is not installed: {INSTALL_HINT}") from e
    if not hasattr(diffusers, "AutoencoderKLWan"):
        raise ImportError(f"diffusers {diffusers.__version__} has no AutoencoderKLWan: {INSTALL_HINT}")
    return diffusers


class DiffusersWanBackend:
    """``StreamingVAEBackend`` over a diffusers ``AutoencoderKLWan``.

    Runs exactly the per-latent-frame loop of ``AutoencoderKLWan._decode`` but keeps the causal
    feature cache (its own list; the model's ``_feat_map`` is not touched) between calls.
    """

    def __init__(self, vae: Any):
        cfg = vae.config
        self.vae = vae
        self.latent_channels = int(cfg.z_dim)
        self.spatial_stride = int(getattr(cfg, "scale_factor_spatial", None) or 8)
        self.temporal_stride = 2 ** sum(bool(t) for t in cfg.temperal_downsample)
        self.patch_size = getattr(cfg, "patch_size", None)
        # Wan 2.2's residual decoder takes first_chunk; older diffusers releases lack the argument.
        self._has_first_chunk = "first_chunk" in inspect.signature(vae.decoder.forward).parameters
        self._num_convs = sum(type(m).__name__ == "WanCausalConv3d" for m in vae.decoder.modules())
        self.reset()

    @property
    def latents_mean(self) -> list[float]:
        return [float(v) for v in self.vae.config.latents_mean]

    @property
    def latents_std(self) -> list[float]:
        return [float(v) for v in self.vae.config.latents_std]

    def reset(self) -> None:
        self._cache: list = [None] * self._num_convs
        self.latents_decoded = 0

    @torch.no_grad()
    def decode_step(self, latents: torch.Tensor) -> torch.Tensor:
        assert latents.ndim == 5 and latents.shape[1] == self.latent_channels, \
            f"expected raw latents [B, {self.latent_channels}, T, h, w], got {tuple(latents.shape)}"
        p = next(self.vae.parameters())
        x = self.vae.post_quant_conv(latents.to(p.device, p.dtype))  # 1x1x1: frame-wise
        outs = []
        for t in range(x.shape[2]):
            kwargs = {"first_chunk": self.latents_decoded == 0} if self._has_first_chunk else {}
            outs.append(self.vae.decoder(x[:, :, t:t + 1], feat_cache=self._cache, feat_idx=[0], **kwargs))
            self.latents_decoded += 1
        out = torch.cat(outs, 2)
        if self.patch_size is not None:
            from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify
            out = unpatchify(out, patch_size=self.patch_size)
        return out.clamp(-1, 1)

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        assert pixels.ndim == 4 and pixels.shape[1] == 3, f"expected [B, 3, H, W] pixels, got {tuple(pixels.shape)}"
        p = next(self.vae.parameters())
        return self.vae.encode(pixels[:, :, None].to(p.device, p.dtype)).latent_dist.mode()


def load_wan_vae(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """Load a diffusers ``AutoencoderKLWan``: a diffusers folder (with or without a ``vae``
    subfolder) or a single file (the original ``Wan2.1_VAE.pth`` / a ComfyUI ``.safetensors``)."""
    require_diffusers()
    from diffusers import AutoencoderKLWan

    path = Path(path)
    if path.is_dir():
        sub = "vae" if (path / "vae" / "config.json").is_file() else None
        vae = AutoencoderKLWan.from_pretrained(str(path), subfolder=sub, torch_dtype=dtype)
    elif path.is_file():
        vae = AutoencoderKLWan.from_single_file(str(path), torch_dtype=dtype)
    else:
        raise FileNotFoundError(f"Wan VAE not found: {path}")
    return vae.to(device).eval()

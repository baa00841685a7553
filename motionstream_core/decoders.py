"""Latent codecs for the streaming generator: the tiny streaming decoder and the full Wan VAE.

``stream.py`` sees only ``LatentCodec``: model-space latents in, ``[B, T', H, W, 3]`` frames in
[0, 1] out, chunk by chunk. "Model-space" latents are what the DiT makes: for Wan, raw VAE latents
normalised per channel, ``(raw - mean) / std`` with Wan 2.1's published 16 means and stds; our demo
VAE uses identity statistics. A codec un-normalises before decoding and normalises after encoding.

* ``TinyVAECodec(vae, mean, std)`` -- a ``TinyVAE`` (taew2_1 or the demo's own), the fast path.
* ``PatchCodec(pca, mean, std)`` -- the linear ``patch_codec.PatchPCA`` codec (a demo model's own).
  ``codec_over(module, mean, std)`` picks the one of these two for a module; ``build_autoencoder(config)``
  makes the module of a ``CodecConfig``.
* ``FullVAECodec(backend, mean, std)`` -- any ``StreamingVAEBackend`` (full causal VAE):
  ``WanVAECodec(vae)`` over diffusers' ``AutoencoderKLWan``; the ComfyUI node side wraps the host's
  own VAE object in a backend and passes it here.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from .config import WAN21, CodecConfig, PatchCodecConfig, TinyVAEConfig, codec_config_from_dict
from .patch_codec import PatchPCA, PatchStreamDecoder
from .tiny_vae import (TAEW2_1_CONFIG, TinyVAE, TinyVAELoadError, TinyVAEStreamDecoder, check_state_dict, load_tiny_vae,
                       read_weights)
from .wan_vae import DiffusersWanBackend, StreamingVAEBackend, load_wan_vae, require_diffusers

__all__ = ["LatentCodec", "LatentStats", "OwnCodec", "TinyVAECodec", "FullVAECodec", "WanVAECodec", "StreamingVAEBackend",
           "DiffusersWanBackend", "TinyVAE", "TinyVAEStreamDecoder", "TinyVAELoadError", "TAEW2_1_CONFIG",
           "load_tiny_vae", "load_wan_vae", "check_state_dict", "require_diffusers",
           "WAN21_LATENT_MEAN", "WAN21_LATENT_STD", "LATENT_SPACE_STATS", "TinyDecoder", "load_tiny_decoder",
           "load_autoencoder", "save_autoencoder", "load_codec", "PatchCodec", "PatchPCA", "codec_over",
           "build_autoencoder"]

# Wan 2.1 VAE latent statistics (Wan2.1 wan/modules/vae.py; diffusers AutoencoderKLWan config).
WAN21_LATENT_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                     0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
WAN21_LATENT_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)
# The statistics of each named latent space whose raw latents any of its decoders reads (see
# ``ModelConfig.latent_space``); a model's own autoencoder carries its statistics in its file instead.
LATENT_SPACE_STATS = {WAN21: (WAN21_LATENT_MEAN, WAN21_LATENT_STD)}


@runtime_checkable
class LatentCodec(Protocol):
    """What the streaming generator decodes and encodes with.

    ``encode_image``: ``[B, 3, H, W]`` in [0, 1] -> model-space latent ``[B, C, 1, H/8, W/8]``.
    ``reset``: forget the streaming state (start of a new video).
    ``decode_chunk``: model-space ``[B, C, T, h, w]`` -> frames ``[B, T', H, W, 3]`` in [0, 1],
    ``T' = 1 + 4(T-1)`` on the first call after ``reset()``, ``4T`` afterwards.
    """

    latent_channels: int
    spatial_stride: int
    temporal_stride: int

    def encode_image(self, image: torch.Tensor) -> torch.Tensor: ...

    def reset(self) -> None: ...

    def decode_chunk(self, latents: torch.Tensor) -> torch.Tensor: ...


class LatentStats:
    """Per-channel latent normalisation: model-space = (raw - mean) / std. ``None`` = identity."""

    def __init__(self, channels: int, mean: Sequence[float] | torch.Tensor | None = None,
                 std: Sequence[float] | torch.Tensor | None = None):
        self.mean = self._vector(channels, mean, 0.0, "latent_mean")
        self.std = self._vector(channels, std, 1.0, "latent_std")
        if (self.std <= 0).any():
            raise ValueError("latent_std must be positive")

    @staticmethod
    def _vector(channels: int, values, default: float, name: str) -> torch.Tensor:
        if values is None:
            return torch.full((channels,), default, dtype=torch.float64)
        v = torch.as_tensor(values, dtype=torch.float64).flatten()
        if v.numel() != channels:
            raise ValueError(f"{name} has {v.numel()} values but the VAE has {channels} latent channels")
        return v

    def _shaped(self, v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return v.to(like.device, like.dtype).view(1, -1, *([1] * (like.ndim - 2)))

    def normalize(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw ``[B, C, ...]`` -> model-space."""
        return (raw - self._shaped(self.mean, raw)) / self._shaped(self.std, raw)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Model-space ``[B, C, ...]`` -> raw."""
        return z * self._shaped(self.std, z) + self._shaped(self.mean, z)


class _StreamingCodec:
    """Shared checks and frame bookkeeping of the two codecs."""

    latent_channels: int
    spatial_stride: int
    temporal_stride: int

    def _start(self) -> None:
        self.latents_decoded = 0
        self.frames_decoded = 0

    def expected_frames(self, num_latents: int) -> int:
        """Frames the next ``decode_chunk`` of ``num_latents`` latents returns."""
        s = self.temporal_stride
        return 1 + s * (num_latents - 1) if self.latents_decoded == 0 else s * num_latents

    def _check_latents(self, latents: torch.Tensor) -> None:
        if latents.ndim != 5 or latents.shape[1] != self.latent_channels or latents.shape[2] < 1:
            raise ValueError(f"decode_chunk expects model-space latents [B, {self.latent_channels}, T>=1, h, w], "
                             f"got {tuple(latents.shape)}")

    def _check_image(self, image: torch.Tensor) -> None:
        s = self.spatial_stride
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"encode_image expects [B, 3, H, W] in [0, 1], got {tuple(image.shape)}")
        if image.shape[2] % s or image.shape[3] % s:
            raise ValueError(f"encode_image: size {image.shape[3]}x{image.shape[2]} is not a multiple of {s}")

    def _finish(self, frames: torch.Tensor, num_latents: int) -> torch.Tensor:
        """``[B, 3, T', H, W]`` in [0, 1] -> ``[B, T', H, W, 3]``, checking T'."""
        want = self.expected_frames(num_latents)
        if frames.shape[2] != want:
            raise RuntimeError(f"{type(self).__name__}: the decoder returned {frames.shape[2]} frames for "
                               f"{num_latents} latents, expected {want}")
        self.latents_decoded += num_latents
        self.frames_decoded += want
        return frames.permute(0, 2, 3, 4, 1).contiguous()


class OwnCodec(_StreamingCodec):
    """``LatentCodec`` over one of this package's autoencoder modules (a ``TinyVAE`` or a ``PatchPCA``): the
    module's encoder, the latent statistics and the checks; a subclass names its streaming decoder.

    ``latent_mean``/``latent_std``: the statistics that map raw latents to model space (Wan 2.1:
    ``WAN21_LATENT_MEAN``/``WAN21_LATENT_STD``; ``None``: identity, as for the demo VAE).
    """

    def __init__(self, vae: TinyVAE | PatchPCA, latent_mean=None, latent_std=None):
        self.vae = vae
        self.latent_channels = vae.latent_channels
        self.spatial_stride = vae.spatial_stride
        self.temporal_stride = vae.temporal_stride
        self.stats = LatentStats(vae.latent_channels, latent_mean, latent_std)
        self._stream = self._stream_decoder(vae)
        self._start()

    @staticmethod
    def _stream_decoder(vae):
        raise NotImplementedError

    def _param(self) -> torch.Tensor:
        return next(self.vae.parameters())

    def reset(self) -> None:
        self._stream.reset()
        self._start()

    @torch.no_grad()
    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        self._check_image(image)
        p = self._param()
        raw = self.vae.encode_video(image.to(p.device, p.dtype)[:, :, None])
        return self.stats.normalize(raw)

    @torch.no_grad()
    def decode_chunk(self, latents: torch.Tensor) -> torch.Tensor:
        self._check_latents(latents)
        p = self._param()
        raw = self.stats.denormalize(latents.to(p.device, p.dtype))
        return self._finish(self._stream.decode(raw), latents.shape[2])


class TinyVAECodec(OwnCodec):
    """``LatentCodec`` over a ``TinyVAE``, decoding chunk by chunk with carried per-block state.
    Each chunk goes through every layer as one batch (no per-frame loop through the network)."""

    @staticmethod
    def _stream_decoder(vae):
        return TinyVAEStreamDecoder(vae)


class PatchCodec(OwnCodec):
    """``LatentCodec`` over the linear ``PatchPCA`` codec: a stateless decoder, one matrix product a latent frame."""

    @staticmethod
    def _stream_decoder(vae):
        return PatchStreamDecoder(vae)


def codec_over(module: TinyVAE | PatchPCA, latent_mean=None, latent_std=None) -> OwnCodec:
    """The ``LatentCodec`` of an autoencoder module: ``PatchCodec`` for a ``PatchPCA``, else ``TinyVAECodec``."""
    return (PatchCodec if isinstance(module, PatchPCA) else TinyVAECodec)(module, latent_mean, latent_std)


def build_autoencoder(config: CodecConfig) -> TinyVAE | PatchPCA:
    """A fresh module of a codec config (random weights; ``PatchPCA``: an arbitrary orthonormal basis)."""
    return PatchPCA(config) if isinstance(config, PatchCodecConfig) else TinyVAE(config)


class FullVAECodec(_StreamingCodec):
    """``LatentCodec`` over a full causal VAE (any ``StreamingVAEBackend``).

    Un-normalises with ``latent_mean``/``latent_std``, maps the backend's [-1, 1] pixels to [0, 1]
    and checks the frame counts. Inside ComfyUI the node side passes a backend over the host's VAE
    with ``WAN21_LATENT_MEAN``/``WAN21_LATENT_STD``.
    """

    def __init__(self, backend: StreamingVAEBackend, latent_mean=None, latent_std=None):
        missing = [a for a in ("latent_channels", "spatial_stride", "temporal_stride", "reset", "decode_step",
                               "encode_image") if not hasattr(backend, a)]
        if missing:
            raise TypeError(f"{type(backend).__name__} is not a StreamingVAEBackend: missing {', '.join(missing)}")
        self.backend = backend
        self.latent_channels = int(backend.latent_channels)
        self.spatial_stride = int(backend.spatial_stride)
        self.temporal_stride = int(backend.temporal_stride)
        self.stats = LatentStats(self.latent_channels, latent_mean, latent_std)
        self.backend.reset()
        self._start()

    def reset(self) -> None:
        self.backend.reset()
        self._start()

    @torch.no_grad()
    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        self._check_image(image)
        return self.stats.normalize(self.backend.encode_image(image * 2 - 1))

    @torch.no_grad()
    def decode_chunk(self, latents: torch.Tensor) -> torch.Tensor:
        self._check_latents(latents)
        pixels = self.backend.decode_step(self.stats.denormalize(latents))
        return self._finish(((pixels + 1) / 2).clamp(0, 1), latents.shape[2])


class WanVAECodec(FullVAECodec):
    """``LatentCodec`` over diffusers' ``AutoencoderKLWan`` (optional extra ``wanvae``), decoded chunk
    by chunk with its causal cache; the latent statistics come from the VAE's config (for Wan 2.1
    they equal ``WAN21_LATENT_MEAN``/``WAN21_LATENT_STD``)."""

    def __init__(self, vae):
        backend = DiffusersWanBackend(vae)
        super().__init__(backend, backend.latents_mean, backend.latents_std)
        self.vae = vae

    @classmethod
    def from_path(cls, path, device="cpu", dtype=torch.float32) -> "WanVAECodec":
        """Load with ``load_wan_vae`` (diffusers folder or single checkpoint file)."""
        return cls(load_wan_vae(path, device=device, dtype=dtype))


# -- tiny decoder files ---------------------------------------------------------------------------

VAE_CONFIG_KEY = "tiny_vae_config"


@dataclass
class TinyDecoder:
    """A tiny decoder read from a file: the network, the statistics stored with it (None: none stored),
    and the latent space it reads (``WAN21`` for the taew2_1 layout; None: a model's own latents)."""

    vae: TinyVAE | PatchPCA
    latent_mean: list[float] | None = None
    latent_std: list[float] | None = None
    latent_space: str | None = None


def save_autoencoder(vae: TinyVAE | PatchPCA, path: str | os.PathLike, latent_mean=None, latent_std=None,
                     metadata: dict[str, str] | None = None) -> None:
    """Codec weights (TinyVAE: taehv keys; PatchPCA: mean, basis) + its config and latent statistics in the
    safetensors metadata."""
    from safetensors.torch import save_file

    meta = {VAE_CONFIG_KEY: json.dumps(dataclasses.asdict(vae.config)), **(metadata or {})}
    if latent_mean is not None:
        meta["latent_mean"] = json.dumps([float(x) for x in latent_mean])
        meta["latent_std"] = json.dumps([float(x) for x in latent_std])
    save_file({k: v.detach().contiguous().cpu() for k, v in vae.state_dict().items()}, str(path), metadata=meta)


def _autoencoder_metadata(path: Path) -> dict[str, str]:
    """The safetensors metadata of ``path`` ({} for other files)."""
    if path.suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise TinyVAELoadError(f"{path.name}: not a readable safetensors file ({e})") from None


def load_autoencoder(path: str | os.PathLike, device="cpu", dtype=torch.float32
                     ) -> tuple[TinyVAE | PatchPCA, list | None, list | None]:
    """(vae in eval mode, latent_mean or None, latent_std or None) from ``save_autoencoder``'s file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"autoencoder weights not found: {path}")
    meta = _autoencoder_metadata(path)
    if VAE_CONFIG_KEY not in meta:
        raise ValueError(f"{path.name} has no {VAE_CONFIG_KEY!r} metadata: not a demo autoencoder file")
    cfg = codec_config_from_dict(json.loads(meta[VAE_CONFIG_KEY]))
    sd = read_weights(path)
    vae = build_autoencoder(cfg)
    check_state_dict(vae, sd, source=str(path))
    vae.load_state_dict({k: v.float() for k, v in sd.items()})
    mean = json.loads(meta["latent_mean"]) if "latent_mean" in meta else None
    std = json.loads(meta["latent_std"]) if "latent_std" in meta else None
    return vae.to(device=device, dtype=dtype).eval(), mean, std


def load_codec(path: str | os.PathLike, device="cpu", dtype=torch.float32) -> OwnCodec:
    """The codec of ``save_autoencoder``'s file (``TinyVAECodec`` or ``PatchCodec``), with its statistics."""
    vae, mean, std = load_autoencoder(path, device, dtype)
    return codec_over(vae, mean, std)


def load_tiny_decoder(path: str | os.PathLike, candidates: Sequence[TinyVAEConfig] = (TAEW2_1_CONFIG,)
                      ) -> TinyDecoder:
    """Any tiny decoder file, fp32 on the CPU: our autoencoder format (config and statistics in the
    metadata), or a plain state dict (``.safetensors``, or ``.pth`` read with ``weights_only=True``)
    whose architecture is the first of ``candidates`` it fits. Raises TinyVAELoadError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tiny VAE weights not found: {path}")
    if VAE_CONFIG_KEY in _autoencoder_metadata(path):
        vae, mean, std = load_autoencoder(path)
        return TinyDecoder(vae, mean, std, WAN21 if vae.config == TAEW2_1_CONFIG else None)
    try:
        sd = read_weights(path)
    except Exception as e:  # a corrupt file: safetensors and torch raise their own error types
        raise TinyVAELoadError(f"{path.name}: not a readable weights file ({e})") from None
    first_error = None
    for cfg in dict.fromkeys(candidates):  # in order, without repeats
        with torch.device("meta"):
            probe = TinyVAE(cfg)
        try:
            check_state_dict(probe, sd, source=path.name)
        except TinyVAELoadError as e:
            first_error = first_error or e
            continue
        vae = TinyVAE(cfg)
        vae.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
        return TinyDecoder(vae.eval(), latent_space=WAN21 if cfg == TAEW2_1_CONFIG else None)
    raise TinyVAELoadError(f"{path.name} is not a tiny video decoder this pack knows (taew2_1 / TAEHV layout, or a "
                           f"MotionStream autoencoder). {str(first_error)[:600]}")

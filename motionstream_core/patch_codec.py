"""A linear video codec: PCA of space-time patches (the demo model's codec).

One latent cell is the projection of one ``stride`` x ``stride`` px x ``pack`` frames x RGB patch on
``latent_channels`` principal components fitted on training clips. Time is packed as Wan's VAE and the
track head pack it: latent 0 <- frame 0 alone (its ``pack`` slots all hold frame 0), latent j >= 1 <-
frames 4j-3..4j. Each latent frame decodes on its own (no temporal memory), so decoding chunk by chunk
is exactly decoding the whole video, at the cost of one matrix product.

Why linear (docs/DEMO_MODEL.md): on held-out photo clips at 128 px a PCA codec at 4x space + 4x time
keeps 31.5 dB, while the learned tiny VAE this project could train on a CPU stayed near 20 dB.

Layouts: frames ``[B, 3, T, H, W]`` in [0, 1], ``T = 1 + pack k``; raw latents ``[B, C, 1 + k, H/stride,
W/stride]`` (unnormalised: the codec's ``LatentStats`` whiten them per channel).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import PatchCodecConfig


def to_patches(frames: Tensor, stride: int, pack: int, starts_video: bool) -> Tensor:
    """Frames ``[B, 3, T, H, W]`` -> patch vectors ``[B, F, h, w, D]`` ordered (frame slot, row, column, RGB):
    ``T = 1 + pack (F - 1)`` with ``starts_video`` (frame 0 repeated to fill latent 0's slots), else ``pack F``."""
    b, c, t, h, w = frames.shape
    s, p = stride, pack
    lead = 1 if starts_video else 0
    assert c == 3 and (t - lead) % p == 0, \
        f"frames must be [B, 3, {'1 + ' if starts_video else ''}{p}k, H, W], got {tuple(frames.shape)}"
    assert h % s == 0 and w % s == 0, f"frame size {w}x{h} is not a multiple of {s}"
    x = torch.cat([frames[:, :, :1].expand(-1, -1, p - 1, -1, -1), frames], dim=2) if starts_video else frames
    f = x.shape[2] // p
    x = x.reshape(b, 3, f, p, h // s, s, w // s, s).permute(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(b, f, h // s, w // s, -1)


def from_patches(v: Tensor, stride: int, pack: int, starts_video: bool) -> Tensor:
    """Patch vectors ``[B, F, h, w, D]`` -> frames ``[B, 3, T, H, W]`` (``to_patches`` undone; with
    ``starts_video`` frame 0 is the mean of latent 0's slots)."""
    b, f, h, w, _ = v.shape
    s, p = stride, pack
    x = v.reshape(b, f, h, w, p, s, s, 3).permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, 3, f * p, h * s, w * s)
    if starts_video:
        x = torch.cat([x[:, :, :p].mean(2, keepdim=True), x[:, :, p:]], dim=2)
    return x


def pca_encode(frames: Tensor, mean: Tensor, basis: Tensor, stride: int, pack: int, starts_video: bool) -> Tensor:
    """Frames ``[B, 3, T, H, W]`` -> raw latents ``[B, C, F, h, w]``: patches minus ``mean`` [D] on ``basis`` [D, C]."""
    v = to_patches(frames.to(basis.dtype), stride, pack, starts_video) - mean
    return (v @ basis).permute(0, 4, 1, 2, 3).contiguous()


def pca_decode(latents: Tensor, mean: Tensor, basis: Tensor, stride: int, pack: int, starts_video: bool) -> Tensor:
    """Raw latents ``[B, C, F, h, w]`` -> frames ``[B, 3, T, H, W]`` (unclamped): ``pca_encode`` undone."""
    v = latents.to(basis.dtype).permute(0, 2, 3, 4, 1) @ basis.T + mean  # [B, F, h, w, D]
    return from_patches(v, stride, pack, starts_video)


class PatchPCA(nn.Module):
    """The codec's two linear maps: ``mean`` [D] and an orthonormal ``basis`` [D, C], D = pack * stride^2 * 3.

    A patch vector is ordered (frame slot, row, column, RGB). A fresh module holds an arbitrary fixed
    orthonormal basis (for random-weight benchmarks); ``fit`` computes the real one.
    """

    def __init__(self, config: PatchCodecConfig):
        super().__init__()
        config.validate()
        self.config = config
        d = 3 * config.pack * config.stride ** 2
        q, _ = torch.linalg.qr(torch.randn(d, config.latent_channels, generator=torch.Generator().manual_seed(0)))
        # fixed parameters rather than buffers, so code written for learned codecs (``next(parameters())`` for
        # the device and dtype) works unchanged; nothing trains them (requires_grad False).
        self.mean = nn.Parameter(torch.full((d,), 0.5), requires_grad=False)
        self.basis = nn.Parameter(q.contiguous(), requires_grad=False)

    latent_channels = property(lambda self: self.config.latent_channels)
    spatial_stride = property(lambda self: self.config.stride)
    temporal_stride = property(lambda self: self.config.pack)

    def patches(self, frames: Tensor, starts_video: bool = True) -> Tensor:
        """``[B, 3, T, H, W]`` -> patch vectors ``[B, F, h, w, D]`` (``starts_video``: frame 0 repeated to fill
        latent 0)."""
        return to_patches(frames, self.config.stride, self.config.pack, starts_video)

    def encode_video(self, frames: Tensor) -> Tensor:
        """``[B, 3, T, H, W]`` in [0, 1] -> raw latents ``[B, C, F, h, w]``."""
        return self.encode_latents(frames, starts_video=True)

    def encode_latents(self, frames: Tensor, starts_video: bool) -> Tensor:
        """Frames ``[B, 3, T, H, W]`` -> raw latents ``[B, C, F, h, w]``: ``T = 1 + pack (F - 1)`` when the run
        starts the video, else ``pack F`` (a later chunk; each latent frame encodes on its own)."""
        return pca_encode(frames, self.mean, self.basis, self.config.stride, self.config.pack, starts_video)

    def decode_latents(self, latents: Tensor, starts_video: bool, clamp: bool = True) -> Tensor:
        """Raw latents ``[B, C, F, h, w]`` -> frames ``[B, 3, T, H, W]``: ``T = 1 + pack (F - 1)`` when the run
        starts the video (latent 0 gives frame 0: the mean of its slots), else ``pack F``."""
        x = pca_decode(latents, self.mean, self.basis, self.config.stride, self.config.pack, starts_video)
        return x.clamp(0, 1) if clamp else x

    def decode_video(self, latents: Tensor, clamp: bool = True) -> Tensor:
        """Raw latents ``[B, C, F, h, w]`` of a whole video -> frames ``[B, 3, 1 + pack (F - 1), H, W]``."""
        return self.decode_latents(latents, starts_video=True, clamp=clamp)

    @classmethod
    @torch.no_grad()
    def fit(cls, config: PatchCodecConfig, clips: Tensor, max_patches: int = 200_000, seed: int = 0) -> "PatchPCA":
        """Principal components of the patches of ``clips`` [N, 3, T, H, W] in [0, 1] (at most ``max_patches``
        of them, drawn at random), computed in float64."""
        codec = cls(config)
        v = codec.patches(clips.double()).reshape(-1, codec.mean.numel())
        if len(v) > max_patches:
            v = v[torch.randperm(len(v), generator=torch.Generator().manual_seed(seed))[:max_patches]]
        if len(v) < config.latent_channels:
            raise ValueError(f"PatchPCA.fit: {len(v)} patches cannot give {config.latent_channels} components")
        mean = v.mean(0)
        _, _, vh = torch.linalg.svd(v - mean, full_matrices=False)
        codec.mean.copy_(mean.float())
        codec.basis.copy_(vh[:config.latent_channels].T.float())
        return codec


class PatchStreamDecoder:
    """Chunk-by-chunk decoding: the first call after ``reset`` starts the video, later calls continue it."""

    def __init__(self, codec: PatchPCA):
        self.codec = codec
        self.reset()

    def reset(self) -> None:
        self._started = False

    def decode(self, latents: Tensor) -> Tensor:
        """Raw latents ``[B, C, F, h, w]`` -> ``[B, 3, T', H, W]``."""
        frames = self.codec.decode_latents(latents, starts_video=not self._started)
        self._started = True
        return frames

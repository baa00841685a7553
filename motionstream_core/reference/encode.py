"""Pixels <-> model-space latents with the run's codec, for reference videos built in pixels.

``ChunkEncoder(codec)`` encodes a reference video chunk by chunk: the first call after ``reset`` starts the
video (frame 0 alone makes latent frame 0, Wan's time alignment), later calls continue it with whole latent
frames (``pack`` pixel frames each). How it encodes depends on the codec:

* ``PatchCodec`` (the demo's linear codec): each latent frame encodes on its own, exactly
  (``PatchPCA.encode_latents``), so chunk by chunk equals the whole video;
* ``TinyVAECodec`` (taew2_1, the demo's tiny VAE): the encoder's MemBlocks carry their last input from
  chunk to chunk (``tiny_vae.run_blocks`` with memory), so chunk by chunk equals ``TinyVAE.encode_video``
  of the whole reference (start-padded as the Wan alignment needs);
* any other codec (a full VAE, the host's VAE) offers ``encode_image`` only: each latent frame is the
  image latent of its last pixel frame -- how a causal student's image start fills its first chunk too
  (``stream.StreamSession._prefix_chunk``). An approximation of a video encoding, said where it is used.

``decode_start(codec, latent)``: the pixels of a start-image latent (training data holds latents only).
Layouts: frames ``[B, 3, T, H, W]`` in [0, 1]; latents ``[B, C, F, h, w]`` model-space.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..decoders import OwnCodec, PatchCodec, TinyVAECodec
from ..tiny_vae import run_blocks


class ChunkEncoder:
    """A streaming encoder of one reference video over ``codec`` (a ``decoders.LatentCodec``)."""

    def __init__(self, codec):
        self.codec = codec
        self.pack = int(codec.temporal_stride)
        self.exact = isinstance(codec, (PatchCodec, TinyVAECodec))  # False: per-frame image latents
        self.reset()

    def reset(self) -> None:
        self.latents_encoded = 0
        self._memory = None if not isinstance(self.codec, TinyVAECodec) else [None] * len(self.codec.vae.encoder)

    @torch.no_grad()
    def encode(self, frames: Tensor) -> Tensor:
        """``[B, 3, T, H, W]`` -> ``[B, C, F, h, w]``: ``T = 1 + pack (F - 1)`` for the first call after ``reset``,
        else ``pack F``."""
        starts = self.latents_encoded == 0
        lead = 1 if starts else 0
        if frames.ndim != 5 or frames.shape[1] != 3 or (frames.shape[2] - lead) % self.pack or frames.shape[2] < 1:
            raise ValueError(f"ChunkEncoder.encode: frames must be [B, 3, {'1 + ' if starts else ''}{self.pack}k, H, W] "
                             f"({'the video starts' if starts else 'a later chunk'}), got {tuple(frames.shape)}")
        codec = self.codec
        if isinstance(codec, PatchCodec):
            p = codec._param()
            raw = codec.vae.encode_latents(frames.to(p.device, p.dtype), starts_video=starts)
        elif isinstance(codec, TinyVAECodec):
            raw = self._tiny(frames, starts)
        else:  # one image latent per latent frame: frame 0 for latent 0, then each group's last frame
            n = (frames.shape[2] - lead) // self.pack
            index = [0] * lead + [lead + self.pack * (j + 1) - 1 for j in range(n)]
            latents = torch.cat([codec.encode_image(frames[:, :, i]) for i in index], 2)
            self.latents_encoded += latents.shape[2]
            return latents
        self.latents_encoded += raw.shape[2]
        return codec.stats.normalize(raw)

    def _tiny(self, frames: Tensor, starts: bool) -> Tensor:
        vae = self.codec.vae
        p = self.codec._param()
        x = frames.to(p.device, p.dtype)
        if starts and self.pack > 1:  # latent 0 <- frame 0 alone: its pack slots all hold frame 0
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.pack - 1, -1, -1), x], 2)
        b, _, t, h, w = x.shape
        z = run_blocks(vae.encoder, x.transpose(1, 2).reshape(b * t, 3, h, w), b, self._memory)
        return z.reshape(b, -1, *z.shape[1:]).transpose(1, 2)


@torch.no_grad()
def decode_start(codec: OwnCodec, latent: Tensor) -> Tensor:
    """Start-image latents ``[B, C, 1, h, w]`` (model space) -> pixels ``[B, 3, H, W]`` in [0, 1], decoded on their
    own as the first frame of a video (no streaming state is touched)."""
    if not isinstance(codec, OwnCodec):
        raise TypeError(f"decode_start needs one of this package's codecs, got {type(codec).__name__}")
    p = codec._param()
    raw = codec.stats.denormalize(latent.to(p.device, p.dtype))
    return codec.vae.decode_video(raw[:, :, :1])[:, :, 0]

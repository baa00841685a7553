"""The reference builder: a chunk's reference latents from the start image (pixels), the tracks and the run's codec.

``ReferenceBuilder`` serves one run, chunk by chunk, as the stream makes them: the start image is warped along
the tracks to each of the chunk's pixel frames and the frames are encoded by the run's codec
(``encode.ChunkEncoder``, which carries its state from chunk to chunk). Latent frame 0 is the start image's
latent itself, as the run encoded it. ``clip_slot`` does the same for whole training clips from frame 0.

The demo model's image slot (``ModelConfig.slot_warp``) is this reference with the kernel warp
(``kernel.warp_frames``, radius ``warp_radius``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import ModelConfig
from ..track_head import first_visible
from .encode import ChunkEncoder, decode_start
from .kernel import warp_frames


def warp_radius(config: ModelConfig, height: int, width: int) -> float:
    """The kernel warp's radius in px for a ``width`` x ``height`` run: ``config.slot_warp`` at the model's native
    size, scaled with the image as the tracks are."""
    return config.slot_warp * min(height, width) / min(config.height, config.width)


def kernel_frames(image: Tensor, path: Tensor, visible: Tensor, anchors: tuple[Tensor, Tensor], radius: float
                  ) -> Tensor:
    """Start images ``[B, 3, H, W]`` warped along the tracks (path [B, T, N, 2] px, visible [B, T, N]; anchors:
    where each track started, xy [B, N, 2] and seen [B, N]) to each of their frames -> ``[B, 3, T, H, W]``."""
    return torch.stack([warp_frames(image[i].float(), path[i], visible[i], anchors[0][i], anchors[1][i], radius)
                        for i in range(len(image))])


class ReferenceBuilder:
    """The references of one run: ``image`` [B, 3, H, W] in [0, 1] (the start image), ``image_latent`` [B, C, 1,
    h, w] (its latent as the run encoded it), ``codec`` (the run's ``LatentCodec``), ``radius``: the kernel warp's
    (``warp_radius``). Call ``kernel`` once per chunk, in order, from the first."""

    def __init__(self, codec, image: Tensor, image_latent: Tensor, radius: float):
        if radius <= 0:
            raise ValueError(f"the kernel warp's radius must be positive, got {radius}")
        self.image, self.image_latent, self.radius = image, image_latent, float(radius)
        self.encoder = ChunkEncoder(codec)

    def reset(self) -> None:
        self.encoder.reset()

    def encode(self, frames: Tensor) -> Tensor:
        """Pixel frames of the next chunk ``[B, 3, T, H, W]`` -> its reference latents (latent frame 0 of the video
        is the start image's own latent)."""
        starts = self.encoder.latents_encoded == 0
        latents = self.encoder.encode(frames).to(self.image_latent.device, torch.float32)
        if starts:
            latents = torch.cat([self.image_latent[:, :, :1].float(), latents[:, :, 1:]], 2)
        return latents.to(self.image_latent.dtype)

    @torch.no_grad()
    def kernel(self, path: Tensor, visible: Tensor, anchors: tuple[Tensor, Tensor]) -> Tensor:
        """The next chunk's reference latents ``[B, C, F, h, w]``: the start image warped along the tracks over the
        chunk's pixel frames (path [B, T, N, 2], visible [B, T, N], anchors as ``kernel_frames``)."""
        return self.encode(kernel_frames(self.image, path, visible, anchors, self.radius))


@torch.no_grad()
def clip_slot(codec, image_latent: Tensor, path: Tensor, visible: Tensor, radius: float) -> Tensor:
    """Whole clips from frame 0 (training): start-image latents ``[B, C, 1, h, w]`` (decoded by ``codec``, the run's,
    to the pixels the reference is built from), tracks path [B, T, N, 2] / visible [B, T, N] anchored at their first
    visible points -> reference latents ``[B, C, F, h, w]``."""
    image = decode_start(codec, image_latent)
    anchors = tuple(torch.stack(a) for a in zip(*(first_visible(p, v) for p, v in zip(path, visible))))
    return ReferenceBuilder(codec, image, image_latent, radius).kernel(path, visible, anchors)

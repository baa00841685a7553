"""The reference builder: a chunk's reference latents from the start image (pixels), the tracks and the run's codec.

``ReferenceBuilder`` serves one run, chunk by chunk, as the stream makes them: the start image is moved along
the tracks to each of the chunk's pixel frames and the frames are encoded by the run's codec
(``encode.ChunkEncoder``, which carries its state from chunk to chunk). Latent frame 0 is the start image's
latent itself, as the run encoded it. Two kinds of reference:

* ``kernel``: the kernel warp alone (``kernel.warp_frames``, radius ``warp_radius``): the demo model's image
  slot (its parameterisation's ``warp`` reference); ``clip_slot`` makes it for whole training clips from frame 0;
* ``warp``: regions cut and dragged, the rest kernel-warped, holes filled and marked (``regions``), with the
  latent masks the dual clock reads (``Reference``): the ``warp`` drag mode's reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import ModelConfig
from ..track_head import first_visible
from .encode import ChunkEncoder, decode_start
from .kernel import hold_hidden, warp_frames
from .regions import RegionLayer, reference_frames

DEFAULT_RADIUS = 0.05  # the kernel warp's radius for a drag without a region, as a fraction of the image's short side


@dataclass
class Reference:
    """One chunk's reference: ``latents`` [B, C, F, h, w] model-space; ``held`` and ``holes`` bool [B, 1, F, h, w]:
    latent cells the drags placed (held to the reference down to t_strong) and cells a region left uncovered;
    ``frames`` [B, 3, T, H, W] the pixel frames it was encoded from, ``pixel_held`` / ``pixel_holes`` bool [T, H, W]
    their masks."""

    latents: Tensor
    held: Tensor
    holes: Tensor
    frames: Tensor
    pixel_held: Tensor
    pixel_holes: Tensor


def latent_mask(mask: Tensor, stride: int, pack: int, starts_video: bool) -> Tensor:
    """Pixel-frame mask bool [T, H, W] -> latent cells bool [1, 1, F, H / stride, W / stride]: the cells at least half
    of whose pixels (over the latent frame's pixel frames; frame 0 alone for latent 0 of the video) are set."""
    m = mask.float()
    if starts_video:
        m = torch.cat([m[:1].expand(pack, -1, -1), m[1:]], 0)
    t, h, w = m.shape
    assert t % pack == 0, f"{t} pixel frames do not make whole latent frames of {pack}"
    cells = F.avg_pool3d(m[None, None], (pack, stride, stride))
    return cells >= 0.5


def warp_radius(config: ModelConfig, height: int, width: int) -> float:
    """The kernel warp's radius in px for a ``width`` x ``height`` run: the parameterisation's ``warp_radius`` at the model's native
    size, scaled with the image as the tracks are."""
    return config.parameterisation.warp_radius * min(height, width) / min(config.height, config.width)


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
        self.layer: RegionLayer | None = None  # the regions' cut-outs, rebuilt when the regions change
        self.last: list[tuple[Tensor, Tensor]] | None = None  # per sample: ``hold_hidden``'s state after the last chunk

    def reset(self) -> None:
        self.encoder.reset()
        self.layer = None
        self.last = None

    def hold(self, path: Tensor, visible: Tensor, keep: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The next chunk's tracks as the reference moves them (path [B, T, N, 2], visible [B, T, N]): a track that
        hides holds its last visible point, from chunk to chunk (``hold_hidden``); ``keep`` bool [N]: tracks left as
        they are (a camera path's points, which hide as they leave the frame). -> (path, counts) of the same shapes."""
        B, T, N = visible.shape
        if self.last is None:
            self.last = [(path.new_zeros(0, 2).float(), torch.zeros(0, dtype=torch.bool, device=visible.device))] * B
        out_path, out_counts, state = [], [], []
        for b in range(B):
            last, have = self.last[b]
            n = min(len(have), N)  # live drags add tracks between chunks
            last = torch.cat([last[:n].to(path.device), path.new_zeros(N - n, 2).float()])
            have = torch.cat([have[:n].to(visible.device), torch.zeros(N - n, dtype=torch.bool, device=visible.device)])
            p, c, last, have = hold_hidden(path[b], visible[b], last, have)
            if keep is not None:
                k = keep.to(visible.device)[:N]
                p, c = torch.where(k[None, :, None], path[b].float(), p), torch.where(k[None], visible[b], c)
            out_path.append(p)
            out_counts.append(c)
            state.append((last, have))
        self.last = state
        return torch.stack(out_path), torch.stack(out_counts)

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
        chunk's pixel frames (path [B, T, N, 2], visible [B, T, N], anchors as ``kernel_frames``; a track that hides
        holds its last visible point, ``hold``)."""
        path, visible = self.hold(path, visible)
        return self.encode(kernel_frames(self.image, path, visible, anchors, self.radius))

    @torch.no_grad()
    def warp(self, path: Tensor, visible: Tensor, anchors: tuple[Tensor, Tensor], regions, camera: Tensor | None = None
             ) -> Reference:
        """The next chunk's cut-and-drag reference (batch of one): path [T, N, 2], visible [T, N], anchors (xy [N, 2],
        seen [N]) over the chunk's pixel frames; ``regions`` per track (``Tracks.regions``: polygon or None);
        ``camera`` bool [N]: the tracks of a camera path. A drag's track that hides holds its last visible point
        (``hold``); a camera point that hides drops out of the camera's field."""
        _, _, H, W = self.image.shape
        held, counts = self.hold(path[None], visible[None], camera)
        path, visible = held[0], counts[0]
        if self.layer is None or self.layer.regions != _keys(regions):
            self.layer = RegionLayer(regions, H, W, previous=self.layer, device=self.image.device)
        starts = self.encoder.latents_encoded == 0
        frames, held, holes = reference_frames(self.image[0].float(), path, visible, anchors[0], anchors[1],
                                               self.radius, self.layer, camera)
        latents = self.encode(frames[None])
        stride, pack = H // latents.shape[3], self.encoder.pack
        dev = latents.device
        return Reference(latents, latent_mask(held, stride, pack, starts).to(dev),
                         latent_mask(holes, stride, pack, starts).to(dev), frames[None], held, holes)


@torch.no_grad()
def clip_slot(codec, image_latent: Tensor, path: Tensor, visible: Tensor, radius: float) -> Tensor:
    """Whole clips from frame 0 (training): start-image latents ``[B, C, 1, h, w]`` (decoded by ``codec``, the run's,
    to the pixels the reference is built from), tracks path [B, T, N, 2] / visible [B, T, N] anchored at their first
    visible points -> reference latents ``[B, C, F, h, w]``."""
    image = decode_start(codec, image_latent)
    anchors = tuple(torch.stack(a) for a in zip(*(first_visible(p, v) for p, v in zip(path, visible))))
    return ReferenceBuilder(codec, image, image_latent, radius).kernel(path, visible, anchors)


def _keys(regions) -> tuple:
    return tuple(None if r is None else np.ascontiguousarray(r, np.float32).tobytes() for r in regions)

"""Track encoding (paper Sec. 3.1, Eq. 1): sinusoidal track IDs rasterised on the latent grid, then
a tiny 1x1x1-convolution head.

* Every track n gets a random ID (drawn without replacement from [0, max_id) by the stream's seed,
  so track n always gets the same ID for the same seed) and a ``id_dim``-dim sinusoidal embedding.
* In every pixel frame where track n is visible and inside the image, its embedding is written
  into cell (floor(y / stride), floor(x / stride)). Our choice for collisions: tracks sharing a
  cell in a frame are **averaged**, so a cell's magnitude does not depend on how many land there.
* Pixel frames are packed 4:1 into channels like Wan's VAE packs time: latent frame 0 <- pixel
  frame 0 repeated 4x; latent frame j >= 1 <- pixel frames 4j-3 .. 4j. Channel = slot * id_dim + c.
* Conv3d 1x1x1 -> SiLU -> Conv3d 1x1x1 -> 16 channels.
* Optional (``TrackHeadConfig.appearance_channels``, not in the paper): each track's embedding also
  carries the start image's latent sampled at the track's first visible position (``track_appearance``).
  With IDs alone the DiT must learn to find a track's ID in frame 0 and copy what is there (a non-local
  recall a small model learns slowly); the appearance tells each cell directly what belongs there.

Because every operation is per-frame or 1x1x1, encoding chunk by chunk equals encoding the whole
video; ``pixel_range`` says which pixel frames a run of latent frames needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import TrackHeadConfig


def pixel_range(first_latent: int, count: int, pack: int = 4) -> tuple[int, int]:
    """Pixel frames [start, stop) that latent frames [first_latent, first_latent + count) are made from."""
    assert first_latent >= 0 and count > 0
    start = 0 if first_latent == 0 else pack * first_latent - (pack - 1)
    return start, pack * (first_latent + count) - (pack - 1)


def latent_frames_for(pixel_frames: int, pack: int = 4) -> int:
    """Number of latent frames for a video of ``pixel_frames`` = 1 + pack * k frames."""
    assert pixel_frames >= 1 and (pixel_frames - 1) % pack == 0, (
        f"a video has 1 + {pack}k frames, got {pixel_frames}")
    return 1 + (pixel_frames - 1) // pack


def assign_track_ids(num_tracks: int, seed: int, max_id: int) -> Tensor:
    """IDs [num_tracks] int64, unique, a prefix of one seeded permutation of [0, max_id)."""
    if num_tracks > max_id:
        raise ValueError(f"{num_tracks} tracks exceed the {max_id} distinct track IDs this model supports")
    g = torch.Generator().manual_seed(int(seed) & 0x7FFF_FFFF_FFFF_FFFF)
    return torch.randperm(max_id, generator=g)[:num_tracks]


def track_id_embedding(ids: Tensor, dim: int) -> Tensor:
    """ids [N] -> [N, dim] float32: [cos(id * w_k), sin(id * w_k)], w_k = 10000^(-k / (dim/2))."""
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float32, device=ids.device) / half)
    angles = ids.float()[:, None] * freqs
    return torch.cat([angles.cos(), angles.sin()], dim=1)


def first_visible(path: Tensor, visible: Tensor) -> tuple[Tensor, Tensor]:
    """path [T, N, 2], visible [T, N] -> (xy [N, 2] at each track's first visible frame, seen [N] bool)."""
    first = visible.to(torch.uint8).argmax(0)  # index of the first True; 0 where a track is never visible
    return path[first, torch.arange(visible.shape[1], device=path.device)], visible.any(0)


def track_appearance(image_latent: Tensor, xy: Tensor, seen: Tensor, height: int, width: int) -> Tensor:
    """The start image's latent at each track's point: image_latent [C, h, w] (covering height x width px),
    xy [N, 2] (x, y) px, seen [N] bool -> [N, C] float32, bilinear, zero where a track is not ``seen``."""
    C, h, w = image_latent.shape
    N = xy.shape[0]
    if N == 0:
        return image_latent.new_zeros(0, C, dtype=torch.float32)
    xy = xy.to(image_latent.device, torch.float32)
    grid = torch.stack([2 * xy[:, 0] / width - 1, 2 * xy[:, 1] / height - 1], dim=-1).view(1, 1, N, 2)
    out = F.grid_sample(image_latent[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].T * seen.to(out.device, torch.float32)[:, None]


class TrackAnchors:
    """A stream's per-slot track anchors: each slot's first visible point, fixed the first time the slot is
    visible, so that chunk by chunk a stream knows what ``first_visible`` over the whole video gives (where a live
    drag that starts mid-stream started). Read by the track appearance (``AppearanceMemory``) and the warped image
    slot (the ``warp`` reference); updating twice with the same frames changes nothing. ``slots`` at most."""

    def __init__(self, slots: int, device=None):
        self.xy = torch.zeros(slots, 2, device=device)
        self.seen = torch.zeros(slots, dtype=torch.bool, device=device)

    def update(self, path: Tensor, visible: Tensor) -> tuple[Tensor, Tensor]:
        """The next pixel frames' tracks, path [T, N, 2] px, visible [T, N] -> (anchor [N, 2], seen [N])."""
        N = path.shape[1]
        visible = visible.to(self.seen.device)
        new = ~self.seen[:N] & visible.any(0)
        if bool(new.any()):
            xy, _ = first_visible(path.to(self.seen.device, torch.float32)[:, new], visible[:, new])
            self.xy[new.nonzero().flatten()] = xy
            self.seen[:N] |= new
        return self.xy[:N], self.seen[:N]


class AppearanceMemory:
    """A stream's per-slot track appearance: the start image's latent at each slot's anchor (``TrackAnchors``, by
    default its own; a stream shares one with its warped slot), so encoding chunk by chunk gives what
    ``TrackHead.appearance_of`` gives for the whole video. image_latent [C, h, w]; ``slots`` at most."""

    def __init__(self, image_latent: Tensor, slots: int, height: int, width: int, anchors: TrackAnchors | None = None):
        self.image = image_latent.float()
        self.height, self.width = height, width
        self.anchors = TrackAnchors(slots, image_latent.device) if anchors is None else anchors
        self.values = torch.zeros(slots, image_latent.shape[0], device=image_latent.device)
        self.filled = torch.zeros(slots, dtype=torch.bool, device=image_latent.device)

    def update(self, path: Tensor, visible: Tensor) -> Tensor:
        """The next pixel frames' tracks, path [T, N, 2] px, visible [T, N] -> appearance [N, C] of slots 0..N-1."""
        xy, seen = self.anchors.update(path, visible)
        new = seen & ~self.filled[:len(seen)]
        if bool(new.any()):
            idx = new.nonzero().flatten()
            self.values[idx] = track_appearance(self.image, xy[idx], torch.ones(len(idx), dtype=torch.bool),
                                                self.height, self.width)
            self.filled[idx] = True
        return self.values[:len(seen)]


def rasterize_tracks(path: Tensor, visible: Tensor, embeddings: Tensor, height: int, width: int,
                     stride: int) -> Tensor:
    """Write track embeddings onto the stride grid.

    path [T, N, 2] (x, y) pixels; visible [T, N] bool; embeddings [N, D].
    Returns [T, D, height // stride, width // stride] float32 (zero where no track is).
    """
    T, N = visible.shape
    assert path.shape == (T, N, 2), f"path {tuple(path.shape)} does not match visible {tuple(visible.shape)}"
    assert embeddings.shape[0] == N, f"{embeddings.shape[0]} embeddings for {N} tracks"
    gh, gw = height // stride, width // stride
    D = embeddings.shape[1]
    device = embeddings.device
    out = torch.zeros(T, gh * gw, D, device=device)
    if N == 0:
        return out.view(T, gh, gw, D).permute(0, 3, 1, 2)
    path = path.to(device=device, dtype=torch.float32)
    x, y = path[..., 0], path[..., 1]
    inside = visible.to(device) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    cell = (torch.div(y, stride, rounding_mode="floor").clamp(0, gh - 1) * gw
            + torch.div(x, stride, rounding_mode="floor").clamp(0, gw - 1)).long()
    t_idx, n_idx = inside.nonzero(as_tuple=True)
    flat = t_idx * (gh * gw) + cell[t_idx, n_idx]
    out.view(T * gh * gw, D).index_add_(0, flat, embeddings[n_idx].float())
    count = torch.zeros(T * gh * gw, device=device).index_add_(0, flat, torch.ones_like(flat, dtype=torch.float32))
    out = out / count.clamp(min=1).view(T, gh * gw, 1)
    return out.view(T, gh, gw, D).permute(0, 3, 1, 2)


def pack_time(grid: Tensor, starts_video: bool, pack: int = 4) -> Tensor:
    """[T, D, h, w] pixel-frame grid -> [D * pack, T_latent, h, w].

    With ``starts_video`` the first pixel frame is repeated ``pack`` times (it alone makes latent 0).
    """
    if starts_video:
        grid = torch.cat([grid[:1].expand(pack - 1, -1, -1, -1), grid], dim=0)
    T, D, h, w = grid.shape
    assert T % pack == 0, f"{T} pixel frames do not pack into latent frames of {pack}"
    return grid.view(T // pack, pack, D, h, w).permute(1, 2, 0, 3, 4).reshape(pack * D, T // pack, h, w)


class TrackHead(nn.Module):
    """Packed track grid [B, (id_dim + appearance_channels) * pack, T, h, w] -> track latent [B, out_channels, T, h, w]."""

    def __init__(self, cfg: TrackHeadConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.proj_in = nn.Conv3d((cfg.id_dim + cfg.appearance_channels) * cfg.temporal_pack, cfg.hidden, kernel_size=1)
        self.act = nn.SiLU()
        self.proj_out = nn.Conv3d(cfg.hidden, cfg.out_channels, kernel_size=1)

    def forward(self, packed: Tensor) -> Tensor:
        return self.proj_out(self.act(self.proj_in(packed.to(self.proj_in.weight.dtype))))

    def no_tracks(self, like: Tensor) -> Tensor:
        """The track latent of a clip with no track visible anywhere -- the head on an all-zero grid (its biases,
        not zero), what training's track dropout shows it -- broadcast to ``like`` [B, out_channels, T, h, w]."""
        empty = self.proj_in.weight.new_zeros(1, self.proj_in.in_channels, 1, 1, 1)
        return self(empty).to(like.dtype).expand_as(like)

    def embed(self, ids: Tensor, appearance: Tensor | None = None) -> Tensor:
        """ids [N] (+ appearance [N, appearance_channels] when the config has them) -> [N, id_dim (+ C)]."""
        emb = track_id_embedding(ids.to(self.proj_in.weight.device), self.cfg.id_dim)
        A = self.cfg.appearance_channels
        if not A:
            assert appearance is None, "this track head takes IDs alone (appearance_channels = 0)"
            return emb
        assert appearance is not None, "this track head carries appearance: pass the start image's latent per track"
        assert appearance.shape == (len(ids), A), f"appearance {tuple(appearance.shape)} for {len(ids)} tracks of {A} channels"
        return torch.cat([emb, appearance.to(emb)], dim=1)

    def appearance_of(self, image_latent: Tensor | None, path: Tensor, visible: Tensor, height: int,
                      width: int) -> Tensor | None:
        """Each track's appearance over a whole video from frame 0 (None for a head of IDs alone):
        image_latent [C, 1, h, w] or [C, h, w], path [T, N, 2] px, visible [T, N] -> [N, C]."""
        if not self.cfg.appearance_channels:
            return None
        assert image_latent is not None, "this track head carries appearance: it needs the start image's latent"
        lat = image_latent.reshape(image_latent.shape[0], *image_latent.shape[-2:])
        xy, seen = first_visible(path.to(lat.device, torch.float32), visible.to(lat.device))
        return track_appearance(lat, xy, seen, height, width)

    def encode(self, path: Tensor, visible: Tensor, ids: Tensor, height: int, width: int, starts_video: bool,
               appearance: Tensor | None = None) -> Tensor:
        """Tracks over a run of pixel frames -> [1, out_channels, T_latent, height/stride, width/stride].

        path [T, N, 2] px and visible [T, N] cover exactly the pixel frames of the latent frames
        wanted (see ``pixel_range``); ``starts_video`` when they begin at pixel frame 0; ``appearance``
        [N, C] (``track_appearance``) when the config has ``appearance_channels``.
        """
        grid = rasterize_tracks(path, visible, self.embed(ids, appearance), height, width, self.cfg.stride)
        return self(pack_time(grid, starts_video, self.cfg.temporal_pack)[None])

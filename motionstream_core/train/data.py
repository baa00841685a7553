"""Training data for the demo recipe: encoded synthetic clips (cached on disk) and track conditioning.

* ``build_latent_cache`` renders synthetic clips (``train.synthetic``), encodes them once with the
  trained autoencoder and writes shards of model-space latents, start-image latents (encoded exactly
  as the stream encodes its start image), tracks and captions. It resumes shard by shard.
* ``sample_tracks`` draws the track conditioning of one training clip (paper Sec. 3.1): a random
  subset of the clip's tracks (uniform or log-uniform count), random IDs, mid-clip masking (some tracks hidden
  over a frame interval) and track dropout (no track at all: the motion-unconditional branch).
* ``encode_tracks`` rasterises a batch of tracks and runs the model's track head: the same
  rasterisation and packing as ``TrackHead.encode`` in the stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..config import ModelConfig
from ..decoders import LatentStats, TinyVAE
from ..model import MotionStreamModel
from ..track_head import pack_time, rasterize_tracks
from .synthetic import SyntheticClipConfig, make_clip


def clip_config(cfg: ModelConfig, num_frames: int, num_points: int = 64) -> SyntheticClipConfig:
    return SyntheticClipConfig.for_model(cfg, num_frames=num_frames, num_points=num_points)


def frames_to_tensor(frames: np.ndarray | Tensor) -> Tensor:
    """uint8 [B, T, H, W, 3] -> float [B, 3, T, H, W] in [0, 1]."""
    f = torch.as_tensor(frames)
    return f.permute(0, 4, 1, 2, 3).float() / 255.0


@torch.no_grad()
def encode_clips(vae: TinyVAE, stats: LatentStats, frames: Tensor) -> tuple[Tensor, Tensor]:
    """uint8 frames [B, T, H, W, 3] -> (model-space latents [B, C, F, h, w], start-image latents [B, C, 1, h, w]).

    The start-image latent is the first frame encoded on its own, as ``TinyVAECodec.encode_image`` does.
    """
    p = next(vae.parameters())
    x = frames_to_tensor(frames).to(p.device, p.dtype)
    z = stats.normalize(vae.encode_video(x))
    img = stats.normalize(vae.encode_video(x[:, :, :1]))
    return z, img


# -- the latent cache ---------------------------------------------------------------------------------

def build_latent_cache(folder: str | Path, vae: TinyVAE, stats: LatentStats, clip_cfg: SyntheticClipConfig,
                       count: int, seed: int = 0, shard_size: int = 64, batch: int = 8,
                       say: Callable[[str], None] = print) -> Path:
    """Encode ``count`` training clips (seeds ``seed * 1_000_003 + i``, as ``SyntheticVideoDataset``) into
    ``folder/shard_XXXX.pt``; existing shards are kept (resume)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"count": count, "seed": seed, "num_frames": clip_cfg.num_frames, "height": clip_cfg.height,
            "width": clip_cfg.width, "num_points": clip_cfg.num_points}
    shards = math.ceil(count / shard_size)
    for s in range(shards):
        path = folder / f"shard_{s:04d}.pt"
        if path.is_file():
            continue
        ids = range(s * shard_size, min(count, (s + 1) * shard_size))
        clips = [make_clip(seed * 1_000_003 + i, clip_cfg) for i in ids]
        zs, imgs = [], []
        for b in range(0, len(clips), batch):
            frames = torch.from_numpy(np.stack([c.frames for c in clips[b:b + batch]]))
            z, img = encode_clips(vae, stats, frames)
            zs.append(z.half().cpu()), imgs.append(img.half().cpu())
        torch.save({"z": torch.cat(zs), "image": torch.cat(imgs),
                    "path": torch.from_numpy(np.stack([c.path for c in clips])),
                    "visible": torch.from_numpy(np.stack([c.visible for c in clips])),
                    "caption": [c.caption for c in clips], "meta": meta}, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
        say(f"latent cache: shard {s + 1}/{shards} ({min(count, (s + 1) * shard_size)} clips)")
    return folder


def load_latent_cache(folder: str | Path) -> dict:
    """All shards concatenated: z, image (fp16), path, visible, caption."""
    files = sorted(Path(folder).glob("shard_*.pt"))
    if not files:
        raise FileNotFoundError(f"no latent cache in {folder}: run the teacher stage (it builds it) first")
    parts = [torch.load(f, weights_only=False) for f in files]
    out = {k: torch.cat([p[k] for p in parts]) for k in ("z", "image", "path", "visible")}
    out["caption"] = [c for p in parts for c in p["caption"]]
    out["meta"] = parts[0]["meta"]
    return out


# -- track conditioning -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TrackSampling:
    max_tracks: int = 64  # tracks per sample are padded to this many (padding is never visible)
    min_tracks: int = 1
    drop_prob: float = 0.1  # no tracks at all (motion-unconditional branch of the guidance)
    mask_prob: float = 0.5  # hide a random part of the tracks over a random mid-clip interval
    ids_max: int = 1024  # track IDs are a random prefix of a permutation of [0, ids_max)


def sample_tracks(path: Tensor, visible: Tensor, s: TrackSampling, gen: torch.Generator,
                  count: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """One clip's conditioning: path [T, P, 2], visible [T, P] -> (path [T, M, 2], visible [T, M], ids [M]).

    ``count`` fixes the number of tracks (else, with equal odds, uniform or log-uniform in
    [min_tracks, available]).
    """
    T, P = visible.shape
    M = s.max_tracks
    cand = torch.nonzero(visible.any(0)).flatten()
    cand = cand[torch.randperm(len(cand), generator=gen)]
    if count is None:
        hi = min(len(cand), M)
        lo = min(s.min_tracks, hi)
        u = torch.rand((), generator=gen).item()
        if torch.rand((), generator=gen).item() < 0.5:  # half uniform (dense), half log-uniform (few drags)
            count = int(round(lo + u * (hi - lo)))
        else:
            count = int(round(math.exp(math.log(max(lo, 1)) + u * (math.log(max(hi, 1)) - math.log(max(lo, 1))))))
        count = max(lo, min(hi, count))
    sel = cand[:min(count, M)]
    n = len(sel)
    out_path = torch.zeros(T, M, 2)
    out_vis = torch.zeros(T, M, dtype=torch.bool)
    out_path[:, :n] = path[:, sel].float()
    out_vis[:, :n] = visible[:, sel]
    if n and torch.rand((), generator=gen).item() < s.mask_prob:
        hide = torch.rand(n, generator=gen) < 0.2 + 0.4 * torch.rand((), generator=gen).item()
        a = int(torch.randint(1, max(T - 1, 2), (), generator=gen))
        b = min(T, a + int(torch.randint(max(T // 8, 1), max(T // 2, 2), (), generator=gen)))
        out_vis[a:b, :n] &= ~hide
    if torch.rand((), generator=gen).item() < s.drop_prob:
        out_vis[:] = False
    ids = torch.zeros(M, dtype=torch.long)
    ids[:n] = torch.randperm(s.ids_max, generator=gen)[:n]
    return out_path, out_vis, ids


def sample_track_batch(paths: Tensor, visibles: Tensor, s: TrackSampling, gen: torch.Generator,
                       count: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    parts = [sample_tracks(p, v, s, gen, count) for p, v in zip(paths, visibles)]
    return tuple(torch.stack(x) for x in zip(*parts))  # type: ignore[return-value]


def encode_tracks(model: MotionStreamModel, path: Tensor, visible: Tensor, ids: Tensor) -> Tensor:
    """Batch [B, T, M, 2] / [B, T, M] / [B, M] -> track latents [B, 16, F, h, w] (whole clips, from frame 0)."""
    cfg = model.config
    head = model.track_head
    grids = []
    for p, v, i in zip(path, visible, ids):
        grid = rasterize_tracks(p, v, head.embed_ids(i), cfg.height, cfg.width, cfg.track_head.stride)
        grids.append(pack_time(grid, True, cfg.track_head.temporal_pack))
    return head(torch.stack(grids).to(model.device)).to(model.dtype)


@dataclass
class Batch:
    z: Tensor  # [B, C, F, h, w] clean latents
    image: Tensor  # [B, C, 1, h, w] start-image latents
    path: Tensor
    visible: Tensor
    ids: Tensor
    caption: list[str]


def make_batch(cache: dict, index: Tensor, s: TrackSampling, gen: torch.Generator, device: torch.device,
               text_drop: float = 0.0, count: int | None = None) -> Batch:
    """A training batch from the latent cache: track subsets/masking/dropout and caption dropout."""
    path, vis, ids = sample_track_batch(cache["path"][index], cache["visible"][index], s, gen, count)
    captions = [cache["caption"][int(i)] if torch.rand((), generator=gen).item() >= text_drop else ""
                for i in index]
    return Batch(cache["z"][index].float().to(device), cache["image"][index].float().to(device), path, vis, ids,
                 captions)

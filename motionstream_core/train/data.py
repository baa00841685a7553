"""Training data for the demo recipe: encoded synthetic clips (cached on disk) and track conditioning.

* ``build_latent_cache`` renders training clips (``clip_renderer``: ``motionstream_core.synthetic`` shapes, or
  ``train.photo_clips`` layers cut from real photos), encodes them once with the
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
from ..reference import clip_slot, warp_radius
from ..track_head import assign_track_ids, pack_time, rasterize_tracks
from ..synthetic import SyntheticClipConfig, make_clip


CACHE = "latents"  # the run's synthetic latent cache folder


def clip_config(cfg: ModelConfig, num_frames: int, num_points: int = 64) -> SyntheticClipConfig:
    return SyntheticClipConfig.for_model(cfg, num_frames=num_frames, num_points=num_points)


CLIP_SOURCES = ("synthetic", "photo", "mix")


def clip_renderer(source: str, cfg: ModelConfig, num_frames: int, num_points: int = 64,
                  photo_dir: str = "", camera_motion_prob: float | None = None) -> Callable[..., object]:
    """``(seed, motion_seed=None) -> clip`` at the model's size: ``"synthetic"`` (``synthetic.make_clip``: textured
    shapes), ``"photo"`` (``photo_clips.make_photo_clip``: layers cut from real photos over a photo background;
    needs the ``[train]`` extra; ``motion_seed`` gives the same scene -- the same first frame -- another motion;
    ``photo_dir``: a ``photo_folder`` whose photos and cut-outs join the bundled photos; ``camera_motion_prob``: the
    chance a photo clip's camera pans and zooms, ``None``: ``PhotoClipConfig``'s) or ``"mix"`` (half of each, by the
    scene seed's parity: odd seeds synthetic, even seeds photo; the synthetic half as its renderer makes it).
    All clips carry frames uint8 [T, H, W, 3], path float32 [T, N, 2] px, visible bool [T, N] and a caption;
    all are pure functions of the seeds."""
    if source == "mix":
        # a synthetic clip has no separate motion seed: its scene seed draws both
        synthetic = clip_renderer("synthetic", cfg, num_frames, num_points)
        photo = clip_renderer("photo", cfg, num_frames, num_points, photo_dir, camera_motion_prob)
        return lambda seed, motion_seed=None: synthetic(seed) if seed % 2 else photo(seed, motion_seed)
    if source == "synthetic":
        if photo_dir:
            raise ValueError(f"photo_dir={photo_dir!r} is for clip_source=photo; synthetic clips read no photos")
        ccfg = clip_config(cfg, num_frames, num_points)

        def synthetic(seed: int, motion_seed: int | None = None):
            if motion_seed not in (None, seed):
                raise ValueError("synthetic clips have no separate motion seed: use clip_source=photo for several "
                                 "motions of one scene")
            return make_clip(seed, ccfg)
        return synthetic
    if source == "photo":
        from .photo_clips import PhotoClipConfig, make_photo_clip
        camera = {} if camera_motion_prob is None else {"camera_motion_prob": camera_motion_prob}
        pcfg = PhotoClipConfig.for_model(cfg, num_frames=num_frames, num_points=num_points, photo_dir=photo_dir,
                                         **camera)
        return lambda seed, motion_seed=None: make_photo_clip(seed, pcfg, motion_seed=motion_seed)
    raise ValueError(f"unknown clip source {source!r}: choose one of {', '.join(CLIP_SOURCES)}")


def photo_folder_fingerprint(photo_dir: str) -> str:
    """"" without a photo folder, else its ``PhotoFolder.fingerprint`` (file names and sizes)."""
    if not photo_dir:
        return ""
    from .photo_folder import open_photo_folder
    return open_photo_folder(photo_dir).fingerprint


def cache_seeds(i: int, seed: int, motions_per_scene: int = 1) -> tuple[int, int]:
    """(scene seed, motion seed) of cache clip ``i``: ``motions_per_scene`` consecutive clips share a scene (the
    same first frame) and differ in motion, so only their tracks tell them apart (the overfit probe's design;
    1: every clip its own scene, motion seed = scene seed)."""
    scene = seed * 1_000_003 + i // motions_per_scene
    k = i % motions_per_scene
    return scene, scene if k == 0 else scene + 7_919 * k


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

_WORKER_RENDER: Callable[..., object] | None = None  # a cache-building worker process's ``clip_renderer``


def _start_worker(*renderer_args) -> None:
    global _WORKER_RENDER
    torch.set_num_threads(1)
    _WORKER_RENDER = clip_renderer(*renderer_args)


def _worker_render(seeds: tuple) -> object:
    return _WORKER_RENDER(*seeds)


def build_latent_cache(folder: str | Path, vae: TinyVAE, stats: LatentStats, cfg: ModelConfig, num_frames: int,
                       num_points: int, count: int, seed: int = 0, source: str = "synthetic", motions_per_scene: int = 1,
                       shard_size: int = 64, batch: int = 8, say: Callable[[str], None] = print,
                       photo_dir: str = "", camera_motion_prob: float | None = None, workers: int = 1) -> Path:
    """Encode ``count`` training clips of ``source`` (``clip_renderer``; seeds ``cache_seeds``) into
    ``folder/shard_XXXX.pt``; existing shards are kept (resume) when they were made the same way (the photo
    folder's fingerprint included: another folder's clips are never mixed in). ``workers`` > 1: the clips are
    rendered by that many processes (each clip a pure function of its seeds: the same cache, bit for bit)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if motions_per_scene < 1:
        raise ValueError(f"motions_per_scene must be >= 1, got {motions_per_scene}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    renderer_args = (source, cfg, num_frames, num_points, photo_dir, camera_motion_prob)
    render = clip_renderer(*renderer_args)
    meta = {"count": count, "seed": seed, "num_frames": num_frames, "height": cfg.height,
            "width": cfg.width, "num_points": num_points, "source": source, "motions_per_scene": motions_per_scene,
            "photo_folder": photo_folder_fingerprint(photo_dir)}
    if camera_motion_prob is not None:  # absent: the renderer's default (every cache made before the option)
        meta["camera_motion_prob"] = camera_motion_prob
    first = folder / "shard_0000.pt"
    if first.is_file():
        made = torch.load(first, weights_only=True)["meta"]
        made.setdefault("source", "synthetic")  # caches from before sources existed
        made.setdefault("motions_per_scene", 1)
        made.setdefault("photo_folder", "")  # caches from before photo folders
        differ = [k for k in ("seed", "num_frames", "height", "width", "num_points", "source", "motions_per_scene",
                              "photo_folder", "camera_motion_prob")
                  if made.get(k) != meta.get(k)]
        if differ:
            raise ValueError(f"{folder} holds a latent cache made with other settings ("
                             + ", ".join(f"{k} {made.get(k)!r} != {meta.get(k)!r}" for k in differ)
                             + "): delete it or use another --out")
    shards = math.ceil(count / shard_size)
    todo = [s for s in range(shards) if not (folder / f"shard_{s:04d}.pt").is_file()]
    pool = None
    if workers > 1 and todo:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=renderer_args)
    try:
        for s in todo:
            _write_shard(folder / f"shard_{s:04d}.pt", range(s * shard_size, min(count, (s + 1) * shard_size)),
                         render, pool, vae, stats, seed, motions_per_scene, batch, meta)
            say(f"latent cache: shard {s + 1}/{shards} ({min(count, (s + 1) * shard_size)} clips)")
    finally:
        if pool is not None:
            pool.shutdown()
    return folder


def _write_shard(path: Path, ids: range, render, pool, vae, stats, seed: int, motions_per_scene: int, batch: int,
                 meta: dict) -> None:
    """One shard of ``build_latent_cache``: clips ``ids`` rendered (by ``pool``'s workers, if any), encoded, saved."""
    seeds = [cache_seeds(i, seed, motions_per_scene) for i in ids]
    clips = list(pool.map(_worker_render, seeds)) if pool is not None else [render(*x) for x in seeds]
    zs, imgs = [], []
    for b in range(0, len(clips), batch):
        frames = torch.from_numpy(np.stack([c.frames for c in clips[b:b + batch]]))
        z, img = encode_clips(vae, stats, frames)
        zs.append(z.half().cpu()), imgs.append(img.half().cpu())
    torch.save({"z": torch.cat(zs), "image": torch.cat(imgs),
                "path": torch.from_numpy(np.stack([c.path for c in clips])),
                "visible": torch.from_numpy(np.stack([c.visible for c in clips])),
                **({"owner": torch.from_numpy(np.stack([c.owner for c in clips]).astype(np.int16))}
                   if all(getattr(c, "owner", None) is not None for c in clips) else {}),
                "caption": [c.caption for c in clips], "meta": meta}, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)


def latent_cache_meta(out: str | Path) -> dict:
    """The meta of run ``out``'s latent cache (its first shard's: source, count, photo folder, ...); {} if none."""
    shard = Path(out) / CACHE / "shard_0000.pt"
    return torch.load(shard, weights_only=True)["meta"] if shard.is_file() else {}


def load_latent_cache(folder: str | Path) -> "Clips":
    """All shards of a synthetic latent cache, in memory."""
    files = sorted(Path(folder).glob("shard_*.pt"))
    if not files:
        raise FileNotFoundError(f"no latent cache in {folder}: run the teacher stage (it builds it) first")
    parts = [torch.load(f, weights_only=True) for f in files]
    cat = {k: torch.cat([p[k] for p in parts]) for k in ("z", "image", "path", "visible")}
    owner = torch.cat([p["owner"] for p in parts]) if all("owner" in p for p in parts) else None
    return Clips(**cat, caption=[c for p in parts for c in p["caption"]], meta=parts[0]["meta"], owner=owner)


@dataclass
class Clips:
    """Encoded training clips in memory, all of one shape: what the teacher, ODE and DMD stages train on.

    Text is either captions (the demo model's own text encoder reads them) or, for real data, umT5
    embeddings per clip (``text``, [L_i, text_dim] each, unpadded) with the empty prompt's embedding
    (``null_text``) for caption dropout and the unconditional branch of the guidance.
    """
    z: Tensor  # [N, C, F, h, w] model-space latents (fp16 on disk and in memory)
    image: Tensor  # [N, C, 1, h, w] start-image latents
    path: Tensor  # [N, T, P, 2] pixels of the model's size
    visible: Tensor  # [N, T, P] bool
    caption: list[str]
    text: list[Tensor] | None = None
    null_text: Tensor | None = None
    meta: dict | None = None
    owner: Tensor | None = None  # [N, P] int16: the layer each track belongs to (-1: background); layered clips only
    codec: object = None  # the codec the latents were made with, where the run needs it (models with the ``warp`` reference)

    def __len__(self) -> int:
        return len(self.z)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.z.shape[1:])

    def take(self, index: list[int]) -> "Clips":
        idx = torch.as_tensor(index, dtype=torch.long)
        return Clips(self.z[idx], self.image[idx], self.path[idx], self.visible[idx],
                     [self.caption[i] for i in index], None if self.text is None else [self.text[i] for i in index],
                     self.null_text, self.meta, None if self.owner is None else self.owner[idx], self.codec)


def text_batch(model: MotionStreamModel, captions: list[str], text: list[Tensor] | None) -> Tensor:
    """[B, text_len, text_dim] context: umT5 embeddings zero-padded to ``text_len`` (as Wan pads them), else
    the model's own text encoder on the captions."""
    if text is None:
        return model.text_encoder.encode(captions).to(model.dtype)
    cfg = model.config
    out = torch.zeros(len(text), cfg.text_len, cfg.dit.text_dim)
    for i, t in enumerate(text):
        n = min(len(t), cfg.text_len)
        out[i, :n] = t[:n].float()
    return out.to(model.device, model.dtype)


def null_batch(model: MotionStreamModel, data, n: int) -> Tensor:
    """The empty prompt's context for ``n`` samples (the text-unconditional branch)."""
    return text_batch(model, [""] * n, None if data.null_text is None else [data.null_text] * n)


Gens = torch.Generator | list[torch.Generator]


def randn(shape: tuple[int, ...], gen: Gens) -> Tensor:
    """Noise [B, ...] on the CPU: one draw from ``gen``, or sample b from ``gen[b]`` (then a sample's noise does
    not depend on which other samples share its batch -- or its process)."""
    if isinstance(gen, torch.Generator):
        return torch.randn(shape, generator=gen, dtype=torch.float32)
    return torch.stack([torch.randn(tuple(shape[1:]), generator=g, dtype=torch.float32) for g in gen])


def randint(high: int, batch: int, gen: Gens) -> Tensor:
    """[B] integers in [0, high), drawn like ``randn``."""
    if isinstance(gen, torch.Generator):
        return torch.randint(0, high, (batch,), generator=gen)
    return torch.stack([torch.randint(0, high, (), generator=g) for g in gen])


# -- track conditioning -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TrackSampling:
    max_tracks: int = 64  # tracks per sample are padded to this many (padding is never visible)
    min_tracks: int = 1
    drop_prob: float = 0.1  # no tracks at all (motion-unconditional branch of the guidance)
    mask_prob: float = 0.5  # hide a random part of the tracks over a random mid-clip interval
    ids_max: int = 1024  # track IDs are a random prefix of a permutation of [0, ids_max)
    # > 0: the chosen tracks first cover every motion of the clip (``covering_order``: no two motions closer than
    # this many px RMS left without a track), so few tracks never leave a mover untracked; 0: a random subset
    cover_px: float = 0.0
    # True (layered clips, which know each track's layer): requests as a user makes them -- 1 to ``user_points``
    # points on every moving layer and 0 to ``user_pins`` static pins (background or still layers), nothing else;
    # the loss still sees the whole frame, so the model must move each layer as a whole from a few points
    user: bool = False
    user_points: int = 3
    user_pins: int = 8

    def __post_init__(self):
        if not 1 <= self.min_tracks <= self.max_tracks:
            raise ValueError(f"min_tracks must be between 1 and max_tracks ({self.max_tracks}), got {self.min_tracks}")
        if self.cover_px < 0:
            raise ValueError(f"cover_px must be >= 0, got {self.cover_px}")


def covering_order(path: Tensor, cand: Tensor, cover_px: float) -> tuple[Tensor, int]:
    """(``cand`` reordered, k): ``cand`` (track indices into ``path`` [T, P, 2]) with its first k tracks covering
    every motion: farthest-point order over the tracks' displacements from frame 0 (RMS px over frames), stopping
    once every candidate's motion lies within ``cover_px`` of a chosen one; the rest keep their order. A clip whose
    layers move differently gets a track on each (a rotating or scaling layer: several) before any second one."""
    if len(cand) < 2:
        return cand, len(cand)
    disp = (path[:, cand] - path[:1, cand]).float()  # [T, n, 2]
    chosen = [0]
    dist = (disp - disp[:, :1]).square().sum(-1).mean(0).sqrt()  # [n]: RMS distance to the chosen set
    while len(chosen) < len(cand):
        far = int(torch.argmax(dist))
        if dist[far] <= cover_px:
            break
        chosen.append(far)
        dist = torch.minimum(dist, (disp - disp[:, far:far + 1]).square().sum(-1).mean(0).sqrt())
    picked = torch.zeros(len(cand), dtype=torch.bool)
    picked[chosen] = True
    return torch.cat([cand[chosen], cand[~picked]]), len(chosen)


def track_sampling(opts, cfg: ModelConfig) -> TrackSampling:
    """A stage's track conditioning (``common.ModelStageOptions``) for model config ``cfg``."""
    return TrackSampling(max_tracks=opts.max_tracks, min_tracks=opts.min_tracks, drop_prob=opts.track_drop,
                         mask_prob=opts.mask_prob, ids_max=cfg.track_head.max_id, cover_px=opts.cover_px,
                         user=getattr(opts, "user_tracks", False))


def user_request(path: Tensor, visible: Tensor, owner: Tensor, s: TrackSampling, gen: torch.Generator) -> Tensor:
    """Track indices of a user-style request (``TrackSampling.user``): on every layer that moves (some point of it
    more than 1 px from its start) 1 to ``user_points`` of its points visible in frame 0, then 0 to ``user_pins``
    points of what stays still (the background, still layers), visible in frame 0."""
    start = visible[0]
    moved = (path - path[:1]).norm(dim=-1).amax(0) > 1.0  # [P]
    picks, still = [], []
    for k in torch.unique(owner).tolist():
        mine = torch.nonzero((owner == k) & start).flatten()
        if len(mine) == 0:
            continue
        mine = mine[torch.randperm(len(mine), generator=gen)]
        if k >= 0 and moved[owner == k].any():
            picks.append(mine[:int(torch.randint(1, s.user_points + 1, (), generator=gen))])
        else:
            still.append(mine)
    pins = torch.cat(still) if still else torch.zeros(0, dtype=torch.long)
    pins = pins[torch.randperm(len(pins), generator=gen)][:int(torch.randint(0, s.user_pins + 1, (), generator=gen))]
    return torch.cat(picks + [pins])


def sample_tracks(path: Tensor, visible: Tensor, s: TrackSampling, gen: torch.Generator,
                  count: int | None = None, owner: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """One clip's conditioning: path [T, P, 2], visible [T, P] -> (path [T, M, 2], visible [T, M], ids [M]).

    ``count`` fixes the number of tracks (else, with equal odds, uniform or log-uniform in
    [min_tracks, available]); with ``cover_px`` the count is at least the tracks that cover every motion.
    With ``s.user`` and the tracks' layers ``owner`` [P], the request is ``user_request``'s instead.
    """
    T, P = visible.shape
    M = s.max_tracks
    cand = torch.nonzero(visible.any(0)).flatten()
    cand = cand[torch.randperm(len(cand), generator=gen)]
    covering = 0
    if s.user:
        if owner is None:
            raise ValueError("user-style track requests need each track's layer: build the latent cache from "
                             "layered (photo) clips")
        cand = user_request(path, visible, owner, s, gen)
        count = len(cand)
    elif s.cover_px > 0:
        cand, covering = covering_order(path, cand, s.cover_px)
    if count is None:
        hi = min(len(cand), M)
        lo = min(max(s.min_tracks, covering), hi)
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


def sample_track_batch(paths: Tensor, visibles: Tensor, s: TrackSampling, gens: list[torch.Generator],
                       count: int | None = None, owners: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``sample_tracks`` for each clip of a batch, clip b drawing from ``gens[b]`` (``owners`` [B, P]: the tracks'
    layers, for user-style requests)."""
    owners = [None] * len(paths) if owners is None else owners
    parts = [sample_tracks(p, v, s, g, count, o) for p, v, g, o in zip(paths, visibles, gens, owners)]
    return tuple(torch.stack(x) for x in zip(*parts))  # type: ignore[return-value]


def encode_tracks(model: MotionStreamModel, path: Tensor, visible: Tensor, ids: Tensor,
                  image: Tensor | None = None) -> Tensor:
    """Batch [B, T, M, 2] / [B, T, M] / [B, M] -> track latents [B, 16, F, h, w] (whole clips, from frame 0).

    ``image`` [B, C, 1, h, w]: the start-image latents, which a head with ``appearance_channels`` samples."""
    cfg = model.config
    head = model.track_head
    grids = []
    images = [None] * len(path) if image is None else image
    for p, v, i, img in zip(path, visible, ids, images):
        app = head.appearance_of(img, p, v, cfg.height, cfg.width)
        grid = rasterize_tracks(p, v, head.embed(i, app), cfg.height, cfg.width, cfg.track_head.stride)
        grids.append(pack_time(grid, True, cfg.track_head.temporal_pack))
    return head(torch.stack(grids).to(model.device)).to(model.dtype)


def encode_conditioning(model: MotionStreamModel, path: Tensor, visible: Tensor, ids: Tensor,
                        image: Tensor, codec=None) -> tuple[Tensor, Tensor]:
    """Batch [B, T, M, 2] / [B, T, M] / [B, M] and start-image latents [B, C, 1, h, w] -> (track latents, image
    slots), each [B, C, F, h, w] for whole clips from frame 0: what the DiT is conditioned on.

    ``codec``: the codec the clips were encoded with (``Clips.codec``), which a model whose image slot is the start
    image warped along the tracks (the ``warp`` reference) needs to build it (``reference.clip_slot``)."""
    cfg = model.config
    tracks = encode_tracks(model, path, visible, ids, image)
    reference = None
    if cfg.parameterisation.warps:
        if codec is None:
            raise ValueError(f"model {cfg.name!r} warps its image slot along the tracks (reference 'warp'): the run's codec "
                             "builds it from the start image; give encode_conditioning the clips' codec")
        reference = clip_slot(codec, image, path, visible, warp_radius(cfg, cfg.height, cfg.width))
    return tracks, model.image_slot(image, tracks.shape[2], 0, reference).to(tracks.dtype)


@torch.no_grad()
def request_conditioning(model: MotionStreamModel, codec, image: np.ndarray, path: Tensor, visible: Tensor,
                         seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """One request on one image, as the evaluations pose it: ``image`` uint8 [H, W, 3] at the model's size, tracks
    path [T, N, 2] px and visible [T, N] from frame 0, track IDs drawn from ``seed`` as a stream draws them ->
    (start-image latent [1, C, 1, h, w], track latent and image slot [1, C, F, h, w]) on the model's device."""
    cfg = model.config
    img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255).to(model.device)
    start = codec.encode_image(img).to(model.device)
    ids = assign_track_ids(cfg.track_head.max_tracks, seed, cfg.track_head.max_id)[:path.shape[1]]
    tracks, slot = encode_conditioning(model, path[None], visible[None], ids[None], start, codec)
    return start, tracks, slot


@dataclass
class Batch:
    z: Tensor  # [B, C, F, h, w] clean latents
    image: Tensor  # [B, C, 1, h, w] start-image latents
    path: Tensor
    visible: Tensor
    ids: Tensor
    caption: list[str]  # "" where the caption was dropped
    text: list[Tensor] | None  # umT5 embeddings (the null prompt's where dropped), or None: captions
    gens: list[torch.Generator]  # one per sample: everything random about it
    slots: list[int]  # positions in the global batch
    codec: object = None  # the clips' codec (``Clips.codec``)

    def context(self, model: MotionStreamModel) -> Tensor:
        return text_batch(model, self.caption, self.text)


def make_batch(data, samples: list, s: TrackSampling, device: torch.device, text_drop: float = 0.0,
               count: int | None = None) -> Batch:
    """A training batch of ``samples`` (``loop.Sample``: clip index + generator): track subsets, masking and
    dropout, and caption dropout, each sample from its own generator."""
    clips = data.take([x.index for x in samples])
    gens = [x.gen for x in samples]
    path, vis, ids = sample_track_batch(clips.path, clips.visible, s, gens, count, clips.owner)
    keep = [torch.rand((), generator=g).item() >= text_drop for g in gens]
    captions = [c if k else "" for c, k in zip(clips.caption, keep)]
    text = None if clips.text is None else [t if k else data.null_text for t, k in zip(clips.text, keep)]
    return Batch(clips.z.float().to(device), clips.image.float().to(device), path, vis, ids, captions, text, gens,
                 [x.slot for x in samples], data.codec)

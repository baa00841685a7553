"""Data preparation: videos + captions -> clips -> tracks -> Wan VAE latents + umT5 embeddings -> shards.

    motionstream train prepare --videos clips/ --data data/ --vae Wan2.1_VAE.safetensors \\
        --text-encoder umt5-xxl/ --config wan2.1-1.3b --frames 81
    torchrun --nproc_per_node 8 -m motionstream_core.train.cli prepare ...   # the same, 8 ranks

The video list is cut into shards of ``shard_size`` videos; rank r makes shards r, r + N, ... . A shard is
``shard_XXXXX.safetensors`` (tensors below, captions and sources in its metadata) plus
``shard_XXXXX.json`` (written last: the shard is complete; its clip count and the videos it skipped with
the reason). Running again skips complete shards (resume). Rank 0 then writes ``manifest.json`` (sizes,
encoders, shard list, every skipped video with its reason) and ``null_text.safetensors`` (the empty
prompt's embedding). A video that cannot be read is reported in one line naming it and the reason.

Shard tensors, n clips: ``z`` [n, 16, F, h, w] fp16 model-space latents; ``image`` [n, 16, 1, h, w] fp16
start-image latents; ``path`` [n, T, P, 2] float32 model pixels; ``visible`` [n, T, P] bool; ``text.<i>``
[L_i, text_dim] bf16 umT5 embedding of clip i.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..config import WAN21, ModelConfig
from ..tracks import TrackError
from .common import log, model_config
from .data import CACHE, Clips, load_latent_cache
from .distributed import DistEnv
from .videos import VideoError, VideoItem, clip_tracks, list_videos, read_clips

FORMAT = "motionstream-clips/1"
MANIFEST = "manifest.json"
NULL_TEXT = "null_text.safetensors"
OPEN_SHARDS = 64  # shard files a reader keeps open (a large data set has thousands; file limits are ~1024)


@dataclass
class PrepareOptions:
    videos: str  # a folder of videos, a list file (one path a line) or a JSONL of {"video", "caption", "tracks"}
    data: str  # output folder of shards
    vae: str  # Wan VAE: a single file or a diffusers folder (AutoencoderKLWan)
    text_encoder: str  # a transformers folder: tokenizer + UMT5EncoderModel
    config: str = "wan2.1-1.3b"  # model config: frame size, latent channels, text length and width
    frames: int = 81  # pixel frames per clip (1 + 4k)
    fps: float | None = None  # default: the config's stream fps
    points: int = 256  # tracks per clip (grid when tracking; a random subset of a user's file)
    clips_per_video: int = 1
    shard_size: int = 64  # videos per shard
    batch: int = 2  # clips per VAE call
    seed: int = 0
    device: str | None = None


def _shard_name(s: int) -> str:
    return f"shard_{s:05d}"


def prepare(opts: PrepareOptions, say=print) -> Path:
    """Make (or complete) the shards of ``opts.videos`` in ``opts.data``; returns the manifest's path."""
    from .encoders import UMT5TextEncoder, VideoLatentEncoder

    cfg = model_config(opts.config)
    if (opts.frames - 1) % cfg.vae.temporal_stride:
        raise ValueError(f"frames must be 1 + {cfg.vae.temporal_stride}k, got {opts.frames}")
    fps = float(opts.fps or cfg.stream.fps)
    env = DistEnv.from_environment(torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu")))
    device = env.device(opts.device)
    out = Path(opts.data)
    out.mkdir(parents=True, exist_ok=True)
    items = list_videos(opts.videos)
    if not items:
        raise ValueError(f"no videos in {opts.videos}")
    shards = range(0, -(-len(items) // opts.shard_size))
    mine = [s for s in shards if s % env.world == env.rank and not (out / f"{_shard_name(s)}.json").is_file()]
    if mine:
        vae = VideoLatentEncoder.from_file(opts.vae, device)
        text = UMT5TextEncoder.from_folder(opts.text_encoder, cfg.text_len, device)
        _check_encoders(cfg, vae, text)
        for s in mine:
            part = items[s * opts.shard_size:(s + 1) * opts.shard_size]
            n, failed = _make_shard(out / _shard_name(s), part, cfg, fps, opts, vae, text, say)
            say(f"prepare: {_shard_name(s)} ({s + 1}/{len(shards)}): {n} clips, {len(failed)} videos skipped")
        if env.main:
            save_file({"text": text.encode([""])[0].to(torch.bfloat16)}, str(out / NULL_TEXT))
    env.barrier()
    if env.main:
        if not (out / NULL_TEXT).is_file():  # every shard was made before: only the null prompt is missing
            text = UMT5TextEncoder.from_folder(opts.text_encoder, cfg.text_len, device)
            save_file({"text": text.encode([""])[0].to(torch.bfloat16)}, str(out / NULL_TEXT))
        write_manifest(out, cfg, fps, opts, len(shards), len(items))
    env.barrier()
    return out / MANIFEST


def _check_encoders(cfg: ModelConfig, vae, text) -> None:
    if vae.latent_channels != cfg.latent_channels:
        raise ValueError(f"the VAE has {vae.latent_channels} latent channels, model config {cfg.name!r} "
                         f"{cfg.latent_channels}")
    if text.dim != cfg.dit.text_dim:
        raise ValueError(f"the text encoder's width is {text.dim}, model config {cfg.name!r} takes "
                         f"{cfg.dit.text_dim}")


def _make_shard(stem: Path, items: list[VideoItem], cfg: ModelConfig, fps: float, opts: PrepareOptions,
                vae, text, say) -> tuple[int, list[dict]]:
    frames, tracks, captions, sources, failed = [], [], [], [], []
    for item in items:
        try:
            clips = read_clips(item.video, opts.frames, fps, cfg.width, cfg.height, opts.clips_per_video)
            for c, (f, geo) in enumerate(clips):
                tracks.append(clip_tracks(f, geo, opts.points, item.tracks, seed=opts.seed))
                frames.append(f)
                captions.append(item.caption)
                sources.append(f"{item.video}#{c}")
        except (VideoError, TrackError) as e:
            reason = str(e)
            say(f"prepare: skipped {item.video}: {reason}")
            failed.append({"video": item.video, "reason": reason})
    if frames:
        zs, imgs = [], []
        for b in range(0, len(frames), opts.batch):
            z, img = vae.encode(np.stack(frames[b:b + opts.batch]))
            zs.append(z), imgs.append(img)
        clips = Clips(torch.cat(zs), torch.cat(imgs), torch.from_numpy(np.stack([p for p, _ in tracks])),
                      torch.from_numpy(np.stack([v for _, v in tracks])), captions, text.encode(captions))
        write_shard(stem, clips, sources)
    stem.with_suffix(".json").write_text(json.dumps({"clips": len(frames), "failed": failed}, indent=1))
    return len(frames), failed


def write_shard(stem: Path, clips: Clips, sources: list[str]) -> None:
    """``stem``.safetensors (atomically) holding ``clips`` (their text embeddings in ``clips.text``)."""
    tensors = {"z": clips.z.half(), "image": clips.image.half(), "path": clips.path.float(),
               "visible": clips.visible.bool()}
    tensors.update({f"text.{i}": e.to(torch.bfloat16).contiguous() for i, e in enumerate(clips.text or [])})
    tmp = stem.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "captions": json.dumps(clips.caption),
                                           "sources": json.dumps(sources)})
    tmp.replace(stem.with_suffix(".safetensors"))


def write_manifest(out: Path, cfg: ModelConfig, fps: float, opts: PrepareOptions, shards: int, videos: int) -> None:
    """``manifest.json`` from the ``shards`` shard JSON files (clip counts, skipped videos)."""
    listed, failed = [], []
    for s in range(shards):
        info = json.loads((out / f"{_shard_name(s)}.json").read_text())
        failed += info["failed"]
        if info["clips"]:
            listed.append({"file": f"{_shard_name(s)}.safetensors", "clips": info["clips"]})
    manifest = {"format": FORMAT, "config": cfg.name, "latent_space": WAN21, "height": cfg.height, "width": cfg.width,
                "fps": fps,
                "frames": opts.frames, "points": opts.points, "text_dim": cfg.dit.text_dim,
                "latent_channels": cfg.latent_channels, "videos": videos,
                "clips": sum(s["clips"] for s in listed), "shards": listed, "failed": failed,
                "options": asdict(opts)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    if failed:
        log(f"prepare: {len(failed)} of {videos} videos skipped (listed with the reason in {out / MANIFEST})")


class PreparedClips:
    """The shards of a prepared folder as training data (``data.Clips`` interface, read lazily).

    ``take`` reads only the requested clips (safetensors slices), so the data set need not fit in memory.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"no {MANIFEST} in {self.folder}: run `motionstream train prepare` first")
        self.manifest = json.loads(path.read_text())
        if self.manifest.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} manifest")
        self.latent_space = data_latent_space(self.folder)
        self.codec = None  # as ``data.Clips.codec``: set by ``autoencoder.attach_stage_codec`` when a model needs it
        self._shards = [self.folder / s["file"] for s in self.manifest["shards"]]
        counts = [s["clips"] for s in self.manifest["shards"]]
        self._starts = np.cumsum([0] + counts)
        if not counts:
            raise ValueError(f"{path}: no clips (every video was skipped; see its 'failed' list)")
        self._handles: OrderedDict[int, object] = OrderedDict()  # at most OPEN_SHARDS open files, least recent out
        self._captions: dict[int, list[str]] = {}
        with safe_open(str(self.folder / NULL_TEXT), "pt") as f:
            self.null_text = f.get_tensor("text")
        with safe_open(str(self._shards[0]), "pt") as f:
            self.latent_shape = tuple(f.get_slice("z").get_shape()[1:])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _open(self, s: int):
        if s in self._handles:
            self._handles.move_to_end(s)
            return self._handles[s]
        if len(self._handles) >= OPEN_SHARDS:
            self._handles.popitem(last=False)
        f = safe_open(str(self._shards[s]), "pt")
        self._handles[s] = f
        self._captions.setdefault(s, json.loads(f.metadata()["captions"]))
        return f

    def take(self, index: list[int]) -> Clips:
        parts: dict[str, list] = {"z": [], "image": [], "path": [], "visible": []}
        captions, text = [], []
        for i in index:
            s = int(np.searchsorted(self._starts, i, side="right") - 1)
            j = int(i - self._starts[s])
            f = self._open(s)
            for k in parts:
                parts[k].append(f.get_slice(k)[j:j + 1])
            captions.append(self._captions[s][j])
            text.append(f.get_tensor(f"text.{j}"))
        return Clips(**{k: torch.cat(v) for k, v in parts.items()}, caption=captions, text=text,
                     null_text=self.null_text, meta=self.manifest)

    def check(self, cfg: ModelConfig) -> None:
        """One clear error when these clips do not fit model config ``cfg``."""
        m = self.manifest
        want = (cfg.latent_channels, cfg.height // cfg.vae.spatial_stride, cfg.width // cfg.vae.spatial_stride)
        got = (self.latent_shape[0], *self.latent_shape[2:])
        if got != want or m["text_dim"] != cfg.dit.text_dim:
            raise ValueError(f"{self.folder} was prepared for {m['config']!r} ({m['width']}x{m['height']}, latents "
                             f"{got}, text width {m['text_dim']}); model config {cfg.name!r} needs latents {want} "
                             f"and text width {cfg.dit.text_dim}")
        if cfg.latent_space != self.latent_space:
            raise ValueError(f"{self.folder} holds {self.latent_space!r} latents (the Wan VAE's) but the run's model "
                             f"config {cfg.name!r} makes {cfg.latent_space!r} latents: its student would be decoded "
                             "as the wrong latents. Start a new --out on this data (a run's first stage takes the "
                             "latent space of its --data)")


def data_latent_space(folder: str | Path) -> str | None:
    """The latent space of a prepared folder's clips (None: no manifest there). ``prepare`` encodes with the Wan VAE
    normalised by its statistics, so a manifest written before it recorded the space holds Wan 2.1 latents too."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("latent_space", WAN21)


def embed_text(data: str | Path, prompt: str, dest: str | Path, out: str | Path | None = None,
               text_encoder: str | None = None, device: str | None = None) -> Path:
    """The ``--text-embedding`` file ``motionstream generate`` takes for a student trained on ``data``: ``prompt``
    through the umT5 that prepared it (``text_encoder``, default: the folder its manifest names), rounded to bf16 as
    the shards store captions and zero-padded to the model's ``text_len`` as training pads them -- so the student
    streams on exactly the context it was trained with. The model config: the run ``out``'s, else the data's."""
    from .encoders import UMT5TextEncoder

    m = PreparedClips(data).manifest
    run_json = None if out is None else Path(out) / "run.json"
    if run_json is not None and run_json.is_file():
        cfg = ModelConfig.from_dict(json.loads(run_json.read_text())["model_config"])
    else:
        cfg = model_config(m["config"])
    folder = text_encoder or m.get("options", {}).get("text_encoder")
    if not folder:
        raise ValueError(f"{Path(data) / MANIFEST} names no text encoder: give --text-encoder")
    enc = UMT5TextEncoder.from_folder(folder, cfg.text_len, device or "cpu")
    if enc.dim != m["text_dim"]:
        raise ValueError(f"the text encoder in {folder} is {enc.dim} wide; {data} was prepared with one "
                         f"{m['text_dim']} wide")
    e = enc.encode([prompt])[0].to(torch.bfloat16).float()
    context = torch.zeros(1, cfg.text_len, enc.dim)
    context[0, :min(len(e), cfg.text_len)] = e[:cfg.text_len]
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file({"context": context}, str(dest), metadata={"prompt": prompt, "text_encoder": str(folder)})
    return dest


def stage_data(out: str | Path, data: str = "") -> "Clips | PreparedClips":
    """The clips the teacher, ODE and DMD stages train on: a prepared folder, else the run's synthetic cache."""
    if data:
        return PreparedClips(data)
    return load_latent_cache(Path(out) / CACHE)


def check_data(data, cfg: ModelConfig) -> None:
    """One clear error when the clips' latents do not fit the run's model config."""
    if hasattr(data, "check"):
        data.check(cfg)
        return
    c, _, h, w = data.latent_shape
    want = (cfg.latent_channels, cfg.height // cfg.vae.spatial_stride, cfg.width // cfg.vae.spatial_stride)
    if (c, h, w) != want:
        raise ValueError(f"the clips have latents {(c, h, w)}, model config {cfg.name!r} needs {want}")

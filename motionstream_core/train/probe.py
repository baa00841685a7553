"""The overfit probe of the conditioning path.

A teacher is trained with the recipe's own loss and track sampling (``teacher_train.flow_matching_loss``,
``data.make_batch``) on a handful of photo clips made of ``scenes`` scenes x ``motions`` motions each
(``photo_clips.make_photo_clip(scene, motion_seed=...)``: the same first frame with different motions),
so the first frame alone cannot say which motion to make: only the tracks can. It works in the latent
space of a linear codec (``LinearCodec``: PCA of space-time patches, fitted on the probe clips), so the
autoencoder is not part of the question. Then it measures, on those same clips:

1. the clean-latent error per sigma of ``x0 = x_sigma - sigma v`` with the clip's own tracks, without
   tracks, and with the *other* motion's tracks of the same scene (``swap``); and how close the swapped
   prediction is to the other clip (``swap_to_other``): a model that reads its tracks moves towards it;
2. videos sampled by the teacher (Euler, motion guidance), decoded and re-tracked with the eval
   tracker (``evaluate.retracked``): EPE against the requested tracks, over a still video's, for the
   clip's own tracks and for the other motion's tracks (does it follow the request or its memory?),
   with the codec round trip and the clip itself (the tracker's floor) to read them by.

    python -m motionstream_core.train.probe --out runs/probe --minutes 25 --threads 1

Resumable (``<out>/probe/ckpt.pt``); the figures go to ``<out>/probe/report.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .. import flow
from ..config import ModelConfig
from ..teacher import Guidance, teacher_sample
from .common import EMA, Budget, Stage, build_model, model_config, set_threads, text_context, warmup_lr
from .data import Clips, TrackSampling, encode_tracks, make_batch
from .loop import Sample, seeded
from .evaluate import requested_tracks, retracked, to_uint8
from .photo_clips import PhotoClipConfig, make_photo_clip
from .teacher_train import flow_matching_loss


@dataclass
class ProbeOptions:
    scenes: int = 8
    motions: int = 2
    frames: int = 17  # 5 latent frames
    size: int = 64  # frame size (square)
    stride: int = 4  # codec / track-grid stride
    patch: int = 2  # DiT patch (tokens are stride * patch px)
    base_config: str = "demo-small"
    track_head_init: str = "torch"  # common.TRACK_HEAD_INITS
    appearance: bool = False  # tracks also carry the start image's latent (TrackHeadConfig.appearance_channels)
    steps: int = 100_000
    minutes: float | None = None
    batch: int = 4
    lr: float = 5e-4
    warmup: int = 50
    ema: float = 0.99
    track_drop: float = 0.1
    mask_prob: float = 0.5
    max_tracks: int = 32
    sigma_weight: str = "recipe"  # "recipe" (half uniform, half shift-warped) or "high" (all shift-warped)
    gain_every: int = 200  # steps between cheap track-gain read-outs (sigma 0.95, 0.8) during training
    heldout_scenes: int = 0  # also measure on this many unseen scenes (x motions): does following generalise?
    sample_steps: int = 16
    tracks: int = 12  # requested tracks per clip in the measurement
    seed: int = 0
    log_every: int = 20
    save_every_s: float = 120.0


class LinearCodec:
    """PCA of space-time patches: ``stride`` x ``stride`` pixels x ``pack`` frames x RGB -> ``channels``.

    Time is packed like the track head (frame 0 repeated ``pack`` times makes latent 0, then frames
    4j-3..4j make latent j), so latent 0 is also the start-image latent. Latents are whitened per channel.
    frames uint8 [B, T, H, W, 3] <-> latents float [B, C, 1 + (T-1)/pack, H/stride, W/stride].
    """

    def __init__(self, frames: np.ndarray, stride: int, channels: int = 16, pack: int = 4, samples: int = 40_000):
        self.stride, self.pack, self.channels = stride, pack, channels
        v = self._vectors(torch.from_numpy(frames))
        v = v.reshape(-1, v.shape[-1])
        v = v[torch.randperm(len(v), generator=torch.Generator().manual_seed(0))[:samples]]
        self.mean = v.mean(0)
        _, s, vh = torch.linalg.svd(v - self.mean, full_matrices=False)
        self.basis = vh[:channels].T  # [D, C]
        self.std = (s[:channels] / (len(v) - 1) ** 0.5).clamp(min=1e-6)

    def _vectors(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.float() / 255.0
        x = torch.cat([x[:, :1].expand(-1, self.pack - 1, -1, -1, -1), x], 1)  # [B, T', H, W, 3]
        b, t, h, w, c = x.shape
        s, p = self.stride, self.pack
        x = x.view(b, t // p, p, h // s, s, w // s, s, c).permute(0, 1, 3, 5, 2, 4, 6, 7)
        return x.reshape(b, t // p, h // s, w // s, p * s * s * c)

    def encode(self, frames: np.ndarray) -> torch.Tensor:
        z = (self._vectors(torch.from_numpy(frames)) - self.mean) @ self.basis / self.std
        return z.permute(0, 4, 1, 2, 3).contiguous()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents [B, C, F, h, w] -> float frames [B, T, H, W, 3] in [0, 1] (T = 1 + pack (F - 1))."""
        b, _, f, h, w = z.shape
        s, p = self.stride, self.pack
        v = (z.permute(0, 2, 3, 4, 1).float() * self.std) @ self.basis.T + self.mean
        x = v.view(b, f, h, w, p, s, s, 3).permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, f * p, h * s, w * s, 3)
        first = x[:, :p].mean(1, keepdim=True)  # latent 0 holds frame 0 p times
        return torch.cat([first, x[:, p:]], 1).clamp(0, 1)


def probe_config(opts: ProbeOptions) -> ModelConfig:
    base = model_config(opts.base_config)
    if base.parameterisation.warps:
        raise ValueError(f"the probe conditions on the start image itself; {opts.base_config!r} takes it warped along "
                         "the tracks (reference 'warp'), which the probe's own codec does not build: probe a config "
                         "whose reference is first_frame or start_image")
    space = {8: (True, True, True), 4: (False, True, True), 2: (False, False, True)}[opts.stride]
    return dataclasses.replace(
        base, name=f"probe-s{opts.stride}p{opts.patch}", height=opts.size, width=opts.size,
        dit=dataclasses.replace(base.dit, patch_size=(1, opts.patch, opts.patch)),
        track_head=dataclasses.replace(base.track_head, stride=opts.stride,
                                       appearance_channels=base.latent_channels if opts.appearance else 0),
        vae=dataclasses.replace(base.vae, space_upscale=space)).validate()


def probe_clips(opts: ProbeOptions, heldout: bool = False):
    """scenes x motions clips; clip k = scene k // motions, motion k % motions (held-out: other seeds)."""
    ccfg = PhotoClipConfig(height=opts.size, width=opts.size, num_frames=opts.frames, num_points=64,
                           camera_motion_prob=0.3, still_layer_prob=0.0, max_layers=2)
    first, scenes = (70_000, opts.heldout_scenes) if heldout else (50_000, opts.scenes)
    return [make_photo_clip(first + s, ccfg, motion_seed=first + 40_000 + 97 * s + m)
            for s in range(scenes) for m in range(opts.motions)]


def _as_clips(codec: "LinearCodec", clips) -> Clips:
    z = codec.encode(np.stack([c.frames for c in clips]))
    return Clips(z=z, image=z[:, :, :1].clone(), path=torch.from_numpy(np.stack([c.path for c in clips])),
                 visible=torch.from_numpy(np.stack([c.visible for c in clips])), caption=[c.caption for c in clips])


def _other(k: int, motions: int) -> int:
    """The clip with the same scene and the next motion."""
    return k - k % motions + (k % motions + 1) % motions


def train_probe(out: str, opts: ProbeOptions) -> dict:
    cfg = probe_config(opts)
    stage = Stage(out, "probe", opts.steps, opts.log_every, opts.save_every_s)
    clips = probe_clips(opts)
    codec = LinearCodec(np.stack([c.frames for c in clips]), opts.stride)
    cache = _as_clips(codec, clips)
    z = cache.z
    model = build_model(cfg, opts.seed, track_head_init=opts.track_head_init)
    opt = torch.optim.AdamW(model.parameters(), lr=opts.lr, betas=(0.9, 0.99))
    ema = EMA(model, opts.ema)
    step = 0
    state = stage.load()
    if state is not None:
        model.load_state_dict(state["model"]), opt.load_state_dict(state["opt"]), ema.load_state_dict(state["ema"])
        step = state["step"]
    sampling = TrackSampling(max_tracks=opts.max_tracks, drop_prob=opts.track_drop, mask_prob=opts.mask_prob,
                             ids_max=cfg.track_head.max_id)
    if opts.sigma_weight not in ("recipe", "high"):
        raise ValueError(f"sigma_weight must be 'recipe' or 'high', got {opts.sigma_weight!r}")
    stage.say(f"probe {cfg.name}: {len(clips)} clips ({opts.scenes} scenes x {opts.motions} motions), "
              f"{opts.size}px x {opts.frames} frames, {z.shape[2]}x{z.shape[3]}x{z.shape[4]} latents, "
              f"{(z.shape[3] // opts.patch) ** 2} tokens a latent frame")
    budget = Budget(opts.steps, opts.minutes)
    model.train()
    while not budget.done(step):
        gens = [seeded(opts.seed, step, slot) for slot in range(opts.batch)]  # a step is a function of the step
        samples = [Sample(int(torch.randint(0, len(clips), (), generator=g)), g, slot) for slot, g in enumerate(gens)]
        batch = make_batch(cache, samples, sampling, torch.device("cpu"))
        warmup_lr(opt, opts.lr, step, opts.warmup)
        sigma = None  # the recipe: half uniform, half warped at the teacher's shift
        if opts.sigma_weight == "high":  # all warped: most of the weight at high noise, where following is decided
            u = torch.stack([torch.rand((), generator=g) for g in gens])
            sigma = flow.shift_sigma(u, cfg.teacher.shift).float().clamp(1e-3, 1)
        loss = flow_matching_loss(model, batch, cfg.teacher.shift, sigma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema.update(model, step)
        stage.record(step, loss=loss.item())
        if stage.should_save():
            stage.save({"step": step, "model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.state_dict()})
        if opts.gain_every and step % opts.gain_every == 0:  # the curve: do the tracks start to matter?
            model.eval()
            _, gain = latent_errors(model, cache, opts.motions, sigmas=(0.95, 0.8))
            model.train()
            with open(stage.dir / "gain.jsonl", "a") as f:
                f.write(json.dumps({"step": step, "track_gain": gain}) + "\n")
            stage.say(f"step {step}: track gain (1 - own/none clean-latent error, training weights) {gain}")
    stage.save({"step": step, "model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.state_dict()})
    ema.copy_to(model)
    report = {"train": measure(model.eval(), codec, clips, cache, opts)}
    if opts.heldout_scenes:
        held = probe_clips(opts, heldout=True)
        report["heldout"] = measure(model, codec, held, _as_clips(codec, held), opts)
    report.update(step=step, options=dataclasses.asdict(opts), config=cfg.name)
    (stage.dir / "report.json").write_text(json.dumps(report, indent=1))
    stage.say(json.dumps({k: v for k, v in report.items() if k != "options"}, indent=1))
    return report


def _ids(n: int, k: int, max_id: int) -> torch.Tensor:
    return torch.randperm(max_id, generator=torch.Generator().manual_seed(1234 + k))[:n]


@torch.no_grad()
def latent_errors(model, cache: Clips, motions: int, sigmas=(0.95, 0.8, 0.6, 0.4, 0.2)) -> tuple[dict, dict]:
    """Clean-latent MSE per sigma (frames after the start image) with the clip's own tracks, none, the
    other motion's tracks (``swap``) and the swapped prediction's distance to the other clip; and the
    tracks' share of the error, ``1 - own / none``, per sigma (0: the tracks are ignored)."""
    cfg = model.config
    ctx = text_context(model, [""])
    none_vis = torch.zeros_like(cache.visible[0])
    err = {k: {s: [] for s in sigmas} for k in ("own", "none", "swap", "swap_to_other")}
    for k in range(len(cache)):
        o = _other(k, motions)
        ids = _ids(cache.path.shape[2], k, cfg.track_head.max_id)[None]
        tl = {name: encode_tracks(model, cache.path[[j]], vis[None], ids, cache.image[[k]].float())
              for name, j, vis in (("own", k, cache.visible[k]), ("none", k, none_vis),
                                   ("swap", o, cache.visible[o]))}
        z, zo = cache.z[[k]].float(), cache.z[[o]].float()
        img = model.image_slot(cache.image[[k]].float(), z.shape[2], 0)
        g = torch.Generator().manual_seed(k)
        for s in sigmas:
            noise = torch.randn(z.shape, generator=g)
            x = flow.add_noise(z, noise, torch.tensor([s]))
            for name in ("own", "none", "swap"):
                v = model.velocity(x, flow.to_timestep(torch.tensor([s])), tl[name], img, ctx)
                x0 = x - s * v
                err[name][s].append(F.mse_loss(x0[:, :, 1:], z[:, :, 1:]).item())
                if name == "swap":
                    err["swap_to_other"][s].append(F.mse_loss(x0[:, :, 1:], zo[:, :, 1:]).item())
    latent = {name: {str(s): round(float(np.mean(v)), 4) for s, v in d.items()} for name, d in err.items()}
    gain = {str(s): round(1 - float(np.mean(err["own"][s])) / max(float(np.mean(err["none"][s])), 1e-9), 3)
            for s in sigmas}
    return latent, gain


@torch.no_grad()
def measure(model, codec: LinearCodec, clips, cache: Clips, opts: ProbeOptions) -> dict:
    cfg = model.config
    ctx = text_context(model, [""])
    latent, gain = latent_errors(model, cache, opts.motions)

    # sampled videos, re-tracked
    sums: dict[str, list] = {k: [0.0, 0] for k in ("sample", "swap_sample", "swap_still", "still", "codec", "clip",
                                                   "swap_own_tracks")}
    guidance = Guidance(text=1.0, motion=cfg.teacher.motion_guidance)
    for k, clip in enumerate(clips):
        o = _other(k, opts.motions)
        for which, j in (("sample", k), ("swap_sample", o)):
            req = requested_tracks(clip if j == k else _with_start(clips[j], clip), opts.tracks)
            ids = _ids(req.num_tracks, k, cfg.track_head.max_id)
            path, vis = torch.from_numpy(req.path), torch.from_numpy(req.visible)
            app = model.track_head.appearance_of(cache.image[k].float(), path, vis, cfg.height, cfg.width)
            tl = model.track_head.encode(path, vis, ids, cfg.height, cfg.width, starts_video=True, appearance=app)
            noise = torch.randn(cache.z[[k]].shape, generator=torch.Generator().manual_seed(100 + k))
            x0 = teacher_sample(model, noise, tl, model.image_slot(cache.image[[k]], noise.shape[2], 0), ctx, ctx,
                                opts.sample_steps, cfg.teacher.shift, guidance)
            video = to_uint8(codec.decode(x0)[0])
            _add(sums[which], retracked(video, req.path, req.visible))
            if which == "swap_sample":
                _add(sums["swap_still"], retracked(np.repeat(clip.frames[:1], len(clip.frames), 0), req.path,
                                                   req.visible))
                own = requested_tracks(clip, opts.tracks)
                _add(sums["swap_own_tracks"], retracked(video, own.path, own.visible))
        req = requested_tracks(clip, opts.tracks)
        _add(sums["still"], retracked(np.repeat(clip.frames[:1], len(clip.frames), 0), req.path, req.visible))
        _add(sums["codec"], retracked(to_uint8(codec.decode(cache.z[[k]])[0]), req.path, req.visible))
        _add(sums["clip"], retracked(clip.frames, req.path, req.visible))
    epe = {k: round(e / max(c, 1), 3) for k, (e, c) in sums.items()}
    psnr = -10 * np.log10(np.mean([(codec.decode(cache.z[[k]])[0].numpy() - c.frames / 255.0) ** 2
                                   for k, c in enumerate(clips)]))
    return {"latent_x0_mse": latent, "track_gain": gain, "epe": epe,
            "sample_over_still": round(epe["sample"] / epe["still"], 3),
            "swap_sample_over_still": round(epe["swap_sample"] / epe["swap_still"], 3),
            "codec_over_still": round(epe["codec"] / epe["still"], 3), "codec_psnr": round(float(psnr), 2)}


def _with_start(other, clip):
    """The other motion's tracks of the same scene (the same first frame, hence the same start points)."""
    return dataclasses.replace(other, frames=clip.frames)


def _add(acc: list, r) -> None:
    acc[0] += r.error
    acc[1] += r.count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m motionstream_core.train.probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=None)
    for f in dataclasses.fields(ProbeOptions):
        if str(f.type) == "bool":
            p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, action=argparse.BooleanOptionalAction,
                           default=f.default)
            continue
        kind = {"float | None": float, "int": int, "float": float, "str": str}.get(str(f.type), str)
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=f.default)
    args = vars(p.parse_args(argv))
    out, threads = args.pop("out"), args.pop("threads")
    set_threads(threads)
    train_probe(out, ProbeOptions(**args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

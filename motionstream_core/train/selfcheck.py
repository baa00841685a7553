"""Can a run's teacher make the kind of clip it trains on? Two read-outs on inputs it never trained on.

* ``own_kind_samples``: held-out clips of the run's clip source and camera setting (``gain.HELD_OUT_SEED`` onwards,
  seeds the latent cache never uses), each sampled by the teacher (``--start-sigma``: refined from its slot) from
  the clip's first frame and ``tracks`` of its own ground-truth tracks, re-tracked (``evaluate.retracked``): teacher
  EPE against the still video's and the clip's own; and the PSNR of the teacher's and the still video against the
  clip. A teacher that cannot make these cannot follow a drag on a user's photo either.
  ``--student PATH``: the same for a student, streamed as the stream runs it. ``sheet``: the clip's
  row over the model's, every 4th frame, per clip.
* ``still_errors``: one-step clean-latent error ``x - sigma v - z`` of the still video of a photo (its change is 0
  everywhere) with the pins of a user-style request, per sigma: RMS over latent frame 0 and over all frames. A
  velocity model must pass a copy of the input noise through its tokens there; a clean-predicting model
  (prediction ``sample``) outputs 0.

    python -m motionstream_core.train.selfcheck --out runs/clean_a --sheet out/clean_a.png
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import numpy as np
import torch

from ..checkpoints import load_model
from ..decoders import load_codec
from ..stream import MotionStream
from .autoencoder import run_codec_path
from .common import set_threads
from .data import clip_renderer, latent_cache_meta, photo_folder_fingerprint, request_conditioning
from .evaluate import requested_tracks, retracked, stream_video, teacher_video, to_uint8
from .gain import HELD_OUT_SEED
from .photo_eval import drag_request, eval_images, fit_photo
from .teacher_train import load_teacher

STILL_SIGMAS = (0.95, 0.5, 0.15, 0.05, 0.02)


def own_kind_samples(make_video, render, clips: int = 4, tracks: int = 24) -> dict:
    """{"model": [EPE per clip], "still": [...], "clip": [...], "ratio": mean model / mean still, "psnr":
    {"model": [dB per clip], "still": [...]}, "frames": [(clip uint8 [T, H, W, 3], model uint8 [T, H, W, 3]) per
    clip]} for clips ``render(HELD_OUT_SEED + k)``; ``make_video(image uint8 [H, W, 3], request Tracks, seed)`` ->
    float [T, H, W, 3] is the model's (``teacher_video``, or a student's ``stream_video``). The PSNR against the clip
    itself (frames after 0) says what EPE at the requested points cannot: whether the rest of the motion -- a layer's
    whole extent, what it uncovers -- is drawn as it happened (a warp along the tracks moves the tracked points
    exactly and stretches the rest)."""
    res = {"model": [], "still": [], "clip": [], "psnr": {"model": [], "still": []}, "frames": []}
    for k in range(clips):
        clip = render(HELD_OUT_SEED + k)
        request = requested_tracks(clip, tracks)
        video = to_uint8(make_video(clip.frames[0], request, k))
        still = np.repeat(clip.frames[:1], len(clip.frames), axis=0)
        for name, frames in (("model", video), ("still", still), ("clip", clip.frames)):
            res[name].append(round(retracked(frames, request.path, request.visible).epe, 3))
        for name, frames in (("model", video), ("still", still)):
            res["psnr"][name].append(round(psnr(frames[1:], clip.frames[1:]), 2))
        res["frames"].append((clip.frames, video))
    res["ratio"] = round(float(np.mean(res["model"]) / max(np.mean(res["still"]), 1e-6)), 3)
    return res


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of uint8 videos ``a`` against ``b`` (the same shape)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def sheet(pairs: list[tuple[np.ndarray, np.ndarray]], every: int = 4) -> np.ndarray:
    """uint8 [2 x clips x H, ceil(T / every) x W, 3]: per clip, its row of frames 0, every, ... over the model's."""
    return np.concatenate([np.concatenate(list(v[::every]), axis=1) for pair in pairs for v in pair], axis=0)


@torch.no_grad()
def still_errors(teacher, codec, image: np.ndarray, frames: int, sigmas=STILL_SIGMAS, seed: int = 0) -> dict:
    """{sigma: (RMS x0 error of latent frame 0, of all latent frames)} for the still video of ``image`` (uint8
    [H, W, 3] at the model's size), conditioned on the pins of ``photo_eval.drag_request`` and the empty prompt."""
    cfg = teacher.config
    latents = 1 + (frames - 1) // cfg.temporal_stride
    scale = min(1.0, min(image.shape[:2]) / 128)  # the eval's request at 128 px, shrunk on small test models
    pins = drag_request(image, frames, cfg.stream.fps, seed=seed, length=24 * scale, pin_clearance=32 * scale).pins
    path, vis = torch.from_numpy(pins.path.copy()), torch.from_numpy(pins.visible.copy())
    start, track_latent, slot = request_conditioning(teacher, codec, image, path, vis, seed)
    z, text = start.expand(-1, -1, latents, -1, -1), teacher.encode_text([""])
    out = {}
    for sigma in sigmas:
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed + 1)).to(z)
        x = (1 - sigma) * z + sigma * noise
        v = teacher.velocity(x, torch.full((1,), sigma * cfg.stream.num_train_timesteps), track_latent, slot, text)
        err = (x - sigma * v - z).float()
        out[sigma] = (round(err[:, :, 0].pow(2).mean().sqrt().item(), 4), round(err.pow(2).mean().sqrt().item(), 4))
    return out


@dataclass(frozen=True)
class SelfcheckOptions:
    clips: int = 4
    tracks: int = 24  # ground-truth tracks asked for per clip
    steps: int = 24  # teacher sampling steps
    photo_dir: str = ""  # the photo folder the run trained on ("": its clips of the bundled photos)
    photos: str = "builtin"  # photos for the still errors: "builtin" or a folder
    frames: int = 33
    start_sigma: float | None = None  # the teacher refines its slot noised to this sigma; None: its stream's
    student: str = ""  # a student checkpoint to read instead of the teacher (streamed as the stream runs it)


def selfcheck(out: str, opts: SelfcheckOptions = SelfcheckOptions()) -> dict:
    """Both read-outs for the run ``out``: of its teacher's EMA weights, or of ``opts.student`` streamed; with the
    run's codec; still errors averaged over the photos of ``opts.photos`` ("builtin" or a folder, as ``motionstream
    eval --photos``). The sample frames are under "frames" (drop them before printing)."""
    meta = latent_cache_meta(out)
    source, trained_on = meta.get("source", "synthetic"), meta.get("photo_folder", "")
    if opts.photo_dir and photo_folder_fingerprint(opts.photo_dir) != trained_on:
        raise ValueError(f"{out} did not train on the photo folder {opts.photo_dir} (its cache's folder fingerprint "
                         f"is {trained_on or 'none: bundled photos only'}): give the folder it trained on, or none")
    if opts.student and opts.start_sigma is not None:
        raise ValueError("start_sigma sets how the teacher samples; a student streams from its own config's "
                         "stream.start_sigma: leave it out with a student")
    codec = load_codec(run_codec_path(out))
    model = load_model(opts.student) if opts.student else load_teacher(out)
    start_sigma = model.config.stream.start_sigma if opts.start_sigma is None else opts.start_sigma
    stream = MotionStream(model, codec) if opts.student else None

    def make_video(image, request, seed):
        if stream is not None:
            return stream_video(stream, image, "", request, request.num_frames, seed)
        return teacher_video(model, codec, image, "", request, seed, opts.steps, start_sigma=start_sigma)

    cfg = model.config
    camera = meta.get("camera_motion_prob")  # the cache's camera setting: the held-out clips are of the same kind
    render = clip_renderer(source, cfg, opts.frames, 64, photo_dir=opts.photo_dir, camera_motion_prob=camera)
    res = {"run": out, "model": opts.student or "teacher", "source": source, "photo_dir": opts.photo_dir,
           "camera_motion_prob": camera, "start_sigma": start_sigma,
           "samples": own_kind_samples(make_video, render, opts.clips, opts.tracks)}
    per_photo = [still_errors(model, codec, fit_photo(image, cfg.height, cfg.width), opts.frames)
                 for image in eval_images(opts.photos).values()]
    res["still_errors"] = {s: tuple(round(float(np.mean([p[s][i] for p in per_photo])), 4) for i in (0, 1))
                           for s in per_photo[0]}
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m motionstream_core.train.selfcheck", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="run directory with a teacher")
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--tracks", type=int, default=24, help="ground-truth tracks asked for per clip")
    p.add_argument("--steps", type=int, default=24, help="teacher sampling steps")
    p.add_argument("--frames", type=int, default=33)
    p.add_argument("--photo-dir", default="", help="the photo_folder the run trained on (photo runs; default: its "
                                                   "clips of the bundled photos)")
    p.add_argument("--photos", default="builtin", help="photos for the still errors: builtin or a folder")
    p.add_argument("--sheet", default=None, help="write the samples' contact sheet (PNG) here")
    p.add_argument("--start-sigma", dest="start_sigma", type=float, default=None,
                   help="< 1: the teacher refines its image slot noised to this sigma (teacher_sample); default: "
                        "its stream's start_sigma (1 unless it is a refiner)")
    p.add_argument("--student", default="", help="read this student checkpoint, streamed, instead of the teacher")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    set_threads(args.threads)
    res = selfcheck(args.out, SelfcheckOptions(args.clips, args.tracks, args.steps, args.photo_dir, args.photos,
                                               args.frames, args.start_sigma, args.student))
    pairs = res["samples"].pop("frames")
    if args.sheet:
        import cv2

        cv2.imwrite(args.sheet, cv2.cvtColor(sheet(pairs), cv2.COLOR_RGB2BGR))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`motionstream eval`: track-following error (EPE) on held-out synthetic clips, and the student's frames/s.

For every held-out clip (``synthetic.heldout_clips``: a random stream disjoint from training) the
requested tracks are the clip's first ``tracks`` ground-truth tracks that are visible in frame 0.
Each video below is re-tracked with the motion-transfer tracker (``motion.transfer.track_points``:
pyramidal Lucas-Kanade with a forward-backward check and affine template refinement) started *at the
requested start points*; a point it loses holds its last position. The EPE is the mean distance in
pixels between the re-tracked and the requested positions over every (frame >= 1, track) where the
request has been visible since frame 0 (no tracker can re-find a point after an occlusion), pooled
over all clips.

* ``student``   -- the causal student through the real streaming path (``MotionStream.session``);
* ``teacher``   -- the bidirectional teacher, guided, ``teacher_steps`` Euler steps, whole-clip decode;
* ``no_motion`` -- the start image repeated (the baseline);
* ``ground_truth`` and ``autoencoder`` -- the clip itself and its encode/decode round trip: the
  tracker's own error floor and the autoencoder's ceiling, for reading the others.

frames/s: the student's end-to-end streaming rate (denoising + decoding) over the eval clips and over
one longer stream (``stream_chunks`` chunks), on this machine.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..motion.transfer import track_points
from ..stream import MotionStream
from ..teacher import Guidance, teacher_sample
from ..tracks import Tracks
from .autoencoder import run_codec_path
from .data import request_conditioning
from ..synthetic import SyntheticClipConfig, heldout_clips

@dataclass
class EvalOptions:
    clips: int = 16
    frames: int = 33
    tracks: int = 16
    teacher_steps: int = 24
    seed: int = 0
    device: str = "cpu"
    student: str | None = None  # None: the shipped demo model; "ode"/"dmd": the run's; a checkpoint path; "none": no
    # student (the run's teacher alone, e.g. before distillation)
    teacher: bool = True
    stream_chunks: int = 12
    drag_points: int = 5  # real-photo mode: points of the dragged object (photo_eval.drag_request)
    pins: int = 6  # real-photo mode: static pins on the background
    motion_guidance: float | None = None  # the teacher's motion guidance; None: its config's (``TeacherConfig``)
    start_sigma: float | None = None  # < 1: the teacher refines its slot noised to this sigma (``teacher_sample``);
    # None: its stream's (``StreamConfig.start_sigma``: 1 unless it is a refiner)

    def guidance(self, teacher) -> Guidance:
        """The teacher's guidance for these options: its config's, with ``motion_guidance`` when set."""
        g = Guidance.from_config(teacher.config.teacher)
        return g if self.motion_guidance is None else Guidance(g.text, self.motion_guidance)


@dataclass
class Retracked:
    """Sums over the (frame >= 1, track) pairs the EPE counts: those where the request has been visible
    since frame 0 (no tracker can re-identify a point once it was hidden, so later frames would measure
    the tracker). ``held``: of those, the pairs where the tracker had not lost the point."""
    error: float = 0.0
    count: int = 0
    held: int = 0

    def __add__(self, other: "Retracked") -> "Retracked":
        return Retracked(self.error + other.error, self.count + other.count, self.held + other.held)

    @property
    def epe(self) -> float:
        return self.error / max(self.count, 1)

    @property
    def held_fraction(self) -> float:
        return self.held / max(self.count, 1)


def retracked(frames: np.ndarray, path: np.ndarray, visible: np.ndarray) -> Retracked:
    """Re-track ``frames`` (uint8 [T, H, W, 3]) from the requested start points ``path[0]``; path [T, N, 2]
    and visible [T, N] are the requested tracks."""
    got, held = track_points(frames, path[0])
    err = np.linalg.norm(got - path, axis=-1)[1:]
    mask = np.cumprod(visible, axis=0).astype(bool)[1:]
    return Retracked(float(err[mask].sum()), int(mask.sum()), int((held[1:] & mask).sum()))


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """float [T, H, W, 3] in [0, 1] -> uint8."""
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def requested_tracks(clip, n: int) -> Tracks:
    cols = np.nonzero(clip.visible[0])[0][:n]
    return Tracks(path=clip.path[:, cols], visible=clip.visible[:, cols], fps=clip.fps, width=clip.width,
                  height=clip.height)


def load_student(out: str, which: str | None, device):
    from ..checkpoints import load_model
    from ..decoders import load_codec
    from ..demo import load_demo

    if which is None:
        return load_demo(device=device), "shipped demo model"
    if which == "none":
        return (None, load_codec(run_codec_path(out), device=device)), "none"
    path = Path(out) / which / "student.safetensors" if which in ("ode", "dmd") else Path(which)
    return (load_model(path, device=device), load_codec(run_codec_path(out), device=device)), str(path)


def stream_video(stream: MotionStream, image: np.ndarray, caption: str, tracks: Tracks, frames: int,
                 seed: int) -> torch.Tensor:
    """The student's stream from ``image`` and ``tracks``, float [frames, H, W, 3]."""
    return torch.cat([c.frames for c in stream.session(image, caption, tracks, num_frames=frames, seed=seed)])


@torch.no_grad()
def teacher_video(teacher, codec, image: np.ndarray, caption: str, tracks: Tracks, seed: int, steps: int,
                  guidance: Guidance | None = None, start_sigma: float | None = None) -> torch.Tensor:
    """The teacher's clip from ``image`` and ``tracks``, decoded, float [T, H, W, 3]; ``guidance``: default the
    teacher config's; ``start_sigma`` < 1: refined from its image slot (``teacher_sample``); None: its stream's."""
    cfg = teacher.config
    start_sigma = cfg.stream.start_sigma if start_sigma is None else start_sigma
    path, vis = torch.tensor(tracks.path), torch.tensor(tracks.visible)  # copies: read-only arrays
    _, track_latent, slot = request_conditioning(teacher, codec, image, path, vis, seed)
    text, null = teacher.encode_text([caption]), teacher.encode_text([""])
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(tuple(slot.shape), generator=gen).to(teacher.device)
    x0 = teacher_sample(teacher, noise, track_latent, slot, text, null, steps, cfg.teacher.shift,
                        guidance or Guidance.from_config(cfg.teacher), start_sigma=start_sigma)
    codec.reset()
    return codec.decode_chunk(x0)[0][:tracks.num_frames]


@torch.no_grad()
def autoencoder_video(codec, frames: np.ndarray) -> torch.Tensor:
    vae = codec.vae
    p = next(vae.parameters())
    x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float().div(255).to(p.device, p.dtype)
    return vae.decode_video(vae.encode_video(x))[0].permute(1, 2, 3, 0)[:frames.shape[0]]


def eval_models(out: str, opts: EvalOptions, say=print):
    """(the student's stream or None, its codec, the run's teacher or None, the student's name) for an eval."""
    from .teacher_train import load_teacher

    device = torch.device(opts.device)
    (student, codec), student_name = load_student(out, opts.student, device)
    teacher = None
    if opts.teacher:
        try:
            teacher = load_teacher(out, device)
        except FileNotFoundError as e:
            say(f"eval: no teacher ({e}); reporting the student and the baselines only")
    if student is None and teacher is None:
        raise ValueError(f"eval --student none scores the run's teacher, and {out} has none")
    return (MotionStream(student, codec) if student is not None else None), codec, teacher, student_name


def run_eval(out: str, opts: EvalOptions, json_path: str | None = None, say=print) -> dict:
    stream, codec, teacher, student_name = eval_models(out, opts, say)
    cfg = (stream or teacher).config
    clip_cfg = SyntheticClipConfig.for_model(cfg, num_frames=opts.frames)
    clips = heldout_clips(opts.clips, clip_cfg)
    sums = {k: Retracked() for k in ("student", "teacher", "no_motion", "ground_truth", "autoencoder")}
    per_clip = []
    stream_time = stream_frames = 0
    for i, clip in enumerate(clips):
        tracks = requested_tracks(clip, opts.tracks)
        image = clip.frames[0]
        seed = opts.seed + i
        videos = {"no_motion": np.repeat(image[None], clip.frames.shape[0], 0),
                  "ground_truth": clip.frames, "autoencoder": to_uint8(autoencoder_video(codec, clip.frames))}
        if stream is not None:
            t0 = time.perf_counter()
            video = stream_video(stream, image, clip.caption, tracks, clip.frames.shape[0], seed)
            stream_time += time.perf_counter() - t0
            stream_frames += video.shape[0]
            videos["student"] = to_uint8(video)
        if teacher is not None:
            videos["teacher"] = to_uint8(teacher_video(teacher, codec, image, clip.caption, tracks, seed,
                                                       opts.teacher_steps, opts.guidance(teacher), opts.start_sigma))
        row = {"clip": i, "caption": clip.caption}
        for name, v in videos.items():
            r = retracked(v, tracks.path, tracks.visible)
            sums[name] += r
            row[name] = round(r.epe, 3)
        per_clip.append(row)
        say("eval clip {:2d}: ".format(i) + " ".join(f"{k} {v}" for k, v in row.items() if k not in ("clip", "caption")))
    epe = {k: round(r.epe, 3) for k, r in sums.items() if r.count}
    held = {k: round(r.held_fraction, 3) for k, r in sums.items() if r.count}
    result = {"student": student_name, "epe": epe, "held": held, "clips": opts.clips, "frames": opts.frames,
              "tracks_per_clip": opts.tracks, "threads": torch.get_num_threads(), "options": asdict(opts),
              "per_clip": per_clip}
    if stream is not None:
        result["student_fps_eval"] = round(stream_frames / stream_time, 2)
        result["student_fps_stream"] = round(streaming_fps(stream, clips[0], opts.stream_chunks), 2)
    if "teacher" in epe and "no_motion" in epe:
        result["teacher_over_no_motion"] = round(epe["teacher"] / epe["no_motion"], 3)
    if "student" in epe and "no_motion" in epe:
        result["student_over_no_motion"] = round(epe["student"] / epe["no_motion"], 3)
    if "student" in epe and "teacher" in epe:
        result["student_over_teacher"] = round(epe["student"] / epe["teacher"], 3)
    say(summary(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
    return result


def streaming_fps(stream: MotionStream, clip, chunks: int) -> float:
    """End-to-end frames/s of one stream of ``chunks`` chunks (the clip's tracks held past their end)."""
    tracks = requested_tracks(clip, 8)
    frames = 1 + (chunks * stream.config.stream.chunk_frames - 1) * stream.config.temporal_stride
    tracks = tracks.hold_to(frames)
    session = stream.session(clip.frames[0], clip.caption, tracks, num_frames=frames, seed=0)
    it = iter(session)
    next(it)  # the first chunk includes one-time setup
    t0, n = time.perf_counter(), 0
    for chunk in it:
        n += chunk.frames.shape[0]
    return n / max(time.perf_counter() - t0, 1e-9)


def summary(r: dict) -> str:
    e = r["epe"]
    lines = [f"EPE (px, {r['clips']} held-out clips x {r['tracks_per_clip']} tracks, {r['frames']} frames; "
             f"student = {r['student']}):"]
    held = r.get("held", {})
    for k in ("student", "teacher", "no_motion", "autoencoder", "ground_truth"):
        if k in e:
            lines.append(f"  {k:13s} {e[k]:7.3f}" + (f"   (tracker still holds {held[k]:.0%} of the points)"
                                                      if k in held else ""))
    if "student_over_no_motion" in r:
        lines.append(f"  student / no-motion = {r['student_over_no_motion']:.3f}  (target <= 0.5)")
    if "student_over_teacher" in r:
        lines.append(f"  student / teacher   = {r['student_over_teacher']:.3f}  (target <= 1.5)")
    if "teacher_over_no_motion" in r:
        lines.append(f"  teacher / no-motion = {r['teacher_over_no_motion']:.3f}")
    if "student_fps_stream" in r:
        lines.append(f"student frames/s: {r['student_fps_stream']:.1f} streaming ({r['threads']} threads), "
                     f"{r['student_fps_eval']:.1f} over the eval clips (target >= 16)")
    return "\n".join(lines)

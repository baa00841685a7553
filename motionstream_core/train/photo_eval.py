"""`motionstream eval --photos`: what a user sees when dragging an object in a real photo.

For every held-out photo (``photo_clips.eval_photos()``: sources the training never reads, or the
images of a folder) at the model's size (short side resized, centre crop), a user-style request is
made the same way every time (``drag_request``): a few points on a textured object dragged
``length`` px along a straight line at constant speed, plus static pins on the background away from
the drag. Every video is re-tracked with the eval tracker (``evaluate.retracked``) and scored by

* ``drag_epe`` -- the drag points' end-point error (px), read against a still video's;
* ``pin_drift`` -- the pins' mean distance from where they were asked to stay (px);
* ``identity`` -- normalized cross-correlation of the grey source patch (around the drag points'
  centroid in frame 0) with the patch around the requested end centroid in the last frame: 1 when
  the dragged content arrives intact, ~0 when something else is there;
* ``rest_change`` -- the RMS change (0-255 levels) of the pixels away from the drag (farther than
  ``REST_CLEARANCE`` px from every drag point in every frame) from the start image: 0 when the rest of
  the photo stays as it was, as the pins ask (the tracker can hold a pin in a frame that changed).

Videos: the student (the streaming path), the teacher (guided, whole clip), the still video (the
start image repeated), a cut-and-paste reference (the source disc pasted along the drag over the
still image: what the simplest edit scores, to read the others by), ``warp`` (the photo warped along the
request's tracks, ``reference.warp_image`` with ``WARP_RADIUS`` px at 128 px: the rubber-sheet drag of drag
editors, no learning) and ``autoencoder``: the
cut-and-paste video through the run's codec (encode + decode), the best a generator that makes its
video through that codec can score -- the codec's share of every measure, ``rest_change`` above all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..reference import warp_image
from ..tracks import Tracks
from .evaluate import EvalOptions, autoencoder_video, eval_models, retracked, stream_video, teacher_video, to_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# the warp reference's kernel radius at 128 px (scaled with the short side): on the 12 held-out photos radius
# 6 / 10 / 16 / 24 px gave drag EPE 1.58 / 1.17 / 1.19 / 1.94 px and rest change 0.2 / 5.2 / 13.6 / 19.9
WARP_RADIUS = 10.0


@dataclass(frozen=True)
class DragRequest:
    """Drag points [T, n, 2] px moving along one straight line, pins [T, m, 2] px held still."""

    drag: Tracks
    pins: Tracks

    def combined(self) -> Tracks:
        return Tracks(np.concatenate([self.drag.path, self.pins.path], 1),
                      np.concatenate([self.drag.visible, self.pins.visible], 1), self.drag.fps,
                      self.drag.width, self.drag.height, kinds=self.drag.kinds + self.pins.kinds)


def fit_photo(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 RGB photo -> uint8 [height, width, 3]: shorter side resized to fit, centre crop."""
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"expected an RGB photo [H, W, 3], got shape {image.shape}")
    h, w = image.shape[:2]
    s = max(height / h, width / w)
    r = cv2.resize(np.ascontiguousarray(image[..., :3]), (max(width, round(w * s)), max(height, round(h * s))),
                   interpolation=cv2.INTER_AREA)
    y, x = (r.shape[0] - height) // 2, (r.shape[1] - width) // 2
    return np.ascontiguousarray(r[y:y + height, x:x + width])


def drag_request(image: np.ndarray, frames: int, fps: float, seed: int = 0, points: int = 5, radius: float = 10.0,
                 length: float = 24.0, pins: int = 6, pin_clearance: float = 32.0) -> DragRequest:
    """The user-style request on ``image`` (uint8 [H, W, 3]): see the module docstring.

    The object is where Shi-Tomasi corners are densest at least ``length`` + 8 px from the border; the
    drag direction is the first of a seeded list of angles that keeps every point inside the frame.
    """
    H, W = image.shape[:2]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    found = cv2.goodFeaturesToTrack(grey, maxCorners=300, qualityLevel=0.01, minDistance=3)
    if found is None or len(found) < points + pins:
        raise ValueError("the photo has too little texture for a drag request (too few corners)")
    c = found[:, 0] + 0.5  # pixel centres
    margin = length + 8
    inner = c[(c[:, 0] > margin) & (c[:, 0] < W - margin) & (c[:, 1] > margin) & (c[:, 1] < H - margin)]
    if len(inner) == 0:
        raise ValueError("no textured point far enough from the border for a drag request")
    near = (np.linalg.norm(inner[:, None] - c[None], axis=-1) < radius).sum(1)
    centre = inner[int(np.argmax(near))]
    group = c[np.argsort(np.linalg.norm(c - centre, axis=1))[:points]]
    rng = np.random.default_rng(seed)
    for angle in rng.permutation(16) * (2 * np.pi / 16):
        d = length * np.array([np.cos(angle), np.sin(angle)])
        end = group + d
        if (end >= 4).all() and (end[:, 0] < W - 4).all() and (end[:, 1] < H - 4).all():
            break
    s = np.linspace(0.0, 1.0, frames)[:, None, None]
    drag_path = (group[None] + s * d[None, None]).astype(np.float32)
    # pins: corners away from the dragged points' whole path, spread by farthest-point sampling
    swept = np.concatenate([group + f * d for f in np.linspace(0, 1, 7)])
    far = c[np.linalg.norm(c[:, None] - swept[None], axis=-1).min(1) > pin_clearance]
    if len(far) < pins:
        raise ValueError(f"only {len(far)} textured points lie {pin_clearance} px away from the drag for the pins")
    chosen = [int(np.argmax(np.linalg.norm(far - centre, axis=1)))]
    while len(chosen) < pins:
        dist = np.linalg.norm(far[:, None] - far[chosen][None], axis=-1).min(1)
        chosen.append(int(np.argmax(dist)))
    pin_path = np.repeat(far[chosen][None], frames, 0).astype(np.float32)
    vis = lambda n: np.ones((frames, n), bool)  # noqa: E731
    return DragRequest(Tracks(drag_path, vis(points), fps, W, H, kinds=("drag",) * points),
                       Tracks(pin_path, vis(pins), fps, W, H, kinds=("static",) * pins))


def _disc(shape, centre: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    return np.clip(radius + 0.5 - np.hypot(xx - centre[0], yy - centre[1]), 0, 1).astype(np.float32)


def cut_and_paste(image: np.ndarray, request: DragRequest, radius: float = 14.0) -> np.ndarray:
    """The reference edit: the disc around the drag points' start centroid pasted, moving with them,
    over the still image. uint8 [T, H, W, 3]."""
    path = request.drag.path
    start = path[0].mean(0)
    mask = _disc(image.shape, start, radius)
    out = []
    for p in path:
        shift = p.mean(0) - start
        m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
        moved = cv2.warpAffine(image.astype(np.float32), m, image.shape[1::-1], flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT_101)
        a = cv2.warpAffine(mask, m, image.shape[1::-1], flags=cv2.INTER_LINEAR)[..., None]
        out.append(np.clip(image * (1 - a) + moved * a + 0.5, 0, 255).astype(np.uint8))
    return np.stack(out)


def _patch(grey: np.ndarray, centre: np.ndarray, half: int) -> np.ndarray:
    m = np.float32([[1, 0, half - (centre[0] - 0.5)], [0, 1, half - (centre[1] - 0.5)]])
    return cv2.warpAffine(grey, m, (2 * half + 1, 2 * half + 1), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def identity_score(video: np.ndarray, request: DragRequest, half: int = 8) -> float:
    """NCC of the frame-0 patch at the drag start centroid with the last frame's at the requested end."""
    g0 = cv2.cvtColor(video[0], cv2.COLOR_RGB2GRAY).astype(np.float32)
    g1 = cv2.cvtColor(video[-1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    a = _patch(g0, request.drag.path[0].mean(0), half).ravel()
    b = _patch(g1, request.drag.path[-1].mean(0), half).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-6))


REST_CLEARANCE = 20.0  # px: what counts as "away from the drag" for ``rest_change``


def rest_change(video: np.ndarray, image: np.ndarray, request: DragRequest,
                clearance: float = REST_CLEARANCE) -> float:
    """RMS difference (0-255) between ``video`` [T, H, W, 3] and ``image`` [H, W, 3] over the pixels farther
    than ``clearance`` px from every drag point of every frame (the same pixels in every frame)."""
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]] + 0.5
    pts = request.drag.path.reshape(-1, 2)
    near = (np.hypot(xx[..., None] - pts[:, 0], yy[..., None] - pts[:, 1]) <= clearance).any(-1)
    if near.all():
        raise ValueError("the drag covers the whole frame: no pixel is away from it")
    diff = video.astype(np.float32) - image[None].astype(np.float32)
    return float(np.sqrt(np.mean(diff[:, ~near] ** 2)))


def score_video(video: np.ndarray, request: DragRequest, image: np.ndarray | None = None, scale: float = 1.0
                ) -> dict:
    """The scores of the module docstring; ``rest_change`` only with the start ``image``. ``scale``: the video's
    short side over 128 (the identity patch and the rest's clearance are px at 128, scaled as the request is)."""
    d = retracked(video, request.drag.path, request.drag.visible)
    p = retracked(video, request.pins.path, request.pins.visible)
    scores = {"drag_epe": d.epe, "pin_drift": p.epe,
              "identity": identity_score(video, request, half=max(2, round(8 * scale)))}
    if image is not None:
        scores["rest_change"] = rest_change(video, image, request, clearance=REST_CLEARANCE * scale)
    return scores


def load_photo_folder(folder: str | Path) -> dict[str, np.ndarray]:
    """Every image file of ``folder`` (sorted by name) as uint8 RGB."""
    folder = Path(folder)
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"no photos ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    out = {}
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read the image {f}")
        out[f.stem] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return out


def eval_images(photos: str = "builtin") -> dict[str, np.ndarray]:
    """{name: uint8 [H, W, 3]}: ``photo_clips.eval_photos()`` for "builtin", else ``load_photo_folder(photos)``."""
    if photos == "builtin":
        from .photo_clips import eval_photos

        return {k: v for k, (v, _) in eval_photos().items()}
    return load_photo_folder(photos)


def run_photo_eval(out: str, opts: EvalOptions, photos: str = "builtin", json_path: str | None = None,
                   say=print, sheets: str | None = None) -> dict:
    """Score student, teacher, still video and cut-and-paste on held-out photos (``photos``: "builtin"
    for ``photo_clips.eval_photos()``, else a folder)."""
    stream, codec, teacher, student_name = eval_models(out, opts, say)
    cfg = (stream or teacher).config
    images = eval_images(photos)
    rows, sums = [], {}
    for i, (name, photo) in enumerate(images.items()):
        image = fit_photo(photo, cfg.height, cfg.width)
        u = min(image.shape[:2]) / 128  # the request's lengths are px at 128, scaled with the model's size
        req = drag_request(image, opts.frames, cfg.stream.fps, seed=opts.seed + i, points=opts.drag_points,
                           pins=opts.pins, radius=10.0 * u, length=24.0 * u, pin_clearance=32.0 * u)
        tracks = req.combined()
        seed = opts.seed + i
        pasted = cut_and_paste(image, req, radius=14.0 * u)
        radius = WARP_RADIUS * min(image.shape[:2]) / 128
        videos = {"still": np.repeat(image[None], opts.frames, 0), "cut_and_paste": pasted,
                  "warp": warp_image(image, tracks.path, tracks.visible, radius),
                  "autoencoder": to_uint8(autoencoder_video(codec, pasted))}
        if stream is not None:
            videos["student"] = to_uint8(stream_video(stream, image, "", tracks, opts.frames, seed))
        if teacher is not None:
            videos["teacher"] = to_uint8(teacher_video(teacher, codec, image, "", tracks, seed, opts.teacher_steps,
                                                       opts.guidance(teacher), opts.start_sigma))
        row = {"photo": name}
        for k, v in videos.items():
            row[k] = {m: round(x, 3) for m, x in score_video(v, req, image, scale=u).items()}
            for m, x in row[k].items():
                sums.setdefault(k, {}).setdefault(m, []).append(x)
        rows.append(row)
        if sheets:
            Path(sheets).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(Path(sheets) / f"{name}.png"), cv2.cvtColor(contact_sheet(videos, req), cv2.COLOR_RGB2BGR))
        say(f"photo {name}: " + "; ".join(f"{k} " + " ".join(f"{m} {x}" for m, x in row[k].items())
                                          for k in videos))
    mean = {k: {m: round(float(np.mean(x)), 3) for m, x in d.items()} for k, d in sums.items()}
    result = {"student": student_name, "photos": list(images), "frames": opts.frames, "drag_points": opts.drag_points,
              "pins": opts.pins, "mean": mean, "per_photo": rows}
    for k in ("student", "teacher", "cut_and_paste", "warp"):
        if k in mean:
            result[f"{k}_drag_over_still"] = round(mean[k]["drag_epe"] / max(mean["still"]["drag_epe"], 1e-6), 3)
    say(photo_summary(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
    return result


def contact_sheet(videos: dict[str, np.ndarray], request: DragRequest, every: int = 4, scale: int = 2) -> np.ndarray:
    """uint8 [rows * H * scale, cols * W * scale, 3]: a row per video (in ``videos`` order), every ``every``-th
    frame, each point of the request drawn where it is asked to be (drag points red, pins green)."""
    rows = []
    for video in videos.values():
        tiles = []
        for f in range(0, len(video), every):
            tile = cv2.resize(video[f], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            for tracks, colour in ((request.drag, (255, 0, 0)), (request.pins, (0, 255, 0))):
                for x, y in tracks.path[f] * scale:
                    cv2.circle(tile, (int(x), int(y)), 2 * scale, colour, 1)
            tiles.append(tile)
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def photo_summary(r: dict) -> str:
    lines = [f"real photos ({len(r['photos'])}: {', '.join(r['photos'])}; {r['frames']} frames; "
             f"{r['drag_points']} drag points, {r['pins']} pins; student = {r['student']}):",
             f"  {'video':14s} {'drag EPE':>9s} {'/ still':>8s} {'pin drift':>10s} {'identity':>9s} {'rest change':>12s}"]
    for k in ("student", "teacher", "still", "cut_and_paste", "warp", "autoencoder"):
        if k in r["mean"]:
            m = r["mean"][k]
            ratio = m["drag_epe"] / max(r["mean"]["still"]["drag_epe"], 1e-6)
            lines.append(f"  {k:14s} {m['drag_epe']:9.2f} {ratio:8.2f} {m['pin_drift']:10.2f} {m['identity']:9.2f}"
                         f" {m['rest_change']:12.2f}")
    lines.append("  bars (student): drag EPE <= 0.5x still, pin drift <= 3 px, identity >= 0.5")
    return "\n".join(lines)

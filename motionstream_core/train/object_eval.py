"""`motionstream eval --objects`: does one drag point move a whole object?

Composite scenes with a known truth (``object_scene``): a shape (a random blob, ellipse or rounded box, the masks of
``photo_clips``) cut from one held-out photo is pasted over another held-out photo, and moves rigidly along a
straight line at constant speed. The request is what a user makes: **one** drag point at the object's centre,
moving with it, plus static pins on the background at least ``PIN_CLEARANCE`` px from the object at its start and
at its end. The truth is the composite itself: where the object is in every frame, its mask, and the background
it uncovers. Every video is scored by

* ``object_error`` -- the whole object's position error (px): the frame-0 object (its masked pixels) is
  template-matched (normalized cross-correlation under the mask, sub-pixel peak) over each later frame and the
  match's distance from the true position is averaged over frames; read as a ratio to the still video's (the
  object never moving), ``object_over_still``;
* ``identity`` -- normalized cross-correlation of the object's masked pixels in frame 0 with the last frame's
  pixels under the mask at the true end position: 1 when the object arrives intact, ~0 when something else is
  there;
* ``uncovered_error`` -- RMS error (0-255) against the true background over the pixels the object has uncovered
  (under its frame-0 mask, no longer under its current one), pooled over frames; as a ratio to the still video's
  (whose object never leaves), ``uncovered_over_still``: 0 = the true background appears, 1 = the old object
  stays;
* ``pin_drift`` -- the pins' end-point error after re-tracking (``evaluate.retracked``), px;
* ``rest_change`` -- RMS error (0-255) against the truth away from the object (farther than ``PIN_CLEARANCE`` px
  from its mask in every frame): what the video does to the rest of the scene.

Bars (the demo model's): object <= 0.3x still, identity >= 0.6, uncovered <= 0.7x still, pins <= 3 px.
Videos: ``truth`` (the composite: what a perfect model scores), ``still`` (the start image repeated),
``warp`` (the kernel warp of the start image along the request, ``reference.warp_image``: the rubber-sheet rule,
no learning), ``trajectory_copy`` (``trajectory_copy``: each track's start cell copied along it, the rule the
tracks' conditioning alone makes), ``shipped`` (the shipped demo model, streamed) and the run's ``student`` / ``teacher`` when given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from ..tracks import Tracks
from .photo_eval import WARP_RADIUS, DragRequest, contact_sheet, eval_images, fit_photo

PIN_CLEARANCE = 12.0  # px at any size: pins and "the rest" keep this far from the object's start and end
BARS = {"object_over_still": 0.3, "identity": 0.6, "uncovered_over_still": 0.7, "pin_drift": 3.0}


@dataclass(frozen=True)
class ObjectScene:
    """One composite: ``frames`` uint8 [T, H, W, 3] (the truth), ``background`` uint8 [H, W, 3], ``sprite`` float
    RGB [s, s, 3] with ``alpha`` [s, s], ``offset`` [T, 2] the sprite's top-left corner per frame (px, float),
    ``centre`` [T, 2] the object's centre (its mask's centroid) per frame, and the user's ``request``."""

    frames: np.ndarray
    background: np.ndarray
    sprite: np.ndarray
    alpha: np.ndarray
    offset: np.ndarray
    centre: np.ndarray
    request: DragRequest
    name: str

    def mask(self, t: int) -> np.ndarray:
        """float [H, W]: the object's alpha on screen at frame ``t``."""
        return _place(self.alpha[..., None], self.offset[t], self.frames.shape[1:3])[..., 0]


def _place(sprite: np.ndarray, offset: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``sprite`` [s, s, C] float translated so its top-left corner is at ``offset`` (x, y) on an [H, W] screen."""
    m = np.float32([[1, 0, offset[0]], [0, 1, offset[1]]])
    out = cv2.warpAffine(np.ascontiguousarray(sprite, np.float32), m, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(size[0], size[1], sprite.shape[2])


def object_scene(background: np.ndarray, source: np.ndarray, frames: int, fps: float, seed: int, name: str = "",
                 pins: int = 6, size: tuple[float, float] = (36.0, 48.0), travel: tuple[float, float] = (24.0, 32.0)
                 ) -> ObjectScene:
    """A composite of ``source``'s crop over ``background`` (both uint8 [H, W, 3] at the output size), a pure
    function of ``seed``. ``size``: the object's diameter range, ``travel``: its displacement range, px at 128."""
    from .photo_clips import _mask

    H, W = background.shape[:2]
    u = min(H, W) / 128.0
    rng = np.random.default_rng([int(seed) & 0xFFFF_FFFF, 0x0B1EC7])
    s = int(round(rng.uniform(*size) * u))
    alpha = _mask(rng, s)
    crop = fit_photo(source, max(H, W), max(H, W))
    y, x = rng.integers(0, crop.shape[0] - s + 1), rng.integers(0, crop.shape[1] - s + 1)
    sprite = crop[y:y + s, x:x + s].astype(np.float32)
    ys, xs = np.nonzero(alpha > 0.5)
    mid = np.array([xs.mean() + 0.5, ys.mean() + 0.5])  # the mask's centroid in sprite pixels
    length = rng.uniform(*travel) * u
    margin = 4 * u
    for _ in range(64):  # a start and a direction that keep the whole object inside the frame
        angle = rng.uniform(0, 2 * np.pi)
        d = length * np.array([np.cos(angle), np.sin(angle)])
        start = np.array([rng.uniform(margin, W - s - margin), rng.uniform(margin, H - s - margin)])
        end = start + d
        if margin <= end[0] <= W - s - margin and margin <= end[1] <= H - s - margin:
            break
    else:
        raise ValueError(f"no {length:.0f} px move keeps a {s} px object inside a {W}x{H} frame")
    t = np.linspace(0.0, 1.0, frames)[:, None]
    offset = start[None] + t * d[None]
    video = []
    for o in offset:
        a = _place(alpha[..., None], o, (H, W))
        rgb = _place(sprite * alpha[..., None], o, (H, W))
        video.append(np.clip(background * (1 - a) + rgb + 0.5, 0, 255).astype(np.uint8))
    video = np.stack(video)
    centre = (offset + mid[None]).astype(np.float32)
    drag = Tracks(centre[:, None].copy(), np.ones((frames, 1), bool), fps, W, H, kinds=("drag",))
    pin_path = _pins(video[0], [_place(alpha[..., None], offset[0], (H, W))[..., 0],
                                _place(alpha[..., None], offset[-1], (H, W))[..., 0]], pins)
    pin_tracks = Tracks(np.repeat(pin_path[None], frames, 0), np.ones((frames, pins), bool), fps, W, H,
                        kinds=("static",) * pins)
    return ObjectScene(video, background, sprite, alpha, offset, centre, DragRequest(drag, pin_tracks), name)


def _away(masks: list[np.ndarray], clearance: float) -> np.ndarray:
    """bool [H, W]: pixels farther than ``clearance`` px from every pixel with alpha > 0 in ``masks``."""
    near = np.zeros(masks[0].shape, bool)
    for m in masks:
        near |= m > 0
    dist = cv2.distanceTransform((~near).astype(np.uint8), cv2.DIST_L2, 5)
    return dist > clearance


def _pins(image: np.ndarray, masks: list[np.ndarray], n: int) -> np.ndarray:
    """``n`` pins [n, 2]: the image's corners at least ``PIN_CLEARANCE`` px from the masks, spread by farthest-point
    sampling (textured points a tracker can hold)."""
    H, W = image.shape[:2]
    away = _away(masks, PIN_CLEARANCE)
    away[:4], away[-4:], away[:, :4], away[:, -4:] = False, False, False, False
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    found = cv2.goodFeaturesToTrack(grey, maxCorners=400, qualityLevel=0.01, minDistance=3,
                                    mask=away.astype(np.uint8) * 255)
    if found is None or len(found) < n:
        raise ValueError(f"only {0 if found is None else len(found)} textured points lie {PIN_CLEARANCE} px away "
                         f"from the object for {n} pins")
    c = found[:, 0] + 0.5
    chosen = [int(np.argmax(np.linalg.norm(c - np.array([W / 2, H / 2]), axis=1)))]
    while len(chosen) < n:
        chosen.append(int(np.argmax(np.linalg.norm(c[:, None] - c[chosen][None], axis=-1).min(1))))
    return c[chosen].astype(np.float32)


# -- scores -------------------------------------------------------------------------------------------

def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _subpixel(r: np.ndarray, i: int, j: int) -> tuple[float, float]:
    """The parabola-refined (x, y) of the peak (i, j) of the response ``r``."""
    def off(a, b, c):
        den = a - 2 * b + c
        return 0.0 if abs(den) < 1e-9 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    dx = off(r[i, j - 1], r[i, j], r[i, j + 1]) if 0 < j < r.shape[1] - 1 else 0.0
    dy = off(r[i - 1, j], r[i, j], r[i + 1, j]) if 0 < i < r.shape[0] - 1 else 0.0
    return j + dx, i + dy


def object_positions(video: np.ndarray, scene: ObjectScene) -> np.ndarray:
    """float [T, 2]: where the frame-0 object best matches each frame, as the object centre's position.

    The template is the frame-0 sprite's bounding box in the scene's first frame (its integer-aligned part), the
    match is normalized cross-correlation (``TM_CCOEFF_NORMED``) under the mask, over the whole frame."""
    o = np.floor(scene.offset[0]).astype(int)
    frac = scene.offset[0] - o
    s = scene.alpha.shape[0] + 1
    box = scene.frames[0][o[1]:o[1] + s, o[0]:o[0] + s]
    m = _place(scene.alpha[..., None], frac, (s, s))[..., 0][:box.shape[0], :box.shape[1]]
    tmpl, mask = _grey(box[None][0]), (m > 0.5).astype(np.float32)
    out = []
    for frame in video:
        r = cv2.matchTemplate(_grey(frame), tmpl, cv2.TM_CCOEFF_NORMED, mask=mask)
        r = np.nan_to_num(r, nan=-1.0, posinf=-1.0, neginf=-1.0)
        i, j = np.unravel_index(int(np.argmax(r)), r.shape)
        x, y = _subpixel(r, i, j)
        out.append(scene.centre[0] + np.array([x, y]) - o)
    return np.stack(out).astype(np.float32)


def identity(video: np.ndarray, scene: ObjectScene) -> float:
    """NCC of the object's pixels (frame 0's, moved to the true end: the truth's last frame) with the last frame's
    under the object's true end mask."""
    m = scene.mask(len(scene.offset) - 1) > 0.5
    a = _grey(scene.frames[-1])[m]  # the object where it must end: frame 0's object, moved
    b = _grey(video[-1])[m]
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-6))


def uncovered_error(video: np.ndarray, scene: ObjectScene) -> float:
    """RMS (0-255) of ``video`` against the true background where the object has moved off, pooled over frames."""
    m0 = scene.mask(0) > 0.5
    err, count = 0.0, 0
    for t in range(1, len(video)):
        u = m0 & (scene.mask(t) == 0)
        err += float(((video[t].astype(np.float32) - scene.background.astype(np.float32))[u] ** 2).sum())
        count += int(u.sum()) * 3
    if count == 0:
        raise ValueError(f"scene {scene.name!r}: the object never uncovers any background")
    return float(np.sqrt(err / count))


def rest_change(video: np.ndarray, scene: ObjectScene) -> float:
    """RMS (0-255) of ``video`` against the truth over the pixels ``PIN_CLEARANCE`` px from the object in every
    frame (the same pixels in every frame)."""
    away = _away([scene.mask(t) for t in range(len(scene.offset))], PIN_CLEARANCE)
    diff = video.astype(np.float32) - scene.frames.astype(np.float32)
    return float(np.sqrt(np.mean(diff[:, away] ** 2)))


def score_object_video(video: np.ndarray, scene: ObjectScene) -> dict:
    """The module docstring's raw scores of one video (uint8 [T, H, W, 3]) of ``scene``."""
    from .evaluate import retracked

    pos = object_positions(video, scene)
    pins = scene.request.pins
    return {"object_error": float(np.linalg.norm(pos[1:] - scene.centre[1:], axis=1).mean()),
            "identity": identity(video, scene), "uncovered_error": uncovered_error(video, scene),
            "pin_drift": retracked(video, pins.path, pins.visible).epe, "rest_change": rest_change(video, scene)}


def hidden(scene: ObjectScene, start: int) -> ObjectScene:
    """``scene`` whose drag point is hidden from frame ``start`` on (the user lets go, or the point is occluded)."""
    d = scene.request.drag
    vis = d.visible.copy()
    vis[start:] = False
    drag = Tracks(d.path, vis, d.fps, d.width, d.height, kinds=d.kinds)
    return replace(scene, request=DragRequest(drag, scene.request.pins), name=scene.name + "_hidden")


def return_to_start(video: np.ndarray, scene: ObjectScene, start: int) -> float:
    """Where the object is after its drag hides at frame ``start``: the mean, over frames >= ``start``, of its
    template-matched distance from where it was last shown (frame ``start - 1``'s request) over the distance from
    there back to its start. 0: it stays where the drag left it; 1: it jumps back to where it started."""
    pos = object_positions(video, scene)[start:]
    last, first = scene.centre[start - 1], scene.centre[0]
    return float(np.mean(np.linalg.norm(pos - last, axis=1)) / max(np.linalg.norm(last - first), 1e-6))


def with_ratios(scores: dict[str, dict], still: str = "still") -> dict[str, dict]:
    """``scores`` ({video: raw scores}) with ``object_over_still`` and ``uncovered_over_still`` added."""
    s = scores[still]
    return {k: {**v, "object_over_still": v["object_error"] / max(s["object_error"], 1e-6),
                "uncovered_over_still": v["uncovered_error"] / max(s["uncovered_error"], 1e-6)}
            for k, v in scores.items()}


def object_scenes(images: dict[str, np.ndarray], height: int, width: int, count: int, frames: int, fps: float,
                  seed: int = 0, pins: int = 6) -> list[ObjectScene]:
    """``count`` scenes over the ordered pairs of distinct ``images`` (background, object source): each photo is
    the background in turn, its object cut from the next photo, then from the one after, and so on."""
    names = list(images)
    if len(names) < 2:
        raise ValueError(f"object scenes need at least 2 held-out photos (one behind, one cut), got {len(names)}")
    fitted = {k: fit_photo(v, height, width) for k, v in images.items()}
    n = len(names)
    pairs = [(names[b], names[(b + k) % n]) for k in range(1, n) for b in range(n)]  # every background in turn
    scenes = []
    for i in range(count):
        b, o = pairs[i % len(pairs)]
        scenes.append(object_scene(fitted[b], images[o], frames, fps, seed * 1_000 + i, f"{i:02d}_{o}_over_{b}",
                                   pins))
    return scenes


def trajectory_copy(image: np.ndarray, path: np.ndarray, visible: np.ndarray, cell: int) -> np.ndarray:
    """uint8 [T, H, W, 3]: the still image with, in every frame, each visible track's ``cell`` x ``cell`` block at its
    start (its first visible point) copied to the block it is in now -- what the tracks' conditioning carries when
    each track brings the start image's content at its anchor (Wan-Move's latent trajectory copy; our
    ``TrackHeadConfig.appearance_channels``), decoded as the video with no learning: the rule a model that only
    copies what its tracks carry would score."""
    H, W = image.shape[:2]
    seen = visible.any(0)
    first = np.argmax(visible, axis=0)
    anchor = path[first, np.arange(path.shape[1])]
    out = np.repeat(image[None], len(path), 0)
    for n in np.nonzero(seen)[0]:
        sx, sy = (np.clip(anchor[n], 0, [W - 1e-3, H - 1e-3]) // cell).astype(int) * cell
        block = image[sy:sy + cell, sx:sx + cell]
        for t in np.nonzero(visible[:, n] & (np.arange(len(path)) >= first[n]))[0]:
            if not (0 <= path[t, n, 0] < W and 0 <= path[t, n, 1] < H):
                continue
            dx, dy = (path[t, n] // cell).astype(int) * cell
            out[t, dy:dy + block.shape[0], dx:dx + block.shape[1]] = block[:H - dy, :W - dx]
    return out


def run_object_eval(out: str, opts, photos: str = "builtin", scenes: int = 12, json_path: str | None = None,
                    say=print, sheets: str | None = None, hide_from: float | None = None,
                    drag_mode: str = "model") -> dict:
    """Score the baselines (truth, still, warp, shipped) and the run's student / teacher on ``scenes`` composites
    of held-out photos (``photos``: "builtin" or a folder, as ``eval --photos``). ``hide_from`` (a fraction of the
    clip): the drag point hides from that frame on, and ``return_to_start`` is scored too (0: the object stays
    where the drag left it, 1: it jumps back). ``drag_mode`` "warp": the models in the warp drag mode too, the drag
    point carrying the object's outline at its start as its region (``warp_rows``)."""
    from ..demo import load_demo
    from ..stream import MotionStream
    from ..reference import warp_image
    from .evaluate import eval_models, stream_video, teacher_video, to_uint8

    import torch

    from .teacher_train import NAME, PRODUCT

    stream = codec = teacher = None
    student_name = "none (the shipped demo model is the 'shipped' row)"
    # the shipped model is always a row; the run's student when one is named, its teacher when asked and there
    if opts.student not in (None, "none") or (opts.teacher and (Path(out) / NAME / PRODUCT).is_file()):
        stream, codec, teacher, student_name = eval_models(out, replace(opts, student=opts.student or "none"), say)
    shipped = MotionStream(*load_demo(device=torch.device(opts.device)))
    cfg = (stream or teacher or shipped).config  # the scenes are made at the evaluated model's size
    if (shipped.config.height, shipped.config.width) != (cfg.height, cfg.width):
        say(f"eval --objects: the shipped model is {shipped.config.width}x{shipped.config.height}, the scenes "
            f"{cfg.width}x{cfg.height}: no 'shipped' row")
        shipped = None
    cell = cfg.track_head.stride if cfg.track_head is not None else 8
    rows, sums = [], {}
    for i, scene in enumerate(object_scenes(eval_images(photos), cfg.height, cfg.width, scenes, opts.frames,
                                            cfg.stream.fps, opts.seed, opts.pins)):
        h = None if hide_from is None else max(1, min(opts.frames - 1, round(hide_from * (opts.frames - 1))))
        scene = scene if h is None else hidden(scene, h)
        image, tracks, seed = scene.frames[0], scene.request.combined(), opts.seed + i
        videos = {"truth": scene.frames, "still": np.repeat(image[None], opts.frames, 0),
                  "warp": warp_image(image, tracks.path, tracks.visible, WARP_RADIUS * min(image.shape[:2]) / 128),
                  "trajectory_copy": trajectory_copy(image, tracks.path, tracks.visible, cell)}
        if shipped is not None:
            videos["shipped"] = to_uint8(stream_video(shipped, image, "", tracks, opts.frames, seed))
        if stream is not None:
            videos["student"] = to_uint8(stream_video(stream, image, "", tracks, opts.frames, seed))
        if drag_mode == "warp":
            videos.update(warp_rows(scene, tracks, seed, opts.frames, {"shipped": shipped, "student": stream}))
        if teacher is not None:
            videos["teacher"] = to_uint8(teacher_video(teacher, codec, image, "", tracks, seed, opts.teacher_steps,
                                                       opts.guidance(teacher), opts.start_sigma))
        scores = with_ratios({k: score_object_video(v, scene) for k, v in videos.items()})
        if h is not None:
            for k, v in videos.items():
                scores[k]["return_to_start"] = return_to_start(v, scene, h)
        row = {"scene": scene.name, **{k: {m: round(x, 3) for m, x in v.items()} for k, v in scores.items()}}
        for k, v in scores.items():
            for m, x in v.items():
                sums.setdefault(k, {}).setdefault(m, []).append(x)
        rows.append(row)
        if sheets:
            Path(sheets).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(Path(sheets) / f"{scene.name}.png"),
                        cv2.cvtColor(contact_sheet(videos, scene.request), cv2.COLOR_RGB2BGR))
        say(f"scene {scene.name}: " + "; ".join(f"{k} obj {v['object_over_still']:.2f}x id {v['identity']:.2f} "
                                                f"unc {v['uncovered_over_still']:.2f}x pins {v['pin_drift']:.2f}"
                                                for k, v in scores.items()))
    mean = {k: {m: round(float(np.mean(x)), 3) for m, x in d.items()} for k, d in sums.items()}
    result = {"student": student_name, "scenes": [r["scene"] for r in rows], "frames": opts.frames,
              "pins": opts.pins, "mean": mean, "per_scene": rows, "bars": BARS, "hide_from": hide_from}
    say(object_summary(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
    return result


def scene_region(scene: ObjectScene) -> np.ndarray:
    """The object's outline at frame 0: float32 [K, 2] px (the largest contour of its mask, simplified to 1 px)."""
    mask = (scene.mask(0) > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = cv2.approxPolyDP(max(contours, key=cv2.contourArea), 1.0, True)[:, 0].astype(np.float32)
    return outline + 0.5  # pixel (i, j)'s centre is (j + 0.5, i + 0.5): the outline around the mask's pixels


def warp_rows(scene: ObjectScene, tracks: Tracks, seed: int, frames: int, streams: dict) -> dict[str, np.ndarray]:
    """The warp drag mode on one scene: ``region_reference`` (the cut-and-drag reference, no model) and, for each
    given stream (a ``MotionStream``, or None), ``<name>_warp`` streamed in warp mode with its default strengths.
    The drag point (track 0) carries ``scene_region``; the pins none."""
    import torch

    from ..drag_mode import resolve_drag
    from ..reference.regions import RegionLayer, reference_frames
    from ..stream import MotionStream
    from .evaluate import stream_video, to_uint8

    region = scene_region(scene)
    dragged = Tracks(tracks.path, tracks.visible, tracks.fps, tracks.width, tracks.height, tracks.kinds,
                     (region,) + (None,) * (tracks.num_tracks - 1))
    image = scene.frames[0]
    H, W = image.shape[:2]
    path, vis = torch.tensor(dragged.path), torch.tensor(dragged.visible)
    pixels, _, _ = reference_frames(torch.from_numpy(image).permute(2, 0, 1).float() / 255, path, vis, path[0], vis[0],
                                    0.05 * min(H, W), RegionLayer(dragged.regions, H, W))
    out = {"region_reference": to_uint8(pixels.permute(1, 2, 3, 0))}
    for name, stream in streams.items():
        if stream is not None:
            warp = MotionStream(stream.model, stream.codec, drag=resolve_drag(stream.config, stream.sigmas, "warp"))
            out[f"{name}_warp"] = to_uint8(stream_video(warp, image, "", dragged, frames, seed))
    return out


def object_summary(r: dict) -> str:
    lines = [f"one-drag object scenes ({len(r['scenes'])}, {r['frames']} frames, 1 drag point at the object's "
             f"centre, {r['pins']} pins; student = {r['student']}); ratios are means of per-scene ratios:",
             f"  {'video':15s} {'object/still':>12s} {'object px':>10s} {'identity':>9s} {'uncovered/still':>16s}"
             f" {'pin drift':>10s} {'rest change':>12s}"]
    for k in ("student", "student_warp", "teacher", "shipped", "shipped_warp", "region_reference", "warp",
              "trajectory_copy", "still", "truth"):
        if k in r["mean"]:
            m = r["mean"][k]
            lines.append(f"  {k:15s} {m['object_over_still']:12.2f} {m['object_error']:10.2f} {m['identity']:9.2f}"
                         f" {m['uncovered_over_still']:16.2f} {m['pin_drift']:10.2f} {m['rest_change']:12.2f}")
    if r.get("hide_from") is not None:
        lines.append(f"  the drag hides from {r['hide_from']:.0%} of the clip on; return to start (0: stays, 1: jumps "
                     "back): " + ", ".join(f"{k} {m['return_to_start']:.2f}" for k, m in r["mean"].items()))
    lines.append("  bars: object <= 0.3x still, identity >= 0.6, uncovered <= 0.7x still, pins <= 3 px")
    return "\n".join(lines)

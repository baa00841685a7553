"""Motion transfer: point tracks from a reference video (OpenCV pyramidal Lucas-Kanade).

A grid of points (``grid_spacing`` pixels of the *output* size) on the first frame is tracked frame
to frame with pyramidal LK, then each point's window is aligned affinely to its template (which
removes the drift chained LK accumulates under zoom and rotation; ``refine=False`` skips it). A point
stays visible while LK finds it, tracking it back lands within ``max_fb_error`` pixels (of the source
video) of where it started, its window still matches its template, and it is inside the frame. Once
lost (occluded, out of view, untrackable) a point stays hidden and holds its last position: LK cannot
re-identify a point after an occlusion.

Frames: an array [T, H, W, 3] (uint8, or float in 0..1; numpy or torch; RGB) or a video file read
with PyAV. Coordinates follow :mod:`motionstream_core.tracks` (pixel corners; OpenCV's pixel centres
are shifted by 0.5).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..tracks import DEFAULT_MAX_TRACKS, MAX_TRACK_POINTS, Tracks, TrackError, check_track_budget
from ..video_io import MAX_VIDEO_BYTES, read_video  # noqa: F401  (read_video: motion transfer's way in for files)
from .camera import grid_points

LK_PARAMS = dict(winSize=(21, 21), maxLevel=3,
                 criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 0.003))


def _gray_frames(frames: Any) -> np.ndarray:
    """[T, H, W, 3] (uint8, or float in 0..1; numpy or torch) -> uint8 gray [T, H, W]; gray passes through."""
    if isinstance(frames, np.ndarray) and frames.ndim == 3 and frames.dtype == np.uint8:
        return frames
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().float().numpy() if frames.dtype.is_floating_point \
            else frames.detach().cpu().numpy()
    f = np.asarray(frames)
    if f.ndim != 4 or f.shape[-1] not in (1, 3, 4):
        raise TrackError(f"frames must be [T, H, W, 3]; got {tuple(f.shape)}")
    if f.dtype != np.uint8:
        if f.dtype.kind != "f":
            raise TrackError(f"frames must be uint8 or float in 0..1; got dtype {f.dtype}")
        if not np.isfinite(f).all():
            raise TrackError("frames contain NaN or infinite values")
        f = np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)
    if f.shape[-1] == 1:
        return f[..., 0]
    return np.stack([cv2.cvtColor(np.ascontiguousarray(x[..., :3]), cv2.COLOR_RGB2GRAY) for x in f])


@dataclass(frozen=True)
class VideoTracks:
    """What :func:`transfer_tracks` found: the tracks (of the first shot), the share of the first frame's points
    still visible on its last frame (``kept``), the frame where a shot change cut the video (None: no cut) and
    how many tracks were seeded after the first frame where points had been lost (``reseeded``)."""

    tracks: Tracks
    kept: float
    cut_at: int | None
    reseeded: int

    def summary(self) -> str:
        cut = "no shot change" if self.cut_at is None else f"cut at frame {self.cut_at} (a shot change)"
        return (f"{self.tracks.num_tracks} tracks over {self.tracks.num_frames} frames; {100 * self.kept:.1f}% of the "
                f"first frame's points kept to the last; {self.reseeded} re-seeded; {cut}")


def tracks_from_video(frames_or_path: Any, grid_spacing: float = 32, width: int | None = None,
                      height: int | None = None, fps: float | None = None, max_fb_error: float = 1.0, *,
                      source_fps: float | None = None, max_frames: int | None = None,
                      refine: bool = True, reseed: bool = True) -> Tracks:
    """Tracks of a grid of points through a reference video (kind "transfer"): :func:`transfer_tracks`'s."""
    return transfer_tracks(frames_or_path, grid_spacing, width, height, fps, max_fb_error, source_fps=source_fps,
                           max_frames=max_frames, refine=refine, reseed=reseed).tracks


def transfer_tracks(frames_or_path: Any, grid_spacing: float = 32, width: int | None = None,
                    height: int | None = None, fps: float | None = None, max_fb_error: float = 1.0, *,
                    source_fps: float | None = None, max_frames: int | None = None,
                    refine: bool = True, reseed: bool = True) -> VideoTracks:
    """Tracks of a grid of points through a reference video (kind "transfer"), and how well they held.

    ``width``/``height``: the output size (default: the video's); coordinates are scaled to it and
    ``grid_spacing`` is in its pixels. ``fps``: the output frame rate (default: the video's; a file
    knows its rate, an array is taken to be at ``source_fps``, default 16); a different rate
    resamples the tracks over the same duration. ``max_frames`` limits how many frames are read.
    ``refine``: align each point's window affinely to its template (see :class:`_AffineRefiner`).
    ``reseed``: grid places left without a point get a new track (hidden before it starts). The video is cut
    at its first shot change: the tracks cover the first shot.
    """
    if isinstance(frames_or_path, (str, os.PathLike)):
        frames, file_fps = read_video(frames_or_path, max_frames, gray=True, max_bytes=MAX_VIDEO_BYTES)
        src_fps = file_fps if source_fps is None else float(source_fps)
    else:
        frames = frames_or_path
        src_fps = 16.0 if source_fps is None else float(source_fps)
    if max_frames is not None:
        frames = frames[:max_frames]
    gray = _gray_frames(frames)
    if len(gray) == 0:
        raise TrackError("the video has no frames")
    cut = shot_change(gray)
    gray = gray if cut is None else gray[:cut]
    t, sh, sw = gray.shape
    out_w = sw if width is None else int(width)
    out_h = sh if height is None else int(height)
    if not grid_spacing > 0:
        raise TrackError(f"grid_spacing must be positive; got {grid_spacing!r}")
    grid = grid_points(out_w, out_h, grid_spacing)
    if len(grid) > DEFAULT_MAX_TRACKS:
        raise TrackError(f"too many tracks: {len(grid)} > limit {DEFAULT_MAX_TRACKS} (increase grid_spacing)")
    check_track_budget(t, len(grid), "Tracks From Video (frames x grid points)")
    scale = np.array([sw / out_w, sh / out_h], np.float32)
    spacing = float(grid_spacing) * float(scale.min())
    path, vis = track_points(gray, grid * scale, max_fb_error, refine, reseed_spacing=spacing if reseed else None,
                             keep_untracked=True)
    path = path / scale
    n = len(grid)
    kept = float(vis[-1, :n].mean()) if n else 0.0
    tr = Tracks(path, vis, src_fps, out_w, out_h, ("transfer",) * path.shape[1])
    if fps is not None and abs(float(fps) - src_fps) > 1e-9:
        tr = tr.resample(fps=fps)
    return VideoTracks(tr, kept, cut, path.shape[1] - n)


def shot_change(gray: np.ndarray, min_correlation: float = 0.5, min_change: float = 40.0) -> int | None:
    """The first frame that starts a new shot (None: one shot): its 32x32 thumbnail differs from the previous
    frame's by more than ``min_change`` grey levels on average and their grey histograms correlate below
    ``min_correlation`` (a pan or a passer-by keeps the histogram; a cut replaces it)."""
    prev = None
    for i, g in enumerate(gray):
        thumb = cv2.resize(g, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
        hist = cv2.calcHist([g], [0], None, [32], [0, 256])
        if prev is not None:
            change = float(np.abs(thumb - prev[0]).mean())
            corr = cv2.compareHist(hist, prev[1], cv2.HISTCMP_CORREL)
            if change > min_change and corr < min_correlation:
                return i
        prev = (thumb, hist)
    return None


FLAT_STD = 2.0  # grey levels: a window this uniform has no texture to track
SAME_MAD = 1.0  # grey levels: a window that changed less than this on average did not move


def _window_stats(prev: np.ndarray, cur: np.ndarray, pts: np.ndarray, radius: int = 10
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(texture: the std of each point's window in ``prev``, change: the mean absolute difference of the
    window between ``prev`` and ``cur`` at the same place), windows of 2 * radius + 1 pixels."""
    r = np.arange(-radius, radius + 1, 2, dtype=np.float32)
    oy, ox = np.meshgrid(r, r, indexing="ij")
    mx = (pts[:, None, 0] + ox.ravel()[None]).astype(np.float32)
    my = (pts[:, None, 1] + oy.ravel()[None]).astype(np.float32)
    a = cv2.remap(prev.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    b = cv2.remap(cur.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return a.std(1), np.abs(a - b).mean(1)


def _neighbour_motion(src: np.ndarray, moved_from: np.ndarray, moved_to: np.ndarray, k: int = 4,
                      radius: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """For points ``src`` [n, 2]: the median displacement of the ``k`` nearest tracked points (``moved_from`` ->
    ``moved_to``) within ``radius``, and whether there were any."""
    out = np.zeros((len(src), 2), np.float32)
    found = np.zeros(len(src), bool)
    if not len(moved_from):
        return out, found
    d = moved_to - moved_from
    kk = min(k, len(moved_from))
    for b in range(0, len(src), 256):  # 256 x N distances at a time
        dist = np.linalg.norm(src[b:b + 256, None] - moved_from[None], axis=-1)
        near = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
        ok = np.take_along_axis(dist, near, 1) <= radius
        any_ok = ok.any(1)
        found[b:b + 256] = any_ok
        if any_ok.any():
            disp = np.where(ok[any_ok, :, None], d[near[any_ok]], np.nan)
            out[b:b + 256][any_ok] = np.nanmedian(disp, axis=1)
    return out, found


def track_points(frames: Any, points: np.ndarray, max_fb_error: float = 1.0, refine: bool = True,
                 reseed_spacing: float | None = None, reseed_every: int = 4, keep_untracked: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Track given start points through a video: the tracker behind :func:`transfer_tracks`.

    ``frames``: [T, H, W, 3] (uint8 or float 0..1) or already-gray [T, H, W] uint8; ``points`` [N, 2]
    in Tracks coordinates (pixel corners) of frame 0. Returns (path [T, M, 2] float32 in the same
    coordinates, visible [T, M] bool); M = N, or more when ``reseed_spacing`` is given.

    A lost point (LK or the template check cannot follow it: occluded, out of view) holds its last position
    hidden. With ``keep_untracked`` (motion transfer) a point is not given up so soon: one whose template still
    aligns is kept even where LK's way back missed by more than ``max_fb_error``; where its window did not
    change it has not moved; where its window is flat (no texture to track) it moves with the tracked points
    around it; only a textured window that changed is lost. Without it (the default, what the evaluation
    re-tracks generated videos with) a point LK cannot follow is lost. With ``reseed_spacing`` (source pixels), every ``reseed_every`` frames each start point's place that
    has no visible point within half that spacing gets a new track there (at most 3 N more, within the
    frames x tracks budget).
    """
    gray = _gray_frames(frames)
    if not max_fb_error > 0:
        raise TrackError(f"max_fb_error must be positive; got {max_fb_error!r}")
    t, sh, sw = gray.shape
    p = np.asarray(points, np.float32).reshape(-1, 2) - 0.5  # OpenCV coordinates: pixel centres at integers
    n = len(p)
    cap = n if reseed_spacing is None else max(n, min(4 * n, DEFAULT_MAX_TRACKS, MAX_TRACK_POINTS // max(t, 1)))
    path = np.zeros((t, cap, 2), np.float32)
    vis = np.zeros((t, cap), bool)
    path[0, :n], vis[0, :n] = p, True
    alive = np.zeros(cap, bool)
    alive[:n] = True
    used = n
    refiner = _AffineRefiner(gray[0], path[0]) if refine and n else None  # room for the re-seeded points too
    for i in range(1, t):
        idx = np.flatnonzero(alive)
        if len(idx):
            p0 = path[i - 1, idx]
            p1, st1, _ = cv2.calcOpticalFlowPyrLK(gray[i - 1], gray[i], p0.reshape(-1, 1, 2), None, **LK_PARAMS)
            pb, st2, _ = cv2.calcOpticalFlowPyrLK(gray[i], gray[i - 1], p1, None, **LK_PARAMS)
            p1, pb = p1.reshape(-1, 2), pb.reshape(-1, 2)
            fb = np.linalg.norm(pb - p0, axis=1)
            found_lk = (st1[:, 0] == 1) & (st2[:, 0] == 1) & np.isfinite(p1).all(1)
            ok = found_lk & (fb <= max_fb_error)
            at = np.flatnonzero(found_lk if keep_untracked else ok)
            if refiner is not None and len(at):
                # the template decides: lost where the content changed (occluded); with keep_untracked, kept where
                # it aligned even if LK's way back missed by more than max_fb_error
                p1[at], lost, aligned = refiner.step(gray[i], idx[at], p1[at])
                ok[at] = ((ok[at] | aligned) if keep_untracked else ok[at]) & ~lost
            keep = ok
            if keep_untracked:
                texture, change = _window_stats(gray[i - 1], gray[i], p0)
                same, flat = change < SAME_MAD, texture < FLAT_STD
                ok_now = ok & ~flat  # textured and followed: these carry the motion field
                nb, found = _neighbour_motion(p0[~ok_now], p0[ok_now], p1[ok_now],
                                              radius=8 * LK_PARAMS["winSize"][0])
                rescue = ~ok_now & (same | flat)
                guess = np.where((same & ~flat)[~ok_now, None], 0.0, np.where(found[:, None], nb, 0.0))
                p1[~ok_now] = np.where(rescue[~ok_now, None], p0[~ok_now] + guess, p1[~ok_now])
                keep = ok_now | rescue
                if refiner is not None and rescue.any():
                    refiner.start(gray[i], idx[rescue], p1[rescue])  # a fresh template where it now is
            inside = (p1[:, 0] >= -0.5) & (p1[:, 0] <= sw - 0.5) & (p1[:, 1] >= -0.5) & (p1[:, 1] <= sh - 0.5)
            alive[idx[~(keep & inside)]] = False
            good = idx[keep & inside]
            path[i, good] = p1[keep & inside]
        path[i, ~alive] = path[i - 1, ~alive]
        vis[i] = alive
        if reseed_spacing is not None and i % reseed_every == 0 and used < cap:
            live = path[i, alive]
            if len(live):
                near = _neighbour_motion(p, live, live, k=1, radius=reseed_spacing / 2)[1]
            else:
                near = np.zeros(n, bool)
            new = p[~near][:cap - used]
            if len(new):
                ids = np.arange(used, used + len(new))
                path[:i + 1, ids] = new  # hidden before it starts
                vis[i, ids], alive[ids] = True, True
                if refiner is not None:
                    refiner.start(gray[i], ids, new)
                used += len(new)
    return path[:, :used] + 0.5, vis[:, :used]


class _AffineRefiner:
    """Drift-free refinement of chained LK: robust affine Gauss-Newton alignment to a template.

    Every point keeps a template (a window of ``2R+1`` pixels, sampled every ``step`` pixels, from the
    frame where it was anchored) and an affine warp from that window into the current frame. After LK
    predicts the new centre, Gauss-Newton steps on zero-mean intensities (centre + 2x2 matrix; pixels
    outside the frame ignored; Cauchy weights so that a partial occluder barely counts) align the
    template. The alignment is kept when the windows correlate (ZNCC >= ``min_zncc``), the warp stays
    moderate and the centre is within ``max_shift`` pixels of LK's. Between ``lost_zncc`` and
    ``min_zncc`` the point is re-anchored (a new template from the current frame), so tracking goes on
    through gradual appearance changes; below ``lost_zncc``, or when the alignment diverges, the content
    under the point changed abruptly (an occlusion) and the point is lost.
    """

    def __init__(self, frame0: np.ndarray, pts: np.ndarray, radius: int = 10, step: int = 2, iters: int = 8,
                 min_zncc: float = 0.9, lost_zncc: float = 0.8, max_shift: float = 2.0) -> None:
        r = np.arange(-radius, radius + 1, step, dtype=np.float32)
        gy, gx = np.meshgrid(r, r, indexing="ij")
        self.off = np.stack([gx.ravel(), gy.ravel()], -1)  # [P, 2]
        self.iters, self.min_zncc, self.lost_zncc, self.max_shift = iters, min_zncc, lost_zncc, max_shift
        n = len(pts)
        self.tmpl = np.zeros((n, len(self.off)), np.float32)
        self.tmask = np.zeros((n, len(self.off)), bool)
        self.a = np.tile(np.eye(2, dtype=np.float32), (n, 1, 1))
        self._anchor(frame0.astype(np.float32)[..., None], np.arange(n), pts)

    @staticmethod
    def _sample(img: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bilinear samples [n, P, C] of an [H, W, C] image at pos [n, P, 2], and which lie inside."""
        h, w = img.shape[:2]
        mx, my = pos[..., 0].astype(np.float32), pos[..., 1].astype(np.float32)
        val = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        return val.reshape(mx.shape + (-1,)), inside

    def start(self, frame: np.ndarray, idx: np.ndarray, pts: np.ndarray) -> None:
        """New templates for points ``idx`` at ``pts`` [n, 2] of ``frame`` (uint8 grey)."""
        self._anchor(frame.astype(np.float32)[..., None], idx, pts)

    def _anchor(self, img: np.ndarray, idx: np.ndarray, pts: np.ndarray) -> None:
        vals, inside = self._sample(img[..., :1], pts[:, None, :] + self.off[None])
        self.tmpl[idx], self.tmask[idx] = vals[..., 0], inside
        self.a[idx] = np.eye(2, dtype=np.float32)

    def step(self, frame: np.ndarray, idx: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Refined positions [n, 2] of points ``idx`` predicted at ``pred``, which of them are lost, and which
        aligned to their template."""
        img = frame.astype(np.float32)
        stack = np.dstack([img, cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8),
                           cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)])
        n = len(idx)
        c = pred.astype(np.float32).copy()
        a = self.a[idx].copy()
        tmpl, tmask = self.tmpl[idx], self.tmask[idx]
        ox, oy = self.off[:, 0], self.off[:, 1]
        zncc = np.zeros(n, np.float32)
        overlap = np.zeros(n, np.float32)
        act = np.arange(n)
        for it in range(self.iters + 1):
            pos = c[act, None, :] + self.off @ a[act].transpose(0, 2, 1)
            smp, inside = self._sample(stack, pos)
            m = (inside & tmask[act]).astype(np.float32)
            cnt = np.maximum(m.sum(1, keepdims=True), 1)
            t_a = tmpl[act]
            tz = (t_a - (t_a * m).sum(1, keepdims=True) / cnt) * m
            iw = smp[..., 0]
            iz = (iw - (iw * m).sum(1, keepdims=True) / cnt) * m
            zncc[act] = (tz * iz).sum(1) / np.sqrt((tz ** 2).sum(1) * (iz ** 2).sum(1) + 1e-12)
            overlap[act] = m.mean(1)
            if it == self.iters:
                break
            gx, gy = smp[..., 1], smp[..., 2]
            jac = np.stack([gx, gy, gx * ox, gx * oy, gy * ox, gy * oy], -1) * m[..., None]
            jac -= jac.sum(1, keepdims=True) / cnt[..., None] * m[..., None]
            res = iz - tz
            # robust (Cauchy) weights: pixels that disagree, e.g. a partial occluder, barely count
            srt = np.sort(np.where(m > 0, np.abs(res), np.inf), axis=1)
            med = np.take_along_axis(srt, ((cnt - 1) // 2).astype(np.int64), axis=1)
            sigma = 1.4826 * np.where(np.isfinite(med), med, 0.0) + 1e-3
            wt = m / (1 + (res / (2.385 * sigma)) ** 2)
            jw = jac * wt[..., None]
            hess = jw.transpose(0, 2, 1) @ jac + 1e-4 * np.eye(6, dtype=np.float32)
            grad = (jw * res[..., None]).sum(1)
            d = -np.linalg.solve(hess.astype(np.float64), grad[..., None].astype(np.float64))[..., 0]
            c[act] += d[:, :2].astype(np.float32)
            a[act] += d[:, 2:].reshape(-1, 2, 2).astype(np.float32)
            moving = (np.abs(d[:, :2]).max(1) > 1e-3) | (np.abs(d[:, 2:]).max(1) > 1e-4)
            act = act[moving]
            if len(act) == 0:
                break
        sv = np.linalg.svd(a, compute_uv=False)
        judge = overlap >= 0.3  # enough of the window overlaps the template to tell
        sane = (np.linalg.norm(c - pred, axis=1) <= self.max_shift) & (sv.min(1) > 0.5) & (sv.max(1) < 2.0) \
            & np.isfinite(c).all(1)
        lost = judge & ~(sane & (zncc >= self.lost_zncc))  # diverged or the content changed: occluded
        keep = judge & sane & (zncc >= self.min_zncc)  # aligned to the template: keep it
        out = np.where((judge & sane)[:, None], c, pred).astype(np.float32)
        self.a[idx[keep]] = a[keep]
        redo = ~keep & ~lost  # appearance drifted (or the window left the frame): re-anchor here
        if redo.any():
            self._anchor(img[..., None], idx[redo], out[redo])
        return out, lost, keep

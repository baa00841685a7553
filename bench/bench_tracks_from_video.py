"""Motion transfer's tracker against known motion: held-out photos moved by a smooth motion field.

    python bench/bench_tracks_from_video.py       # one JSON line per photo and amplitude

Each photo (scikit-learn's samples, which the tracker was never tuned on) is moved over 24 frames by a
``known_motion.SmoothField`` (a translation, a small rotation and zoom, three long-wavelength sinusoids; each
part up to ``amplitude`` pixels) and tracked on a 32-pixel grid with ``transfer_tracks``. Scored: the first
frame's grid points whose true path stays 12 px inside the frame; error = distance to the true position on
every frame where the point is visible. ``kept``: share of those visible on the last frame; ``lk_only_kept``:
the same with LK and the template check alone (``track_points`` without ``keep_untracked``); ``repeated_kept``:
the photo repeated over 6 frames.
"""

from __future__ import annotations

import json
import time

import numpy as np
from sklearn.datasets import load_sample_image

from motionstream_core.motion.known_motion import moved_photo
from motionstream_core.motion.transfer import track_points, transfer_tracks

MARGIN = 12


def measure(name: str, photo: np.ndarray, amplitude: float, frames_n: int = 24, spacing: int = 32) -> dict:
    frames, where = moved_photo(photo, frames_n, amplitude, seed=0)
    t0 = time.perf_counter()
    found = transfer_tracks(frames, grid_spacing=spacing)
    seconds = time.perf_counter() - t0
    n = found.tracks.num_tracks - found.reseeded
    start = found.tracks.path[0, :n]
    truth = where(start)
    h, w = photo.shape[:2]
    inside = ((truth[..., 0] > MARGIN) & (truth[..., 0] < w - MARGIN) & (truth[..., 1] > MARGIN)
              & (truth[..., 1] < h - MARGIN)).all(0)
    err = np.linalg.norm(found.tracks.path[:, :n] - truth, axis=-1)[:, inside]
    vis = found.tracks.visible[:, :n][:, inside]
    _, lk_vis = track_points(frames, start)
    repeated = transfer_tracks(np.stack([photo] * 6), grid_spacing=spacing)
    return {"photo": name, "size": f"{w}x{h}", "frames": frames_n, "amplitude_px": amplitude,
            "points_scored": int(inside.sum()), "median_error_px": round(float(np.median(err[vis])), 4),
            "p95_error_px": round(float(np.percentile(err[vis], 95)), 4), "kept": round(float(vis[-1].mean()), 4),
            "lk_only_kept": round(float(lk_vis[-1, inside].mean()), 4), "reseeded": found.reseeded,
            "repeated_kept": round(repeated.kept, 4), "seconds": round(seconds, 2)}


def main() -> None:
    for name in ("china.jpg", "flower.jpg"):
        photo = load_sample_image(name)
        for amplitude in (3.0, 6.0, 12.0):
            print(json.dumps(measure(name, photo, amplitude)), flush=True)


if __name__ == "__main__":
    main()

"""How much a run's teacher reads its tracks, on clips it never trained on: a cheap read-out for long runs.

For held-out clips of the run's clip source (seeds far from the latent cache's), encoded with the run's
codec, the clean-latent error ``x0 = x_sigma - sigma v`` per sigma with the clip's own tracks and
without tracks (``probe.latent_errors``), and ``track_gain = 1 - own / none`` (0: the tracks are ignored).
Sampling and re-tracking (``motionstream eval --student none``) say what a user sees; this says, in
seconds, whether the teacher has started to use its tracks at all.

    python -m motionstream_core.train.gain --out runs/demo_pca --clips 8 --frames 17
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .autoencoder import load_stage_codec_parts
from .common import set_threads
from .data import CACHE, Clips, clip_renderer, encode_clips, latent_cache_meta, load_latent_cache
from .probe import latent_errors
from .teacher_train import load_teacher

HELD_OUT_SEED = 990_000_000  # the latent cache uses seeds seed * 1_000_003 + i


def held_out_gain(out: str, clips: int = 8, frames: int = 17, source: str | None = None,
                  sigmas=(0.95, 0.8, 0.6, 0.4)) -> dict:
    """{"gain": {sigma: 1 - own/none}, "own": {sigma: mse}, "none": {sigma: mse}, "source": ...} of the run's teacher
    (EMA weights) on ``clips`` held-out clips of ``source`` (default: the source of the run's latent cache)."""
    if source is None:
        source = latent_cache_meta(out).get("source", "synthetic")
    model = load_teacher(out)
    vae, stats = load_stage_codec_parts(out)
    render = clip_renderer(source, model.config, frames, 64)
    made = [render(HELD_OUT_SEED + i) for i in range(clips)]
    z, image = encode_clips(vae, stats, torch.from_numpy(np.stack([c.frames for c in made])))
    cache = Clips(z=z, image=image, path=torch.from_numpy(np.stack([c.path for c in made])),
                  visible=torch.from_numpy(np.stack([c.visible for c in made])), caption=[c.caption for c in made])
    latent, gain = latent_errors(model, cache, motions=1, sigmas=sigmas)
    return {"gain": gain, "own": latent["own"], "none": latent["none"], "source": source, "clips": clips,
            "frames": frames}


def cache_gain(out: str, clips: int = 16, sigmas=(0.95, 0.8, 0.6, 0.4)) -> dict:
    """The same read-out on the first ``clips`` clips of the run's own latent cache (what it trains on), with the
    swap errors of ``probe.latent_errors`` when the cache holds several motions per scene (``swap``: the next
    motion's tracks; ``swap_to_other``: how close that prediction comes to the other motion's clip)."""
    cache = load_latent_cache(Path(out) / CACHE)
    motions = int(cache.meta.get("motions_per_scene", 1))
    n = min(clips - clips % motions, len(cache))  # whole scenes, so every clip's other motion is there
    latent, gain = latent_errors(load_teacher(out), cache.take(list(range(n))), motions=motions, sigmas=sigmas)
    return {"gain": gain, **latent, "clips": n, "motions_per_scene": motions}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m motionstream_core.train.gain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="run directory with a teacher")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--source", default=None, help="synthetic or photo (default: the run's latent cache's)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--on-cache", action="store_true", help="measure on the run's own cache clips instead (with swaps)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    print(json.dumps(cache_gain(args.out, args.clips) if args.on_cache
                     else held_out_gain(args.out, args.clips, args.frames, args.source)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

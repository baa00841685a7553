"""`motionstream train export`: ship a run's student and autoencoder as the embedded demo model.

* ``student.safetensors``: the chosen stage's student in our checkpoint format, weights in fp16
  (loaders cast to the requested dtype), with the run's provenance in the metadata;
* ``autoencoder.safetensors``: the run's codec (the ``decoder`` stage's wider decoder when trained) with its
  latent statistics;
* the sample inputs in ``demo/assets``: a real photo no training source holds (``ASSET_PHOTO``, one of
  ``photo_clips.eval_photos``), fitted to the model's size, with a user-style drag on it and pins on its background
  (``photo_eval.drag_request``), longer than the training clips so the demo streams on, the empty prompt (photo
  clips train without captions) and the photo's credit; ``write_synthetic_assets``: the former sample, a held-out
  synthetic clip's start frame, tracks and caption.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import cv2
import numpy as np
import torch

from .. import track_formats
from ..checkpoints import load_model, save_model
from ..demo.loader import ASSETS_DIR, DEMO_ASSETS, WEIGHTS_DIR
from .autoencoder import run_codec_path
from ..synthetic import SyntheticClipConfig

MAX_BYTES = 25 * 1024 * 1024
ASSET_FRAMES = 49
ASSET_TRACKS = 8
ASSET_PHOTO = "flower"  # CC-BY 2.0 (scikit-learn's sample): shipped with its credit
ASSET_SEED = 0
CREDIT = "CREDIT.txt"


def export_demo(out: str, source: str | None = None, dest: str | Path | None = None,
                assets: str = "photo") -> dict[str, Path]:
    """The run's student (fp16) and codec into ``dest`` (default: the package's ``demo/weights``), and the sample
    inputs ``assets`` -- "photo" (``write_assets``), "synthetic" (``write_synthetic_assets``) or "none" -- into the
    package's ``demo/assets``, or ``dest/assets`` when ``dest`` is given (an export elsewhere leaves the package
    alone)."""
    writers = {"photo": write_assets, "synthetic": write_synthetic_assets, "none": None}
    if assets not in writers:
        raise ValueError(f"assets must be one of {', '.join(writers)}, got {assets!r}")
    out = Path(out)
    dest = Path(dest) if dest else WEIGHTS_DIR
    dest.mkdir(parents=True, exist_ok=True)
    if source is None:
        source = "dmd" if (out / "dmd" / "student.safetensors").is_file() else "ode"
    src = out / source / "student.safetensors"
    if not src.is_file():
        raise FileNotFoundError(f"no student in {src}: train the {source} stage first")
    model = load_model(src)
    student, ae = dest / "student.safetensors", dest / "autoencoder.safetensors"
    # written beside the files they replace, checked, then moved over them: a failed export keeps the old model
    staged = {student: dest / ".student.safetensors.part", ae: dest / ".autoencoder.safetensors.part"}
    try:
        save_model(copy.deepcopy(model).half(), staged[student],
                   {"stage": source, "weights_dtype": "float16", "recipe": "docs/DEMO_MODEL.md"})
        shutil.copyfile(run_codec_path(str(out)), staged[ae])
        total = sum(p.stat().st_size for p in staged.values())
        if total > MAX_BYTES:
            raise RuntimeError(f"the demo weights would be {total / 2**20:.1f} MiB, over the "
                               f"{MAX_BYTES / 2**20:.0f} MiB budget; {dest} is left as it was")
        for final, part in staged.items():
            part.chmod(0o644)  # safetensors writes 0600; the package's files are read by everyone
            part.replace(final)
    finally:
        for part in staged.values():
            part.unlink(missing_ok=True)
    paths = {"student": student, "autoencoder": ae}
    if writers[assets] is not None:
        shipped = dest.resolve() == WEIGHTS_DIR.resolve()
        paths.update(writers[assets](model.config, ASSETS_DIR if shipped else dest / "assets"))
    return paths


def pick_asset_clip(cfg, candidates: int = 24):
    """The held-out clip (a seed of the held-out stream) whose shapes move the most while staying in view."""
    from ..synthetic import heldout_clips

    best, best_score = None, -1.0
    clip_cfg = SyntheticClipConfig.for_model(cfg, num_frames=ASSET_FRAMES, camera_motion_prob=0.0)
    for clip in heldout_clips(candidates, clip_cfg, start=1000):
        on_shape = (clip.owner >= 0) & clip.visible.all(0)
        if on_shape.sum() < ASSET_TRACKS:
            continue
        moves = np.linalg.norm(clip.path[-1, on_shape] - clip.path[0, on_shape], axis=-1)
        score = float(np.median(moves))
        if score > best_score:
            best, best_score = clip, score
    return best


def asset_paths(folder: str | Path = ASSETS_DIR) -> dict[str, Path]:
    """Where the sample inputs go in ``folder``: the files ``DEMO_ASSETS`` names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {k: folder / p.name for k, p in DEMO_ASSETS.items()}


def write_assets(cfg, folder: str | Path = ASSETS_DIR) -> dict[str, Path]:
    """The real-photo sample: ``ASSET_PHOTO`` at the model's size, a drag on its most textured object and pins."""
    from .photo_clips import eval_photos
    from .photo_eval import drag_request, fit_photo

    photo, credit = eval_photos()[ASSET_PHOTO]
    image = fit_photo(photo, cfg.height, cfg.width)
    tracks = drag_request(image, ASSET_FRAMES, cfg.stream.fps, seed=ASSET_SEED).combined()
    paths = {**asset_paths(folder), "credit": Path(folder) / CREDIT}
    cv2.imwrite(str(paths["image"]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    paths["tracks"].write_text(track_formats.to_json(tracks))
    paths["prompt"].write_text("\n")
    paths["credit"].write_text(f"{paths['image'].name}: {ASSET_PHOTO}.jpg, {credit}, resized and cropped to "
                               f"{cfg.width}x{cfg.height}\n")
    return paths


def write_synthetic_assets(cfg, folder: str | Path = ASSETS_DIR) -> dict[str, Path]:
    """The synthetic sample: a held-out clip's start frame, drag tracks on its shapes and its caption."""
    from ..tracks import Tracks

    clip = pick_asset_clip(cfg)
    paths = asset_paths(folder)
    on_shape = np.nonzero((clip.owner >= 0) & clip.visible.all(0))[0]
    by_owner: dict[int, list[int]] = {}
    for n in on_shape:  # spread the drags over the shapes: round-robin over owners
        by_owner.setdefault(int(clip.owner[n]), []).append(int(n))
    picked: list[int] = []
    while len(picked) < ASSET_TRACKS and any(by_owner.values()):
        for owner in sorted(by_owner):
            if by_owner[owner] and len(picked) < ASSET_TRACKS:
                picked.append(by_owner[owner].pop(0))
    cols = np.array(picked)
    tracks = Tracks(path=clip.path[:, cols], visible=clip.visible[:, cols], fps=clip.fps, width=clip.width,
                    height=clip.height)
    cv2.imwrite(str(paths["image"]), cv2.cvtColor(clip.frames[0], cv2.COLOR_RGB2BGR))
    paths["tracks"].write_text(track_formats.to_json(tracks))
    paths["prompt"].write_text(clip.caption + "\n")
    return paths


def weights_nbytes(folder: Path = WEIGHTS_DIR) -> int:
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


__all__ = ["export_demo", "asset_paths", "write_assets", "write_synthetic_assets", "pick_asset_clip", "weights_nbytes",
           "torch"]

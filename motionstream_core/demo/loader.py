"""The embedded demo model: a small MotionStream student and its codec, trained by this project's own recipe
(``motionstream train ...``, see docs/DEMO_MODEL.md) on clips rendered from real photos.

    model, codec = load_demo()              # fp32 on the CPU; no download
    MotionStream(model, codec).session(image, "", tracks)

Files (``DEMO_WEIGHTS``): ``student.safetensors`` (our checkpoint format: DiT + track head + demo text encoder,
weights stored in fp16, config in the metadata) and ``autoencoder.safetensors`` (the run's codec: its kind, config
and per-channel latent statistics in the metadata; ``decoders.load_codec`` reads any of them). ``DEMO_ASSETS``: the
sample a user runs first (``motionstream demo``): a real photo, drag tracks with background pins, a prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import track_formats
from ..checkpoints import load_model
from ..decoders import load_codec
from ..tracks import Tracks

HERE = Path(__file__).resolve().parent
WEIGHTS_DIR = HERE / "weights"
ASSETS_DIR = HERE / "assets"
DEMO_WEIGHTS = {"student": WEIGHTS_DIR / "student.safetensors",
                "autoencoder": WEIGHTS_DIR / "autoencoder.safetensors"}
DEMO_ASSETS = {"image": ASSETS_DIR / "start.png", "tracks": ASSETS_DIR / "tracks.json",
               "prompt": ASSETS_DIR / "prompt.txt"}


@dataclass(frozen=True)
class DemoSample:
    """The sample a user runs first: ``image`` float32 [H, W, 3] in [0, 1] at the model's size, ``tracks`` (the
    drag and its background pins, in the image's pixels), ``prompt`` and ``credit`` (the photo's licence line)."""
    image: np.ndarray
    tracks: Tracks
    prompt: str
    credit: str


def load_demo_sample() -> DemoSample:
    """The files ``DEMO_ASSETS`` names, read."""
    from ..video_io import read_image  # PyAV and OpenCV load only when the sample is read

    image = read_image(DEMO_ASSETS["image"])
    credit = DEMO_ASSETS["image"].with_name("CREDIT.txt")
    return DemoSample(image, track_formats.load(DEMO_ASSETS["tracks"]), DEMO_ASSETS["prompt"].read_text().strip(),
                      credit.read_text().strip() if credit.is_file() else "")


class DemoModelMissing(FileNotFoundError):
    """The demo weights are not in the package (a source checkout without them)."""


def load_demo(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """(MotionStreamModel, OwnCodec: a TinyVAECodec or a PatchCodec) of the embedded demo model, ready for ``MotionStream``."""
    missing = [str(p) for p in DEMO_WEIGHTS.values() if not p.is_file()]
    if missing:
        raise DemoModelMissing(f"the embedded demo model is missing ({', '.join(missing)}); rebuild it with the "
                               "commands in docs/DEMO_MODEL.md")
    model = load_model(DEMO_WEIGHTS["student"], device=device, dtype=dtype)
    codec = load_codec(DEMO_WEIGHTS["autoencoder"], device=device, dtype=dtype)
    return model, codec

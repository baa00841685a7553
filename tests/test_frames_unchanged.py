"""Refactors keep behaviour: frames from the demo model and the tiny configs, run through the pipeline,
are bit-identical to stored checksums (tests/data/frame_checksums.json).

The stored sums were computed at commit bc8305a, before the pipeline existed, by calling
``MotionStream(model, codec).session(...)`` directly on the same inputs; the CPU results did not
depend on the thread count (1 and 2 threads gave the same sums).

Regenerate them ONLY when the generated frames are meant to change (new shipped demo weights in
``motionstream_core/demo/weights/``, a deliberate change of the sampler), in the commit that makes
that change and on a CPU:

    PYTHONPATH=$PWD python tests/test_frames_unchanged.py --write

and say so in the commit message. Float results may differ on another CPU family (other SIMD
kernels); the sums are for the x86-64 CPUs this project is developed and tested on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motionstream_core import track_formats
from motionstream_core.checkpoints import save_model
from motionstream_core.config import WAN21, get_config
from motionstream_core.decoders import TinyDecoder
from motionstream_core.demo import DEMO_ASSETS
from motionstream_core.model import MotionStreamModel
from motionstream_core.pipeline import (Decoder, DecoderSource, LoadedModel, ModelSource, Pipeline, Runtime,
                                        load_decoder, load_model)
from motionstream_core.stream import TextCondition
from motionstream_core.text_encoder import DemoTextEncoder
from motionstream_core.tiny_vae import TinyVAE
from motionstream_core.tracks import Tracks
from motionstream_core.video_io import read_image

SUMS = Path(__file__).parent / "data" / "frame_checksums.json"
CPU = Runtime.resolve("cpu")


def digest(frames: torch.Tensor) -> str:
    return hashlib.sha256(frames.contiguous().numpy().astype(np.float32).tobytes()).hexdigest()


def _randomised(module):
    """Default init makes near-constant frames; these weights make varied ones (as tests/conftest.py)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * (1.0 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.02))
    return module


def _video(pipe: Pipeline, *args, **kwargs) -> torch.Tensor:
    return torch.cat([c.frames for c in pipe.session(pipe.prepare(*args, **kwargs))])


def demo_frames() -> torch.Tensor:
    """`motionstream demo`'s inputs, 25 frames (3 chunks)."""
    pipe = Pipeline(load_model(ModelSource(), CPU))
    image = read_image(DEMO_ASSETS["image"], pipe.config.width, pipe.config.height)
    tracks = track_formats.load(DEMO_ASSETS["tracks"])
    prompt = DEMO_ASSETS["prompt"].read_text().strip()
    return _video(pipe, image, prompt, tracks=[tracks], num_frames=25, seed=0)


def _tiny_parts():
    cfg = get_config("tiny")
    torch.manual_seed(1234)
    model = _randomised(MotionStreamModel(cfg, text_encoder=DemoTextEncoder.from_config(cfg))).eval()
    vae = _randomised(TinyVAE(cfg.vae)).eval()
    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    return cfg, model, vae, image


def tiny_frames(tmp: Path) -> torch.Tensor:
    """A tiny checkpoint and a plain tiny-decoder state dict from files (the CLI's path), a prompt for
    the built-in text encoder, two drag tracks; 30 frames."""
    cfg, model, vae, image = _tiny_parts()
    save_model(model, tmp / "tiny.safetensors")
    torch.save(vae.state_dict(), tmp / "decoder.pth")
    loaded = load_model(ModelSource(tmp / "tiny.safetensors"), CPU)
    pipe = Pipeline(loaded, load_decoder(DecoderSource(tmp / "decoder.pth"), prefer=cfg.vae))
    path = np.linspace([[10, 12], [40, 50]], [[50, 30], [20, 20]], 30).astype(np.float32)
    tracks = Tracks(path=path, visible=np.ones((30, 2), bool), fps=16, width=64, height=64)
    return _video(pipe, image, "a red circle", tracks=[tracks], num_frames=30, seed=5)


def tiny_wan_stats_frames() -> torch.Tensor:
    """The tiny DiT declared to make Wan 2.1 latents, decoded by a tiny decoder that reads them (so the
    codec applies Wan 2.1's latent statistics), a text embedding with CLIP tokens, 2 steps, no tracks."""
    cfg, model, vae, image = _tiny_parts()
    model.text_encoder = None  # the run takes a text embedding
    model.config = dataclasses.replace(cfg, latent_space=WAN21).validate()
    pipe = Pipeline(LoadedModel(model, "tiny-wan"), Decoder("tiny", WAN21, tiny=TinyDecoder(vae)), steps=2)
    g = torch.Generator().manual_seed(7)
    text = TextCondition(torch.randn(1, cfg.text_len, cfg.dit.text_dim, generator=g),
                         torch.randn(1, 257, cfg.dit.clip_dim, generator=g))
    return _video(pipe, image, embedding=text, num_frames=13, seed=9)


def all_frames(tmp: Path) -> dict[str, torch.Tensor]:
    return {"demo": demo_frames(), "tiny": tiny_frames(tmp), "tiny_wan_stats": tiny_wan_stats_frames()}


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(SUMS.read_text())["frames"]


@pytest.mark.parametrize("case", ["demo", "tiny", "tiny_wan_stats"])
def test_frames_are_bit_identical_to_the_stored_checksums(case, stored, tmp_path):
    make = {"demo": demo_frames, "tiny": lambda: tiny_frames(tmp_path), "tiny_wan_stats": tiny_wan_stats_frames}
    frames = make[case]()
    assert list(frames.shape) == stored[case]["shape"]
    assert digest(frames) == stored[case]["sha256"], (
        f"{case}: the frames changed. If that is intended (new demo weights, a sampler change), regenerate the "
        "sums as this module's docstring says; otherwise the change altered behaviour")


def test_a_changed_input_changes_the_checksum(stored, tmp_path):
    """The sums are sensitive: one seed more gives other frames."""
    cfg, model, vae, image = _tiny_parts()
    pipe = Pipeline(LoadedModel(model, "tiny", None), Decoder("tiny", None, tiny=TinyDecoder(vae)))
    path = np.linspace([[10, 12], [40, 50]], [[50, 30], [20, 20]], 30).astype(np.float32)
    tracks = Tracks(path=path, visible=np.ones((30, 2), bool), fps=16, width=64, height=64)
    same = _video(pipe, image, "a red circle", tracks=[tracks], num_frames=30, seed=5)
    other = _video(pipe, image, "a red circle", tracks=[tracks], num_frames=30, seed=6)
    assert digest(same) == stored["tiny"]["sha256"]
    assert digest(other) != stored["tiny"]["sha256"]


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: PYTHONPATH=$PWD python tests/test_frames_unchanged.py --write")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        frames = all_frames(Path(d))
    doc = json.loads(SUMS.read_text()) if SUMS.is_file() else {}
    doc["about"] = ("sha256 of the float32 frames [T, H, W, 3] of tests/test_frames_unchanged.py's cases, written by "
                    "`python tests/test_frames_unchanged.py --write` (first computed at bc8305a, before the pipeline)")
    doc["frames"] = {k: {"shape": list(v.shape), "sha256": digest(v)} for k, v in frames.items()}
    SUMS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc["frames"], indent=1))

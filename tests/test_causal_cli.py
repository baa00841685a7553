"""`motionstream generate` / `bench` on tiny random files in the public causal students' layouts."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from motionstream_core import track_formats
from motionstream_core.causal_checkpoints import causal_config, get_preset
from motionstream_core.cli import main
from motionstream_core.config import DiTConfig, TinyVAEConfig
from motionstream_core.decoders import TinyVAE
from motionstream_core.model import MotionStreamModel
from motionstream_core.motion.transfer import read_video
from motionstream_core.tracks import Tracks

DIT = DiTConfig(dim=128, ffn_dim=64, num_heads=1, num_layers=2, in_dim=16, out_dim=16, text_dim=32, freq_dim=32,
                image_cross_attn=False)
SIZE = ["--width", "64", "--height", "48"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("causal_cli")
    torch.manual_seed(0)
    model = MotionStreamModel(causal_config(DIT, get_preset("self-forcing")))
    sd = {"model." + k: v for k, v in model.dit.state_dict().items()}
    torch.save({"generator_ema": sd, "generator": sd, "critic": {}}, d / "self_forcing_dmd.pt")
    # a decoder in the real taew2_1 layout (random weights): it reads Wan 2.1 latents, as these models make
    torch.save(TinyVAE(TinyVAEConfig()).state_dict(), d / "taew2_1.pth")
    save_file({"context": torch.randn(1, 8, 32)}, str(d / "ctx.safetensors"))
    rgb = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(d / "start.png"), rgb)
    return d


def _generate(files, *extra):
    return main(["generate", "--checkpoint", str(files / "self_forcing_dmd.pt"), "--text-embedding",
                 str(files / "ctx.safetensors"), "--decoder", str(files / "taew2_1.pth"), "--device", "cpu", *extra])


def test_generate_text_only_and_from_an_image(files):
    out = files / "v.mp4"
    assert _generate(files, "--frames", "21", "--out", str(out), *SIZE) == 0
    frames, fps = read_video(out)
    assert frames.shape == (21, 48, 64, 3) and fps == 16
    start = files / "i.mp4"
    assert _generate(files, "--frames", "21", "--image", str(files / "start.png"), "--out", str(start), *SIZE) == 0
    video, _ = read_video(start)
    assert video.shape == (21, 48, 64, 3)
    assert not np.array_equal(video, frames)


def test_generate_with_preset_overrides_and_errors(files, capsys):
    out = files / "f.mp4"
    assert _generate(files, "--frames", "5", "--preset", "causal-forcing-frame", "--step-list", "1000,500",
                     "--out", str(out), *SIZE) == 0
    assert read_video(out)[0].shape == (5, 48, 64, 3)
    capsys.readouterr()
    path = np.linspace([[10, 10]], [[50, 30]], 9).astype(np.float32)
    (files / "t.json").write_text(track_formats.to_json(Tracks(path=path, visible=np.ones((9, 1), bool), fps=16,
                                                               width=64, height=48)))
    assert _generate(files, "--frames", "5", "--tracks", str(files / "t.json"), "--out", str(out), *SIZE) == 2
    assert capsys.readouterr().err.strip() == (  # a student takes drags in warp mode, which moves a start image
        "motionstream generate: error: drags need a start image (warp mode moves it; a region drag cuts its region "
        "from it)")
    assert _generate(files, "--frames", "5", "--tracks", str(files / "t.json"), "--image", str(files / "start.png"),
                     "--drag-mode", "model", "--out", str(out), *SIZE) == 2
    assert capsys.readouterr().err.strip() == (
        "motionstream generate: error: model 'self-forcing' has no track head: it takes drags in warp mode only "
        "(--drag-mode warp, the default for it)")
    assert _generate(files, "--frames", "5", "--image", str(files / "start.png"), "--t-weak", "0.5", "--t-strong",
                     "0.7", "--out", str(out), *SIZE) == 2
    assert capsys.readouterr().err.strip() == (
        "motionstream generate: error: t_strong (0.7) must not exceed t_weak (0.5): the dragged regions are held to "
        "the reference down to t_strong, the rest is free from t_weak")
    assert _generate(files, "--out", str(out), "--width", "64") == 2
    assert capsys.readouterr().err.strip() == "motionstream generate: error: give both --width and --height (or neither)"
    assert _generate(files, "--out", str(out), "--step-list", "1000,x", *SIZE) == 2
    assert "--step-list must be comma-separated numbers, got '1000,x'" in capsys.readouterr().err


def test_bench_takes_a_causal_file_and_a_random_preset(files, capsys):
    assert main(["bench", "--checkpoint", str(files / "self_forcing_dmd.pt"), "--decoder", str(files / "taew2_1.pth"),
                 "--chunks", "3", "--warmup-chunks", "1", "--device", "cpu", *SIZE]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (figures["model"], figures["config"], figures["chunks"]) == ("self_forcing_dmd.pt", "self-forcing", 3)
    assert (figures["steps"], figures["chunk_frames"], figures["window_chunks"]) == (4, 3, 5)
    assert main(["bench", "--config", "tiny", "--preset", "longlive", "--chunks", "3", "--warmup-chunks", "1",
                 "--device", "cpu"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (figures["model"], figures["config"], figures["window_chunks"]) == ("random", "longlive", 2)

"""The `motionstream` CLI: generate writes a real video; bench prints one JSON line; errors are one line."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from motionstream_core import track_formats
from motionstream_core.checkpoints import save_model
from motionstream_core.cli import main
from motionstream_core.config import get_config
from motionstream_core.decoders import TinyVAE
from motionstream_core.model import MotionStreamModel
from motionstream_core.motion.transfer import read_video
from motionstream_core.tracks import Tracks


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    cfg = get_config("tiny")
    save_model(MotionStreamModel(cfg), d / "tiny.safetensors")
    save_file(TinyVAE(cfg.vae).state_dict(), str(d / "vae.safetensors"))
    rgb = (np.random.default_rng(0).random((80, 96, 3)) * 255).astype(np.uint8)  # resized to 64x64
    cv2.imwrite(str(d / "start.png"), rgb)
    path = np.linspace([[10, 10]], [[50, 30]], 30).astype(np.float32)
    (d / "tracks.json").write_text(track_formats.to_json(Tracks(path=path, visible=np.ones((30, 1), bool), fps=16,
                                                                width=64, height=64)))
    save_file({"context": torch.randn(1, 8, 32)}, str(d / "prompt.safetensors"))
    return d


def test_generate_writes_video_and_overlay(files, capsys):
    out, overlay = files / "out.mp4", files / "overlay.mp4"
    rc = main(["generate", "--checkpoint", str(files / "tiny.safetensors"), "--decoder", str(files / "vae.safetensors"),
               "--image", str(files / "start.png"), "--tracks", str(files / "tracks.json"),
               "--text-embedding", str(files / "prompt.safetensors"), "--out", str(out), "--overlay", str(overlay),
               "--device", "cpu"])
    assert rc == 0
    frames, fps = read_video(out)
    assert frames.shape == (30, 64, 64, 3) and fps == 16
    assert read_video(overlay)[0].shape == (30, 64, 64, 3)
    assert f"video: {out}" in capsys.readouterr().out


def test_demo_streams_the_shipped_sample(tmp_path, capsys):
    """`motionstream demo`: the built-in model on its sample photo; the video starts at the photo (mp4: lossy) and
    the overlay draws the sample's tracks over the video (its first frame differs from the video's there)."""
    from motionstream_core.demo import load_demo_sample

    sample = load_demo_sample()
    assert main(["demo", "--out", str(tmp_path), "--frames", "9"]) == 0
    video, fps = read_video(tmp_path / "video.mp4")
    overlay, _ = read_video(tmp_path / "tracks_overlay.mp4")
    assert video.shape == overlay.shape == (9, *sample.image.shape) and fps == 16
    assert np.abs(video[0] / 255.0 - sample.image).mean() < 0.03, "the first frame is not the sample's photo"
    drawn = np.abs(overlay[0].astype(int) - video[0].astype(int)).max(axis=-1) > 60
    x, y = sample.tracks.path[0, 0]
    assert drawn[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3].any(), "the first drag point is not drawn"
    assert f"video: {tmp_path / 'video.mp4'}" in capsys.readouterr().out


def test_generate_reports_bad_input_in_one_line(files, capsys):
    rc = main(["generate", "--checkpoint", str(files / "tiny.safetensors"), "--decoder", str(files / "vae.safetensors"),
               "--image", str(files / "missing.png"), "--out", str(files / "x.mp4"), "--device", "cpu"])
    assert rc == 2
    assert capsys.readouterr().err.strip() == f"motionstream generate: error: cannot read image {files / 'missing.png'}: missing or not an image file"


def test_bench_prints_one_json_line(capsys):
    assert main(["bench", "--config", "tiny", "--chunks", "12", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["chunks"] == 12 and result["frames"] == 9 + 11 * 12
    assert result["config"] == "tiny" and result["steps"] == 3 and result["chunk_latency_ms"]["chunks_2_10"] > 0
    assert 0 < result["decode_share"] < 1 and result["kv_cache_mb"] > 0


def test_train_stage_without_its_input_is_one_line(tmp_path, capsys):
    rc = main(["train", "decoder", "--out", str(tmp_path / "run"), "--config", "tiny", "--preset", "tiny"])
    assert rc == 2
    missing = tmp_path / "run" / "autoencoder" / "autoencoder.safetensors"
    assert capsys.readouterr().err.strip() == f"motionstream train: error: autoencoder weights not found: {missing}"
    rc = main(["train", "decoder", "--out", str(tmp_path / "run"), "--preset", "tiny", "--set", "channels=8,8"])
    assert rc == 2
    assert capsys.readouterr().err.strip() == ("motionstream train: error: decoder channels must be 4 positive "
                                               "integers like '64,64,32,32', got '8,8'")


def test_train_refine_preset_reaches_each_stage_and_a_stage_without_it_is_one_line(tmp_path, capsys, monkeypatch):
    """`--preset refine` (the shipped demo model's recipe) hands each stage its refine options, `--set` still on
    top; the optional decoder stage has no such preset and says so in one line."""
    from motionstream_core.train import stages

    got = {}
    for name in ("autoencoder", "teacher", "ode", "dmd"):
        spec = stages.get_stage(name)
        monkeypatch.setattr(stages.StageSpec, "function",
                            lambda self: (lambda out, opts, config_name=None: got.__setitem__(self.name, opts)))
        assert main(["train", name, "--out", str(tmp_path / "run"), "--preset", "refine", "--set", "seed=3"]) == 0
        want = dataclasses.replace(spec.presets()["refine"], seed=3)
        assert got[name] == want and got[name] != dataclasses.replace(spec.presets()["demo"], seed=3), name
    assert got["teacher"].clip_source == "mix" and got["dmd"].critic_warmup == 20
    assert main(["train", "decoder", "--out", str(tmp_path / "run"), "--preset", "refine"]) == 2
    assert capsys.readouterr().err.strip().endswith("stage 'decoder' has no preset 'refine' (known: demo, tiny)")


def test_generate_help_states_the_demo_models_own_step_count(capsys):
    """`motionstream generate --help` names the step count the built-in demo model really uses."""
    import re

    from motionstream_core.cli import build_parser
    from motionstream_core.pipeline import load_demo

    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    m = re.search(r"--steps STEPS denoising steps per chunk \(default: the model's own, stored with it: (\d+) for the "
                  r"built-in demo model", text)
    assert m, text[:2000]
    assert int(m.group(1)) == load_demo()[0].config.stream.num_steps


def test_standalone_train_form_is_one_line_once(tmp_path, capsys, monkeypatch):
    """`python -m motionstream_core.train.cli` (what torchrun runs on every rank) prints a user's mistake as
    `motionstream train` does, in one line, from rank 0 only; every rank exits 2."""
    from motionstream_core.train.cli import main as standalone

    args = ["teacher", "--out", str(tmp_path / "run"), "--config", "tiny", "--preset", "tiny",
            "--data", str(tmp_path / "nodata")]
    assert standalone(args) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"motionstream train: error: no manifest.json in {tmp_path / 'nodata'}: run `motionstream train prepare` first"]
    assert main(["train", *args]) == 2  # the same line from `motionstream train`
    assert capsys.readouterr().err.splitlines() == [
        f"motionstream train: error: no manifest.json in {tmp_path / 'nodata'}: run `motionstream train prepare` first"]
    monkeypatch.setenv("RANK", "1")
    assert standalone(args) == 2 and capsys.readouterr().err == ""
    with pytest.raises(SystemExit):
        standalone(["teacher", "--no-such-option"])
    assert capsys.readouterr().err == ""

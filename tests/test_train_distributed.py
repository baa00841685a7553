"""Training on real video files, in one process and under torchrun (2 CPU processes, gloo, FSDP2).

A module fixture writes tiny H.264 videos (PyAV; one broken, one too short), a tiny random Wan VAE
(diffusers) and a tiny random umT5 (transformers) and prepares shards with them. Then
``tests/distributed_recipe.py`` trains teacher -> ODE -> DMD under ``torchrun --nproc_per_node 2``
and one step of each stage in one process from the same weights:

* a 2-process step has the gradients of a 1-process step on the same global batch: every gradient
  tensor within 1e-5 of its largest entry (measured: <= 2e-6; fp32, the sums only reordered);
* a teacher stopped half-way and resumed ends bit-identical to an uninterrupted one (weights, EMA);
* the teacher's and the student's losses on fixed batches go down, and so does the critic's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import diffusers  # noqa: F401  (installed by the [test,wanvae,train] extras)
import transformers  # noqa: F401  (installed by the [test,wanvae,train] extras)

from tiny_training_data import make_tiny_umt5, make_tiny_vae, write_video, write_videos  # noqa: E402

from motionstream_core.checkpoints import load_model  # noqa: E402
from motionstream_core.config import get_config  # noqa: E402
from motionstream_core.train import ode_init, teacher_train  # noqa: E402
from motionstream_core.train.causal import student_sigmas, teacher_forced_losses  # noqa: E402
from motionstream_core.train.common import read_log  # noqa: E402
from motionstream_core.train.data import TrackSampling, encode_tracks, make_batch  # noqa: E402
from motionstream_core.train.init import initial_model  # noqa: E402
from motionstream_core.train.loop import Sample, seeded  # noqa: E402
from motionstream_core.train.prepare import PrepareOptions, PreparedClips, prepare  # noqa: E402

# torchrun as the interpreter running the tests starts it (the `torchrun` script need not be on PATH)
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]

ROOT = Path(__file__).resolve().parent.parent
GRAD_TOLERANCE = 1e-5  # of each tensor's largest gradient


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("realdata")
    videos = write_videos(root / "videos")
    opts = PrepareOptions(videos=str(root / "videos"), data=str(root / "data"), vae=str(make_tiny_vae(root / "vae")),
                          text_encoder=str(make_tiny_umt5(root / "umt5")), config="tiny", frames=45, points=16,
                          shard_size=2)
    lines: list[str] = []
    manifest = json.loads(prepare(opts, say=lines.append).read_text())
    return {"root": root, "videos": videos, "opts": opts, "lines": lines, "manifest": manifest}


def test_unreadable_videos_are_one_line_each_and_the_rest_go_on(prepared):
    v, lines = prepared["videos"], prepared["lines"]
    skipped = [line for line in lines if line.startswith("prepare: skipped")]
    assert skipped == [f"prepare: skipped {v['broken']}: cannot decode (InvalidDataError: [Errno 1094995529] "
                       f"Invalid data found when processing input: 'the file')",
                       f"prepare: skipped {v['short']}: too short: 5 frames at 16 fps, a clip needs 45"], lines
    m = prepared["manifest"]
    assert m["videos"] == 6 and m["clips"] == 4
    assert [f["video"] for f in m["failed"]] == [str(v["broken"]), str(v["short"])]
    data = PreparedClips(prepared["opts"].data)
    clips = data.take(list(range(len(data))))
    assert clips.caption == [v[f"good{i}"].with_suffix(".txt").read_text() for i in range(4)]
    assert clips.z.shape == (4, 16, 12, 8, 8) and clips.image.shape == (4, 16, 1, 8, 8)
    assert [t.shape[1] for t in clips.text] == [32] * 4 and data.null_text.shape == (1, 32)  # "" -> </s> only


def test_prepared_clips_keep_a_bounded_number_of_files_open(prepared, monkeypatch):
    from motionstream_core.train import prepare as prepare_module

    order = [3, 0, 2, 1, 3, 0]
    want = PreparedClips(prepared["opts"].data).take(order)
    monkeypatch.setattr(prepare_module, "OPEN_SHARDS", 1)
    data = PreparedClips(prepared["opts"].data)
    got = data.take(order)
    assert len(data._handles) == 1
    assert torch.equal(got.z, want.z) and got.caption == want.caption
    assert all(torch.equal(a, b) for a, b in zip(got.text, want.text))


def test_prepare_resumes_shard_by_shard(prepared):
    data = Path(prepared["opts"].data)
    before = PreparedClips(data).take([1, 2])
    (data / "shard_00001.json").unlink()
    lines: list[str] = []
    prepare(prepared["opts"], say=lines.append)
    assert [line.split(":")[1].strip() for line in lines if "clips" in line] == ["shard_00001 (2/3)"], lines
    after = PreparedClips(data).take([1, 2])
    assert torch.equal(before.z, after.z) and torch.equal(before.path, after.path)


def test_user_track_files_are_mapped_into_the_clip(tmp_path, prepared):
    """A CoTracker-style [T, N, 2] file in the source video's pixels and frames lands on the clip's pixels
    (80x72 source -> cover-scaled to 71x64, centre crop x 3..67); points leaving the crop are hidden."""
    from motionstream_core.train.videos import clip_tracks, read_clips

    video = write_video(tmp_path / "v.mp4", frames=30)
    t = np.arange(30, dtype=np.float32)
    path = np.stack([np.stack([10 + 2 * t, 20 + 0 * t], -1), np.stack([78 + 0 * t, 36 + 0 * t], -1)], 1)  # [T, 2, 2]
    np.save(tmp_path / "v.mp4.tracks.npy", path)
    (frames, geo), = read_clips(video, 21, 16, 64, 64)
    assert geo.frames == tuple(range(21)) and (geo.offset_x, geo.offset_y) == (3, 0)
    p, vis = clip_tracks(frames, geo, 4, str(tmp_path / "v.mp4.tracks.npy"))
    scale = 71 / 80
    np.testing.assert_allclose(p[:, 0], np.stack([(10 + 2 * t[:21]) * scale - 3, 20 * scale + 0 * t[:21]], -1),
                               atol=1e-4)
    assert vis[:, 0].all() and not vis[:, 1].any() and not vis[:, 2:].any()  # x = 78 * 0.8875 - 3 > 64: outside


def _run(args: list[str], env: dict) -> None:
    r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]


@pytest.fixture(scope="module")
def trained(prepared):
    root = prepared["root"] / "runs"
    root.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    data = prepared["opts"].data
    script = str(ROOT / "tests" / "distributed_recipe.py")
    _run([*TORCHRUN, "--nproc_per_node", "2", "--master_port", "29517", script, "many", data, str(root)], env)
    _run([sys.executable, script, "one", data, str(root)], env)
    return root


@pytest.mark.parametrize("tag", ["teacher", "ode", "generator", "critic0", "critic4"])
def test_two_processes_step_like_one(trained, tag):
    one = torch.load(trained / "grads" / f"one_{tag}_0.pt")
    many = torch.load(trained / "grads" / f"many_{tag}_0.pt")
    assert one.keys() == many.keys() and len(one) > 10
    for k in one:
        scale = one[k].abs().max().clamp(min=1e-12)
        assert (one[k] - many[k]).abs().max() <= GRAD_TOLERANCE * scale, k
    assert any(one[k].abs().max() > 0 for k in one)


@pytest.mark.parametrize("stage", ["teacher", "ode"])
def test_clipping_covers_every_parameter_under_fsdp(trained, stage):
    """With a clip every step passes, the logged norm and the clipped gradients (compared above) of two processes
    are one process's: the root FSDP2 unit's parameters (head, embeddings, cross-attention, track head) count."""
    from distributed_recipe import CLIP

    one = read_log(trained / "one" / stage / "log.jsonl")[0]["grad_norm"]
    many = read_log(trained / "many" / stage / "log.jsonl")[0]["grad_norm"]
    assert one > 10 * CLIP and abs(one - many) <= 1e-5 * one, (one, many)


def test_stop_and_resume_equals_an_uninterrupted_run(trained):
    a = torch.load(trained / "many" / "teacher" / "ckpt.pt", weights_only=True)
    b = torch.load(trained / "resumed" / "teacher" / "ckpt.pt", weights_only=True)
    assert a["step"] == b["step"] == 12
    for part in ("model",):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    # the optimiser too: no state for the parameters that never had a gradient (the unused CLIP image branch)
    assert a["opt"]["state"].keys() == b["opt"]["state"].keys()
    assert not any("img_emb" in k or "k_img" in k for k in a["opt"]["state"])
    assert all(torch.equal(a["opt"]["state"][k][s], b["opt"]["state"][k][s]) for k in a["opt"]["state"]
               for s in a["opt"]["state"][k])
    assert all(torch.equal(a["ema"]["shadow"][k], b["ema"]["shadow"][k]) for k in a["ema"]["shadow"])
    steps = [row["step"] for row in read_log(trained / "resumed" / "teacher" / "log.jsonl")]
    assert steps == list(range(1, 13))


def test_losses_go_down(prepared, trained):
    cfg = get_config("tiny")
    data = PreparedClips(prepared["opts"].data)
    sampling = TrackSampling(max_tracks=8, drop_prob=0, mask_prob=0)

    def teacher_loss(model):
        batches = [make_batch(data, [Sample(i, seeded(99, r, i), i) for i in range(4)], sampling, "cpu")
                   for r in range(4)]
        with torch.no_grad():
            return sum(float(teacher_train.flow_matching_loss(model, b, cfg.teacher.shift)) for b in batches) / 4

    start = initial_model(cfg, "", 0, text_encoder=False)
    trained_teacher = initial_model(cfg, "", 0, text_encoder=False)
    trained_teacher.load_state_dict(torch.load(trained / "many" / "teacher" / "ckpt.pt", weights_only=True)["model"])
    before, after = teacher_loss(start), teacher_loss(trained_teacher)
    assert after < 0.95 * before, (before, after)

    traj = ode_init.load_trajectories(trained / "many" / "ode" / "trajectories")

    def ode_loss(model):
        idx = [0, 1, 2, 3]
        with torch.no_grad():
            text = ode_init.trajectory_text(model, data, traj, idx)
            tracks = encode_tracks(model, traj["path"][idx], traj["visible"][idx], traj["ids"][idx])
            slot = model.image_slot(traj["image"][idx].float(), traj["states"].shape[3], 0)
            return float(teacher_forced_losses(model, traj["states"][idx].float(), tracks, slot,
                                               model.dit.context_kv(text), student_sigmas(model),
                                               [seeded(5, i) for i in idx]).mean())

    before = ode_loss(load_model(trained / "many" / "teacher" / "teacher.safetensors"))
    after = ode_loss(load_model(trained / "many" / "ode" / "student.safetensors"))
    assert after < 0.8 * before, (before, after)
    critic = [row["critic"] for row in read_log(trained / "many" / "dmd" / "log.jsonl")]
    assert len(critic) == 3 and critic[-1] < critic[0], critic


def test_torchrun_form_says_a_users_mistake_once(tmp_path):
    """Under torchrun a mistake is the CLI's one line, from rank 0, and no traceback of ours; torchrun itself then
    reports the failed workers (its own summary, which a non-zero exit status always brings)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([*TORCHRUN, "--nproc_per_node", "2", "--master_port", "29518", "-m",
                        "motionstream_core.train.cli", "teacher", "--out", str(tmp_path / "run"), "--config", "tiny",
                        "--preset", "tiny", "--batch", "3", "--data", str(tmp_path / "nodata")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    ours = [line for line in r.stderr.splitlines() if line.startswith("motionstream ")]
    assert ours == ["motionstream train: error: --batch 3 (the global batch) must be a multiple of the 2 processes"]
    assert "motionstream_core/" not in r.stderr and r.stdout == "", r.stderr


def test_shutdown_waits_for_every_rank_then_ends_the_group(tmp_path, monkeypatch):
    """``distributed.shutdown`` (the CLI's last step under torchrun): nothing without a group; with one, a barrier
    first (no rank tears down while a peer still talks), then the group is gone."""
    import torch.distributed as dist

    from motionstream_core.train.distributed import shutdown

    shutdown()
    assert not dist.is_initialized()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    calls = []
    barrier = dist.barrier
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: (calls.append("barrier"), barrier(*a, **k)))
    shutdown()
    assert calls == ["barrier"] and not dist.is_initialized()


def test_from_videos_to_a_streamed_video_of_your_own_model_with_commands_only(prepared, tmp_path, caplog):
    """The README's path, every step a `motionstream` command: prepare -> teacher -> ode -> dmd -> embed-text ->
    generate, on the tiny random Wan VAE and umT5. The run takes the data's latent space (Wan 2.1), the text
    embedding is the umT5 context training used, and the student streams a video decoded by that VAE."""
    import logging

    import cv2

    from motionstream_core import track_formats
    from motionstream_core.cli import main
    from motionstream_core.train.prepare import NULL_TEXT
    from motionstream_core.motion.transfer import read_video
    from motionstream_core.tracks import Tracks

    root = prepared["root"]
    data, run, vae = tmp_path / "data", tmp_path / "run", str(root / "vae")
    common = ["--out", str(run), "--data", str(data), "--threads", "1", "--seed", "0"]
    assert main(["train", "prepare", "--videos", str(root / "videos"), "--data", str(data), "--vae", vae,
                 "--text-encoder", str(root / "umt5"), "--config", "tiny", "--set", "frames=45",
                 "--set", "points=16"]) == 0
    assert json.loads((data / "manifest.json").read_text())["latent_space"] == "wan2.1"
    assert main(["train", "teacher", *common, "--config", "tiny", "--preset", "tiny", "--steps", "2"]) == 0
    assert main(["train", "ode", *common, "--preset", "tiny", "--steps", "2"]) == 0
    assert main(["train", "dmd", *common, "--preset", "tiny", "--steps", "1", "--set", "critic_steps=1"]) == 0
    student = run / "dmd" / "student.safetensors"
    assert load_model(student).config.latent_space == "wan2.1"

    prompt = tmp_path / "prompt.safetensors"
    assert main(["train", "embed-text", "--out", str(run), "--data", str(data), "--prompt",
                 "a red square moves right", "--dest", str(prompt)]) == 0
    from safetensors.torch import load_file

    context = load_file(str(prompt))["context"]
    clips = PreparedClips(data)
    i = clips.take(list(range(len(clips)))).caption.index("a red square moves right")
    want = clips.take([i]).text[0].float()  # the caption's embedding as the shards store it
    assert context.shape == (1, get_config("tiny").text_len, 32)
    assert torch.equal(context[0, :len(want)], want) and not context[0, len(want):].any()
    assert load_file(str(data / NULL_TEXT))["text"].shape[1] == 32

    image = tmp_path / "start.png"
    cv2.imwrite(str(image), np.full((64, 64, 3), 120, np.uint8))
    path = np.stack([np.linspace([20, 20], [40, 30], 45)], 1).astype(np.float32)
    tracks = tmp_path / "tracks.json"
    tracks.write_text(track_formats.to_json(Tracks(path=path, visible=np.ones((45, 1), bool), fps=16, width=64,
                                                   height=64)))
    video = tmp_path / "video.mp4"
    with caplog.at_level(logging.WARNING, logger="motionstream"):
        assert main(["generate", "--checkpoint", str(student), "--vae", vae, "--image", str(image), "--tracks",
                     str(tracks), "--text-embedding", str(prompt), "--out", str(video), "--device", "cpu"]) == 0
    assert "will not look right" not in caplog.text
    frames, fps = read_video(video)
    assert frames.shape == (45, 64, 64, 3) and fps == 16

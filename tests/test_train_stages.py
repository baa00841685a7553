"""Every stage of the demo recipe trains on the tiny config: a few steps each, and the loss goes down.

One module-scoped run goes autoencoder -> latent cache -> teacher -> ODE init -> DMD in a temporary
run directory. Each loss is measured on a *fixed* batch (fixed clip, sigma and noise) before and
after the stage's steps, so the check does not depend on the random batches of training. For DMD
the loss that must fall is the critic's (the generator's DMD loss measures the critic/teacher gap
and is not monotone); the generator must change and stay finite.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch

from motionstream_core.checkpoints import load_model
from motionstream_core.config import TinyVAEConfig
from motionstream_core.decoders import TinyVAE, load_autoencoder
from motionstream_core.train import autoencoder, dmd, ode_init, teacher_train
from motionstream_core.train.causal import student_sigmas, teacher_forced_losses
from motionstream_core.train.common import build_model, read_log, run_config, text_context
from motionstream_core.train.data import TrackSampling, encode_conditioning, encode_tracks, load_latent_cache, make_batch
from motionstream_core.train.loop import Sample, seeded

torch.set_num_threads(2)


def quiet(opts, **kw):
    return dataclasses.replace(opts, quiet=True, save_every_s=1e9, **kw)


def _teacher_fixed_loss(model, cache):
    samples = [Sample(i, seeded(123, i), i) for i in (0, 1)]
    batch = make_batch(cache, samples, TrackSampling(max_tracks=8, drop_prob=0, mask_prob=0), model.device)
    with torch.no_grad():
        return float(teacher_train.flow_matching_loss(model, batch, model.config.teacher.shift))


def _ode_fixed_loss(model, data):
    gen = torch.Generator().manual_seed(7)
    idx = torch.tensor([0, 1])
    with torch.no_grad():
        text = text_context(model, [data["caption"][0], data["caption"][1]])
        tracks = encode_tracks(model, data["path"][idx], data["visible"][idx], data["ids"][idx])
        slot = model.image_slot(data["image"][idx].float(), data["states"].shape[3], 0)
        return float(teacher_forced_losses(model, data["states"][idx].float(), tracks, slot,
                                           model.dit.context_kv(text), student_sigmas(model), gen).mean())


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("train") / "run")
    cfg = run_config(out, "tiny")
    res = {"out": out}

    # autoencoder: reconstruction loss of one fixed clip, without latent noise
    ae_opts = quiet(autoencoder.PRESETS["tiny"])
    x = autoencoder._clips(cfg, ae_opts, 999, __import__("numpy").random.default_rng(0))
    fixed = dataclasses.replace(ae_opts, noise_max=0.0)
    torch.manual_seed(ae_opts.seed)
    vae0 = autoencoder.init_weights(TinyVAE(cfg.vae))
    with torch.no_grad():
        res["ae_before"] = float(autoencoder.ae_losses(vae0, x, fixed)["rec"])
    res["ae"] = autoencoder.train_autoencoder(out, ae_opts)
    vae1 = TinyVAE(cfg.vae)
    vae1.load_state_dict(torch.load(Path(out) / "autoencoder" / "ckpt.pt", weights_only=True)["vae"])
    with torch.no_grad():
        res["ae_after"] = float(autoencoder.ae_losses(vae1, x, fixed)["rec"])

    # teacher
    t_opts = quiet(teacher_train.PRESETS["tiny"])
    teacher_train.ensure_latent_cache(out, cfg, t_opts, torch.device("cpu"), lambda m: None)
    cache = load_latent_cache(Path(out) / teacher_train.CACHE)
    res["teacher_before"] = _teacher_fixed_loss(build_model(cfg, t_opts.seed), cache)
    res["teacher"] = teacher_train.train_teacher(out, t_opts)
    trained = build_model(cfg)
    trained.load_state_dict(torch.load(Path(out) / "teacher" / "ckpt.pt", weights_only=True)["model"])
    res["teacher_after"] = _teacher_fixed_loss(trained, cache)
    res["teacher_resumed"] = teacher_train.train_teacher(out, dataclasses.replace(t_opts, steps=t_opts.steps + 3))

    # ODE init
    o_opts = quiet(ode_init.PRESETS["tiny"])
    teacher = teacher_train.load_teacher(out)
    data = ode_init.load_trajectories(ode_init.make_trajectories(out, teacher, cache, o_opts, lambda m: None))
    res["ode_before"] = _ode_fixed_loss(ode_init.init_student(Path(out) / "teacher" / "teacher.safetensors", "cpu"),
                                        data)
    res["ode"] = ode_init.train_ode(out, o_opts)
    res["ode_after"] = _ode_fixed_loss(load_model(Path(out) / "ode" / "student.safetensors"), data)

    # DMD
    d_opts = quiet(dmd.PRESETS["tiny"])
    res["dmd"] = dmd.train_dmd(out, d_opts)
    res["trajectories"] = data
    return res


def test_autoencoder_loss_goes_down(pipeline):
    assert pipeline["ae_after"] < 0.9 * pipeline["ae_before"], (pipeline["ae_before"], pipeline["ae_after"])
    assert (Path(pipeline["out"]) / "autoencoder" / "autoencoder.safetensors").is_file()


def test_teacher_loss_goes_down_and_resumes(pipeline):
    assert pipeline["teacher_after"] < 0.9 * pipeline["teacher_before"], (pipeline["teacher_before"],
                                                                          pipeline["teacher_after"])
    log = read_log(Path(pipeline["out"]) / "teacher" / "log.jsonl")
    steps = [row["step"] for row in log]
    n = teacher_train.PRESETS["tiny"].steps
    assert pipeline["teacher"]["step"] == n and pipeline["teacher_resumed"]["step"] == n + 3
    assert len(pipeline["teacher_resumed"]["history"]) == 3  # resumed, not restarted
    assert steps[-1] == n + 3 and all("loss" in row for row in log)


def test_ode_regression_loss_goes_down(pipeline):
    assert pipeline["ode_after"] < 0.9 * pipeline["ode_before"], (pipeline["ode_before"], pipeline["ode_after"])
    states = pipeline["trajectories"]["states"]
    # noise, the states at the student's two later sigmas, and x0
    assert states.shape[1] == len(student_sigmas(load_model(Path(pipeline["out"]) / "ode" / "student.safetensors"))) + 1


def test_dmd_critic_loss_goes_down_and_generator_moves(pipeline):
    crit = pipeline["dmd"]["critic_history"]
    k = 5
    assert sum(crit[-k:]) / k < sum(crit[:k]) / k, crit
    assert all(torch.isfinite(torch.tensor([row["dmd"] for row in pipeline["dmd"]["history"]])))
    before = load_model(Path(pipeline["out"]) / "ode" / "student.safetensors").state_dict()
    after = load_model(Path(pipeline["out"]) / "dmd" / "student.safetensors").state_dict()
    moved = sum(float((before[k] - after[k]).abs().sum()) for k in before if not k.startswith("text_encoder"))
    assert moved > 0
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("text_encoder."))  # frozen


def _dmd_inputs(pipeline, out: Path, trajectories: bool = False) -> Path:
    """A fresh run directory with what DMD reads from the pipeline's run (the ODE stage's trajectories too)."""
    import shutil

    out.mkdir()
    shutil.copy(Path(pipeline["out"]) / "run.json", out / "run.json")
    for stage in ("teacher", "ode"):
        (out / stage).mkdir()
        shutil.copy(Path(pipeline["out"]) / stage / f"{'teacher' if stage == 'teacher' else 'student'}.safetensors",
                    out / stage)
    shutil.copytree(Path(pipeline["out"]) / "latents", out / "latents")
    if trajectories:
        shutil.copytree(Path(pipeline["out"]) / "ode" / "trajectories", out / "ode" / "trajectories")
    return out


def test_dmd_critic_warmup_holds_the_generator_then_releases_it(pipeline, tmp_path):
    """``critic_warmup``: for its steps only the critic trains (the generator's weights stay bit-identical to the
    ODE student's, the log has no generator values); the next step, after a resume, moves the generator."""
    out = _dmd_inputs(pipeline, tmp_path / "run")
    opts = quiet(dmd.PRESETS["tiny"], steps=2, critic_warmup=2)
    res = dmd.train_dmd(str(out), opts)
    ode = load_model(out / "ode" / "student.safetensors").state_dict()
    held = load_model(out / "dmd" / "student.safetensors").state_dict()
    assert all(torch.equal(ode[k], held[k]) for k in ode)
    assert [sorted(row) for row in res["history"]] == [["c_grad_norm", "critic"]] * 2
    critic = torch.load(out / "dmd" / "ckpt.pt", weights_only=True)["critic"]
    teacher = load_model(out / "teacher" / "teacher.safetensors").state_dict()
    assert set(critic) == set(teacher) and any(not torch.equal(critic[k], teacher[k]) for k in teacher)
    res = dmd.train_dmd(str(out), dataclasses.replace(opts, steps=3))
    assert len(res["history"]) == 1 and "dmd" in res["history"][0]
    moved = load_model(out / "dmd" / "student.safetensors").state_dict()
    assert any(not torch.equal(ode[k], moved[k]) for k in ode if not k.startswith("text_encoder"))


def test_export_elsewhere_writes_the_student_codec_and_sample_there(pipeline, tmp_path):
    """``export --dest D``: the DMD student in fp16 (its weights the trained ones rounded to fp16), the run's codec
    byte for byte, the sample in D/assets; the package's own demo files are not touched."""
    from motionstream_core.demo import DEMO_ASSETS, DEMO_WEIGHTS
    from motionstream_core.train.autoencoder import run_codec_path
    from motionstream_core.train.export import export_demo

    shipped = {p: p.read_bytes() for p in [*DEMO_WEIGHTS.values(), *DEMO_ASSETS.values()] if p.is_file()}
    paths = export_demo(pipeline["out"], dest=tmp_path / "weights", assets="synthetic")
    assert paths["student"] == tmp_path / "weights" / "student.safetensors"
    assert {k: p.parent for k, p in paths.items() if k not in ("student", "autoencoder")} == {
        "image": tmp_path / "weights" / "assets", "tracks": tmp_path / "weights" / "assets",
        "prompt": tmp_path / "weights" / "assets"}
    trained = load_model(Path(pipeline["out"]) / "dmd" / "student.safetensors").state_dict()
    exported = load_model(paths["student"]).state_dict()
    assert all(torch.equal(exported[k], trained[k].half().float() if trained[k].is_floating_point() else trained[k])
               for k in trained)
    assert paths["autoencoder"].read_bytes() == run_codec_path(pipeline["out"]).read_bytes()
    assert {p: p.read_bytes() for p in shipped} == shipped


def test_export_over_the_budget_leaves_the_previous_model_in_place(pipeline, tmp_path, monkeypatch):
    """An export that fails its size check names the sizes and leaves the folder's model as it was (no partial
    files); a successful one leaves the files readable by everyone."""
    from motionstream_core.train import export

    dest = tmp_path / "weights"
    first = export.export_demo(pipeline["out"], dest=dest, assets="none")
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in first.values())
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    monkeypatch.setattr(export, "MAX_BYTES", 1024)
    with pytest.raises(RuntimeError, match=r"the demo weights would be [0-9.]+ MiB, over the 0 MiB budget; "
                                           + re.escape(str(dest)) + " is left as it was"):
        export.export_demo(pipeline["out"], source="ode", dest=dest, assets="none")
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before


@pytest.mark.parametrize("init", ["widen", "scratch"])
def test_wider_decoder_keeps_the_encoder_and_learns(pipeline, tmp_path, init):
    """The ``decoder`` stage: new widths, the run's encoder and latent statistics bit-identical, its
    reconstruction loss falls (below the trained decoder's when widened from it, well below a random
    decoder's from scratch), and it becomes the run's codec (eval, export)."""
    import shutil

    from motionstream_core.decoders import load_autoencoder
    from motionstream_core.train import decoder

    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(Path(pipeline["out"]) / "run.json", out / "run.json")
    shutil.copytree(Path(pipeline["out"]) / "autoencoder", out / "autoencoder")
    assert autoencoder.run_codec_path(str(out)) == out / "autoencoder" / "autoencoder.safetensors"
    cfg = run_config(str(out))
    opts = dataclasses.replace(quiet(decoder.PRESETS["tiny"]), init=init)
    x = autoencoder._clips(cfg, opts, 999, __import__("numpy").random.default_rng(0))
    fixed = dataclasses.replace(opts, noise_max=0.0)
    res = decoder.train_decoder(str(out), opts)
    assert res["step"] == opts.steps and len(res["history"]) == opts.steps
    assert autoencoder.run_codec_path(str(out)) == res["path"]
    old, mean0, std0 = load_autoencoder(out / "autoencoder" / "autoencoder.safetensors")
    new, mean1, std1 = load_autoencoder(res["path"])
    assert new.config.channels == (16, 16, 8, 8) != old.config.channels
    assert (mean1, std1) == (mean0, std0)
    for (k, a), b in zip(old.encoder.state_dict().items(), new.encoder.state_dict().values()):
        assert torch.equal(a, b), k
    if init == "widen":
        start = old
    else:
        torch.manual_seed(opts.seed)
        start = autoencoder.init_weights(TinyVAE(new.config))
        start.encoder.load_state_dict(old.encoder.state_dict())
    with torch.no_grad():
        before = float(autoencoder.ae_losses(start, x, fixed)["rec"])
        after = float(autoencoder.ae_losses(new, x, fixed)["rec"])
    assert after < (0.99 if init == "widen" else 0.9) * before, (before, after)
    with pytest.raises(ValueError, match=r"decoder channels must be 4 positive integers like '64,64,32,32', got '8,8'"):
        decoder.train_decoder(str(out), dataclasses.replace(opts, channels="8,8"))
    with pytest.raises(ValueError, match=r"decoder init must be one of widen, scratch, got 'copy'"):
        decoder.train_decoder(str(out), dataclasses.replace(opts, init="copy"))


def test_widened_decoder_computes_the_same_frames():
    """widen_decoder is function-preserving (every width, with memory blocks and time growth), and a
    narrower target is refused with one error naming the widths."""
    from motionstream_core.train.decoder import widen_decoder

    torch.manual_seed(0)
    cfg = TinyVAEConfig(channels=(16, 12, 8, 8), encoder_width=8, blocks_per_stage=2)
    old = autoencoder.init_weights(TinyVAE(cfg))
    wide = autoencoder.init_weights(TinyVAE(dataclasses.replace(cfg, channels=(32, 16, 16, 9))))
    z = torch.randn(2, 16, 3, 4, 4)
    assert not torch.allclose(old.decode_video(z, clamp=False), wide.decode_video(z, clamp=False))
    widen_decoder(old, wide)
    torch.testing.assert_close(wide.decode_video(z, clamp=False), old.decode_video(z, clamp=False), rtol=0, atol=1e-5)
    narrow = TinyVAE(dataclasses.replace(cfg, channels=(16, 8, 8, 8)))
    with pytest.raises(ValueError, match=r"init=widen needs decoder channels at least the trained 16,12,8,8 "
                                         r"\(got 16,8,8,8\); use init=scratch for narrower ones"):
        widen_decoder(old, narrow)


def test_eval_scores_the_teacher_alone_before_distillation(pipeline):
    """`motionstream eval --student none`: the run's teacher and the baselines, no student. (The real-photo
    mode takes the same models from ``eval_models``; the tiny config is too small for its 24 px drag.)"""
    from motionstream_core.train.evaluate import EvalOptions, run_eval

    opts = EvalOptions(clips=1, frames=9, tracks=4, teacher_steps=2, student="none")
    r = run_eval(pipeline["out"], opts, say=lambda _: None)
    assert r["student"] == "none" and "student" not in r["epe"] and "student_fps_stream" not in r
    assert set(r["epe"]) == {"teacher", "no_motion", "ground_truth", "autoencoder"}
    assert r["teacher_over_no_motion"] == round(r["epe"]["teacher"] / r["epe"]["no_motion"], 3)


def test_held_out_gain_reads_the_teacher_with_and_without_tracks(pipeline):
    """`python -m motionstream_core.train.gain`: own/none errors of the run's teacher on held-out clips of its
    cache's source, and gain = 1 - own / none."""
    from motionstream_core.train.gain import held_out_gain

    r = held_out_gain(pipeline["out"], clips=2, frames=9, sigmas=(0.9, 0.5))
    assert r["source"] == "synthetic" and set(r["gain"]) == {"0.9", "0.5"}
    for s in ("0.9", "0.5"):
        assert r["own"][s] > 0 and r["none"][s] > 0
        assert abs(r["gain"][s] - (1 - r["own"][s] / r["none"][s])) < 2e-3  # the parts are rounded to 4 places
    from motionstream_core.train.gain import cache_gain

    c = cache_gain(pipeline["out"], clips=2, sigmas=(0.9,))
    assert c["clips"] == 2 and c["motions_per_scene"] == 1
    assert c["swap"] == c["own"]  # one motion per scene: the "other" motion is the clip's own


def test_selfcheck_samples_held_out_clips_of_the_runs_kind_and_reads_the_still_video(pipeline, tmp_path, capsys):
    """`python -m motionstream_core.train.selfcheck`: per held-out clip, the teacher's, the still video's and the
    clip's own re-tracked EPE (the clip follows its own tracks better than the still video), their ratio, the PSNR
    of the teacher's and the still video against the clip, the contact sheet (clip row over teacher row), and the
    still video's x0 errors per sigma; ``--student``: the same read-outs of a student, streamed."""
    import cv2
    import numpy as np

    from motionstream_core.train import selfcheck
    from motionstream_core.train.data import clip_renderer
    from motionstream_core.train.gain import HELD_OUT_SEED

    sheet = tmp_path / "s.png"
    assert selfcheck.main(["--out", pipeline["out"], "--clips", "2", "--tracks", "4", "--steps", "2", "--frames", "9",
                           "--sheet", str(sheet)]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    s = r["samples"]
    assert r["source"] == "synthetic" and len(s["model"]) == len(s["still"]) == len(s["clip"]) == 2
    assert sum(s["clip"]) < sum(s["still"])
    assert s["ratio"] == pytest.approx(sum(s["model"]) / sum(s["still"]), abs=2e-3)
    cfg = run_config(pipeline["out"], None)
    assert r["model"] == "teacher" and r["camera_motion_prob"] is None and len(s["psnr"]["model"]) == 2
    for k in range(2):  # the still video's PSNR against the clip, computed here from the rendered clip
        clip = clip_renderer("synthetic", cfg, 9, 64)(HELD_OUT_SEED + k).frames.astype(np.float64)
        want = 10 * np.log10(255 ** 2 / np.mean((clip[1:] - clip[:1]) ** 2))
        assert s["psnr"]["still"][k] == pytest.approx(want, abs=0.006)
    one_level = np.full((3, 4, 4, 3), 10, np.uint8)
    assert selfcheck.psnr(one_level + 1, one_level) == pytest.approx(20 * np.log10(255), abs=1e-9)
    img = cv2.imread(str(sheet))
    assert img.shape == (2 * 2 * cfg.height, 3 * cfg.width, 3)  # 2 clips x (clip, teacher); frames 0, 4, 8
    assert set(r["still_errors"]) == {str(s) for s in selfcheck.STILL_SIGMAS}
    assert all(0 < a and 0 < b for a, b in r["still_errors"].values())
    folder = tmp_path / "photos"
    (folder / "photos").mkdir(parents=True)
    cv2.imwrite(str(folder / "photos" / "a.png"), img[:64, :64])
    with pytest.raises(ValueError, match="did not train on the photo folder .*photos \\(its cache's folder "
                                         "fingerprint is none: bundled photos only\\)"):
        selfcheck.selfcheck(pipeline["out"], selfcheck.SelfcheckOptions(clips=1, photo_dir=str(folder)))
    # --student: the ODE student streamed on the same held-out clips; the still video's figures are the same
    student = str(Path(pipeline["out"]) / "ode" / "student.safetensors")
    assert selfcheck.main(["--out", pipeline["out"], "--clips", "2", "--tracks", "4", "--frames", "9",
                           "--student", student]) == 0
    st = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert st["model"] == student and st["samples"]["still"] == s["still"] and len(st["samples"]["model"]) == 2
    assert st["samples"]["psnr"]["still"] == s["psnr"]["still"]
    with pytest.raises(ValueError, match="start_sigma sets how the teacher samples; a student streams from its own "
                                         "config's stream.start_sigma"):
        selfcheck.selfcheck(pipeline["out"], selfcheck.SelfcheckOptions(student=student, start_sigma=0.3))


@pytest.mark.parametrize("config_name", ["tiny-photo", "tiny-change", "tiny-clean", "tiny-warp", "tiny-warp-refine"])
def test_tracks_with_appearance_and_a_preconditioned_velocity_train_through_every_stage(tmp_path, config_name):
    """``demo-photo``'s features (``tiny-photo``), and with them the change from the start image
    (``tiny-change``): the teacher learns, sets the channel std from its clips (of the change, for a change
    model), and the ODE and DMD students inherit that std, the flag, and read appearance-carrying tracks."""
    out = str(tmp_path / "run")
    cfg = run_config(out, config_name)
    assert cfg.parameterisation.preconditioned and cfg.track_head.appearance_channels == cfg.latent_channels
    autoencoder.train_autoencoder(out, quiet(autoencoder.PRESETS["tiny"]))
    t_opts = quiet(teacher_train.PRESETS["tiny"])
    teacher_train.ensure_latent_cache(out, cfg, t_opts, torch.device("cpu"), lambda m: None)
    cache = load_latent_cache(Path(out) / teacher_train.CACHE)
    fresh = build_model(cfg, t_opts.seed)
    std = teacher_train.channel_std(cache.z, cache.image if cfg.parameterisation.from_reference else None)
    fresh.latent_std.copy_(std)
    autoencoder.attach_stage_codec(cache, cfg, out)  # a warped slot is built with the run's codec
    assert (cache.codec is not None) == cfg.parameterisation.warps
    before = _teacher_fixed_loss(fresh, cache)
    teacher_train.train_teacher(out, t_opts)
    trained = build_model(cfg)
    trained.load_state_dict(torch.load(Path(out) / "teacher" / "ckpt.pt", weights_only=True)["model"])
    assert _teacher_fixed_loss(trained, cache) < 0.9 * before
    teacher = teacher_train.load_teacher(out)  # the product (EMA weights) carries the std too
    torch.testing.assert_close(teacher.latent_std, std)
    ode_init.train_ode(out, quiet(ode_init.PRESETS["tiny"]))
    if cfg.stream.start_sigma < 1:  # a refiner's trajectories start from its warped slot noised to the start sigma
        traj = ode_init.load_trajectories(Path(out) / ode_init.NAME / "trajectories")
        _, slot = encode_conditioning(teacher, traj["path"], traj["visible"], traj["ids"], traj["image"].float(),
                                      cache.codec)
        noise = (traj["states"][:, 0].float() - 0.7 * slot) / 0.3
        assert 0.9 < float(noise.std()) < 1.1 and abs(float(noise.mean())) < 0.1
    dmd.train_dmd(out, quiet(dmd.PRESETS["tiny"]))
    for stage in ("ode", "dmd"):
        student = load_model(Path(out) / stage / "student.safetensors")
        assert torch.equal(student.latent_std, teacher.latent_std), stage
        assert student.config.track_head.appearance_channels == cfg.latent_channels
        assert student.config.parameterisation == cfg.parameterisation
        assert student.config.stream == cfg.stream


def test_a_refiner_teacher_trains_only_up_to_max_sigma():
    """``TeacherOptions.max_sigma`` (``--set max_sigma=0.45``): the recipe's sigmas, uniform and shift-warped,
    scaled down to the refiner's range, from the same generators."""
    gens = lambda: [seeded(5, i) for i in range(8)]  # noqa: E731
    full = teacher_train.sample_sigma(list(range(8)), 6.0, gens())
    low = teacher_train.sample_sigma(list(range(8)), 6.0, gens(), max_sigma=0.45)
    torch.testing.assert_close(low, (full * 0.45).clamp(min=1e-3), rtol=0, atol=1e-7)
    assert float(low.max()) <= 0.45 and float(full.max()) > 0.45
    with pytest.raises(AssertionError, match=r"max_sigma must be in \(0, 1\], got 0"):
        teacher_train.sample_sigma([0], 6.0, [seeded(1, 0)], max_sigma=0)


def test_dmd_regression_anchor_holds_the_generator_to_the_teacher_trajectories(pipeline, tmp_path):
    """``reg_weight``: the generator step adds the ODE-regression loss on the ODE stage's trajectories (logged as
    ``reg``); with it dominant, the generator ends closer to the teacher's trajectories (the fixed ODE loss) than
    the same steps of plain DMD leave it, and below where the ODE stage left it."""
    opts = quiet(dmd.PRESETS["tiny"], steps=4)
    plain = _dmd_inputs(pipeline, tmp_path / "plain")
    dmd.train_dmd(str(plain), opts)
    anchored = _dmd_inputs(pipeline, tmp_path / "anchored", trajectories=True)
    res = dmd.train_dmd(str(anchored), dataclasses.replace(opts, reg_weight=1e3))
    assert all("reg" in row and row["reg"] > 0 for row in res["history"])
    data = pipeline["trajectories"]
    loss = {name: _ode_fixed_loss(load_model(Path(d) / "student.safetensors"), data)
            for name, d in [("ode", plain / "ode"), ("plain", plain / "dmd"), ("anchored", anchored / "dmd")]}
    assert loss["anchored"] < loss["plain"] and loss["anchored"] < loss["ode"], loss


def test_dmd_regression_anchor_needs_the_ode_trajectories(pipeline, tmp_path):
    out = _dmd_inputs(pipeline, tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="no teacher trajectories in .*ode/trajectories"):
        dmd.train_dmd(str(out), quiet(dmd.PRESETS["tiny"], reg_weight=1.0))


def test_dmd_draws_fresh_clips_for_every_critic_pass_and_the_generator(pipeline, tmp_path, monkeypatch):
    """Each of a step's passes (the critic's, then the generator's) takes the next global batch of the data order
    -- a ``DistributedSampler`` epoch after epoch -- so no two passes of a step share their clips by construction,
    and the position is a function of the step (resuming is exact)."""
    from torch.utils.data import DistributedSampler

    out = _dmd_inputs(pipeline, tmp_path / "run")
    seen: list[tuple[str, list[int]]] = []
    critic, generator = dmd.DMDTrainer.critic_step, dmd.DMDTrainer.generator_step

    def record(kind, fn):
        return lambda self, samples, *a: (seen.append((kind, [x.index for x in samples])), fn(self, samples, *a))[1]

    monkeypatch.setattr(dmd.DMDTrainer, "critic_step", record("critic", critic))
    monkeypatch.setattr(dmd.DMDTrainer, "generator_step", record("generator", generator))
    opts = quiet(dmd.PRESETS["tiny"], steps=2, critic_steps=2, batch=2)
    dmd.train_dmd(str(out), opts)
    n = len(load_latent_cache(out / "latents"))
    sampler = DistributedSampler(range(n), num_replicas=1, rank=0, shuffle=True, seed=opts.seed, drop_last=True)

    def global_batch(position):
        epoch, s = divmod(position, n // 2)
        sampler.set_epoch(epoch)
        return list(sampler)[2 * s:2 * s + 2]

    kinds = ["critic", "critic", "generator"] * 2
    assert seen == [(kind, global_batch(p)) for p, kind in enumerate(kinds)]
    assert len({tuple(b) for _, b in seen[:3]}) > 1  # the passes of step 0 do not all see the same clips


def test_user_style_requests_reach_the_ode_and_dmd_stages(tmp_path, monkeypatch):
    """``--set user_tracks=true`` (the ``learn`` presets): the ODE trajectories and the DMD generator's clips are
    conditioned on requests as users make them (1-3 points on each moving layer, pins on what stays), drawn with
    the layered cache's owners -- not only the teacher's batches."""
    import numpy as np

    from motionstream_core.train import data as data_mod

    out = str(tmp_path / "run")
    run_config(out, "tiny-clean")
    autoencoder.train_autoencoder(out, quiet(autoencoder.PRESETS["tiny"], clip_source="photo"))
    user = dict(clip_source="photo", camera_motion_prob=0.0, user_tracks=True)
    teacher_train.train_teacher(out, quiet(teacher_train.PRESETS["tiny"], steps=4, **user))
    seen = []
    real = data_mod.user_request
    monkeypatch.setattr(data_mod, "user_request", lambda *a, **k: seen.append(1) or real(*a, **k))
    ode_init.train_ode(out, quiet(ode_init.PRESETS["tiny"], steps=2, user_tracks=True))
    made = len(seen)
    assert made >= 4, "every trajectory clip draws a user-style request"
    dmd.train_dmd(out, quiet(dmd.PRESETS["tiny"], steps=1, user_tracks=True))
    assert len(seen) > made, "the DMD generator's clips draw user-style requests"
    cache = load_latent_cache(Path(out) / teacher_train.CACHE)
    traj = ode_init.load_trajectories(Path(out) / ode_init.NAME / "trajectories")
    for b in range(len(traj["states"])):
        clip = int(traj["index"][b])
        path, vis = traj["path"][b].numpy(), traj["visible"][b].numpy()
        n = int(vis.any(0).sum())
        own = cache.path[clip].numpy()
        picked = [int(np.nonzero((own == path[:, i][:, None]).all((0, 2)))[0][0]) for i in range(n)]
        owner = cache.owner[clip].numpy()
        moved = np.linalg.norm(own - own[:1], axis=-1).max(0) > 1.0
        for k in {int(o) for o in owner if o >= 0 and moved[owner == o].any()}:
            assert 1 <= sum(owner[i] == k for i in picked) <= 3, (b, k, picked)

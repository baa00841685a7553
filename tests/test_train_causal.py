"""The training-time student runs the inference path: same cache, same passes, same noise draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from motionstream_core import flow
from motionstream_core.config import get_config
from motionstream_core.decoders import TinyVAE, TinyVAECodec
from motionstream_core.model import MotionStreamModel
from motionstream_core.stream import MotionStream, TextCondition
from motionstream_core.track_head import assign_track_ids
from motionstream_core.tracks import Tracks
from motionstream_core.train.causal import (chunks, forgetting_chunks, require_rolling, rollout, student_sigmas,
                                            teacher_forced_losses)
from motionstream_core.train.data import TrackSampling, encode_tracks, sample_tracks

torch.set_num_threads(2)


def _model(seed=0):
    torch.manual_seed(seed)
    cfg = get_config("tiny")
    model = MotionStreamModel(cfg).eval()
    for p in model.parameters():  # random, non-degenerate weights (the DiT head is not zero)
        p.data.normal_(0, 0.05)
    return model, cfg


def test_rollout_equals_the_stream():
    model, cfg = _model()
    vae = TinyVAE(cfg.vae).eval()
    codec = TinyVAECodec(vae)
    H, W = cfg.height, cfg.width
    T = 45  # 12 latent frames = 4 chunks: sink, window, a rolled window, and a chunk whose context forgot chunk 1
    rng = np.random.default_rng(0)
    path = np.cumsum(rng.normal(0, 1.5, (T, 5, 2)), 0).astype(np.float32) + 32
    tracks = Tracks(path=path, visible=np.ones((T, 5), bool), fps=16, width=W, height=H)
    image = torch.rand(H, W, 3)
    context = torch.randn(1, cfg.text_len, cfg.dit.text_dim)
    seed = 5
    chunks_out = list(MotionStream(model, codec).session(image, TextCondition(context), tracks, num_frames=T,
                                                         seed=seed))
    streamed = torch.cat([c.latents for c in chunks_out], dim=2)

    with torch.no_grad():
        ids = assign_track_ids(cfg.track_head.max_tracks, seed, cfg.track_head.max_id)[:5]
        track_latent = model.track_head.encode(torch.from_numpy(path), torch.ones(T, 5, dtype=torch.bool), ids, H, W,
                                               starts_video=True)
        image_latent = codec.encode_image(image.permute(2, 0, 1)[None])
        gen = torch.Generator().manual_seed(seed)
        ours = rollout(model, track_latent, model.image_slot(image_latent, 12, 0), model.dit.context_kv(context), 12,
                       gen)
    assert ours.shape == streamed.shape == (1, 16, 12, H // 8, W // 8)
    torch.testing.assert_close(ours, streamed, atol=1e-5, rtol=1e-4)


def test_rollout_gradient_reaches_only_the_exit_step():
    model, cfg = _model(1)
    model.train()
    h, w = cfg.height // 8, cfg.width // 8
    tracks = torch.zeros(2, 16, 6, h, w)
    image = torch.randn(2, 16, 1, h, w)
    ctx = model.dit.context_kv(torch.randn(2, cfg.text_len, cfg.dit.text_dim))
    x0 = rollout(model, tracks, model.image_slot(image, 6, 0), ctx, 6, torch.Generator().manual_seed(0),
                 exit_steps=[1, 1], grad=True)
    assert x0.requires_grad and x0.shape == (2, 16, 6, h, w)
    x0.square().mean().backward()
    assert model.dit.head.head.weight.grad is not None and torch.isfinite(model.dit.head.head.weight.grad).all()


def test_teacher_forced_losses_per_chunk():
    model, cfg = _model(2)
    h, w = cfg.height // 8, cfg.width // 8
    sig = student_sigmas(model)
    assert len(sig) == cfg.stream.steps and sig[0] == 1.0
    states = torch.randn(2, len(sig) + 1, 16, 9, h, w)
    ctx = model.dit.context_kv(torch.randn(2, cfg.text_len, cfg.dit.text_dim))
    slot = model.image_slot(torch.randn(2, 16, 1, h, w), 9, 0)
    losses = teacher_forced_losses(model, states, torch.zeros(2, 16, 9, h, w), slot, ctx, sig,
                                   torch.Generator().manual_seed(0))
    assert losses.shape == (3,) and losses.requires_grad
    assert chunks(9, 3) == [(0, 3), (3, 3), (6, 3)] and chunks(7, 3) == [(0, 3), (3, 3), (6, 1)]


def test_the_window_rolls_in_training_and_the_fourth_chunk_has_forgotten_the_second():
    """Sink 1 + window 1 chunk: in a 4-chunk clip the last chunk attends chunk 0 (sink) and chunk 2 (window) only --
    chunk 1 was evicted. Its ODE-regression loss equals the last chunk's in a 3-chunk clip without chunk 1, and
    differs from one whose window holds chunk 1 instead of chunk 2. One DiT layer: a chunk's cached keys and values
    are then its own (with more layers they carry what the chunk attended, so a forgotten chunk still echoes)."""
    torch.manual_seed(3)
    cfg = get_config("tiny")
    cfg = dataclasses.replace(cfg, dit=dataclasses.replace(cfg.dit, num_layers=1))
    model = MotionStreamModel(cfg).eval().double()  # float64: equal means equal to rounding
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    assert (cfg.stream.sink_chunks, cfg.stream.window_chunks, cfg.stream.chunk_frames) == (1, 1, 3)
    h, w = cfg.height // 8, cfg.width // 8
    g = torch.Generator().manual_seed(0)
    randn = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    states = randn(1, 2, 16, 12, h, w)  # one sigma: the input state, then the target x0
    tracks = randn(1, 16, 12, h, w)
    slot = model.image_slot(randn(1, 16, 1, h, w), 12, 0)
    ctx = model.dit.context_kv(randn(1, cfg.text_len, cfg.dit.text_dim))

    velocity = model.velocity
    predicted = []  # the velocity of each chunk's regression pass (not of its clean cache-writing pass)

    def recording(*args, write_cache=False, **kw):
        v = velocity(*args, write_cache=write_cache, **kw)
        if not write_cache:
            predicted.append(v)
        return v

    model.velocity = recording

    def last_chunk(keep):
        idx = torch.cat([torch.arange(3 * c, 3 * c + 3) for c in keep])
        with torch.no_grad():
            teacher_forced_losses(model, states[:, :, :, idx], tracks[:, :, idx], slot[:, :, idx], ctx, [0.6],
                                  torch.Generator().manual_seed(0))
        return predicted[-1]

    assert forgetting_chunks(cfg.stream, 12) == 1 and forgetting_chunks(cfg.stream, 9) == 0
    rolled = last_chunk([0, 1, 2, 3])
    assert (rolled - last_chunk([0, 2, 3])).abs().max() < 1e-12
    assert (rolled - last_chunk([0, 1, 3])).abs().max() > 1e-4


def test_the_causal_stages_refuse_clips_that_never_roll_past_the_window(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from motionstream_core.train import dmd, ode_init

    cfg = get_config("tiny")
    require_rolling(cfg.stream, 12, "ode")
    message = ("ode: clips of 9 latent frames (3 chunks of 3) never roll past the cache's sink + window (1 + 1 "
               "chunks), so the student would never train on a context that forgets, as it streams: give clips of "
               "at least 12 latent frames (45 video frames: --set frames=N on prepare, or on the teacher stage for "
               "its rendered clips)")
    short = SimpleNamespace(latent_shape=(16, 9, 8, 8))
    for module in (ode_init, dmd):
        monkeypatch.setattr(module, "stage_data", lambda out, data: short)
        monkeypatch.setattr(module, "check_data", lambda data, cfg: None)
        opts = dataclasses.replace(module.PRESETS["tiny"], quiet=True)
        with pytest.raises(ValueError) as e:
            getattr(module, f"train_{module.NAME}")(str(tmp_path / "run"), opts, "tiny")
        assert str(e.value) == message.replace("ode:", f"{module.NAME}:")


def test_sample_tracks_subsets_masking_and_dropout():
    T, P = 21, 30
    path = torch.rand(T, P, 2) * 60
    vis = torch.ones(T, P, dtype=torch.bool)
    vis[:, 25:] = False  # never visible: never chosen
    s = TrackSampling(max_tracks=32, drop_prob=0.0, mask_prob=0.0, ids_max=256)
    g = torch.Generator().manual_seed(0)
    counts = set()
    for _ in range(40):
        p, v, ids = sample_tracks(path, vis, s, g)
        n = int(v.any(0).sum())
        counts.add(n)
        assert p.shape == (T, 32, 2) and v.shape == (T, 32) and ids.shape == (32,)
        assert 1 <= n <= 25 and not v[:, n:].any()
        assert len(set(ids[:n].tolist())) == n  # unique IDs
        chosen = [int(torch.nonzero((path[0] == p[0, j]).all(1))[0]) for j in range(n)]
        assert max(chosen) < 25
    assert len(counts) > 5  # varied subset sizes
    p, v, ids = sample_tracks(path, vis, TrackSampling(max_tracks=32, drop_prob=1.0), g)
    assert not v.any()  # track dropout
    masked = [sample_tracks(path, vis, TrackSampling(max_tracks=32, drop_prob=0, mask_prob=1.0), g, count=20)[1]
              for _ in range(10)]
    assert any((~m[:, :20]).any() and m[0, :20].all() for m in masked)  # hidden mid-clip, visible at the start


def test_min_tracks_bounds_every_conditioned_sample():
    T, P = 21, 30
    path, vis = torch.rand(T, P, 2) * 60, torch.ones(T, P, dtype=torch.bool)
    s = TrackSampling(max_tracks=32, min_tracks=16, drop_prob=0.0, mask_prob=0.0)
    g = torch.Generator().manual_seed(0)
    counts = [int(sample_tracks(path, vis, s, g)[1].any(0).sum()) for _ in range(60)]
    assert min(counts) == 16 and max(counts) >= 28  # the draw spans [16, 30 available]
    few = torch.zeros(T, P, dtype=torch.bool)
    few[:, :5] = True  # fewer visible tracks than min_tracks: all of them
    assert int(sample_tracks(path, few, s, g)[1].any(0).sum()) == 5
    with pytest.raises(ValueError, match=r"min_tracks must be between 1 and max_tracks \(8\), got 9"):
        TrackSampling(max_tracks=8, min_tracks=9)


def test_covering_tracks_put_one_on_every_motion_first():
    from motionstream_core.train.data import covering_order

    T = 21
    t = torch.arange(T, dtype=torch.float32)[:, None, None]
    start = torch.rand(60, 2) * 100
    motion = torch.zeros(T, 60, 2)
    motion[:, 20:40] = t * torch.tensor([1.0, 0.0])  # layer A moves right 1 px a frame
    motion[:, 40:] = t * torch.tensor([0.0, -0.5])  # layer B moves up
    motion[:, 40:] += 0.05 * torch.randn(T, 20, 2)  # (a little jitter within a motion: under cover_px)
    path, vis = start[None] + motion, torch.ones(T, 60, dtype=torch.bool)
    group = lambda j: int(j) // 20  # noqa: E731
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        cand = torch.randperm(60, generator=g)
        order, k = covering_order(path, cand, cover_px=2.0)
        assert k == 3 and {group(j) for j in order[:3]} == {0, 1, 2}
        assert sorted(order.tolist()) == list(range(60))  # a reordering, nothing lost
    s = TrackSampling(max_tracks=32, drop_prob=0.0, mask_prob=0.0, cover_px=2.0)
    counts = []
    for _ in range(40):
        p, v, _ = sample_tracks(path, vis, s, g)
        n = int(v.any(0).sum())
        counts.append(n)
        picked = [int(torch.nonzero((path[0] == p[0, j]).all(1))[0]) for j in range(n)]
        assert {group(j) for j in picked} == {0, 1, 2}, "a mover without a track"
    assert min(counts) == 3 and max(counts) > 20
    # a spinning layer is several motions: it gets more than one track
    ang = 0.6 * torch.linspace(0, 1, T)[:, None]
    r, a0 = torch.rand(20) * 20 + 5, torch.rand(20) * 6.28
    spin = torch.stack([r * torch.cos(a0 + ang), r * torch.sin(a0 + ang)], -1) + 50
    _, k = covering_order(torch.cat([path[:, :20], spin], 1), torch.arange(40), cover_px=2.0)
    assert k > 2
    with pytest.raises(ValueError, match=r"^cover_px must be >= 0, got -1.0$"):
        TrackSampling(cover_px=-1.0)


def test_encode_tracks_matches_the_stream_encoding():
    model, cfg = _model(3)
    T, N = 21, 4
    path = torch.rand(T, N, 2) * 64
    vis = torch.ones(T, N, dtype=torch.bool)
    ids = torch.tensor([3, 9, 100, 7])
    M = 8
    pad_path = torch.zeros(1, T, M, 2)
    pad_vis = torch.zeros(1, T, M, dtype=torch.bool)
    pad_ids = torch.zeros(1, M, dtype=torch.long)
    pad_path[0, :, :N], pad_vis[0, :, :N], pad_ids[0, :N] = path, vis, ids
    with torch.no_grad():
        ours = encode_tracks(model, pad_path, pad_vis, pad_ids)
        ref = model.track_head.encode(path, vis, ids, cfg.height, cfg.width, starts_video=True)
    torch.testing.assert_close(ours, ref)


def test_teacher_grid_contains_the_student_sigmas():
    """ODE pairs: a teacher run of 3k steps at the student's shift passes through every student sigma."""
    for k in (2, 4, 8):
        torch.testing.assert_close(flow.sampling_sigmas(3 * k, 5.0)[::k], flow.sampling_sigmas(3, 5.0))

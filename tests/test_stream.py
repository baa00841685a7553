"""The streaming generator end to end on a tiny random model: frames, determinism, steering, stop, replay."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from motionstream_core.config import get_config
from motionstream_core.decoders import TinyVAE, TinyVAECodec
from motionstream_core.model import MotionStreamModel
from motionstream_core.steering import LivePoint, Steering
from motionstream_core.stream import MotionStream, frames_to_chunks
from motionstream_core.tracks import Tracks


@pytest.fixture(scope="module")
def stream():
    torch.manual_seed(0)
    cfg = get_config("tiny")
    model = MotionStreamModel(cfg)
    with torch.no_grad():  # large random weights so that every input visibly matters
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return MotionStream(model, TinyVAECodec(TinyVAE(cfg.vae).eval()))


@pytest.fixture(scope="module")
def inputs(stream_inputs):
    return stream_inputs


def _collect(session):
    return [c for c in session]


def _run_steered(session, steering, steer) -> list:
    """Every chunk of ``session``, calling ``steer(steering, chunk)`` after each one (a user between chunks)."""
    chunks = []
    for chunk in session:
        chunks.append(chunk)
        steer(steering, chunk)
    return chunks


def test_frame_counts_and_timing(stream, inputs):
    image, text, tracks = inputs
    chunks = _collect(stream.session(image, text, tracks, num_frames=40, seed=0))
    assert frames_to_chunks(40, 3) == 4 and len(chunks) == 4
    assert [c.frames.shape[0] for c in chunks] == [9, 12, 12, 7]
    assert [c.start_frame for c in chunks] == [0, 9, 21, 33]
    assert chunks[0].frames.shape[1:] == (64, 64, 3) and chunks[0].frames.dtype == torch.float32
    assert all(0 <= c.frames.min() and c.frames.max() <= 1 for c in chunks)
    assert all(c.timing["total_s"] >= c.timing["denoise_s"] > 0 for c in chunks)


def test_same_seed_identical_other_seed_different(stream, inputs):
    image, text, tracks = inputs
    run = lambda seed: torch.cat([c.frames for c in stream.session(image, text, tracks, num_frames=21, seed=seed)])  # noqa: E731
    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_tracks_change_the_output_from_their_chunk_on(stream, inputs):
    image, text, tracks = inputs
    path = tracks.path.copy()
    path[21:, 0] += 16.0  # differs only from pixel frame 21 = chunk 2
    moved = Tracks(path=path, visible=tracks.visible.copy(), fps=16, width=64, height=64)
    a = _collect(stream.session(image, text, tracks, num_frames=45, seed=0))
    b = _collect(stream.session(image, text, moved, num_frames=45, seed=0))
    assert torch.equal(a[0].latents, b[0].latents) and torch.equal(a[1].latents, b[1].latents)
    assert (a[2].latents - b[2].latents).abs().max() > 1e-3


def test_live_steering_applies_at_next_chunk_and_replays_exactly(stream, inputs):
    image, text, tracks = inputs
    steering = Steering()
    session = stream.session(image, text, tracks, steering=steering, num_frames=45, seed=3)
    live = []
    for chunk in session:
        live.append(chunk)
        if chunk.index == 1:  # from another thread, as the HTTP route does
            t = threading.Thread(target=steering.update_points,
                                 args=([LivePoint("track:0", 5.0, 60.0), LivePoint("new", 40.0, 8.0)],))
            t.start()
            t.join()
    plain = _collect(stream.session(image, text, tracks, num_frames=45, seed=3))
    assert torch.equal(live[1].latents, plain[1].latents), "a live drag must not change the chunk already made"
    assert (live[2].latents - plain[2].latents).abs().max() > 1e-3, "a live drag must change the next chunk"
    recorded = session.recorded_tracks()
    assert recorded.num_frames == 45 and recorded.num_tracks == 3
    assert recorded.kinds == ("live", "drag", "live")
    np.testing.assert_allclose(recorded.path[32, 0], [5.0, 60.0])  # reached by the end of chunk 2
    assert not recorded.visible[:21, 2].any() and recorded.visible[21:, 2].all()
    replay = _collect(stream.session(image, text, recorded, num_frames=45, seed=3))
    for a, b in zip(live, replay):
        assert torch.equal(a.frames, b.frames), f"replaying the record differs at chunk {a.index}"


def test_stop_ends_within_one_chunk_and_until_stopped_runs_on(stream, inputs):
    image, text, _ = inputs
    steering = Steering()
    session = stream.session(image, text, None, steering=steering, num_frames=None, seed=0)
    seen = 0
    for chunk in session:
        seen += 1
        if chunk.index == 5:
            steering.stop()
    assert seen == 6, "num_frames=None must run until stopped, and stop at the next chunk boundary"
    assert session.recorded_tracks().num_frames == 9 + 5 * 12
    with pytest.raises(RuntimeError, match="this stream session has ended"):
        iter(session).__next__()


def test_breaking_out_frees_the_cache(stream, inputs):
    image, text, tracks = inputs
    session = stream.session(image, text, tracks, num_frames=None, seed=0)
    it = iter(session)
    next(it)
    it.close()  # what a consumer's `break` or an exception does
    assert session._closed


def test_bad_inputs_are_named(stream, inputs):
    image, text, tracks = inputs
    with pytest.raises(ValueError, match="image size 60x64 is not supported by model 'tiny'"):
        stream.session(image[:, :60], text, None)
    with pytest.raises(ValueError, match=r"tracks are for a 64x64 image but the start image is 32x32"):
        stream.session(image[:32, :32], text, tracks)
    with pytest.raises(ValueError, match="tracks are at 24.0 fps but the model runs at 16 fps"):
        stream.session(image, text, tracks.resample(fps=24))
    with pytest.raises(ValueError, match=r"the start image must be \[H, W, 3\] \(RGB\), got shape \(64, 64\)"):
        stream.session(image[..., 0], text, None)
    with pytest.raises(ValueError, match="has no built-in text encoder"):
        next(iter(stream.session(image, "a red star", None, num_frames=1)))


def test_record_of_a_trimmed_last_chunk_still_replays_exactly(stream, inputs):
    image, text, tracks = inputs
    steering = Steering()
    session = stream.session(image, text, tracks.slice_frames(0, 30), steering=steering, num_frames=40, seed=5)
    live = []
    for chunk in session:
        live.append(chunk)
        steering.update_points([LivePoint("p", 10.0 + 10 * chunk.index, 50.0)])
    assert session.recorded_tracks(trim=True).num_frames == 40
    full = session.recorded_tracks()
    assert full.num_frames == 45, "the record covers every frame the model saw, also the cut ones"
    replay = list(stream.session(image, text, full, num_frames=40, seed=5))
    assert all(torch.equal(a.frames, b.frames) for a, b in zip(live, replay))


def test_a_record_grown_past_its_initial_capacity_replays_the_frames_exactly(stream, inputs, monkeypatch):
    """The record grows (rows double, a late live point widens it) without losing a frame: replaying it
    with the same seed gives the same frames, bit for bit."""
    from motionstream_core.steering import TrackRecord

    monkeypatch.setattr(TrackRecord, "INITIAL_ROWS", 8)
    image, text, tracks = inputs

    def steer(steering, chunk):
        points = [LivePoint("track:1", 60.0 - 8 * chunk.index, 12.0 + 6 * chunk.index)]
        if chunk.index >= 3:
            points.append(LivePoint("late", 20.0 + chunk.index, 44.0, active=chunk.index < 5))
        steering.update_points(points)

    steering = Steering()
    session = stream.session(image, text, tracks, steering=steering, num_frames=70, seed=7)
    live = _run_steered(session, steering, steer)
    record = session.plan.record
    assert len(record) == 81 and record.slots == 3 and record.nbytes == 128 * 3 * 9
    full = session.recorded_tracks()
    replay = _collect(stream.session(image, text, full, num_frames=70, seed=7))
    assert len(replay) == len(live) == 7
    assert all(torch.equal(a.frames, b.frames) for a, b in zip(live, replay)), "the grown record must replay exactly"


def test_a_motionstream_model_streams_without_clip_tokens(stream, inputs):
    """No training stage feeds the CLIP image branch, so a MotionStream model (track head) ignores CLIP tokens it is
    given: the frames are those of the same request without them, though its DiT has the branch and would use them."""
    from motionstream_core.stream import TextCondition

    image, text, tracks = inputs
    assert text.clip is not None and stream.model.dit.context_kv(text.context, text.clip).k_img is not None
    given = torch.cat([c.frames for c in stream.session(image, text, tracks, num_frames=13, seed=0)])
    plain = torch.cat([c.frames for c in stream.session(image, TextCondition(text.context), tracks, num_frames=13,
                                                        seed=0)])
    assert torch.equal(given, plain)

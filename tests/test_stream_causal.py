"""Streaming a text-to-video causal student: no image, image start (cache prefill), live prompt switch + re-cache."""

from __future__ import annotations

import pytest
import torch

from motionstream_core.causal_checkpoints import StreamOverrides, causal_config, get_preset
from motionstream_core.config import DiTConfig, TinyVAEConfig
from motionstream_core.decoders import TinyVAE, TinyVAECodec
from motionstream_core.model import MotionStreamModel
from motionstream_core.steering import LivePoint, Steering
from motionstream_core.stream import MotionStream, PromptSwitch, TextCondition
from motionstream_core.tracks import Tracks
from tests.test_kv_cache import FromScratchContext

SIZE = (64, 48)  # width, height -> latent 8x6 -> 4x3 tokens a frame
DIT = DiTConfig(dim=128, ffn_dim=64, num_heads=1, num_layers=2, in_dim=16, out_dim=16, text_dim=32, freq_dim=32,
                image_cross_attn=False)


@pytest.fixture(scope="module")
def stream():
    torch.manual_seed(0)
    # chunk 2, sink 1 chunk, window 2 chunks: the window rolls from chunk 3 on
    over = StreamOverrides(chunk_frames=2, sink_chunks=1, window_chunks=2, step_list=(1000, 750, 500))
    model = MotionStreamModel(causal_config(DIT, get_preset("self-forcing"), over)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.15)
    vae = TinyVAE(TinyVAEConfig(channels=(8, 8, 8, 8), encoder_width=8, blocks_per_stage=1)).eval()
    return MotionStream(model, TinyVAECodec(vae))


def _text(seed):
    return TextCondition(torch.randn(1, 6, 32, generator=torch.Generator().manual_seed(seed)))


def _run(stream, chunks, **kw):
    kw.setdefault("size", SIZE)
    session = stream.session(kw.pop("image", None), kw.pop("text", _text(1)), num_frames=None, **kw)
    out = []
    for c in session:
        out.append(c)
        if len(out) == chunks:
            break
    return session, out


def _noises(stream, seed, chunks, skip_chunks=0):
    """The session's noise draws, in its order: per chunk the start noise then one per later step."""
    g = torch.Generator().manual_seed(seed)
    shape = (1, 16, stream.config.stream.chunk_frames, SIZE[1] // 8, SIZE[0] // 8)
    per_chunk = [[torch.randn(shape, generator=g) for _ in stream.sigmas] for _ in range(chunks)]
    return [None] * skip_chunks + per_chunk


def _reference_chunk(stream, ref, ctx, noises):
    """Denoise one chunk against ``ref`` (a FromScratchContext) exactly as the stream's schedule says."""
    model, sigmas = stream.model, stream.sigmas
    ref.begin_chunk(noises[0].shape[2])
    x = noises[0]
    for k, sigma in enumerate(sigmas):
        v = model.velocity(x, torch.tensor([sigma * 1000.0]), None, None, ctx, cache=ref)
        x0 = x - sigma * v
        if k + 1 < len(sigmas):
            x = (1 - sigmas[k + 1]) * x0 + sigmas[k + 1] * noises[k + 1]
    return x0


def _commit(model, ref, latents, ctx):
    ref.begin_chunk(latents.shape[2])
    model.velocity(latents, torch.zeros(1), None, None, ctx, cache=ref, write_cache=True)
    ref.commit()


def _from_scratch(stream):
    model = stream.model
    gh, gw = model.dit.token_grid(SIZE[1] // 8, SIZE[0] // 8)
    rope = model.dit.rope_table(stream.config.stream.max_rope_frames, gh, gw)
    return FromScratchContext(model, stream.config.stream, rope, gh * gw)


def test_text_only_stream_size_and_determinism(stream):
    _, a = _run(stream, 4, seed=3)
    _, b = _run(stream, 4, seed=3)
    assert [c.frames.shape for c in a] == [(5, 48, 64, 3)] + [(8, 48, 64, 3)] * 3  # chunk 2: 1 + 4, then 8
    assert all(torch.equal(x.frames, y.frames) for x, y in zip(a, b))
    assert stream.steps == 3 and stream.sigmas == pytest.approx([1.0, 0.9375, 5 / 6])


def test_stream_equals_an_independent_recomputation(stream):
    """Chunks 0..4 (the window rolls at chunk 3) equal the same schedule against a from-scratch context."""
    _, chunks = _run(stream, 5, seed=4)
    ctx = stream.model.dit.context_kv(_text(1).context)
    noises = _noises(stream, 4, 5)
    with torch.no_grad():
        for i, chunk in enumerate(chunks):
            ref = _from_scratch(stream)
            for j in range(i):
                _commit(stream.model, ref, chunks[j].latents, ctx)
            expected = _reference_chunk(stream, ref, ctx, noises[i])
            assert (chunk.latents - expected).abs().max() < 1e-4, i


def test_image_start_prefills_the_cache_with_a_whole_chunk(stream):
    image = torch.rand(48, 64, 3, generator=torch.Generator().manual_seed(9))
    _, chunks = _run(stream, 3, image=image, seed=5)
    codec = stream.codec
    codec.reset()
    z = codec.encode_image(image.permute(2, 0, 1)[None])
    assert torch.equal(chunks[0].latents, z.expand(-1, -1, 2, -1, -1))  # the image latent over the whole chunk
    codec.reset()
    assert torch.equal(chunks[0].frames, codec.decode_chunk(chunks[0].latents)[0])
    ctx = stream.model.dit.context_kv(_text(1).context)
    noises = _noises(stream, 5, 2, skip_chunks=1)  # the prefix draws no noise
    with torch.no_grad():
        for i in (1, 2):
            ref = _from_scratch(stream)
            for j in range(i):
                _commit(stream.model, ref, chunks[j].latents, ctx)
            assert (chunks[i].latents - _reference_chunk(stream, ref, ctx, noises[i])).abs().max() < 1e-4
    _, other = _run(stream, 2, image=torch.zeros_like(image), seed=5)
    assert not torch.allclose(other[1].latents, chunks[1].latents)  # the image does steer the continuation


def test_prompt_switch_recaches_the_window_and_applies_from_the_next_chunk(stream):
    steering = Steering()
    session = stream.session(None, _text(1), steering=steering, num_frames=None, seed=6, size=SIZE)
    chunks = []
    for c in session:
        chunks.append(c)
        if c.index == 3:
            steering.switch_prompt(_text(2))  # posted during chunk 3: used from chunk 4
        if len(chunks) == 6:
            break
    assert session.prompt_switches == [PromptSwitch(4, steering_text := session.prompt_switches[0].text)]
    assert torch.equal(steering_text.context, _text(2).context)
    assert "recache_s" in chunks[4].timing and "recache_s" not in chunks[5].timing
    _, plain = _run(stream, 6, seed=6)
    assert all(torch.equal(a.frames, b.frames) for a, b in zip(chunks[:4], plain[:4]))
    assert not torch.allclose(chunks[4].latents, plain[4].latents)

    # Reference: sink (chunk 0) as encoded under prompt 1; the window's chunks (2, 3) re-encoded under
    # prompt 2, oldest first; chunk 1 had rolled out. Then chunk 4 denoised under prompt 2.
    ctx1 = stream.model.dit.context_kv(_text(1).context)
    ctx2 = stream.model.dit.context_kv(_text(2).context)
    noises = _noises(stream, 6, 6)
    with torch.no_grad():
        ref = _from_scratch(stream)
        _commit(stream.model, ref, chunks[0].latents, ctx1)
        for j in (2, 3):
            _commit(stream.model, ref, chunks[j].latents, ctx2)
        assert (chunks[4].latents - _reference_chunk(stream, ref, ctx2, noises[4])).abs().max() < 1e-4


def test_recorded_switches_replay_exactly(stream):
    steering = Steering()
    session = stream.session(None, _text(1), steering=steering, num_frames=None, seed=7, size=SIZE)
    live = []
    for c in session:
        live.append(c.frames)
        if c.index == 1:
            steering.switch_prompt(_text(2))
        if c.index == 4:
            steering.switch_prompt(_text(3))
        if len(live) == 7:
            break
    assert [p.chunk for p in session.prompt_switches] == [2, 5]
    _, replay = _run(stream, 7, seed=7, prompts=session.prompt_switches)
    assert all(torch.equal(a, b.frames) for a, b in zip(live, replay))


def test_no_tracks_for_a_text_to_video_model(stream):
    tracks = Tracks.empty(9, 16, *SIZE)
    with pytest.raises(ValueError, match=r"drags need a start image \(warp mode moves it; a region drag cuts its "
                                         r"region from it\)"):  # warp: such a model's drag mode
        stream.session(None, _text(1), tracks=tracks, size=SIZE)
    with pytest.raises(ValueError, match="differs from the start image's 64x48"):
        stream.session(torch.rand(48, 64, 3), _text(1), size=(32, 32))
    with pytest.raises(ValueError, match="two prompt switches at chunk 2"):
        stream.session(None, _text(1), size=SIZE, prompts=[PromptSwitch(2, _text(2)), PromptSwitch(2, _text(3))])
    steering = Steering()  # live drags on a run without a start image are not used (nothing to move)
    steering.update_points([LivePoint("p", 10, 10)])
    _, with_drag = _run(stream, 2, seed=8, steering=steering)
    _, without = _run(stream, 2, seed=8)
    assert all(torch.equal(a.frames, b.frames) for a, b in zip(with_drag, without))

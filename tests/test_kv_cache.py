"""The sink + rolling-window cache equals recomputing the same attention pattern from scratch."""

from __future__ import annotations

import pytest
import torch

from motionstream_core.config import StreamConfig, get_config
from motionstream_core.kv_cache import CacheShape, RollingKVCache
from motionstream_core.model import MotionStreamModel
from motionstream_core.rope import apply_rope


class FromScratchContext:
    """An independent reference: no stored keys at all, only the clean *inputs* of past chunks.

    ``prepare(chunk)`` replays every earlier clean pass from chunk 0 (each one attending to the
    sink + window it had), collecting pre-RoPE keys of every frame ever; attention then gathers the
    sink (first S frames) and the last W frames and rotates all of them from scratch.
    """

    def __init__(self, model, stream: StreamConfig, rope, L):
        self.model, self.stream, self.rope, self.L = model, stream, rope, L
        self.history: list[dict[int, tuple]] = []  # per committed chunk: layer -> (k_pre, v)
        self.staged: dict[int, tuple] = {}
        self.frames = 0

    def _context_frames(self):
        S, W = self.stream.sink_frames, self.stream.window_frames
        n = sum(1 for _ in self.history) * self.stream.chunk_frames
        sink = min(S, n)
        return sink, min(W, n - sink)

    def current_rope(self, frames):
        sink, win = self._context_frames()
        return self.rope.angles(sink + win, frames)

    def begin_chunk(self, frames):
        self.staged = {}

    def keys_values(self, layer, k_rot, k_pre, v, write):
        sink, win = self._context_frames()
        L = self.L
        ks = torch.cat([h[layer][0] for h in self.history], 1) if self.history else k_pre[:, :0]
        vs = torch.cat([h[layer][1] for h in self.history], 1) if self.history else v[:, :0]
        total = ks.shape[1] // L
        parts_k = [apply_rope(ks[:, :sink * L], *self.rope.angles(0, sink))] if sink else []
        parts_v = [vs[:, :sink * L]] if sink else []
        if win:
            lo = (total - win) * L
            parts_k.append(apply_rope(ks[:, lo:], *self.rope.angles(sink, win)))
            parts_v.append(vs[:, lo:])
        if write:
            self.staged[layer] = (k_pre, v)
        return torch.cat(parts_k + [k_rot], 1), torch.cat(parts_v + [v], 1)

    def commit(self):
        self.history.append(self.staged)
        self.staged = {}


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    model = MotionStreamModel(get_config("tiny")).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.15)
    return model


def _run_chunk(model, cache, x_steps, x0, track, img, ctx, sigmas):
    """Every denoising pass of a chunk, then the clean pass; returns the passes' outputs."""
    cache.begin_chunk(x0.shape[2])
    outs = [model.velocity(x, torch.tensor([s * 1000.0]), track, img, ctx, cache=cache)
            for x, s in zip(x_steps, sigmas)]
    model.velocity(x0, torch.zeros(1), track, img, ctx, cache=cache, write_cache=True)
    cache.commit()
    return outs


def test_cached_stream_equals_from_scratch_recomputation():
    model = _tiny_model()
    cfg = model.config
    stream = StreamConfig(chunk_frames=2, sink_chunks=1, window_chunks=2)  # window of 2 chunks rolls from chunk 3
    h = w = 4  # latent grid -> 2x2 tokens
    gh, gw = model.dit.token_grid(h, w)
    rope = model.dit.rope_table(stream.max_rope_frames, gh, gw)
    shape = CacheShape(cfg.dit.num_layers, 1, cfg.dit.num_heads, cfg.dit.head_dim, gh * gw)
    cache = RollingKVCache(shape, stream, rope, "cpu", torch.float32)
    ctx = model.dit.context_kv(torch.randn(1, 5, cfg.dit.text_dim), torch.randn(1, 3, cfg.dit.clip_dim))
    sigmas = [1.0, 0.8, 0.5]
    C = stream.chunk_frames
    g = torch.Generator().manual_seed(1)
    inputs = []
    for _ in range(7):
        lat = lambda: torch.randn(1, 16, C, h, w, generator=g)  # noqa: E731
        inputs.append(([lat() for _ in sigmas], lat(), lat(), lat()))
    with torch.no_grad():
        cached = [_run_chunk(model, cache, *inp, ctx, sigmas) for inp in inputs]
        worst = 0.0
        for i, inp in enumerate(inputs):
            ref = FromScratchContext(model, stream, rope, gh * gw)
            for j in range(i):  # replay the clean passes only: their keys are all a later chunk sees
                x_steps, x0, track, img = inputs[j]
                ref.begin_chunk(C)
                model.velocity(x0, torch.zeros(1), track, img, ctx, cache=ref, write_cache=True)
                ref.commit()
            expected = _run_chunk(model, ref, *inp, ctx, sigmas)
            for a, b in zip(cached[i], expected):
                worst = max(worst, (a - b).abs().max().item())
    assert worst <= 1e-4, f"cached streaming differs from recomputation by {worst}"
    assert cache.window_filled == stream.window_frames and cache.sink_filled == stream.sink_frames


def test_sink_and_window_hold_exactly_the_right_chunks():
    """After 4 chunks (sink 1, window 1): the sink holds chunk 0's keys after RoPE at positions 0..2,
    the window holds chunk 3's keys un-rotated along time (its time channels as before RoPE, its height and
    width channels as after); chunks 1 and 2 are gone. One copy of each: the cache's bytes are
    layers x 2 x (sink + window + chunk) tokens x dim x element size."""
    model = _tiny_model(3)
    cfg = model.config
    stream = cfg.stream  # chunk 3, sink 1, window 1
    gh, gw = model.dit.token_grid(4, 4)
    L = gh * gw
    rope = model.dit.rope_table(stream.max_rope_frames, gh, gw)
    shape = CacheShape(cfg.dit.num_layers, 1, cfg.dit.num_heads, cfg.dit.head_dim, L)
    cache = RollingKVCache(shape, stream, rope, "cpu", torch.float32)
    ctx = model.dit.context_kv(torch.randn(1, 5, cfg.dit.text_dim))
    g = torch.Generator().manual_seed(2)
    written = []  # per chunk: layer 1's (k_rot, k_pre, v) of the clean pass, as the DiT handed them over
    hook = cache.keys_values

    def spy(layer, k_rot, k_pre, v, write):
        if write and layer == 1:
            written.append((k_rot.clone(), k_pre.clone(), v.clone()))
        return hook(layer, k_rot, k_pre, v, write)

    cache.keys_values = spy
    with torch.no_grad():
        for _ in range(4):
            x0 = torch.randn(1, 16, 3, 4, 4, generator=g)
            cache.begin_chunk(3)
            model.velocity(x0, torch.zeros(1), x0 * 0, x0 * 0, ctx, cache=cache, write_cache=True)
            cache.commit()
    k_rot0, _, v0 = written[0]
    k_rot3, k_pre3, v3 = written[3]
    t = cfg.dit.rope_split[0]  # the time channels of a head
    buf = cache.tensors()
    assert set(buf) == {"k", "v"}
    torch.testing.assert_close(buf["k"][1, :, :3 * L], k_rot0, rtol=0, atol=0)
    torch.testing.assert_close(buf["v"][1, :, :3 * L], v0, rtol=0, atol=0)
    torch.testing.assert_close(buf["k"][1, :, 3 * L:6 * L, :, :t], k_pre3[..., :t], rtol=0, atol=0)
    torch.testing.assert_close(buf["k"][1, :, 3 * L:6 * L, :, t:], k_rot3[..., t:], rtol=0, atol=0)
    assert not torch.equal(k_pre3[..., t:], k_rot3[..., t:])  # the height / width rotation is not the identity
    torch.testing.assert_close(buf["v"][1, :, 3 * L:6 * L], v3, rtol=0, atol=0)
    for old in (1, 2):
        _, k_pre_old, _ = written[old]
        assert not torch.allclose(buf["k"][1, :, 3 * L:6 * L, :, :t], k_pre_old[..., :t]), f"chunk {old} is still in the window"
    tokens = stream.max_rope_frames * L
    assert cache.nbytes() == cfg.dit.num_layers * 2 * tokens * cfg.dit.dim * 4


def test_self_forcing_cache_holds_one_copy_of_each_key_and_value():
    """A Self-Forcing-family cache (chunk 3, sink 1, window 5 chunks) of the 1.3B at 832x480 in bf16 is
    layers x 2 x 21 frames x 1560 tokens x 1536 x 2 bytes (built on the meta device: no memory taken)."""
    from motionstream_core.causal_checkpoints import PRESETS, causal_variant
    from motionstream_core.rope import RopeTable

    cfg = causal_variant(get_config("wan2.1-1.3b"), PRESETS["self-forcing"])
    d, st = cfg.dit, cfg.stream
    assert (st.sink_frames, st.window_frames, st.chunk_frames) == (3, 15, 3)
    rope = RopeTable(d.rope_split, d.rope_theta, st.max_rope_frames, 30, 52, "meta")
    cache = RollingKVCache(CacheShape(d.num_layers, 1, d.num_heads, d.head_dim, 30 * 52), st, rope, "meta",
                           torch.bfloat16)
    assert cache.nbytes() == 30 * 2 * (21 * 1560) * 1536 * 2  # 5.62 GiB; the read buffer adds one layer's keys
    assert cache.read_buffer_nbytes() == (21 * 1560) * 1536 * 2


def test_a_pass_after_the_write_pass_is_refused():
    model = _tiny_model()
    cfg = model.config
    gh, gw = model.dit.token_grid(4, 4)
    rope = model.dit.rope_table(cfg.stream.max_rope_frames, gh, gw)
    shape = CacheShape(cfg.dit.num_layers, 1, cfg.dit.num_heads, cfg.dit.head_dim, gh * gw)
    cache = RollingKVCache(shape, cfg.stream, rope, "cpu", torch.float32)
    ctx = model.dit.context_kv(torch.randn(1, 5, cfg.dit.text_dim))
    z = torch.zeros(1, 16, 3, 4, 4)
    with torch.no_grad():
        cache.begin_chunk(3)
        model.velocity(z, torch.zeros(1), z, z, ctx, cache=cache, write_cache=True)
        with pytest.raises(AssertionError, match="commit\\(\\) before another pass"):
            model.velocity(z, torch.ones(1), z, z, ctx, cache=cache)


def test_cache_memory_constant_and_rope_bounded():
    model = _tiny_model()
    cfg = model.config
    stream = cfg.stream
    gh, gw = model.dit.token_grid(4, 4)
    rope = model.dit.rope_table(stream.max_rope_frames, gh, gw)
    shape = CacheShape(cfg.dit.num_layers, 1, cfg.dit.num_heads, cfg.dit.head_dim, gh * gw)
    cache = RollingKVCache(shape, stream, rope, "cpu", torch.float32)
    ctx = model.dit.context_kv(torch.randn(1, 5, cfg.dit.text_dim))
    z = torch.zeros(1, 16, 3, 4, 4)
    sizes, positions = {}, []
    with torch.no_grad():
        for chunk in range(1, 51):
            positions.append(cache.current_position())
            _run_chunk(model, cache, [torch.randn_like(z)], torch.randn_like(z), z, z, ctx, [1.0])
            if chunk in (3, 50):
                sizes[chunk] = {k: (tuple(t.shape), t.data_ptr()) for k, t in cache.tensors().items()}
    assert sizes[3] == sizes[50], "cache tensors changed size (or were reallocated) between chunk 3 and chunk 50"
    assert positions[:3] == [0, 3, 6] and set(positions[2:]) == {6}
    assert max(positions) + stream.chunk_frames <= stream.max_rope_frames


def test_inplace_and_autograd_paths_agree():
    """The static-shape in-place path (inference) equals the torch.cat path (training)."""
    model = _tiny_model(5)
    cfg = model.config
    gh, gw = model.dit.token_grid(4, 4)
    rope = model.dit.rope_table(cfg.stream.max_rope_frames, gh, gw)
    shape = CacheShape(cfg.dit.num_layers, 1, cfg.dit.num_heads, cfg.dit.head_dim, gh * gw)
    ctx = model.dit.context_kv(torch.randn(1, 5, cfg.dit.text_dim))
    g = torch.Generator().manual_seed(4)
    inputs = [([torch.randn(1, 16, 3, 4, 4, generator=g)], torch.randn(1, 16, 3, 4, 4, generator=g),
               torch.randn(1, 16, 3, 4, 4, generator=g), torch.zeros(1, 16, 3, 4, 4)) for _ in range(4)]
    outs = {}
    for grad in (False, True):
        cache = RollingKVCache(shape, cfg.stream, rope, "cpu", torch.float32)
        with torch.set_grad_enabled(grad):
            outs[grad] = [_run_chunk(model, cache, *inp, ctx, [0.7])[0].detach() for inp in inputs]
    for a, b in zip(outs[False], outs[True]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)

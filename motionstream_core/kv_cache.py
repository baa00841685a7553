"""Attention-sink + rolling-window KV cache of the causal student (paper Sec. 3.2, "Inference").

Frames are latent frames; every frame has ``L = h * w`` tokens (after patchify). The cache holds,
per layer, one key buffer and one value buffer laid out as

    [ sink: S frames | window: W frames | current chunk: C frames ]      (S = sink, W = window, C = chunk)

* sink keys are stored **after** RoPE, at the positions they were computed with (0 .. S-1);
* window keys are stored **before** RoPE (``_win_k``) and rotated into the buffer by their *cache
  position* S .. S+W-1 once per chunk (every pass of that chunk reuses the rotation);
* the current chunk sits at positions S+W .. S+W+C-1 (earlier while the cache warms up).

So RoPE frame indices never reach S + W + C, and no tensor grows after construction: the cost of
a chunk is the same at chunk 10 and chunk 10 000. Only the clean pass (t = 0) of a chunk writes
(``write=True``); ``commit()`` then moves its keys into the sink (while the sink fills) or rolls
them into the window.

Two write paths give identical results: an in-place one (static shapes, used for inference) and a
functional one (``torch.cat``, used whenever autograd is recording, e.g. Self-Forcing training).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .config import StreamConfig
from .rope import RopeTable, apply_rope


@dataclass(frozen=True)
class CacheShape:
    num_layers: int
    batch: int
    heads: int
    head_dim: int
    tokens_per_frame: int


class RollingKVCache:
    """Fixed-size sink + rolling-window cache for ``shape.num_layers`` self-attention layers."""

    def __init__(self, shape: CacheShape, stream: StreamConfig, rope: RopeTable,
                 device: torch.device | str, dtype: torch.dtype):
        assert rope.tokens_per_frame == shape.tokens_per_frame, "RoPE table and cache disagree on tokens per frame"
        assert rope.max_frames >= stream.max_rope_frames, "RoPE table is shorter than sink + window + chunk"
        self.shape, self.stream, self.rope = shape, stream, rope
        self.S, self.W, self.C = stream.sink_frames, stream.window_frames, stream.chunk_frames
        L = shape.tokens_per_frame
        full = (shape.num_layers, shape.batch, (self.S + self.W + self.C) * L, shape.heads, shape.head_dim)
        self._k = torch.zeros(full, device=device, dtype=dtype)
        self._v = torch.zeros(full, device=device, dtype=dtype)
        win = (shape.num_layers, shape.batch, self.W * L, shape.heads, shape.head_dim)
        self._win_k = torch.zeros(win, device=device, dtype=dtype)  # window keys before RoPE
        self.sink_filled = 0  # frames
        self.window_filled = 0  # frames
        self.chunks_committed = 0
        self._rotated = [False] * shape.num_layers
        self._staged: list[tuple[Tensor, Tensor, Tensor] | None] = [None] * shape.num_layers
        self._chunk_frames: int | None = None

    # -- positions ---------------------------------------------------------------------------------

    @property
    def context_frames(self) -> int:
        return self.sink_filled + self.window_filled

    def current_position(self) -> int:
        """RoPE frame position of the current chunk's first frame."""
        return self.context_frames

    def current_rope(self, frames: int) -> tuple[Tensor, Tensor]:
        """cos/sin [frames * L, D/2] for the current chunk."""
        return self.rope.angles(self.current_position(), frames)

    def begin_chunk(self, frames: int) -> None:
        """Call once before the passes of a new chunk of ``frames`` latent frames."""
        assert 0 < frames <= self.C, f"a chunk has 1..{self.C} latent frames, got {frames}"
        self._chunk_frames = frames
        self._rotated = [False] * self.shape.num_layers

    # -- the attention hook ----------------------------------------------------------------------

    def keys_values(self, layer: int, k_rot: Tensor, k_pre: Tensor, v: Tensor, write: bool) -> tuple[Tensor, Tensor]:
        """Keys/values the current chunk attends to: cached context followed by its own.

        k_rot, k_pre, v: [B, C*L, H, D] (k_rot is k_pre after the current chunk's RoPE).
        Returns K, V [B, (context + C) * L, H, D]. With ``write`` the chunk is staged for ``commit``.
        """
        assert self._chunk_frames is not None, "call begin_chunk() before the chunk's passes"
        L = self.shape.tokens_per_frame
        n_ctx = self.context_frames * L
        n_cur = k_rot.shape[1]
        assert n_cur == self._chunk_frames * L, f"chunk has {n_cur} tokens, expected {self._chunk_frames * L}"
        self._rotate_window(layer)
        if write:
            self._staged[layer] = (k_rot.detach(), k_pre.detach(), v.detach())
        if torch.is_grad_enabled():
            ctx_k, ctx_v = self._k[layer, :, :n_ctx], self._v[layer, :, :n_ctx]
            return torch.cat([ctx_k, k_rot], dim=1), torch.cat([ctx_v, v], dim=1)
        self._k[layer, :, n_ctx:n_ctx + n_cur].copy_(k_rot)
        self._v[layer, :, n_ctx:n_ctx + n_cur].copy_(v)
        return self._k[layer, :, :n_ctx + n_cur], self._v[layer, :, :n_ctx + n_cur]

    def _rotate_window(self, layer: int) -> None:
        if self._rotated[layer] or self.window_filled == 0:
            return
        L = self.shape.tokens_per_frame
        start, n = self.S * L, self.window_filled * L
        cos, sin = self.rope.angles(self.S, self.window_filled)
        self._k[layer, :, start:start + n] = apply_rope(self._win_k[layer, :, :n], cos, sin)
        self._rotated[layer] = True

    # -- writing -----------------------------------------------------------------------------------

    @torch.no_grad()
    def commit(self) -> str:
        """Store the staged clean-pass chunk: into the sink while it fills, else roll it into the window.

        Returns where it went: ``"sink"``, ``"window"``, or ``"dropped"`` (a cache without window).
        """
        assert all(s is not None for s in self._staged), "commit() needs a write pass through every layer"
        L = self.shape.tokens_per_frame
        frames = self._chunk_frames
        n = frames * L
        if self.sink_filled < self.S:
            assert self.sink_filled + frames <= self.S, "a chunk may not straddle the sink boundary"
            at = self.sink_filled * L
            for layer, (k_rot, _, v) in enumerate(self._staged):
                self._k[layer, :, at:at + n] = k_rot
                self._v[layer, :, at:at + n] = v
            self.sink_filled += frames
            went = "sink"
        elif self.W > 0:
            if self.window_filled + frames > self.W:  # roll: drop the oldest frames
                drop = self.window_filled + frames - self.W
                keep = (self.window_filled - drop) * L
                lo = self.S * L
                self._win_k[:, :, :keep] = self._win_k[:, :, drop * L:drop * L + keep].clone()
                self._v[:, :, lo:lo + keep] = self._v[:, :, lo + drop * L:lo + drop * L + keep].clone()
                self.window_filled -= drop
            at = self.window_filled * L
            for layer, (_, k_pre, v) in enumerate(self._staged):
                self._win_k[layer, :, at:at + n] = k_pre
                self._v[layer, :, self.S * L + at:self.S * L + at + n] = v
            self.window_filled += frames
            went = "window"
        else:
            went = "dropped"
        self.chunks_committed += 1
        self._staged = [None] * self.shape.num_layers
        self._chunk_frames = None
        return went

    def restart_window(self) -> None:
        """Empty the rolling window, keeping the sink: the next commits refill it (a re-cache, e.g.
        after a prompt switch, re-encodes the window's chunks oldest first)."""
        assert self._chunk_frames is None, "restart_window() between chunks only"
        self.window_filled = 0

    # -- bookkeeping -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (a new video); keeps the buffers allocated."""
        self.sink_filled = self.window_filled = self.chunks_committed = 0
        self._staged = [None] * self.shape.num_layers
        self._chunk_frames = None

    def free(self) -> None:
        """Release the buffers; the cache cannot be used afterwards."""
        self._k = self._v = self._win_k = torch.empty(0)
        self._staged = [None] * self.shape.num_layers

    def tensors(self) -> dict[str, Tensor]:
        """The persistent buffers (for memory accounting and tests)."""
        return {"k": self._k, "v": self._v, "window_k_pre_rope": self._win_k}

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors().values())

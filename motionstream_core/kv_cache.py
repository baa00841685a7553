"""Attention-sink + rolling-window KV cache of the causal student (paper Sec. 3.2, "Inference").

Frames are latent frames; every frame has ``L = h * w`` tokens (after patchify). The cache holds,
per layer, one key buffer and one value buffer -- one copy of every cached key and value, so its
bytes are layers x 2 x (S + W + C) * L tokens x dim x element size -- laid out as

    [ sink: S frames | window: W frames | current chunk: C frames ]      (S = sink, W = window, C = chunk)

* sink keys are stored **after** RoPE, at the positions they were computed with (0 .. S-1);
* window keys are stored rotated along height and width (which never change) but not along time, and
  their time channels are rotated by the frame's *cache position* S .. S+W-1 as attention reads them
  (into a read buffer of one layer's keys, shared by all layers); RoPE turns each channel pair on its
  own, so this gives the bits a full rotation from the un-rotated keys gives;
* the current chunk sits at positions S+W .. S+W+C-1 (earlier while the cache warms up); its slot
  receives the clean pass's keys (rotated for the sink, time-un-rotated for the window) and values.

So RoPE frame indices never reach S + W + C, and no tensor grows after construction: the cost of
a chunk is the same at chunk 10 and chunk 10 000. Only the clean pass (t = 0) of a chunk writes
(``write=True``); ``commit()`` then keeps its keys in the sink (while the sink fills) or rolls
them into the window.

Two read paths give identical results: an in-place one (static shapes, used for inference) and a
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
        self._k = torch.zeros(full, device=device, dtype=dtype)  # sink after RoPE, window before RoPE
        self._v = torch.zeros(full, device=device, dtype=dtype)
        self._device, self._dtype = device, dtype
        self._read_k: Tensor | None = None  # one layer's keys as attention reads them (allocated on first use)
        self.sink_filled = 0  # frames
        self.window_filled = 0  # frames
        self.chunks_committed = 0
        self._written = [False] * shape.num_layers
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
        self._written = [False] * self.shape.num_layers

    def _to_sink(self) -> bool:
        return self.sink_filled < self.S

    # -- the attention hook ----------------------------------------------------------------------

    def keys_values(self, layer: int, k_rot: Tensor, k_pre: Tensor, v: Tensor, write: bool) -> tuple[Tensor, Tensor]:
        """Keys/values the current chunk attends to: cached context followed by its own.

        k_rot, k_pre, v: [B, C*L, H, D] (k_rot is k_pre after the current chunk's RoPE).
        Returns K, V [B, (context + C) * L, H, D]; on the in-place path K is the cache's read buffer,
        valid until the next layer's call. With ``write`` the chunk is stored for ``commit`` (the clean
        pass: the last pass of the chunk).
        """
        assert self._chunk_frames is not None, "call begin_chunk() before the chunk's passes"
        assert not self._written[layer], "a chunk's write pass is its last: commit() before another pass"
        L = self.shape.tokens_per_frame
        n_ctx, n_sink, n_win = self.context_frames * L, self.sink_filled * L, self.window_filled * L
        n_cur = k_rot.shape[1]
        assert n_cur == self._chunk_frames * L, f"chunk has {n_cur} tokens, expected {self._chunk_frames * L}"
        t = self.rope.time_channels
        if write:
            keep = k_rot if self._to_sink() else torch.cat([k_pre[..., :t], k_rot[..., t:]], dim=-1)
            self._k[layer, :, n_ctx:n_ctx + n_cur] = keep.detach()
            self._v[layer, :, n_ctx:n_ctx + n_cur] = v.detach()
            self._written[layer] = True
        win = win_time = None
        if n_win:  # the window's time channels, turned to their cache positions
            cos, sin = self.rope.angles(self.S, self.window_filled)
            win = self._k[layer, :, n_sink:n_ctx]
            win_time = apply_rope(win[..., :t], cos[:, :t // 2], sin[:, :t // 2])
        if torch.is_grad_enabled():
            parts = [self._k[layer, :, :n_sink]]
            if win is not None:
                parts.append(torch.cat([win_time, win[..., t:]], dim=-1))
            return torch.cat(parts + [k_rot], dim=1), torch.cat([self._v[layer, :, :n_ctx], v], dim=1)
        if self._read_k is None:
            self._read_k = torch.empty(self._k.shape[1:], device=self._device, dtype=self._dtype)
        k_all = self._read_k
        k_all[:, :n_ctx] = self._k[layer, :, :n_ctx]
        if win is not None:
            k_all[:, n_sink:n_ctx, :, :t] = win_time
        k_all[:, n_ctx:n_ctx + n_cur] = k_rot
        if not write:
            self._v[layer, :, n_ctx:n_ctx + n_cur] = v
        return k_all[:, :n_ctx + n_cur], self._v[layer, :, :n_ctx + n_cur]

    # -- writing -----------------------------------------------------------------------------------

    @torch.no_grad()
    def commit(self) -> str:
        """Keep the written clean-pass chunk: in the sink while it fills, else roll it into the window.

        Returns where it went: ``"sink"``, ``"window"``, or ``"dropped"`` (a cache without window).
        """
        assert all(self._written), "commit() needs a write pass through every layer"
        L = self.shape.tokens_per_frame
        frames = self._chunk_frames
        if self._to_sink():
            assert self.sink_filled + frames <= self.S, "a chunk may not straddle the sink boundary"
            self.sink_filled += frames
            went = "sink"
        elif self.W > 0:
            if self.window_filled + frames > self.W:  # roll: drop the oldest frames, the chunk moves up
                drop = self.window_filled + frames - self.W
                lo, n = (self.S + drop) * L, (self.window_filled + frames - drop) * L
                for buf in (self._k, self._v):
                    buf[:, :, self.S * L:self.S * L + n] = buf[:, :, lo:lo + n].clone()
                self.window_filled -= drop
            self.window_filled += frames
            went = "window"
        else:
            went = "dropped"
        self.chunks_committed += 1
        self._written = [False] * self.shape.num_layers
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
        self._written = [False] * self.shape.num_layers
        self._chunk_frames = None

    def free(self) -> None:
        """Release the buffers; the cache cannot be used afterwards."""
        self._k = self._v = torch.empty(0)
        self._read_k = None

    def tensors(self) -> dict[str, Tensor]:
        """The persistent buffers: one copy of every cached key and value (for memory accounting and tests)."""
        return {"k": self._k, "v": self._v}

    def nbytes(self) -> int:
        """Bytes of the persistent buffers: layers x 2 x (S + W + C) * L x dim x element size."""
        return sum(t.numel() * t.element_size() for t in self.tensors().values())

    def read_buffer_nbytes(self) -> int:
        """Bytes of the read buffer (one layer's keys, allocated at the first in-place read)."""
        return self._k[0].numel() * self._k.element_size() if self._k.ndim == 5 else 0

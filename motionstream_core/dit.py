"""The Wan 2.1 diffusion transformer, shared by the bidirectional teacher and the causal student.

Parameter names and shapes are those of the official ``diffusion_pytorch_model.safetensors``
(and of ComfyUI's ``WanModel``), so Wan2.1-T2V-1.3B (in_dim 16) and Wan2.1-Fun-1.3B-Control
(in_dim 48, CLIP image cross-attention) load as they are.

Layouts: video latents [B, C, F, H, W]; tokens [B, L, dim] in (frame, row, column) order;
attention tensors [B, L, heads, head_dim]; timesteps t in [0, 1000], shape [B] or [B, F].

Two ways to run it:
* ``forward(x, t, context)``: bidirectional over the whole clip (teacher, ODE targets);
* ``forward(x_chunk, t, context, cache=cache, write_cache=...)``: one causal chunk attending to
  the sink + rolling window in a ``RollingKVCache`` (student, streaming).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .attention import get_attention
from .config import DiTConfig
from .kv_cache import RollingKVCache
from .ops import OPERATIONS
from .rope import RopeTable, apply_rope


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Wan's sinusoidal embedding: t [...] -> [..., dim] float32, cos half first."""
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[..., None] * freqs
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


@dataclass
class ContextKV:
    """Per-layer cross-attention keys/values of the text (and CLIP image) context, [B, Lc, H, D].

    Computed once per stream: the prompt does not change between chunks.
    """

    k: list[Tensor]
    v: list[Tensor]
    k_img: list[Tensor] | None = None
    v_img: list[Tensor] | None = None


class _Projections(nn.Module):
    """q, k, v, o and the q/k RMSNorms, under Wan's key names; ``attend`` is the attention backend."""

    def __init__(self, cfg: DiTConfig, ops=OPERATIONS):
        super().__init__()
        d = cfg.dim
        self.heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.q, self.k, self.v, self.o = (ops.Linear(d, d) for _ in range(4))
        self.norm_q = ops.RMSNorm(d, eps=cfg.eps) if cfg.qk_norm else nn.Identity()
        self.norm_k = ops.RMSNorm(d, eps=cfg.eps) if cfg.qk_norm else nn.Identity()
        self.attend = get_attention("sdpa")


class SelfAttention(_Projections):
    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, cache: RollingKVCache | None = None,
                layer: int = 0, write_cache: bool = False) -> Tensor:
        """x [B, L, dim]; cos/sin [L, head_dim/2] for x's tokens -> [B, L, dim]."""
        b, n = x.shape[:2]
        q = self.norm_q(self.q(x)).view(b, n, self.heads, self.head_dim)
        k = self.norm_k(self.k(x)).view(b, n, self.heads, self.head_dim)
        v = self.v(x).view(b, n, self.heads, self.head_dim)
        q_rot, k_rot = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k_rot, v = cache.keys_values(layer, k_rot, k, v, write=write_cache)
        return self.o(self.attend(q_rot, k_rot, v).flatten(2))


class CrossAttention(_Projections):
    """Text cross-attention, plus the CLIP-image branch of the I2V / Fun checkpoints."""

    def __init__(self, cfg: DiTConfig, ops=OPERATIONS):
        super().__init__(cfg, ops)
        d = cfg.dim
        self.image = cfg.image_cross_attn
        if self.image:
            self.k_img, self.v_img = ops.Linear(d, d), ops.Linear(d, d)
            self.norm_k_img = ops.RMSNorm(d, eps=cfg.eps) if cfg.qk_norm else nn.Identity()

    def _heads(self, x: Tensor) -> Tensor:
        return x.view(*x.shape[:2], self.heads, self.head_dim)

    def context_kv(self, text: Tensor, image: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Embedded text [B, Lt, dim] and image tokens [B, Li, dim] -> k, v (and k_img, v_img)."""
        k, v = self._heads(self.norm_k(self.k(text))), self._heads(self.v(text))
        if image is None or not self.image:
            return k, v, None, None
        return k, v, self._heads(self.norm_k_img(self.k_img(image))), self._heads(self.v_img(image))

    def forward(self, x: Tensor, k: Tensor, v: Tensor, k_img: Tensor | None, v_img: Tensor | None) -> Tensor:
        q = self._heads(self.norm_q(self.q(x)))
        out = self.attend(q, k, v)
        if k_img is not None:
            out = out + self.attend(q, k_img, v_img)
        return self.o(out.flatten(2))


class Block(nn.Module):
    """One Wan block: modulated self-attention, cross-attention, modulated FFN."""

    def __init__(self, cfg: DiTConfig, ops=OPERATIONS):
        super().__init__()
        d = cfg.dim
        self.norm1 = ops.LayerNorm(d, eps=cfg.eps, elementwise_affine=False)
        self.self_attn = SelfAttention(cfg, ops)
        self.norm3 = ops.LayerNorm(d, eps=cfg.eps) if cfg.cross_attn_norm else nn.Identity()
        self.cross_attn = CrossAttention(cfg, ops)
        self.norm2 = ops.LayerNorm(d, eps=cfg.eps, elementwise_affine=False)
        self.ffn = nn.Sequential(ops.Linear(d, cfg.ffn_dim), nn.GELU(approximate="tanh"), ops.Linear(cfg.ffn_dim, d))
        self.modulation = nn.Parameter(torch.zeros(1, 6, d))

    def forward(self, x: Tensor, e: Tensor, cos: Tensor, sin: Tensor, ctx: tuple, cache: RollingKVCache | None,
                layer: int, write_cache: bool) -> Tensor:
        """x [B, L, dim]; e [B, L or 1, 6, dim] per-token (or shared) modulation."""
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.modulation.unsqueeze(0) + e).unbind(2)
        y = self.self_attn(self.norm1(x) * (1 + scale1) + shift1, cos, sin, cache, layer, write_cache)
        x = x + y * gate1
        x = x + self.cross_attn(self.norm3(x), *ctx)
        y = self.ffn(self.norm2(x) * (1 + scale2) + shift2)
        return x + y * gate2


class Head(nn.Module):
    def __init__(self, cfg: DiTConfig, ops=OPERATIONS):
        super().__init__()
        self.norm = ops.LayerNorm(cfg.dim, eps=cfg.eps, elementwise_affine=False)
        self.head = ops.Linear(cfg.dim, cfg.out_dim * math.prod(cfg.patch_size))
        self.modulation = nn.Parameter(torch.zeros(1, 2, cfg.dim))

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        """x [B, L, dim]; e [B, L or 1, dim] (time embedding before projection)."""
        shift, scale = (self.modulation.unsqueeze(0) + e.unsqueeze(2)).unbind(2)
        return self.head(self.norm(x) * (1 + scale) + shift)


class ImageProjection(nn.Module):
    """CLIP-vision tokens [B, 257, clip_dim] -> [B, 257, dim] (key names ``img_emb.proj.{0,1,3,4}``)."""

    def __init__(self, cfg: DiTConfig, ops=OPERATIONS):
        super().__init__()
        c = cfg.clip_dim
        self.proj = nn.Sequential(ops.LayerNorm(c), ops.Linear(c, c), nn.GELU(), ops.Linear(c, cfg.dim),
                                  ops.LayerNorm(cfg.dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


class WanDiT(nn.Module):
    """Wan 2.1 DiT. ``forward`` predicts the flow velocity (noise - x0) for the noisy latent slot."""

    def __init__(self, cfg: DiTConfig, operations=None):
        """``operations``: the layer classes (Linear, Conv3d, LayerNorm, RMSNorm) every layer is built
        with; default ``ops.OPERATIONS`` (manual casting, fp8 weights with per-tensor scales)."""
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        ops = operations or OPERATIONS
        d = cfg.dim
        self.patch_embedding = ops.Conv3d(cfg.in_dim, d, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.text_embedding = nn.Sequential(ops.Linear(cfg.text_dim, d), nn.GELU(approximate="tanh"), ops.Linear(d, d))
        self.time_embedding = nn.Sequential(ops.Linear(cfg.freq_dim, d), nn.SiLU(), ops.Linear(d, d))
        self.time_projection = nn.Sequential(nn.SiLU(), ops.Linear(d, 6 * d))
        self.blocks = nn.ModuleList(Block(cfg, ops) for _ in range(cfg.num_layers))
        self.head = Head(cfg, ops)
        if cfg.image_cross_attn:
            self.img_emb = ImageProjection(cfg, ops)
        self._rope_cache: dict[tuple, RopeTable] = {}
        self.block_runner = None  # runs block i instead of ``block(...)``: e.g. ``offload.BlockOffload``

    # -- helpers -----------------------------------------------------------------------------------

    def set_attention_backend(self, name) -> None:
        """A backend name (``attention.BACKENDS``) or an attention function [B, L, H, D] -> [B, L, H, D]."""
        fn = get_attention(name)
        for block in self.blocks:
            block.self_attn.attend = fn
            block.cross_attn.attend = fn

    def rope_table(self, max_frames: int, h: int, w: int) -> RopeTable:
        """RoPE tables for a token grid of h x w per frame (memoised per size and device)."""
        device = self.patch_embedding.weight.device
        key = (max_frames, h, w, str(device))
        if key not in self._rope_cache:
            self._rope_cache[key] = RopeTable(self.cfg.rope_split, self.cfg.rope_theta, max_frames, h, w, device)
        return self._rope_cache[key]

    def token_grid(self, height: int, width: int) -> tuple[int, int]:
        """Latent (height, width) -> token grid (h, w) after patchify."""
        _, ph, pw = self.cfg.patch_size
        assert height % ph == 0 and width % pw == 0, f"latent size {height}x{width} is not a multiple of the patch"
        return height // ph, width // pw

    def context_kv(self, context: Tensor, clip_fea: Tensor | None = None) -> ContextKV:
        """Text context [B, Lt, text_dim] (+ CLIP tokens [B, Li, clip_dim]) -> per-layer cross-attn k/v."""
        text = self.text_embedding(context)
        image = self.img_emb(clip_fea) if (clip_fea is not None and self.cfg.image_cross_attn) else None
        parts = [blk.cross_attn.context_kv(text, image) for blk in self.blocks]
        kv = ContextKV([p[0] for p in parts], [p[1] for p in parts])
        if image is not None:
            kv.k_img, kv.v_img = [p[2] for p in parts], [p[3] for p in parts]
        return kv

    def time_modulation(self, t: Tensor, frames: int, tokens_per_frame: int) -> tuple[Tensor, Tensor]:
        """t [B] or [B, F] -> (e [B, L|1, dim], e0 [B, L|1, 6, dim]) broadcastable over tokens."""
        e = self.time_embedding(timestep_embedding(t, self.cfg.freq_dim).to(self.patch_embedding.weight.dtype))
        if t.ndim == 1:
            e = e[:, None]
        else:
            assert t.shape[1] == frames, f"per-frame timesteps {tuple(t.shape)} do not match {frames} frames"
            e = e.repeat_interleave(tokens_per_frame, dim=1)
        e0 = self.time_projection(e).unflatten(-1, (6, self.cfg.dim))
        return e, e0

    def unpatchify(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """[B, F*h*w, C*pt*ph*pw] -> [B, C, F*pt, h*ph, w*pw]."""
        f, h, w = grid
        pt, ph, pw = self.cfg.patch_size
        c = self.cfg.out_dim
        x = x.view(x.shape[0], f, h, w, pt, ph, pw, c)
        return x.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(x.shape[0], c, f * pt, h * ph, w * pw)

    # -- forward -----------------------------------------------------------------------------------

    def forward(self, x: Tensor, t: Tensor, context: Tensor | ContextKV, clip_fea: Tensor | None = None, *,
                cache: RollingKVCache | None = None, write_cache: bool = False, frame_offset: int = 0) -> Tensor:
        """Predict the flow velocity.

        x: [B, in_dim, F, H, W] (noisy latent | track latent | start-image latent).
        t: [B] or [B, F] timesteps in [0, 1000].
        context: text embeddings [B, Lt, text_dim] or precomputed ``ContextKV``.
        cache: run causally as the next chunk of a stream (F <= chunk frames); ``write_cache`` stages
            this pass's keys/values (the clean pass); the caller commits them.
        frame_offset: first RoPE frame position when running without a cache.
        Returns [B, out_dim, F, H, W].
        """
        # 1. patchify
        tokens = self.patch_embedding(x.to(self.patch_embedding.weight.dtype))
        grid = tuple(tokens.shape[2:])
        frames, h, w = grid
        tokens = tokens.flatten(2).transpose(1, 2)

        # 2. timestep modulation
        e, e0 = self.time_modulation(t, frames, h * w)

        # 3. context
        ctx = context if isinstance(context, ContextKV) else self.context_kv(context, clip_fea)

        # 4. rotary positions of this pass's tokens
        if cache is not None:
            cos, sin = cache.current_rope(frames)
        else:
            cos, sin = self.rope_table(frame_offset + frames, h, w).angles(frame_offset, frames)

        # 5. blocks
        for i, block in enumerate(self.blocks):
            layer_ctx = (ctx.k[i], ctx.v[i], ctx.k_img[i] if ctx.k_img else None, ctx.v_img[i] if ctx.v_img else None)
            args = (tokens, e0, cos, sin, layer_ctx, cache, i, write_cache)
            tokens = block(*args) if self.block_runner is None else self.block_runner(i, block, *args)

        # 6. head and unpatchify
        return self.unpatchify(self.head(tokens, e), grid)

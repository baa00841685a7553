"""3D rotary position embeddings of Wan 2.1 (time, height, width axes split 44/42/42 for d=128).

Pairs are adjacent channels (x[2i], x[2i+1]), as in the official model's complex view. Angles are
computed in float64 and stored as float32 cos/sin tables so that a key rotated today and a key
rotated 1000 chunks later by the same position get bit-identical rotations.
"""

from __future__ import annotations

import torch
from torch import Tensor


def axis_frequencies(axis_dim: int, theta: float) -> Tensor:
    """[axis_dim // 2] float64 inverse frequencies theta^(-2i/axis_dim)."""
    assert axis_dim % 2 == 0, f"RoPE axis dim must be even, got {axis_dim}"
    return 1.0 / theta ** (torch.arange(0, axis_dim, 2, dtype=torch.float64) / axis_dim)


class RopeTable:
    """cos/sin tables for a latent grid of h x w tokens per frame and frames [0, max_frames).

    ``angles(start, count)`` gives the tables for ``count`` consecutive frames starting at frame
    position ``start``: cos, sin each [count * h * w, head_dim // 2] float32, token order (f, y, x).
    """

    def __init__(self, split: tuple[int, int, int], theta: float, max_frames: int, h: int, w: int,
                 device: torch.device | str | None = None):
        self.h, self.w, self.max_frames = h, w, max_frames
        self.time_channels = split[0]  # the first channels of a head turn with the frame position, the rest do not
        ft, fh, fw = (axis_frequencies(d, theta) for d in split)
        pos_f = torch.arange(max_frames, dtype=torch.float64)
        pos_h = torch.arange(h, dtype=torch.float64)
        pos_w = torch.arange(w, dtype=torch.float64)
        ang_f = torch.outer(pos_f, ft)[:, None, None, :].expand(max_frames, h, w, -1)
        ang_h = torch.outer(pos_h, fh)[None, :, None, :].expand(max_frames, h, w, -1)
        ang_w = torch.outer(pos_w, fw)[None, None, :, :].expand(max_frames, h, w, -1)
        angles = torch.cat([ang_f, ang_h, ang_w], dim=-1).reshape(max_frames, h * w, -1)
        self.cos = angles.cos().float().to(device)  # [max_frames, h*w, d/2]
        self.sin = angles.sin().float().to(device)

    @property
    def tokens_per_frame(self) -> int:
        return self.h * self.w

    def angles(self, start: int, count: int) -> tuple[Tensor, Tensor]:
        assert 0 <= start and start + count <= self.max_frames, (
            f"RoPE frames [{start}, {start + count}) exceed the table's {self.max_frames} frames")
        cos = self.cos[start:start + count].flatten(0, 1)
        sin = self.sin[start:start + count].flatten(0, 1)
        return cos, sin


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate adjacent channel pairs. x [B, L, H, D]; cos, sin [L, D/2] -> [B, L, H, D] in x's dtype."""
    assert x.shape[1] == cos.shape[0] and x.shape[-1] == 2 * cos.shape[-1], (
        f"RoPE table {tuple(cos.shape)} does not fit x {tuple(x.shape)}")
    xf = x.float().unflatten(-1, (-1, 2))
    x0, x1 = xf[..., 0], xf[..., 1]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)
    return out.flatten(-2).to(x.dtype)

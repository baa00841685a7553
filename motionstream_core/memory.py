"""How much device memory a streaming run needs: weights + KV cache + text context + activations.

Computed from the architecture, the video size and the precisions -- an estimate, not a measurement:

* weights: the DiT's parameters (built on the meta device, so exact) with the block Linear weights in
  ``weight_dtype`` (fp8: 1 byte + a float32 scale) and the rest in the compute dtype. With block offload
  only the non-block weights and two blocks (the one running, the next one being copied) are on the device.
* KV cache: ``RollingKVCache``'s buffers (layers x 2 x (sink + window + chunk) tokens x dim) + its read
  buffer (one layer's keys).
* text context: every layer's cross-attention keys and values of the prompt, kept for the stream.
* activations: the largest working set of one block pass over a chunk (q, k, v, the attention output and
  the FFN's hidden layer in the compute dtype; RoPE's float32 intermediates over the window), counted
  once: the blocks run one after another. The decoder is not included.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .config import ModelConfig
from .dit import WanDiT
from .ops import FP8, prepare_state_dict

OFFLOAD = ("none", "blocks")


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    cache: int
    context: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.cache + self.context + self.activations

    def describe(self) -> str:
        gib = {k: f"{v / 2**30:.2f}" for k, v in asdict(self).items()}
        return (f"{self.total / 2**30:.2f} GiB (weights {gib['weights']}, KV cache {gib['cache']}, text context "
                f"{gib['context']}, activations ~{gib['activations']}; estimated, decoder not included)")


def weight_bytes(config: ModelConfig, dtype: torch.dtype, weight_dtype: torch.dtype | None = None,
                 offload: str = "none") -> int:
    """Device bytes of the DiT's weights (see the module docstring)."""
    if offload not in OFFLOAD:
        raise ValueError(f"unknown offload {offload!r}; choose one of {', '.join(OFFLOAD)}")
    with torch.device("meta"):
        dit = WanDiT(config.dit).to(dtype)
    sd = prepare_state_dict(dict(dit.state_dict()), weight_dtype)
    per_block: dict[str, int] = {}
    rest = 0
    for key, t in sd.items():
        size = t.numel() * (1 if t.dtype in FP8 else t.element_size())
        if key.startswith("blocks."):
            block = key.split(".", 2)[1]
            per_block[block] = per_block.get(block, 0) + size
        else:
            rest += size
    blocks = sorted(per_block.values(), reverse=True)
    return rest + (sum(blocks) if offload == "none" else sum(blocks[:2]))


def estimate(config: ModelConfig, width: int, height: int, dtype: torch.dtype,
             weight_dtype: torch.dtype | None = None, offload: str = "none") -> MemoryEstimate:
    """The device memory of streaming ``config`` at width x height (see the module docstring)."""
    d = config.dit
    s = config.spatial_stride
    L = (height // s // d.patch_size[1]) * (width // s // d.patch_size[2])
    st = config.stream
    el = torch.empty(0, dtype=dtype).element_size()
    cached = st.max_rope_frames * L
    cache = d.num_layers * 2 * cached * d.dim * el + cached * d.dim * el
    context = d.num_layers * 2 * config.text_len * d.dim * el + (
        d.num_layers * 2 * 257 * d.dim * el if d.image_cross_attn else 0)
    n = st.chunk_frames * L  # the chunk's tokens
    window = st.window_frames * L
    activations = el * (8 * n * d.dim + 2 * n * d.ffn_dim) + 4 * 3 * max(n, window) * d.dim
    return MemoryEstimate(weight_bytes(config, dtype, weight_dtype, offload), cache, context, activations)


__all__ = ["OFFLOAD", "MemoryEstimate", "estimate", "weight_bytes"]

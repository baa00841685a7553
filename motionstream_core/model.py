"""MotionStreamModel: the Wan DiT + the track head (+ the demo's own text encoder), one module.

Input assembly (paper Fig. 2; the Wan2.1-Fun-Control channel layout): the DiT sees 48 channels per
latent frame = [noisy latent 16 | track latent 16 | start-image latent 16], where the start-image
slot holds the encoded first frame in latent frame 0 and zeros in every later frame.

A config without track head (``config.track_head is None``) is a text-to-video causal student of the
Self-Forcing family: the DiT sees the noisy latent alone (16 channels) and takes no tracks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import ModelConfig
from .dit import ContextKV, WanDiT
from .track_head import TrackHead


class MotionStreamModel(nn.Module):
    def __init__(self, config: ModelConfig, text_encoder: nn.Module | None = None):
        super().__init__()
        config.validate()
        self.config = config
        self.dit = WanDiT(config.dit)
        self.track_head = TrackHead(config.track_head) if config.track_head is not None else None
        self.text_encoder = text_encoder

    @property
    def device(self) -> torch.device:
        return self.dit.patch_embedding.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.dit.patch_embedding.weight.dtype

    @staticmethod
    def image_slot(image_latent: Tensor, frames: int, first_frame: int) -> Tensor:
        """Start-image latent [B, C, 1, h, w] -> its slot for latent frames [first, first + frames)."""
        b, c, _, h, w = image_latent.shape
        slot = image_latent.new_zeros(b, c, frames, h, w)
        if first_frame == 0:
            slot[:, :, :1] = image_latent
        return slot

    def velocity(self, noisy: Tensor, t: Tensor, track_latent: Tensor | None, image_slot: Tensor | None,
                 context: Tensor | ContextKV, clip_fea: Tensor | None = None, **dit_kwargs) -> Tensor:
        """All latents [B, 16, F, h, w]; returns the flow velocity [B, 16, F, h, w].

        A model without track head takes ``track_latent = image_slot = None``.
        """
        if self.track_head is None:
            assert track_latent is None and image_slot is None, "this model has no track / image slots"
            x = noisy
        else:
            x = torch.cat([noisy, track_latent.to(noisy.dtype), image_slot.to(noisy.dtype)], dim=1)
        return self.dit(x, t, context, clip_fea, **dit_kwargs)

    def encode_text(self, prompts: list[str]) -> Tensor:
        """The demo model's own text conditioning; Wan models take umT5 embeddings instead."""
        if self.text_encoder is None:
            raise ValueError(f"model {self.config.name!r} has no built-in text encoder: give it a text embedding "
                             "(in ComfyUI: CONDITIONING from the Wan text encoder)")
        return self.text_encoder.encode(prompts).to(self.device, self.dtype)

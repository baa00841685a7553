"""The frozen encoders of data preparation: the Wan VAE (diffusers) and umT5 (transformers), from local files.

* ``VideoLatentEncoder``: uint8 clips -> model-space latents [B, 16, F, h, w] (the VAE's posterior mean,
  normalised by its ``latents_mean``/``latents_std``) and the start-image latent [B, 16, 1, h, w],
  encoded on its own exactly as the stream encodes a start image (``FullVAECodec.encode_image``).
* ``UMT5TextEncoder``: captions -> one embedding per caption, [L_i, 4096] for umT5-XXL, cut at the
  caption's own tokens (EOS included) as Wan's T5 wrapper does; the DiT's context is these zero-padded
  to ``text_len`` (``data.text_batch``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..decoders import FullVAECodec
from ..wan_vae import DiffusersWanBackend, load_wan_vae

TRANSFORMERS_HINT = "pip install 'transformers>=4.40' (the optional extra 'train')"


class VideoLatentEncoder:
    def __init__(self, vae, device: torch.device | str = "cpu"):
        self.vae = vae.to(device).eval()
        backend = DiffusersWanBackend(self.vae)
        self.codec = FullVAECodec(backend, backend.latents_mean, backend.latents_std)
        self.latent_channels = backend.latent_channels
        self.name = type(vae).__name__

    @classmethod
    def from_file(cls, path: str | Path, device: torch.device | str = "cpu") -> "VideoLatentEncoder":
        return cls(load_wan_vae(path, device=device), device)

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> tuple[Tensor, Tensor]:
        """uint8 [B, T, H, W, 3] -> (latents [B, C, F, h, w], start-image latents [B, C, 1, h, w]), float32 CPU."""
        p = next(self.vae.parameters())
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(p.device).permute(0, 4, 1, 2, 3).to(p.dtype) / 255.0
        raw = self.vae.encode(x * 2 - 1).latent_dist.mode()
        z = self.codec.stats.normalize(raw.float())
        image = self.codec.encode_image(x[:, :, 0]).float()
        return z.cpu(), image.cpu()


class UMT5TextEncoder:
    def __init__(self, tokenizer, model, max_length: int = 512, device: torch.device | str = "cpu"):
        self.tokenizer, self.model, self.max_length = tokenizer, model.to(device).eval(), max_length
        self.dim = int(model.config.d_model)
        self.name = type(model).__name__

    @classmethod
    def from_folder(cls, folder: str | Path, max_length: int = 512, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32) -> "UMT5TextEncoder":
        """A transformers folder with the tokenizer and ``UMT5EncoderModel`` weights, or a diffusers Wan
        repository (``Wan-AI/Wan2.1-T2V-1.3B-Diffusers``) with ``tokenizer/`` and ``text_encoder/``."""
        try:
            from transformers import AutoTokenizer, UMT5EncoderModel
        except ImportError as e:
            raise ImportError(f"preparing text embeddings needs transformers: {TRANSFORMERS_HINT}") from e
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"umT5 folder not found: {folder}")
        # a diffusers Wan repository keeps them apart: <repo>/tokenizer and <repo>/text_encoder
        split = (folder / "tokenizer").is_dir() and (folder / "text_encoder").is_dir()
        tok = AutoTokenizer.from_pretrained(str(folder / "tokenizer" if split else folder))
        model = UMT5EncoderModel.from_pretrained(str(folder / "text_encoder" if split else folder)).to(dtype)
        return cls(tok, model, max_length, device)

    @torch.no_grad()
    def encode(self, captions: list[str]) -> list[Tensor]:
        """Each caption -> [L_i, dim] float32 CPU, L_i = its token count (with EOS), at most ``max_length``."""
        enc = self.tokenizer(captions, padding="max_length", truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        p = next(self.model.parameters())
        ids, mask = enc["input_ids"].to(p.device), enc["attention_mask"].to(p.device)
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        return [h[:int(m.sum())].cpu() for h, m in zip(hidden, mask)]

"""The embedded demo model: a small MotionStream student and its autoencoder, trained by this project's
own recipe (``motionstream train ...``, see docs/DEMO_MODEL.md) on synthetic videos.

    model, codec = load_demo()              # fp32 on the CPU; no download
    MotionStream(model, codec).session(image, "a red circle on a striped blue background", tracks)

Files (``DEMO_WEIGHTS``): ``student.safetensors`` (our checkpoint format: DiT + track head + demo
text encoder, weights stored in fp16, config in the metadata) and ``autoencoder.safetensors`` (the
TinyVAE in taehv key layout; its config and per-channel latent statistics in the metadata).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..config import TinyVAEConfig
from ..decoders import TinyVAE, TinyVAECodec
from ..tiny_vae import check_state_dict

HERE = Path(__file__).resolve().parent
WEIGHTS_DIR = HERE / "weights"
ASSETS_DIR = HERE / "assets"
DEMO_WEIGHTS = {"student": WEIGHTS_DIR / "student.safetensors",
                "autoencoder": WEIGHTS_DIR / "autoencoder.safetensors"}
DEMO_ASSETS = {"image": ASSETS_DIR / "start.png", "tracks": ASSETS_DIR / "tracks.json",
               "prompt": ASSETS_DIR / "prompt.txt"}

VAE_CONFIG_KEY = "tiny_vae_config"


class DemoModelMissing(FileNotFoundError):
    """The demo weights are not in the package (a source checkout without them)."""


def save_autoencoder(vae: TinyVAE, path: str | os.PathLike, latent_mean=None, latent_std=None,
                     metadata: dict[str, str] | None = None) -> None:
    """TinyVAE weights (taehv keys) + its config and latent statistics in the safetensors metadata."""
    meta = {VAE_CONFIG_KEY: json.dumps(_vae_config_dict(vae.config)), **(metadata or {})}
    if latent_mean is not None:
        meta["latent_mean"] = json.dumps([float(x) for x in latent_mean])
        meta["latent_std"] = json.dumps([float(x) for x in latent_std])
    save_file({k: v.detach().contiguous().cpu() for k, v in vae.state_dict().items()}, str(path), metadata=meta)


def load_autoencoder(path: str | os.PathLike, device="cpu", dtype=torch.float32) -> tuple[TinyVAE, list | None,
                                                                                            list | None]:
    """(vae in eval mode, latent_mean or None, latent_std or None) from ``save_autoencoder``'s file."""
    path = Path(path)
    if not path.is_file():
        raise DemoModelMissing(f"autoencoder weights not found: {path}")
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    if VAE_CONFIG_KEY not in meta:
        raise ValueError(f"{path.name} has no {VAE_CONFIG_KEY!r} metadata: not a demo autoencoder file")
    raw = json.loads(meta[VAE_CONFIG_KEY])
    cfg = TinyVAEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    sd = load_file(str(path))
    vae = TinyVAE(cfg)
    check_state_dict(vae, sd, source=str(path))
    vae.load_state_dict({k: v.float() for k, v in sd.items()})
    mean = json.loads(meta["latent_mean"]) if "latent_mean" in meta else None
    std = json.loads(meta["latent_std"]) if "latent_std" in meta else None
    return vae.to(device=device, dtype=dtype).eval(), mean, std


def load_codec(path: str | os.PathLike, device="cpu", dtype=torch.float32) -> TinyVAECodec:
    vae, mean, std = load_autoencoder(path, device, dtype)
    return TinyVAECodec(vae, mean, std)


def load_demo(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """(MotionStreamModel, TinyVAECodec) of the embedded demo model, ready for ``MotionStream``."""
    from ..checkpoints import load_model

    missing = [str(p) for p in DEMO_WEIGHTS.values() if not p.is_file()]
    if missing:
        raise DemoModelMissing(f"the embedded demo model is missing ({', '.join(missing)}); rebuild it with the "
                               "commands in docs/DEMO_MODEL.md")
    model = load_model(DEMO_WEIGHTS["student"], device=device, dtype=dtype)
    codec = load_codec(DEMO_WEIGHTS["autoencoder"], device=device, dtype=dtype)
    return model, codec


def _vae_config_dict(cfg: TinyVAEConfig) -> dict:
    import dataclasses

    return dataclasses.asdict(cfg)

"""Tiny real inputs for the training-data tests: small video files (PyAV), a tiny random Wan VAE
(diffusers ``AutoencoderKLWan``) and a tiny random umT5 (transformers ``UMT5EncoderModel`` with a
word-level tokenizer), saved to folders exactly as users' local files are read. Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = ["<pad>", "</s>", "<unk>", "a", "red", "blue", "green", "square", "circle", "moves", "left", "right", "up",
         "down", "slowly", "on", "grey", "background"]


def write_video(path: Path, frames: int = 48, size: tuple[int, int] = (80, 72), fps: int = 16, seed: int = 0) -> Path:
    """A textured background with a bright square moving right (H.264 via PyAV), ``size`` = (width, height)."""
    import av

    rng = np.random.default_rng(seed)
    w, h = size
    bg = (rng.random((h // 4 + 1, w // 4 + 1, 3)) * 160).astype(np.uint8).repeat(4, 0).repeat(4, 1)[:h, :w]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for t in range(frames):
            f = bg.copy()
            x, y = 8 + t + seed * 3, 20 + seed * 4
            f[y:y + 14, x:x + 14] = (230, 60 + 40 * seed, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_videos(folder: Path, count: int = 4) -> dict[str, Path]:
    """``count`` good videos with sidecar captions, one broken file and one too short; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i in range(count):
        p = write_video(folder / f"clip{i}.mp4", seed=i)
        p.with_suffix(".txt").write_text(["a red square moves right", "a blue square moves right slowly",
                                          "a green square on grey background", "a square moves"][i % 4])
        paths[f"good{i}"] = p
    broken = folder / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not really a video" * 4)
    paths["broken"] = broken
    paths["short"] = write_video(folder / "short.mp4", frames=5, seed=1)
    return paths


def make_tiny_vae(folder: Path) -> Path:
    """A random diffusers AutoencoderKLWan: 16 latent channels, 8x spatial and 4x temporal compression."""
    import torch
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    vae.save_pretrained(str(folder))
    return folder


def make_tiny_umt5(folder: Path, d_model: int = 32) -> Path:
    """A random UMT5EncoderModel (``d_model`` wide) with a word-level tokenizer that appends </s>."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(str(folder))
    torch.manual_seed(0)
    cfg = UMT5Config(vocab_size=len(WORDS), d_model=d_model, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                     relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    UMT5EncoderModel(cfg).save_pretrained(str(folder))
    (folder / "made_by.json").write_text(json.dumps({"test": "tiny random umT5"}))
    return folder

"""TAEHV-architecture tiny video autoencoder (the fast streaming decoder).

The layout follows madebyollin/taehv so that the public ``taew2_1`` weights load as they are:
``encoder`` and ``decoder`` are ``nn.Sequential`` stacks of 2D modules applied to every frame, and
the only temporal mixing is

* ``MemBlock``  -- a residual block that also sees its *previous time step's input* (one frame of
  memory per block, zeros at the start of a video);
* ``TPool``     -- packs ``stride`` consecutive frames into channels (encoder, time downsampling);
* ``TGrow``     -- unpacks channels into ``stride`` frames (decoder, time upsampling).

So a whole chunk of frames goes through each layer as one batch: a MemBlock gets the chunk's inputs
shifted by one step, with the last input of the previous chunk (the carried state) in front.

Layouts: the public API speaks Wan / diffusers order, latents ``[B, C, T, h, w]`` and pixels
``[B, 3, T, H, W]`` in [0, 1]. Inside, frames are stacked batch-major as ``[B*T, C, H, W]``.
Latents are *raw* Wan latents (no mean/std): taew2_1 was trained on them.

Time alignment (as taehv): latent 0 decodes to 1 frame and every later latent to ``temporal_stride``
frames; the decoder makes ``temporal_stride`` frames per latent and drops the first
``temporal_stride - 1`` of the video. The encoder pads the end with copies of the last frame to a
multiple of ``temporal_stride``, so a video of ``1 + 4k`` frames encodes to ``1 + k`` latents.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .config import TinyVAEConfig

__all__ = ["TAEW2_1_CONFIG", "Clamp", "MemBlock", "TPool", "TGrow", "TinyVAE", "TinyVAEStreamDecoder",
           "TinyVAELoadError", "load_tiny_vae", "check_state_dict", "run_blocks"]

# The architecture of the public taew2_1 weights; ``TinyVAEConfig()``'s defaults equal it
# (tests/test_decoders.py::test_config_defaults_are_taew2_1).
TAEW2_1_CONFIG = TinyVAEConfig(channels=(256, 128, 64, 64), encoder_width=64, blocks_per_stage=3,
                               time_upscale=(True, True), space_upscale=(True, True, True))


class TinyVAELoadError(ValueError):
    """A tiny-VAE checkpoint does not fit the architecture; the message lists every bad key."""


def _conv(n_in: int, n_out: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=bias)


class Clamp(nn.Module):
    """Soft clamp of the latents to (-3, 3): ``3 tanh(x / 3)``. Any shape in, same shape out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class MemBlock(nn.Module):
    """Residual block that also reads the previous time step.

    ``x``, ``past``: ``[N, n_in, H, W]`` (``past`` is the input this block saw one time step
    earlier, zeros for the first frame) -> ``[N, n_out, H, W]``.
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.conv = nn.Sequential(_conv(n_in * 2, n_out), nn.ReLU(), _conv(n_out, n_out), nn.ReLU(),
                                  _conv(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, past: torch.Tensor) -> torch.Tensor:
        assert x.shape == past.shape, f"MemBlock: x {tuple(x.shape)} and past {tuple(past.shape)} differ"
        return self.act(self.conv(torch.cat([x, past], 1)) + self.skip(x))


class TPool(nn.Module):
    """Temporal pooling: ``[B*T, C, H, W] -> [B*T/stride, C, H, W]`` (T a multiple of stride).

    ``stride`` consecutive frames are packed into channels and mixed by a 1x1 conv.
    """

    def __init__(self, n_f: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(n_f * stride, n_f, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        assert nt % self.stride == 0, f"TPool: {nt} frames is not a multiple of stride {self.stride}"
        return self.conv(x.reshape(nt // self.stride, self.stride * c, h, w))


class TGrow(nn.Module):
    """Temporal upsampling: ``[B*T, C, H, W] -> [B*T*stride, C, H, W]``.

    A 1x1 conv makes ``stride * C`` channels which become ``stride`` consecutive frames.
    """

    def __init__(self, n_f: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(n_f, n_f * stride, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        return self.conv(x).reshape(nt * self.stride, c, h, w)


def run_blocks(blocks: nn.Sequential, x: torch.Tensor, batch: int, memory: list | None = None) -> torch.Tensor:
    """Apply ``blocks`` to a batch-major frame stack, all frames of a layer at once.

    ``x``: ``[batch*T, C, H, W]`` -> ``[batch*T', C', H', W']``. ``memory`` is ``None`` for a whole
    video (every MemBlock starts from zeros), or a list with one slot per block holding the last
    input each MemBlock saw (``[batch, C, H, W]``, ``None`` = start of the video); it is read as the
    step before this call's first frame and overwritten with this call's last frame.
    """
    assert x.ndim == 4 and x.shape[0] % batch == 0, f"expected a [B*T, C, H, W] stack for B={batch}, got {tuple(x.shape)}"
    assert memory is None or len(memory) == len(blocks), "memory needs one slot per block"
    for i, block in enumerate(blocks):
        if isinstance(block, MemBlock):
            frames = x.reshape(batch, x.shape[0] // batch, *x.shape[1:])
            prev = memory[i] if memory is not None else None
            prev = torch.zeros_like(frames[:, :1]) if prev is None else prev.unsqueeze(1)
            past = torch.cat([prev, frames[:, :-1]], 1).reshape(x.shape)
            if memory is not None:
                memory[i] = frames[:, -1].detach().clone()  # clone: keep one frame, not the chunk
            x = block(x, past)
        else:
            x = block(x)
    return x


class TinyVAE(nn.Module):
    """TAEHV-architecture video autoencoder; state-dict keys and shapes are taehv's.

    ``config.channels`` are the decoder widths from the latent side to the image side (taew2_1:
    256, 128, 64, 64 -- the last one is the width of the final conv); the encoder uses
    ``encoder_width`` throughout. Each of the three stages has ``blocks_per_stage`` MemBlocks.
    ``time_upscale`` switches the decoder's 2nd and 3rd TGrow (the 1st never grows, as in taehv;
    the encoder pools in the mirrored stages); ``space_upscale`` switches the 2x upsampling of each
    decoder stage (the encoder's strided convs mirror it).
    """

    def __init__(self, config: TinyVAEConfig | None = None):
        super().__init__()
        config = TAEW2_1_CONFIG if config is None else config
        config.validate()
        assert len(config.time_upscale) == 2, f"time_upscale needs 2 flags, got {config.time_upscale}"
        assert len(config.space_upscale) == 3, f"space_upscale needs 3 flags, got {config.space_upscale}"
        self.config = config
        c, n, ew = config.channels, config.blocks_per_stage, config.encoder_width
        t_dec = (False, *config.time_upscale)       # per decoder stage, latent side first
        s_dec = tuple(config.space_upscale)
        t_enc, s_enc = t_dec[::-1], s_dec[::-1]     # per encoder stage, image side first

        enc: list[nn.Module] = [_conv(config.image_channels, ew), nn.ReLU()]
        for stage in range(3):
            enc += [TPool(ew, 2 if t_enc[stage] else 1), _conv(ew, ew, stride=2 if s_enc[stage] else 1, bias=False)]
            enc += [MemBlock(ew, ew) for _ in range(n)]
        enc.append(_conv(ew, config.latent_channels))
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [Clamp(), _conv(config.latent_channels, c[0]), nn.ReLU()]
        for stage in range(3):
            dec += [MemBlock(c[stage], c[stage]) for _ in range(n)]
            dec += [nn.Upsample(scale_factor=2) if s_dec[stage] else nn.Identity(),
                    TGrow(c[stage], 2 if t_dec[stage] else 1), _conv(c[stage], c[stage + 1], bias=False)]
        dec += [nn.ReLU(), _conv(c[3], config.image_channels)]
        self.decoder = nn.Sequential(*dec)

        self.latent_channels = config.latent_channels
        self.spatial_stride = config.spatial_stride
        self.temporal_stride = config.temporal_stride
        self.frames_to_trim = self.temporal_stride - 1

    # -- whole sequences (differentiable; the autoencoder trainer uses these) -----------------------
    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` in [0, 1] -> raw latents ``[B, C, ceil(T/4), H/8, W/8]``.

        The end is padded with copies of the last frame to a multiple of ``temporal_stride``; with
        ``config.encoder_pad_start`` the start is first padded with ``temporal_stride - 1`` copies of frame 0.
        """
        assert frames.ndim == 5 and frames.shape[1] == self.config.image_channels, \
            f"encode_video expects [B, {self.config.image_channels}, T, H, W] frames, got {tuple(frames.shape)}"
        b, _, t, h, w = frames.shape
        s = self.spatial_stride
        assert h % s == 0 and w % s == 0, f"encode_video: frame size {w}x{h} is not a multiple of {s}"
        if self.config.encoder_pad_start and self.temporal_stride > 1:  # Wan alignment (see TinyVAEConfig)
            frames = torch.cat([frames[:, :, :1].expand(-1, -1, self.temporal_stride - 1, -1, -1), frames], 2)
            t = frames.shape[2]
        pad = -t % self.temporal_stride
        if pad:
            frames = torch.cat([frames, frames[:, :, -1:].expand(-1, -1, pad, -1, -1)], 2)
        x = frames.transpose(1, 2).reshape(-1, *frames.shape[1:2], h, w)
        z = run_blocks(self.encoder, x, b)
        return z.reshape(b, -1, *z.shape[1:]).transpose(1, 2)

    def decode_video(self, latents: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Raw latents ``[B, C, T, h, w]`` -> frames ``[B, 3, 1 + 4(T-1), 8h, 8w]`` in [0, 1].

        ``clamp=False`` leaves the output unclamped (for training losses).
        """
        x = self._decode_frames(latents, memory=None)[:, :, self.frames_to_trim:]
        return x.clamp(0, 1) if clamp else x

    def _decode_frames(self, latents: torch.Tensor, memory: list | None) -> torch.Tensor:
        """Untrimmed, unclamped decode: ``[B, C, T, h, w]`` -> ``[B, 3, 4T, H, W]``."""
        assert latents.ndim == 5 and latents.shape[1] == self.latent_channels, \
            f"expected latents [B, {self.latent_channels}, T, h, w], got {tuple(latents.shape)}"
        assert latents.shape[2] >= 1, "expected at least one latent frame"
        b, c, _, h, w = latents.shape
        x = run_blocks(self.decoder, latents.transpose(1, 2).reshape(-1, c, h, w), b, memory)
        return x.reshape(b, -1, *x.shape[1:]).transpose(1, 2)


class TinyVAEStreamDecoder:
    """Decodes a video chunk by chunk with carried state; equals ``TinyVAE.decode_video`` on the
    concatenated chunks.

    ``decode(latents)``: raw ``[B, C, T, h, w]`` -> frames ``[B, 3, T', H, W]`` in [0, 1], with
    ``T' = 1 + 4(T-1)`` on the first call after ``reset()`` and ``4T`` afterwards. The state is one
    frame per MemBlock (the last input it saw), so memory does not grow with the video.
    """

    def __init__(self, vae: TinyVAE):
        self.vae = vae
        self.reset()

    def reset(self) -> None:
        """Forget the previous video."""
        self._memory: list = [None] * len(self.vae.decoder)
        self._batch: int | None = None
        self.latents_decoded = 0
        self.frames_decoded = 0

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        if self._batch is not None and latents.shape[0] != self._batch:
            raise ValueError(f"batch size changed mid-stream ({self._batch} -> {latents.shape[0]}); call reset() first")
        first = self.latents_decoded == 0
        x = self.vae._decode_frames(latents, self._memory)
        if first:
            x = x[:, :, self.vae.frames_to_trim:]
        self._batch = latents.shape[0]
        self.latents_decoded += latents.shape[2]
        self.frames_decoded += x.shape[2]
        return x.clamp(0, 1)


# -- loading -------------------------------------------------------------------------------------

def check_state_dict(model: nn.Module, state_dict: dict, source: str = "state dict") -> None:
    """Raise one TinyVAELoadError listing every missing, unexpected and wrongly shaped key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [f"{k}: checkpoint {list(state_dict[k].shape)} vs model {list(expected[k].shape)}"
             for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
    if wrong:
        problems.append(f"shape mismatches ({len(wrong)}): {'; '.join(wrong)}")
    if problems:
        raise TinyVAELoadError(f"{source} does not fit the tiny VAE {_describe(model)}: " + " | ".join(problems))


def _describe(model: nn.Module) -> str:
    cfg = getattr(model, "config", None)
    if not isinstance(cfg, TinyVAEConfig):
        return type(model).__name__
    return (f"(channels={cfg.channels}, encoder_width={cfg.encoder_width}, "
            f"blocks_per_stage={cfg.blocks_per_stage}, latent_channels={cfg.latent_channels})")


def read_weights(path: Path) -> dict:
    """A flat tensor dict from ``.safetensors`` or a weights-only ``.pth``."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path), device="cpu")
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise TinyVAELoadError(f"{path} is not a flat state dict of tensors")
    return sd


def load_tiny_vae(path: str | Path, config: TinyVAEConfig | None = None) -> TinyVAE:
    """Load tiny-VAE weights strictly: ``.safetensors``, or ``.pth`` read with ``weights_only=True``.

    ``config=None`` means the taew2_1 architecture (``TAEW2_1_CONFIG``). Missing, unexpected or
    wrongly shaped keys raise one TinyVAELoadError that names all of them. Returns an fp32 CPU
    model in eval mode.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tiny VAE weights not found: {path}")
    sd = read_weights(path)
    vae = TinyVAE(config)
    check_state_dict(vae, sd, source=str(path))
    vae.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return vae.eval()

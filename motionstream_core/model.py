"""MotionStreamModel: the Wan DiT + the track head (+ the demo's own text encoder), one module.

Input assembly (paper Fig. 2; the Wan2.1-Fun-Control channel layout): the DiT sees 48 channels per
latent frame = [noisy latent 16 | track latent 16 | start-image latent 16], where the start-image
slot holds the encoded first frame in latent frame 0 and zeros in every later frame.

``config.parameterisation`` says what the DiT predicts and what the flow runs on (``config.Parameterisation``);
``velocity`` is its one reader:

* prediction ``flow_preconditioned``: the velocity is ``c_skip x + c_out F(c_in x, ...)`` (EDM's preconditioning for
  rectified flow, ``preconditioning``): the best linear guess of the velocity from x comes for free and the network
  only adds what the data's channel std ``latent_std`` leaves to learn. A DiT whose token is narrower than the latent
  values it outputs (the demo's 1x4x4 patch of 16 channels: 256 values, 192 dims) cannot pass the noise of its
  low-variance channels through, and without it its samples keep that noise (docs/DEMO_MODEL.md).
* prediction ``sample``: the DiT predicts the clean latent, ``x0 = std * F``, and the velocity follows as
  ``(x - x0) / sigma`` (``c_skip = 1 / sigma``, ``c_out = -std / sigma``): content the data holds at zero (with a
  whole-video reference: frame 0 and the static background) is ``F = 0`` at every noise level, while a velocity
  model must return a scaled copy of the input noise there -- values its tokens cannot carry at low noise, which
  came out as blocks (docs/DEMO_MODEL.md, the ablations). Its velocity error grows as 1 / sigma, so it trains on the
  DiT's output scale (``output_scale``; ``teacher_train.velocity_loss``).
* reference ``start_image`` (the demo's family): the start image fills the image slot of every latent frame and the
  flow runs on the change ``latent - start image``: the DiT sees ``x - (1 - sigma) image`` (the noisy change) and the
  velocity of the latent is the change's velocity minus the image. Everything outside ``velocity`` (samplers,
  caches, the training losses) stays in latent space. Why: a 1x4x4 token of 16 channels carries more values than the
  DiT's width, so a model that must pass the start image through its tokens returns it as 16 px blocks; learning the
  change, an untrained model returns the still video and the static background is exact.
* reference ``warp``: the same with the start image warped along the tracks to each frame and encoded by the run's
  codec: a reference built outside the model (``reference.ReferenceBuilder``, the kernel warp
  ``reference.kernel.warp_frames``) and handed to ``image_slot``. The change is then from the rubber-sheet drag,
  which on held-out photos alone follows a drag to 0.09x a still video's error, and an untrained sample-predicting
  model returns that warp. Checkpoints written before the builder existed carry a copy of the codec
  (``slot_codec.*``); loading ignores it (``checkpoints.load_model``).

A config without track head (``config.track_head is None``) is a text-to-video causal student of the
Self-Forcing family: the DiT sees the noisy latent alone (16 channels) and takes no tracks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import ModelConfig
from .dit import ContextKV, WanDiT
from .track_head import TrackHead


def sigma_of(t: Tensor, num_train_timesteps: int, ndim: int = 5) -> Tensor:
    """Timesteps t [B] or [B, F] -> sigma [B, 1, 1 or F, 1, 1] float32, broadcastable over latents of ``ndim``."""
    sigma = t.float() / num_train_timesteps
    return sigma.view(sigma.shape[0], 1, 1, *([1] * (ndim - 3))) if sigma.ndim == 1 else \
        sigma.view(sigma.shape[0], 1, sigma.shape[1], *([1] * (ndim - 3)))


# the noise level below which a clean-predicting model's velocity (x - x0) / sigma is taken at this sigma: the
# cache-writing pass runs at t = 0 and discards the velocity; training samples sigma >= 1e-3
MIN_CLEAN_SIGMA = 1e-3


def preconditioning(t: Tensor, std: Tensor, num_train_timesteps: int, ndim: int = 5,
                    clean: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """(c_in, c_skip, c_out), each [B, C, F or 1, 1, 1] float32, for timesteps t [B] or [B, F] and channel std [C]:
    the velocity is ``c_skip x + c_out F(c_in x)``.

    For x = (1 - sigma) z + sigma n with Var z = s^2 per channel: c_in = 1 / sqrt(Var x) (unit-variance input).
    Velocity prediction: c_skip x = the least-squares velocity from x alone (c_skip = Cov(v, x) / Var x), and
    c_out = the std of what is left, s / sqrt(Var x), so the network's target has unit variance at every sigma and
    channel. ``clean``: F = z / s, so v = (x - s F) / sigma: c_skip = 1 / sigma, c_out = -s / sigma.
    """
    sigma = sigma_of(t, num_train_timesteps, ndim)
    s2 = std.float().clamp(min=1e-3).pow(2).view(1, -1, *([1] * (ndim - 2)))
    var = (1 - sigma) ** 2 * s2 + sigma ** 2
    c_in = var.rsqrt()
    if clean:
        inv = 1 / sigma.clamp(min=MIN_CLEAN_SIGMA)
        return c_in, inv.expand_as(c_in), -s2.sqrt() * inv
    return c_in, (sigma - (1 - sigma) * s2) / var, s2.sqrt() * c_in


class MotionStreamModel(nn.Module):
    def __init__(self, config: ModelConfig, text_encoder: nn.Module | None = None):
        super().__init__()
        config.validate()
        self.config = config
        self.dit = WanDiT(config.dit)
        self.track_head = TrackHead(config.track_head) if config.track_head is not None else None
        self.text_encoder = text_encoder
        if config.parameterisation.preconditioned:  # [C] model-space std of each latent channel (from the clips)
            self.register_buffer("latent_std", torch.ones(config.latent_channels))

    @property
    def device(self) -> torch.device:
        return self.dit.patch_embedding.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.dit.patch_embedding.weight.dtype

    def output_scale(self, t: Tensor, ndim: int = 5) -> Tensor:
        """How far the velocity moves per unit of the DiT's output, [B, C, F or 1, 1, 1] float32 for timesteps t [B]
        or [B, F]: |c_out| of ``preconditioning``, 1 for a model without it (its DiT outputs the velocity)."""
        p = self.config.parameterisation
        if not p.preconditioned:
            return torch.ones(1, *([1] * (ndim - 1)), device=t.device)
        return preconditioning(t, self.latent_std, self.config.stream.num_train_timesteps, ndim,
                               p.predicts_sample)[2].abs()

    def image_slot(self, image_latent: Tensor, frames: int, first_frame: int, reference: Tensor | None = None
                   ) -> Tensor:
        """Start-image latent [B, C, 1, h, w] -> its slot for latent frames [first, first + frames): the image in
        latent frame 0 and zeros after it (reference ``first_frame``), or the image in every frame (``start_image``), or
        (``warp``)
        ``reference`` [B, C, frames, h, w]: the start image warped along the tracks to every frame, made by the
        run's reference builder (``reference.ReferenceBuilder.kernel``; training: ``reference.clip_slot``).
        """
        p = self.config.parameterisation
        if p.warps:
            if reference is None:
                raise ValueError(f"model {self.config.name!r} takes the start image warped along the tracks as its "
                                 "image slot (reference 'warp'): build it with reference.ReferenceBuilder (training: "
                                 "reference.clip_slot) and pass it as reference")
            if reference.shape[2] != frames or reference.shape[:2] != image_latent.shape[:2]:
                raise ValueError(f"the reference {tuple(reference.shape)} does not cover {frames} latent frames of "
                                 f"start latents {tuple(image_latent.shape)}")
            return reference.to(image_latent.dtype)
        if p.from_reference:
            return image_latent.expand(-1, -1, frames, -1, -1).contiguous()
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
        if self.config.parameterisation.from_reference:  # the flow of the change from the reference (module docstring)
            start = image_slot.float()
            sigma = sigma_of(t, self.config.stream.num_train_timesteps, noisy.ndim)
            change = (noisy.float() - (1 - sigma) * start).to(noisy.dtype)
            v = self._velocity(change, t, track_latent, image_slot, context, clip_fea, **dit_kwargs)
            return (v.float() - start).to(v.dtype)
        return self._velocity(noisy, t, track_latent, image_slot, context, clip_fea, **dit_kwargs)

    def _velocity(self, noisy: Tensor, t: Tensor, track_latent: Tensor | None, image_slot: Tensor | None,
                  context: Tensor | ContextKV, clip_fea: Tensor | None = None, **dit_kwargs) -> Tensor:
        c_in = c_skip = c_out = None
        p = self.config.parameterisation
        if p.preconditioned:
            c_in, c_skip, c_out = preconditioning(t, self.latent_std, self.config.stream.num_train_timesteps,
                                                  noisy.ndim, p.predicts_sample)
        x = noisy if c_in is None else noisy * c_in.to(noisy.dtype)
        if self.track_head is None:
            assert track_latent is None and image_slot is None, "this model has no track / image slots"
        else:
            x = torch.cat([x, track_latent.to(noisy.dtype), image_slot.to(noisy.dtype)], dim=1)
        out = self.dit(x, t, context, clip_fea, **dit_kwargs)
        if c_in is None:
            return out
        return (c_skip * noisy.float() + c_out * out.float()).to(out.dtype)

    def encode_text(self, prompts: list[str]) -> Tensor:
        """The demo model's own text conditioning; Wan models take umT5 embeddings instead."""
        if self.text_encoder is None:
            raise ValueError(f"model {self.config.name!r} has no built-in text encoder: give it a text embedding "
                             "(in ComfyUI: CONDITIONING from the Wan text encoder)")
        return self.text_encoder.encode(prompts).to(self.device, self.dtype)

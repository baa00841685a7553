"""Typed, validated model configurations: the parameterisation, ``ModelConfig`` and the named configs (the parts'
configs are ``config_parts.py``'s, re-exported here).

The named model configs:

* ``tiny``             -- a 2-layer model for tests (runs in milliseconds on CPU);
* ``demo``             -- a 128x128 layout (6 layers, width 256, a tiny VAE codec) the benches time with random
  weights;
* ``demo-warp-refine`` -- the shipped demo model (docs/DEMO_MODEL.md);
* ``wan2.1-1.3b``      -- the Wan 2.1 1.3B backbone (dim 1536, 30 layers), the layout of
  Wan2.1-Fun-1.3B-Control (48 input channels, CLIP image cross-attention) plus the track head.

A checkpoint stores its own config, which is what loading it uses. The training's ablation arms and test configs
are ``train/configs.py``'s.

Configs are frozen dataclasses; ``to_dict``/``from_dict`` round-trip them through the JSON that
MotionStream checkpoints keep in their safetensors metadata.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


from .config_parts import (LATENT_SPACES, MAX_CACHE_TOKENS, MAX_ROPE_POSITIONS, MAX_TEXT_LEN, MAX_TRACK_IDS,  # noqa: F401
                           MAX_TRACKS, OWN, WAN21, CodecConfig, ConfigError, DiTConfig, PatchCodecConfig, StreamConfig,
                           TeacherConfig, TinyVAEConfig, TrackHeadConfig, _build, _cap, _positive,
                           codec_config_from_dict)


PREDICTIONS = ("flow", "flow_preconditioned", "sample")
REFERENCES = ("first_frame", "start_image", "warp")


@dataclass(frozen=True)
class Parameterisation:
    """What the DiT predicts and how that becomes the flow velocity (diffusers' ``prediction_type``), and what the
    flow runs relative to. ``MotionStreamModel.velocity`` is its one reader.

    ``prediction``:
      * ``flow`` (Wan, the paper): the DiT's output is the velocity;
      * ``flow_preconditioned``: the velocity is ``c_skip x + c_out F(c_in x)`` per latent channel (EDM's
        preconditioning for rectified flow, the channel std a buffer the teacher stage sets from its clips): the
        DiT predicts a unit-variance residual;
      * ``sample``: the DiT predicts the clean latent per channel std, ``x0 = std F``, and ``v = (x - x0) / sigma``:
        content the data holds at zero is a zero output at every noise level.
    ``reference`` -- what fills the image slot and what the flow runs on:
      * ``first_frame`` (Wan, the paper): the start latent in latent frame 0 only; the flow on the latent;
      * ``start_image``: the start latent in every frame; the flow on the change ``latent - start image``, so an
        unsure model returns the still video;
      * ``warp``: the start image warped along the tracks (a Gaussian kernel of ``warp_radius`` px at the native
        size, built outside the model by ``reference.ReferenceBuilder`` and encoded by the run's codec) in every
        frame; the flow on the change from it.
    Where sampling starts is the schedule's (``StreamConfig.start_sigma``: < 1 refines the reference noised to it).
    """

    prediction: str = "flow"
    reference: str = "first_frame"
    warp_radius: float = 0.0

    @property
    def preconditioned(self) -> bool:
        """The velocity is preconditioned per channel (``latent_std``): every prediction but ``flow``."""
        return self.prediction != "flow"

    @property
    def predicts_sample(self) -> bool:
        return self.prediction == "sample"

    @property
    def from_reference(self) -> bool:
        """The flow runs on the change from a whole reference video (``start_image`` or ``warp``)."""
        return self.reference != "first_frame"

    @property
    def warps(self) -> bool:
        return self.reference == "warp"

    def validate(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ConfigError(f"Parameterisation.prediction must be one of {', '.join(PREDICTIONS)}, "
                              f"got {self.prediction!r}")
        if self.reference not in REFERENCES:
            raise ConfigError(f"Parameterisation.reference must be one of {', '.join(REFERENCES)}, "
                              f"got {self.reference!r}")
        if self.warps != (self.warp_radius > 0) or self.warp_radius < 0:
            raise ConfigError(f"Parameterisation.warp_radius ({self.warp_radius}) must be > 0 for the warp reference "
                              f"and 0 otherwise (reference {self.reference!r})")

    @classmethod
    def from_flags(cls, data: dict[str, Any]) -> "Parameterisation":
        """The parameterisation of a config stored before it existed: its ``precondition``, ``predict_clean``,
        ``change_from_start`` and ``slot_warp`` flags."""
        prediction = "sample" if data.get("predict_clean") else \
            "flow_preconditioned" if data.get("precondition") else "flow"
        warp = float(data.get("slot_warp") or 0.0)
        reference = "warp" if warp > 0 else "start_image" if data.get("change_from_start") else "first_frame"
        return cls(prediction, reference, warp)


LEGACY_FLAGS = ("precondition", "change_from_start", "predict_clean", "slot_warp")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a MotionStream model and run it."""

    name: str
    dit: DiTConfig
    # None: a text-to-video causal student (Self-Forcing family) that takes no tracks; its DiT sees
    # only the noisy latent (dit.in_dim == latent channels) and a start image prefills the cache.
    track_head: TrackHeadConfig | None = field(default_factory=TrackHeadConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    vae: CodecConfig = field(default_factory=TinyVAEConfig)  # the model's own codec (a tiny VAE or a linear one)
    height: int = 480  # native output size in pixels
    width: int = 832
    text_len: int = 512
    latent_space: str = WAN21  # one of LATENT_SPACES: which decoders read this model's latents
    parameterisation: Parameterisation = field(default_factory=Parameterisation)

    @property
    def latent_channels(self) -> int:
        return self.dit.out_dim

    @property
    def takes_tracks(self) -> bool:
        return self.track_head is not None

    @property
    def spatial_stride(self) -> int:
        return self.vae.spatial_stride  # validated equal to the track head's stride when there is one

    @property
    def temporal_stride(self) -> int:
        return self.vae.temporal_stride

    def validate(self) -> "ModelConfig":
        for part in (self.dit, self.track_head, self.stream, self.vae):
            if part is not None:
                part.validate()
        if self.track_head is None:
            if self.dit.in_dim != self.latent_channels:
                raise ConfigError(f"ModelConfig {self.name!r}: a model without track head takes only the noisy "
                                  f"latent: dit.in_dim ({self.dit.in_dim}) must be {self.latent_channels}")
        elif self.dit.in_dim != 3 * self.latent_channels:
            raise ConfigError(
                f"ModelConfig {self.name!r}: dit.in_dim ({self.dit.in_dim}) must be 3 x {self.latent_channels} "
                "(noisy latent + track slot + start-image latent)")
        elif self.track_head.out_channels != self.latent_channels:
            raise ConfigError(f"ModelConfig {self.name!r}: track_head.out_channels must equal the latent channels "
                              f"({self.latent_channels})")
        elif self.track_head.appearance_channels not in (0, self.latent_channels):
            raise ConfigError(f"ModelConfig {self.name!r}: track_head.appearance_channels must be 0 or the latent "
                              f"channels ({self.latent_channels}): a track carries the start image's latent")
        p = self.parameterisation
        p.validate()
        if p.from_reference and self.track_head is None:
            raise ConfigError(f"ModelConfig {self.name!r}: reference {p.reference!r} needs the image slot of a model "
                              "with track head")
        if self.stream.start_sigma < 1 and not p.from_reference:
            raise ConfigError(f"ModelConfig {self.name!r}: stream.start_sigma ({self.stream.start_sigma}) refines the "
                              "reference, which must be a whole video (reference start_image or warp, not first_frame)")
        if p.warps and not isinstance(self.vae, PatchCodecConfig):
            raise ConfigError(f"ModelConfig {self.name!r}: the warp reference is encoded chunk by chunk, which needs "
                              "a codec whose latent frames encode on their own (vae: a patch_pca codec)")
        if self.vae.latent_channels != self.latent_channels:
            raise ConfigError(f"ModelConfig {self.name!r}: vae.latent_channels must equal {self.latent_channels}")
        if self.track_head is not None and (self.track_head.stride, self.track_head.temporal_pack) != (
                self.vae.spatial_stride, self.vae.temporal_stride):
            raise ConfigError(f"ModelConfig {self.name!r}: the VAE strides must match the track head's")
        if self.latent_space not in LATENT_SPACES:
            raise ConfigError(f"ModelConfig {self.name!r}: unknown latent_space {self.latent_space!r} "
                              f"(known: {', '.join(LATENT_SPACES)})")
        _cap(f"ModelConfig {self.name!r}", "text_len", self.text_len, MAX_TEXT_LEN, "MAX_TEXT_LEN (Wan's text context)")
        _positive(self, "text_len")
        self.check_size(self.height, self.width)
        return self

    def check_size(self, height: int, width: int) -> None:
        """Raise unless (height, width) maps to whole patches of the latent grid."""
        multiple = self.spatial_stride * self.dit.patch_size[1]
        if height <= 0 or width <= 0 or height % multiple or width % multiple:
            raise ConfigError(f"image size {width}x{height} is not supported by model {self.name!r}: width and height "
                              f"must be positive multiples of {multiple}")
        rows, cols = height // multiple, width // multiple
        if max(rows, cols) > MAX_ROPE_POSITIONS:
            raise ConfigError(f"image size {width}x{height} is {cols}x{rows} latent tokens, more than "
                              f"MAX_ROPE_POSITIONS = {MAX_ROPE_POSITIONS} along a side (the positions of Wan's RoPE)")
        tokens = self.stream.max_rope_frames * rows * cols
        if tokens > MAX_CACHE_TOKENS:
            raise ConfigError(f"image size {width}x{height} with the cache's {self.stream.max_rope_frames} latent frames "
                              f"(stream sink_chunks, window_chunks, chunk_frames) is {tokens} cached tokens, more than "
                              f"MAX_CACHE_TOKENS = {MAX_CACHE_TOKENS}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        try:
            return cls(
                name=data["name"],
                dit=_build(DiTConfig, data["dit"]),
                track_head=(None if data.get("track_head", {}) is None
                            else _build(TrackHeadConfig, data.get("track_head", {}))),
                stream=_build(StreamConfig, data.get("stream", {})),
                teacher=_build(TeacherConfig, data.get("teacher", {})),
                vae=codec_config_from_dict(data.get("vae", {})),
                latent_space=data.get("latent_space") or _legacy_latent_space(data.get("vae", {})),
                parameterisation=_parameterisation(data),
                **{k: data[k] for k in ("height", "width", "text_len") if k in data},
            ).validate()
        except KeyError as e:
            raise ConfigError(f"model config is missing the field {e.args[0]!r}") from None

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"model config is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError("model config JSON must be an object")
        return cls.from_dict(data)


def _parameterisation(data: dict[str, Any]) -> Parameterisation:
    """A stored config's parameterisation; one written before it existed has the four flags instead."""
    if "parameterisation" in data:
        if any(k in data for k in LEGACY_FLAGS):
            raise ConfigError(f"model config has both a parameterisation and the flags it replaces ({LEGACY_FLAGS})")
        return _build(Parameterisation, data["parameterisation"])
    return Parameterisation.from_flags(data)


def _legacy_latent_space(vae: dict[str, Any]) -> str:
    """Checkpoints written before ``latent_space`` existed: a taew2_1-layout VAE config meant Wan latents."""
    return WAN21 if _build(TinyVAEConfig, vae) == TinyVAEConfig() else OWN


# The named configs. -----------------------------------------------------------------------------

def _tiny() -> ModelConfig:
    return ModelConfig(
        name="tiny",
        dit=DiTConfig(dim=64, ffn_dim=128, num_heads=4, num_layers=2, text_dim=32, freq_dim=32,
                      image_cross_attn=True, clip_dim=24),
        track_head=TrackHeadConfig(id_dim=16, hidden=32, max_id=256, max_tracks=64),
        vae=TinyVAEConfig(channels=(8, 8, 8, 8), encoder_width=8, blocks_per_stage=1),
        height=64, width=64, text_len=8, latent_space=OWN,
    )


def _demo() -> ModelConfig:
    return ModelConfig(
        name="demo",
        dit=DiTConfig(dim=256, ffn_dim=1024, num_heads=4, num_layers=6, text_dim=64, freq_dim=64,
                      image_cross_attn=False),
        track_head=TrackHeadConfig(id_dim=64, hidden=128, max_id=1024, max_tracks=256),
        vae=TinyVAEConfig(channels=(32, 32, 32, 32), encoder_width=32, blocks_per_stage=1),
        height=128, width=128, text_len=16, latent_space=OWN,
    )


def _demo_warp_refine() -> ModelConfig:
    """The shipped demo model (docs/DEMO_MODEL.md): the start image warped along the tracks in pixels, refined
    from noise level 0.15 in 2 steps by a 4-layer, 192-wide DiT with 16 px tokens over a linear 16-channel codec."""
    return ModelConfig(
        name="demo-warp-refine",
        dit=DiTConfig(dim=192, ffn_dim=768, num_heads=3, num_layers=4, text_dim=64, freq_dim=64, patch_size=(1, 4, 4),
                      image_cross_attn=False),
        track_head=TrackHeadConfig(id_dim=64, stride=4, hidden=128, max_id=1024, max_tracks=256,
                                   appearance_channels=16),
        stream=StreamConfig(steps=2, shift=1.0, start_sigma=0.15),
        teacher=TeacherConfig(motion_guidance=0.0),
        vae=PatchCodecConfig(latent_channels=16, stride=4, pack=4),
        height=128, width=128, text_len=16, latent_space=OWN,
        parameterisation=Parameterisation("sample", "warp", warp_radius=10.0),
    )


def _wan_1_3b() -> ModelConfig:
    return ModelConfig(name="wan2.1-1.3b", dit=DiTConfig(), height=480, width=832, text_len=512)


NAMED_CONFIGS = {"tiny": _tiny, "demo": _demo, "demo-warp-refine": _demo_warp_refine, "wan2.1-1.3b": _wan_1_3b}


def get_config(name: str) -> ModelConfig:
    """The named model config, validated. Raises ConfigError listing the known names."""
    try:
        factory = NAMED_CONFIGS[name]
    except KeyError:
        raise ConfigError(f"unknown model config {name!r}; known: {', '.join(NAMED_CONFIGS)}") from None
    return factory().validate()

"""Typed, validated configurations for the model, the tiny VAE and the stream.

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


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


# Caps on the sizes a config (one stored in a checkpoint's metadata included) may ask for, checked when it is
# validated: before the KV cache, the RoPE tables or the track IDs are allocated.
MAX_ROPE_POSITIONS = 1024  # Wan 2.1's RoPE tables: positions per axis (cache frames, latent rows, latent columns)
MAX_CACHE_TOKENS = 1 << 17  # (sink + window + chunk) latent frames x tokens per frame: 720p with 36 cached frames
MAX_TEXT_LEN = 512  # Wan 2.1's text context (umT5 tokens)
MAX_TRACK_IDS = 1 << 16  # TrackHeadConfig.max_id: the IDs are a permutation of [0, max_id) per run
MAX_TRACKS = 8192  # TrackHeadConfig.max_tracks: the most tracks a Tracks may hold


def _cap(owner: str, name: str, value: int, limit: int, why: str) -> None:
    if value > limit:
        raise ConfigError(f"{owner}.{name} ({value}) is more than {limit}, {why}")


# Latent spaces: what the DiT's 16 channels mean, hence which decoders can read them.
WAN21 = "wan2.1"  # raw Wan 2.1 VAE latents, normalised per channel by Wan 2.1's published statistics
OWN = "own"  # the latents of the model's own autoencoder (shipped with it, statistics in its file)
LATENT_SPACES = (WAN21, OWN)


@dataclass(frozen=True)
class DiTConfig:
    """The Wan 2.1 diffusion transformer.

    ``in_dim`` is 48 for MotionStream (16 noisy latent + 16 track + 16 start-image latent) and 16
    for plain Wan2.1-T2V. ``image_cross_attn`` adds the CLIP-vision branch (``img_emb``,
    ``k_img``/``v_img``) of the Wan I2V / Fun-Control checkpoints.
    """

    dim: int = 1536
    ffn_dim: int = 8960
    num_heads: int = 12
    num_layers: int = 30
    in_dim: int = 48
    out_dim: int = 16
    text_dim: int = 4096
    freq_dim: int = 256
    patch_size: tuple[int, int, int] = (1, 2, 2)
    eps: float = 1e-6
    qk_norm: bool = True
    cross_attn_norm: bool = True
    image_cross_attn: bool = True
    clip_dim: int = 1280
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def rope_split(self) -> tuple[int, int, int]:
        """Per-head channels given to the (time, height, width) RoPE axes: 44/42/42 for d=128."""
        d = self.head_dim
        return (d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6))

    def validate(self) -> None:
        _positive(self, "dim", "ffn_dim", "num_heads", "num_layers", "in_dim", "out_dim", "text_dim", "freq_dim")
        if self.dim % self.num_heads:
            raise ConfigError(f"DiTConfig.dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        if self.head_dim % 2 or any(a % 2 for a in self.rope_split):
            raise ConfigError(f"DiTConfig head_dim {self.head_dim} gives an odd RoPE split {self.rope_split}")
        if self.freq_dim % 2:
            raise ConfigError(f"DiTConfig.freq_dim ({self.freq_dim}) must be even")
        if len(self.patch_size) != 3 or any(p < 1 for p in self.patch_size):
            raise ConfigError(f"DiTConfig.patch_size must be 3 positive ints, got {self.patch_size}")
        if self.patch_size[0] != 1:
            raise ConfigError("DiTConfig.patch_size[0] must be 1: the causal cache works frame by frame")


@dataclass(frozen=True)
class TrackHeadConfig:
    """The track encoder head (paper Sec. 3.1, Eq. 1).

    Each track gets an ``id_dim``-dimensional sinusoidal embedding of a random ID, written into cell
    (y // stride, x // stride) of every pixel frame where it is visible. ``temporal_pack`` pixel
    frames are packed into channels (first frame repeated, Wan I2V style), then two 1x1x1
    convolutions map ``(id_dim + appearance_channels) * temporal_pack`` -> ``hidden`` -> ``out_channels``.

    ``appearance_channels`` (0 in the paper): > 0 appends to each track's ID the start image's latent
    at the track's first visible position, so a track also says *what* it carries (our demo model's
    choice, decided by measurement in docs/DEMO_MODEL.md; it must equal the latent channels).
    """

    id_dim: int = 64
    stride: int = 8
    temporal_pack: int = 4
    hidden: int = 256
    out_channels: int = 16
    max_id: int = 4096  # IDs are drawn without replacement from [0, max_id)
    max_tracks: int = 1024
    appearance_channels: int = 0

    def validate(self) -> None:
        _positive(self, "id_dim", "stride", "temporal_pack", "hidden", "out_channels", "max_id", "max_tracks")
        if self.appearance_channels < 0:
            raise ConfigError(f"TrackHeadConfig.appearance_channels must be >= 0, got {self.appearance_channels}")
        if self.id_dim % 2:
            raise ConfigError(f"TrackHeadConfig.id_dim ({self.id_dim}) must be even (sin/cos halves)")
        if self.max_tracks > self.max_id:
            raise ConfigError("TrackHeadConfig.max_tracks cannot exceed max_id: IDs are unique per video")
        _cap("TrackHeadConfig", "max_id", self.max_id, MAX_TRACK_IDS, "MAX_TRACK_IDS")
        _cap("TrackHeadConfig", "max_tracks", self.max_tracks, MAX_TRACKS, "MAX_TRACKS")


@dataclass(frozen=True)
class TinyVAEConfig:
    """TAEHV-architecture tiny autoencoder. The defaults load the public ``taew2_1`` weights.

    ``channels`` are the decoder widths from the latent side to the image side; the encoder uses
    ``encoder_width`` throughout. ``blocks_per_stage`` MemBlocks per stage.
    """

    latent_channels: int = 16
    image_channels: int = 3
    channels: tuple[int, int, int, int] = (256, 128, 64, 64)
    encoder_width: int = 64
    blocks_per_stage: int = 3
    time_upscale: tuple[bool, bool] = (True, True)
    space_upscale: tuple[bool, bool, bool] = (True, True, True)
    # Which pixel frames a latent encodes. False (taehv, so taew2_1 encodes as published): the end is padded,
    # latent j <- frames 4j..4j+3 -- three frames later than the frames the decoder makes from it and than the
    # track head's packing. True (Wan's alignment, for codecs trained here): the start is padded with copies of
    # frame 0, latent 0 <- frame 0 alone (= the start-image latent), latent j <- frames 4j-3..4j.
    encoder_pad_start: bool = False

    @property
    def temporal_stride(self) -> int:
        return 2 ** sum(self.time_upscale)

    @property
    def spatial_stride(self) -> int:
        return 2 ** sum(self.space_upscale)

    def validate(self) -> None:
        _positive(self, "latent_channels", "image_channels", "encoder_width", "blocks_per_stage")
        if len(self.channels) != 4 or any(c < 1 for c in self.channels):
            raise ConfigError(f"TinyVAEConfig.channels must be 4 positive ints, got {self.channels}")


@dataclass(frozen=True)
class PatchCodecConfig:
    """A linear video codec (``patch_codec.PatchPCA``): each ``stride`` x ``stride`` px x ``pack`` frames x RGB
    patch projected on ``latent_channels`` principal components fitted on training clips. Time is packed
    like Wan's VAE and the track head (latent 0 <- frame 0 alone, latent j <- frames 4j-3..4j).
    ``kind`` tells it apart from a ``TinyVAEConfig`` in stored model configs."""

    latent_channels: int = 16
    stride: int = 4
    pack: int = 4
    kind: str = "patch_pca"

    @property
    def spatial_stride(self) -> int:
        return self.stride

    @property
    def temporal_stride(self) -> int:
        return self.pack

    def validate(self) -> None:
        _positive(self, "latent_channels", "stride", "pack")
        if self.kind != "patch_pca":
            raise ConfigError(f"PatchCodecConfig.kind must be 'patch_pca', got {self.kind!r}")
        if self.latent_channels > 3 * self.stride * self.stride * self.pack:
            raise ConfigError(f"PatchCodecConfig: {self.latent_channels} channels exceed the "
                              f"{3 * self.stride * self.stride * self.pack} values of a patch")


CodecConfig = TinyVAEConfig | PatchCodecConfig


def codec_config_from_dict(data: dict[str, Any]) -> CodecConfig:
    """A stored codec config: a ``PatchCodecConfig`` when it says ``kind: patch_pca``, else a ``TinyVAEConfig``."""
    return _build(PatchCodecConfig if data.get("kind") == "patch_pca" else TinyVAEConfig, data)


@dataclass(frozen=True)
class StreamConfig:
    """The causal student's schedule and cache (paper Table 4: chunk 3, sink 1, window 1).

    The denoising timesteps are ``steps`` uniform ones warped by ``shift``, unless ``step_list`` names
    them (Self-Forcing's ``denoising_step_list``, e.g. (1000, 750, 500, 250)); ``warp_steps`` then says
    whether they are warped by ``shift`` (Self-Forcing's ``warp_denoising_step``) or used as they are.
    """

    chunk_frames: int = 3  # latent frames per chunk (12 video frames)
    sink_chunks: int = 1
    window_chunks: int = 1
    steps: int = 3
    shift: float = 5.0
    num_train_timesteps: int = 1000
    fps: int = 16
    step_list: tuple[float, ...] = ()  # explicit timesteps in (0, num_train_timesteps], first = the noisiest
    warp_steps: bool = True
    # < 1 (refining students, whose parameterisation's reference is a whole video): each chunk starts from its
    # reference -- the still video, or the warp -- noised to this sigma instead of from pure noise, and every
    # denoising sigma is scaled by it (SDEdit; the teacher, ODE and DMD stages distil the same schedule)
    start_sigma: float = 1.0

    @property
    def sink_frames(self) -> int:
        return self.sink_chunks * self.chunk_frames

    @property
    def window_frames(self) -> int:
        return self.window_chunks * self.chunk_frames

    @property
    def max_rope_frames(self) -> int:
        """RoPE frame indices never reach this bound: sink + window + chunk."""
        return self.sink_frames + self.window_frames + self.chunk_frames

    @property
    def num_steps(self) -> int:
        """Denoising passes per chunk (the clean cache pass not counted)."""
        return len(self.step_list) or self.steps

    def validate(self) -> None:
        _positive(self, "chunk_frames", "sink_chunks", "steps", "num_train_timesteps", "fps")
        if self.window_chunks < 0:
            raise ConfigError(f"StreamConfig.window_chunks must be >= 0, got {self.window_chunks}")
        if self.max_rope_frames > MAX_ROPE_POSITIONS:
            raise ConfigError(f"StreamConfig: the cache's (sink_chunks {self.sink_chunks} + window_chunks "
                              f"{self.window_chunks} + 1) x chunk_frames {self.chunk_frames} = {self.max_rope_frames} "
                              f"latent frames is more than MAX_ROPE_POSITIONS = {MAX_ROPE_POSITIONS}, the frame "
                              "positions of Wan's RoPE")
        if self.shift <= 0:
            raise ConfigError(f"StreamConfig.shift must be > 0, got {self.shift}")
        if not 0 < self.start_sigma <= 1:
            raise ConfigError(f"StreamConfig.start_sigma must be in (0, 1], got {self.start_sigma}")
        steps = list(self.step_list)
        if any(not 0 < t <= self.num_train_timesteps for t in steps) or steps != sorted(set(steps), reverse=True):
            raise ConfigError(f"StreamConfig.step_list must be strictly decreasing timesteps in "
                              f"(0, {self.num_train_timesteps}], got {self.step_list}")


@dataclass(frozen=True)
class TeacherConfig:
    """Bidirectional teacher sampling (paper Eq. 2): joint text / motion guidance, 3 evaluations."""

    steps: int = 50
    shift: float = 6.0
    text_guidance: float = 3.0
    motion_guidance: float = 1.5


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


def _build(kind, data: dict[str, Any]):
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{kind.__name__} has no field(s) {', '.join(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return kind(**values)


def _positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{type(obj).__name__}.{name} must be a positive integer, got {value!r}")


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

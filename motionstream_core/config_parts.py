"""The configurations of a model's parts: the Wan DiT, the track head, the codecs (tiny VAE, linear patch codec),
the stream's schedule and cache, the teacher's sampling; the caps on the sizes a stored config may ask for.

``config.py`` assembles them into a ``ModelConfig`` (and re-exports them: import them from there).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
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

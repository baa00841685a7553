"""Public causal Wan students (Self-Forcing family): architecture from shapes, sampling presets, LoRA.

The files (all Wan 2.1 T2V, 16 input channels, no track head) keep the Wan 2.1 DiT keys inside a
training dict, prefixed ``model.`` (``WanDiffusionWrapper.model``):

    self_forcing_dmd.pt   {"generator_ema": {"model.blocks.0.self_attn.q.weight": ..., ...}, "generator": ...}
    longlive_base.pt      {"generator": {...}}   +   lora.pt  {"generator_lora": {PEFT LoRA}} (or the bare dict)
    CausVid model.pt      {"generator": {...}}

and their safetensors conversions (with or without ``model.`` / ``model.diffusion_model.``). Nothing
in a file says which family trained it, so the sampling settings come from a named ``CausalPreset``
(guessed from the file name, Self-Forcing by default; every value can be overridden).

The architecture is read from tensor shapes, as ComfyUI's model detection does (heads = dim / 128),
so any size in this layout loads (1.3B: dim 1536 x 30 layers; 14B: dim 5120 x 40 layers). Loading
stays strict: every missing / unexpected / mis-shaped key is listed in one ``CheckpointError``.

LoRA (LongLive): PEFT wrapped the ``CausalWanModel`` (``peft.get_peft_model``) on every ``nn.Linear``
inside its attention blocks, so ``lora.pt`` holds ``base_model.model.<module>.lora_A.weight`` [r, in]
and ``...lora_B.weight`` [out, r] (no alpha: LongLive's config has rank = alpha = 256, scale 1). It is
merged at load: ``W += (alpha / r) * B @ A``.

``widen_for_motionstream`` turns such a model into a MotionStream starting point: the patch
embedding grows to 48 input channels (noisy | track | start image) with the new weights zero, so the
widened model computes exactly what the file's model computed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .checkpoints import CheckpointError, check_state_dict, read_checkpoint, strip_prefixes
from .config import ConfigError, DiTConfig, ModelConfig, StreamConfig, TinyVAEConfig, TrackHeadConfig
from .model import MotionStreamModel
from .ops import attach_scales, prepare_state_dict, to_runtime

SELF_FORCING_STEPS = (1000.0, 750.0, 500.0, 250.0)


@dataclass(frozen=True)
class CausalPreset:
    """How a family's students sample: chunk, timesteps, shift, sink, window (in ``stream``).

    ``weights_keys``: the training-dict entries holding the weights, in order of preference.
    ``native``: (width, height) the family was trained at. ``licence``: of the weights, when it
    restricts use. ``source``: where the values come from.
    """

    name: str
    title: str
    stream: StreamConfig
    weights_keys: tuple[str, ...]
    native: tuple[int, int] = (832, 480)
    licence: str = ""
    source: str = ""
    lora: bool = False  # the family ships a LoRA merged onto the base at load


def _stream(chunk: int, sink_chunks: int, window_chunks: int, steps=SELF_FORCING_STEPS, warp: bool = True,
            shift: float = 5.0) -> StreamConfig:
    return StreamConfig(chunk_frames=chunk, sink_chunks=sink_chunks, window_chunks=window_chunks,
                        steps=len(steps), shift=shift, step_list=tuple(float(t) for t in steps), warp_steps=warp)


# Sink + window are chosen so sink + window + chunk = 21 latent frames (81 video frames), the length
# these students were trained on with full causal attention: up to 81 frames the stream computes what
# the reference pipeline computes; past it the window rolls at constant cost (RoPE at cache positions).
PRESETS: dict[str, CausalPreset] = {p.name: p for p in (
    CausalPreset("self-forcing", "Self-Forcing (DMD)", _stream(3, 1, 5), ("generator_ema", "generator"),
                 source="guandeh17/Self-Forcing configs/self_forcing_dmd.yaml (+ --use_ema)"),
    CausalPreset("causal-forcing-chunk", "Causal Forcing, chunk-wise", _stream(3, 1, 5), ("generator", "generator_ema"),
                 source="zhuhz22/Causal-Forcing (Self-Forcing pipeline, chunk 3)"),
    CausalPreset("causal-forcing-frame", "Causal Forcing, frame-wise", _stream(1, 1, 19), ("generator_ema", "generator"),
                 source="zhuhz22/Causal-Forcing (frame-wise: chunk 1)"),
    CausalPreset("rolling-forcing", "Rolling Forcing", _stream(3, 1, 5), ("generator_ema", "generator"),
                 source="TencentARC/RollingForcing (Self-Forcing layout)"),
    CausalPreset("infinite-forcing", "Infinite-Forcing", _stream(3, 1, 5), ("generator_ema", "generator"),
                 source="Infinite-Forcing (Self-Forcing layout)"),
    CausalPreset("longlive", "LongLive 1.0 (base + LoRA)", _stream(3, 1, 2), ("generator", "generator_ema"),
                 lora=True, licence="CC-BY-NC-SA-4.0 (non-commercial; LongLive's README)",
                 source="NVlabs/LongLive configs/longlive_inference.yaml: chunk 3, sink_size 3, local_attn_size 12 "
                        "(= sink 3 + window 6 + chunk 3), use_ema false, LoRA rank = alpha = 256"),
    CausalPreset("krea-realtime", "Krea Realtime Video 14B", _stream(3, 1, 1), ("generator_ema", "generator"),
                 source="krea/krea-realtime-video (Self-Forcing from Wan 2.1 T2V 14B): blocks of 3 latent frames, "
                        "steps 1000, 750, 500, 250 at shift 5; its own pipeline attends to 6 frames (the first frame "
                        "and the last 2, re-computed every block, + the block): here sink 1 block + window 1 block"),
    CausalPreset("causvid", "CausVid", _stream(3, 1, 5, steps=(1000.0, 757.0, 522.0), warp=False, shift=8.0),
                 ("generator", "generator_ema"), licence="CC-BY-NC-SA-4.0 (non-commercial)",
                 source="tianweiy/CausVid configs/wan_causal_dmd.yaml: denoising_step_list 1000, 757, 522"),
)}
DEFAULT_PRESET = "self-forcing"
_NAME_HINTS = (("longlive", "longlive"), ("causvid", "causvid"), ("krea", "krea-realtime"), ("rolling", "rolling-forcing"),
               ("infinite", "infinite-forcing"), ("frame", "causal-forcing-frame"),
               ("causal_forcing", "causal-forcing-chunk"), ("causal-forcing", "causal-forcing-chunk"),
               ("chunk", "causal-forcing-chunk"))


def get_preset(name: str) -> CausalPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown causal preset {name!r}; known: {', '.join(PRESETS)}") from None


def guess_preset(path: str | os.PathLike) -> str:
    """The preset a file name points to (``longlive_base.pt`` -> longlive); a name with no hint is read
    with its folder's (``causvid/model.pt``); else Self-Forcing."""
    parts = Path(str(path).replace("\\", "/")).parts
    for part in reversed(parts[-2:]):
        for hint, preset in _NAME_HINTS:
            if hint in part.lower():
                return preset
    return DEFAULT_PRESET


@dataclass(frozen=True)
class StreamOverrides:
    """Values that replace a preset's (None keeps the preset's). ``step_list`` () keeps it too."""

    chunk_frames: int | None = None
    sink_chunks: int | None = None
    window_chunks: int | None = None
    step_list: tuple[float, ...] = ()
    warp_steps: bool | None = None
    shift: float | None = None

    def apply(self, stream: StreamConfig) -> StreamConfig:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        changes = {k: v for k, v in values.items() if v is not None and v != ()}
        if "step_list" in changes:
            changes["step_list"] = tuple(float(t) for t in changes["step_list"])
            changes["steps"] = len(changes["step_list"])
        out = dataclasses.replace(stream, **changes)
        out.validate()
        return out


# -- architecture from shapes ------------------------------------------------------------------------

_BLOCK = re.compile(r"^blocks\.(\d+)\.")


def infer_dit_config(sd: dict[str, Tensor], name: str = "checkpoint") -> DiTConfig:
    """The Wan 2.1 DiT config a state dict (unprefixed keys) was made for, read from tensor shapes.

    As ComfyUI's ``model_detection``: heads = dim / 128 (every released Wan 2.1 size); RoPE theta,
    eps and norms are Wan's. Raises one CheckpointError naming every missing core tensor.
    """
    need = ("patch_embedding.weight", "text_embedding.0.weight", "time_embedding.0.weight", "head.head.weight",
            "blocks.0.ffn.0.weight")
    missing = [k for k in need if k not in sd]
    if missing:
        raise CheckpointError(f"{name} is not a Wan 2.1 DiT: missing {', '.join(missing)}")
    pe = sd["patch_embedding.weight"]
    if pe.ndim != 5:
        raise CheckpointError(f"{name}: patch_embedding.weight must be a Conv3d weight, got shape {tuple(pe.shape)}")
    dim, in_dim, *patch = pe.shape
    if dim % 128:
        raise CheckpointError(f"{name}: model width {dim} is not a multiple of the 128-channel Wan head")
    layers = sorted({int(m.group(1)) for k in sd if (m := _BLOCK.match(k))})
    if layers != list(range(len(layers))):
        raise CheckpointError(f"{name}: transformer blocks are not numbered 0..n-1 (found {layers[:8]}...)")
    out = sd["head.head.weight"].shape[0]
    if out % math.prod(patch):
        raise CheckpointError(f"{name}: head.head.weight rows {out} do not split into patches of {tuple(patch)}")
    img = sd.get("img_emb.proj.0.weight")
    return DiTConfig(
        dim=dim, ffn_dim=sd["blocks.0.ffn.0.weight"].shape[0], num_heads=dim // 128, num_layers=len(layers),
        in_dim=in_dim, out_dim=out // math.prod(patch), text_dim=sd["text_embedding.0.weight"].shape[1],
        freq_dim=sd["time_embedding.0.weight"].shape[1], patch_size=tuple(patch),
        qk_norm="blocks.0.self_attn.norm_q.weight" in sd, cross_attn_norm="blocks.0.norm3.weight" in sd,
        image_cross_attn=img is not None, clip_dim=img.shape[0] if img is not None else DiTConfig.clip_dim)


def causal_config(dit: DiTConfig, preset: CausalPreset, overrides: StreamOverrides | None = None,
                  text_len: int = 512, size: tuple[int, int] | None = None) -> ModelConfig:
    """The ModelConfig of a causal student: no track head, Wan 2.1 latents (the taew2_1 / Wan VAE space).

    ``size`` (width, height): the video size without a start image; default the family's native size.
    """
    stream = (overrides or StreamOverrides()).apply(preset.stream)
    width, height = size or preset.native
    return ModelConfig(name=preset.name, dit=dit, track_head=None, stream=stream, vae=TinyVAEConfig(),
                       width=width, height=height, text_len=text_len).validate()


def causal_variant(config: ModelConfig, preset: CausalPreset, overrides: StreamOverrides | None = None) -> ModelConfig:
    """A named config's DiT as a text-to-video causal student (for random-weight benchmarks): the noisy
    latent only, no CLIP branch, no track head; its size, codec layout and latent space kept."""
    dit = dataclasses.replace(config.dit, in_dim=config.latent_channels, image_cross_attn=False)
    cfg = causal_config(dit, preset, overrides, config.text_len, (config.width, config.height))
    return dataclasses.replace(cfg, vae=config.vae, latent_space=config.latent_space).validate()


# -- LoRA --------------------------------------------------------------------------------------------

_LORA = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[A-Za-z0-9_]+)?\.weight$")
_LORA_PREFIXES = ("base_model.model.", "model.diffusion_model.", "diffusion_model.", "model.")


def lora_pairs(lora_sd: dict[str, Tensor], name: str = "LoRA") -> dict[str, tuple[Tensor, Tensor]]:
    """PEFT LoRA state dict -> {module (Wan key, no prefix): (A [r, in], B [out, r])}.

    Accepts ``<prefix><module>.lora_A.weight`` and PEFT's adapter-named ``.lora_A.default.weight``.
    Raises one CheckpointError listing every key that is not part of an A/B pair.
    """
    found: dict[str, dict[str, Tensor]] = {}
    unexpected = []
    for key, value in lora_sd.items():
        m = _LORA.match(key)
        if m is None:
            unexpected.append(key)
            continue
        module = m.group("module")
        for prefix in _LORA_PREFIXES:
            if module.startswith(prefix):
                module = module[len(prefix):]
                break
        found.setdefault(module, {})[m.group("ab")] = value
    unpaired = sorted(f"{m}.lora_{'B' if 'A' in ab else 'A'}" for m, ab in found.items() if len(ab) != 2)
    problems = []
    if unexpected:
        problems.append(f"{len(unexpected)} keys that are not LoRA A/B weights: {', '.join(sorted(unexpected)[:10])}")
    if unpaired:
        problems.append(f"{len(unpaired)} missing partners: {', '.join(unpaired[:10])}")
    if problems:
        raise CheckpointError(f"{name}: " + "; ".join(problems))
    if not found:
        raise CheckpointError(f"{name} holds no LoRA weights")
    return {m: (ab["A"], ab["B"]) for m, ab in found.items()}


def merge_lora(sd: dict[str, Tensor], lora_sd: dict[str, Tensor], alpha: float | None = None,
               name: str = "LoRA") -> dict[str, Tensor]:
    """A new state dict with ``W + (alpha / r) * B @ A`` for every LoRA pair (alpha None: = r, scale 1).

    Strict: a LoRA module the model lacks, or A/B shapes that do not fit its weight, are all listed in
    one CheckpointError. The product is taken in float32 and cast back to the weight's dtype.
    """
    pairs = lora_pairs(lora_sd, name)
    problems = []
    for module, (a, b) in sorted(pairs.items()):
        w = sd.get(f"{module}.weight")
        if w is None:
            problems.append(f"{module}: no such layer in the model")
        elif w.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
            problems.append(f"{module}: fp8 weights (merge the LoRA into a bf16 / fp32 base, then choose an fp8 "
                            "weight dtype)")
        elif a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1] or (b.shape[0], a.shape[1]) != tuple(w.shape):
            problems.append(f"{module}: A {tuple(a.shape)} / B {tuple(b.shape)} do not fit weight {tuple(w.shape)}")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... ({len(problems) - 10} more)" if len(problems) > 10 else "")
        raise CheckpointError(f"{name} does not fit the model: {len(problems)} problems: {shown}")
    out = dict(sd)
    for module, (a, b) in pairs.items():
        w = sd[f"{module}.weight"]
        scale = (alpha if alpha is not None else a.shape[0]) / a.shape[0]
        delta = (b.to(device=w.device, dtype=torch.float32) @ a.to(device=w.device, dtype=torch.float32)) * scale
        out[f"{module}.weight"] = (w.float() + delta).to(w.dtype)
    return out


def unwrap_lora(obj, name: str = "LoRA") -> dict[str, Tensor]:
    """LongLive's ``lora.pt``: ``{"generator_lora": {...}}`` or the bare PEFT dict."""
    if isinstance(obj, dict) and isinstance(obj.get("generator_lora"), dict):
        obj = obj["generator_lora"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{name} is not a LoRA state dict (expected 'generator_lora' or lora_A/lora_B tensors)")
    return obj


# -- loading -----------------------------------------------------------------------------------------

def causal_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Wan keys from a generator dict: FSDP wrapper names dropped, ``model.`` etc. prefix stripped."""
    sd = {k.replace("_fsdp_wrapped_module.", ""): v for k, v in sd.items()}
    return strip_prefixes(sd)


def build_causal_model(sd: dict[str, Tensor], preset: CausalPreset, overrides: StreamOverrides | None = None,
                       name: str = "checkpoint", size: tuple[int, int] | None = None) -> MotionStreamModel:
    """A MotionStreamModel (no track head) holding ``sd`` (unprefixed Wan keys), built on the meta
    device and filled with ``assign`` so no second copy of the weights is made."""
    dit = infer_dit_config(sd, name)
    if dit.in_dim != dit.out_dim:
        raise CheckpointError(f"{name}: {dit.in_dim} input channels but {dit.out_dim} output channels: not a "
                              "text-to-video causal student (a MotionStream or I2V checkpoint? load it as such)")
    config = causal_config(dit, preset, overrides, size=size)
    with torch.device("meta"):
        model = MotionStreamModel(config)
    attach_scales(model.dit, sd)  # fp8-scaled files: their per-tensor scales
    check_state_dict(model.dit, sd, f"{name} ({preset.title})")
    model.dit.load_state_dict(sd, assign=True)
    return model


def load_causal_model(path: str | os.PathLike, preset: str | None = None, lora: str | os.PathLike | None = None,
                      lora_alpha: float | None = None, overrides: StreamOverrides | None = None,
                      device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                      size: tuple[int, int] | None = None, weight_dtype: torch.dtype | None = None
                      ) -> MotionStreamModel:
    """Load a public causal student (``.pt`` with ``weights_only=True``, or safetensors), LoRA merged.

    ``preset`` None: guessed from the file name (see ``guess_preset``), Self-Forcing by default.
    ``dtype``: the compute dtype; ``weight_dtype`` (an fp8 format): the block Linear weights quantized at
    load (``ops.prepare_state_dict``). fp8 weights in the file (plain or ComfyUI's fp8_scaled) stay fp8.
    """
    path = Path(path)
    p = get_preset(preset or guess_preset(path))
    sd, _ = read_checkpoint(path, p.weights_keys)
    sd = causal_state_dict(sd)
    if lora is not None:
        lora_path = Path(lora)
        lora_sd = unwrap_lora(_read_raw(lora_path), lora_path.name)
        sd = merge_lora(sd, lora_sd, lora_alpha, lora_path.name)
    elif p.lora:
        raise CheckpointError(f"{path.name}: the {p.title} preset expects its LoRA file (lora.pt) to be given too")
    sd = prepare_state_dict(sd, weight_dtype)
    model = build_causal_model(sd, p, overrides, path.name, size)
    del sd
    return to_runtime(model, device, dtype).eval()


def _read_raw(path: Path):
    """A LoRA file's content: safetensors as a dict, .pt/.pth with weights_only=True."""
    if not path.is_file():
        raise CheckpointError(f"LoRA file not found: {path}")
    if path.suffix == ".safetensors":
        sd, _ = read_checkpoint(path)
        return sd
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path.name} could not be read as a weights-only torch file: {e}") from None


# -- a MotionStream starting point -------------------------------------------------------------------

def widen_for_motionstream(model: MotionStreamModel, track_head: TrackHeadConfig | None = None,
                           name: str | None = None) -> MotionStreamModel:
    """A MotionStream model (48 input channels + a fresh track head) initialised from a causal student.

    The student's patch embedding fills input channels 0..15 (the noisy latent); channels 16..47
    (track slot, start-image latent) get zero weights; everything else is copied. So for any track
    latent and image slot the widened DiT returns what the student returned for the noisy latent
    alone. (Wan2.1-Fun-1.3B-Control already has 48 channels: ``load_model(path, 'wan2.1-1.3b')``.)
    """
    cfg = model.config
    c = cfg.latent_channels
    if cfg.dit.in_dim != c:
        raise ValueError(f"model {cfg.name!r} already has {cfg.dit.in_dim} input channels; widening starts from a "
                         f"{c}-channel text-to-video student")
    wide_cfg = dataclasses.replace(cfg, name=name or f"{cfg.name}-motionstream",
                                   dit=dataclasses.replace(cfg.dit, in_dim=3 * c),
                                   track_head=track_head or TrackHeadConfig(out_channels=c))
    wide_cfg.validate()
    with torch.device(model.device):
        wide = MotionStreamModel(wide_cfg, text_encoder=model.text_encoder).to(model.dtype)
    sd = dict(model.dit.state_dict())
    w = sd["patch_embedding.weight"]
    sd["patch_embedding.weight"] = torch.cat([w, w.new_zeros(w.shape[0], 2 * c, *w.shape[2:])], dim=1)
    wide.dit.load_state_dict(sd)
    return wide.eval()


__all__ = ["CausalPreset", "PRESETS", "DEFAULT_PRESET", "StreamOverrides", "get_preset", "guess_preset",
           "infer_dit_config", "causal_config", "causal_variant", "lora_pairs", "merge_lora", "unwrap_lora", "causal_state_dict",
           "build_causal_model", "load_causal_model", "widen_for_motionstream"]

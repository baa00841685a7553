"""Where a stage's trainable model starts: from scratch, or from public weights.

``initial_model(cfg, source)`` returns a model of the run's config ``cfg`` whose weights come from:

* ``""``: a fresh initialisation (``common.build_model``; the demo's own text encoder unless the data
  brings text embeddings);
* a MotionStream checkpoint (DiT + track head): copied as it is (its shapes must match ``cfg``);
* a 48-channel Wan 2.1 DiT (Wan2.1-Fun-1.3B-Control: noisy latent | control | reference image, the
  control channels becoming the track slot): copied as it is, with a fresh track head;
* a 16-channel Wan 2.1 DiT (Wan2.1-T2V, or a Self-Forcing-family causal student ``.pt``, LoRA not
  supported here): widened function-preservingly by the causal loader (``causal_checkpoints.
  widen_for_motionstream``: the new input channels' weights are zero), with a fresh track head.

``initial_student`` is the same with ``""`` meaning the run's teacher.
"""

from __future__ import annotations

from pathlib import Path

from ..causal_checkpoints import build_causal_model, causal_state_dict, get_preset, guess_preset, widen_for_motionstream
from ..checkpoints import CheckpointError, check_state_dict, load_model, read_checkpoint
from ..config import ModelConfig
from ..model import MotionStreamModel
from .common import build_model


def initial_model(cfg: ModelConfig, source: str, seed: int = 0, text_encoder: bool = True,
                  track_head_init: str = "torch") -> MotionStreamModel:
    """``track_head_init``: how a track head that no source provides starts (``common.TRACK_HEAD_INITS``)."""
    model = build_model(cfg, seed, text_encoder, track_head_init=track_head_init)
    if not source:
        return model
    path = Path(source)
    preset = get_preset(guess_preset(path))
    sd, _ = read_checkpoint(path, preset.weights_keys)
    sd = causal_state_dict(sd)
    if any(k.startswith("track_head.") for k in sd):  # our own format: the whole model
        own = load_model(path)
        check_state_dict(model.dit, own.dit.state_dict(), f"{path.name} (DiT)")
        model.dit.load_state_dict(own.dit.state_dict())
        model.track_head.load_state_dict(own.track_head.state_dict())
        if own.text_encoder is not None and model.text_encoder is not None:
            model.text_encoder.load_state_dict(own.text_encoder.state_dict())
        mine, theirs = cfg.parameterisation, own.config.parameterisation
        if mine.from_reference != theirs.from_reference:
            learns = {True: "the change from a reference video", False: "the latent itself"}
            raise CheckpointError(f"{path.name} learned {learns[theirs.from_reference]} (reference {theirs.reference!r}) "
                                  f"and model config {cfg.name!r} learns {learns[mine.from_reference]} (reference "
                                  f"{mine.reference!r}): start it from scratch or from a model of the same kind")
        if mine.predicts_sample != theirs.predicts_sample:
            raise CheckpointError(f"{path.name} predicts {theirs.prediction!r} and model config {cfg.name!r} predicts "
                                  f"{mine.prediction!r}: start it from scratch or from a model of the same kind")
        if mine.preconditioned:
            if not theirs.preconditioned:
                raise CheckpointError(f"{path.name} was trained without preconditioning; model config {cfg.name!r} "
                                      "preconditions its velocity: start it from scratch or from a preconditioned model")
            model.latent_std.copy_(own.latent_std)
        return model
    if "patch_embedding.weight" not in sd:
        raise CheckpointError(f"{path.name}: no Wan DiT weights (no patch_embedding.weight)")
    in_dim = sd["patch_embedding.weight"].shape[1]
    if in_dim == cfg.latent_channels:  # text-to-video / causal student: widen, function-preserving
        narrow = build_causal_model(sd, preset, name=path.name)
        sd = widen_for_motionstream(narrow, cfg.track_head).dit.state_dict()
    elif in_dim != cfg.dit.in_dim:
        raise CheckpointError(f"{path.name}: {in_dim} input channels; a MotionStream model of config {cfg.name!r} "
                              f"starts from {cfg.latent_channels} (Wan 2.1 T2V, causal students) or "
                              f"{cfg.dit.in_dim} (Wan2.1-Fun-Control)")
    check_state_dict(model.dit, sd, f"{path.name} (DiT)")
    model.dit.load_state_dict(sd)
    return model


def initial_student(cfg: ModelConfig, source: str, teacher: Path, text_encoder: bool) -> MotionStreamModel:
    """The student's start: the run's teacher (``source`` ""), else ``initial_model``'s sources."""
    if not source:
        return load_model(teacher)
    return initial_model(cfg, source, text_encoder=text_encoder)

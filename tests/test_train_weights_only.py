"""Training reads its own files (stage checkpoints, latent caches, teacher trajectories) with
``torch.load(weights_only=True)``: a pickle planted in a run folder is refused and runs no code."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from motionstream_core.train.common import Stage
from motionstream_core.train.data import latent_cache_meta, load_latent_cache
from motionstream_core.train.ode_init import load_trajectories

class _Planted:
    """A pickle that makes the folder ``marker`` when it is unpickled with the full unpickler."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _plant(path):
    """A file at ``path`` that runs code under ``weights_only=False``; returns the folder that code makes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    marker = path.parent / "planted_code_ran"
    torch.save({"step": 3, "meta": {}, "payload": _Planted(marker)}, path)
    torch.load(path, weights_only=False)  # the planted file does run code under the full unpickler
    assert marker.is_dir()
    marker.rmdir()
    return marker


def test_a_planted_stage_checkpoint_is_refused(tmp_path):
    stage = Stage(tmp_path, "teacher", total_steps=10, quiet=True)
    marker = _plant(stage.ckpt_path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        stage.load()
    assert not marker.exists()


def test_a_planted_latent_cache_shard_is_refused(tmp_path):
    marker = _plant(tmp_path / "latents" / "shard_0000.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        latent_cache_meta(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_latent_cache(tmp_path / "latents")
    assert not marker.exists()


def test_a_planted_trajectory_shard_is_refused(tmp_path):
    marker = _plant(tmp_path / "traj_0000.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_trajectories(tmp_path)
    assert not marker.exists()


def test_a_stage_checkpoint_with_optimizer_state_round_trips_weights_only(tmp_path):
    """What ``Trainer.checkpoint`` writes (tensors, an AdamW state with its tuples and flags, the EMA's floats)
    reads back weights-only, and a resumed optimizer steps exactly like the one that never stopped."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.95))
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(5, 4)).square().mean().backward()
        opt.step()
    stage = Stage(tmp_path, "teacher", total_steps=10, quiet=True)
    stage.save({"step": 3, "model": model.state_dict(), "opt": opt.state_dict(), "ema": {"decay": 0.99}})
    state = Stage(tmp_path, "teacher", total_steps=10, quiet=True).load()
    assert state["step"] == 3 and state["ema"] == {"decay": 0.99}

    resumed = torch.nn.Linear(4, 3)
    resumed.load_state_dict(state["model"])
    opt2 = torch.optim.AdamW(resumed.parameters(), lr=1e-2, betas=(0.8, 0.95))
    opt2.load_state_dict(state["opt"])
    x = torch.randn(5, 4)
    for m, o in ((model, opt), (resumed, opt2)):
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)

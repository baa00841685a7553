"""The one table of training stages: ``motionstream train <name>`` looks its stage up here.

Each row names the module that implements the stage; that module defines ``PRESETS`` (named option sets,
instances of a ``common.StageOptions`` subclass) and the function ``run`` names, called as
``run(out, options, config_name=...)``. Modules are imported on first use, so listing the stages costs
nothing. Adding a stage is adding a row.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

from .common import StageOptions


@dataclass(frozen=True)
class StageSpec:
    name: str
    module: str  # under motionstream_core.train
    run: str  # the function's name in ``module``
    help: str

    def load(self) -> ModuleType:
        return importlib.import_module(f"{__package__}.{self.module}")

    def presets(self) -> dict[str, StageOptions]:
        return self.load().PRESETS

    def options(self, preset: str = "demo") -> StageOptions:
        """A fresh copy of a named preset."""
        presets = self.presets()
        if preset not in presets:
            raise ValueError(f"stage {self.name!r} has no preset {preset!r} (known: {', '.join(presets)})")
        return dataclasses.replace(presets[preset])

    def function(self) -> Callable[..., dict]:
        return getattr(self.load(), self.run)


STAGES: dict[str, StageSpec] = {s.name: s for s in (
    StageSpec("autoencoder", "autoencoder", "train_autoencoder", "the demo's own tiny autoencoder (one process)"),
    StageSpec("decoder", "decoder", "train_decoder", "optional: a wider decoder for the autoencoder (one process)"),
    StageSpec("teacher", "teacher_train", "train_teacher", "the bidirectional teacher (flow matching)"),
    StageSpec("ode", "ode_init", "train_ode", "ODE-regression init of the causal student on teacher trajectories"),
    StageSpec("dmd", "dmd", "train_dmd", "Self-Forcing DMD of the student (sink + rolling cache)"),
)}


def get_stage(name: str) -> StageSpec:
    if name not in STAGES:
        raise ValueError(f"unknown training stage {name!r} (known: {', '.join(STAGES)})")
    return STAGES[name]

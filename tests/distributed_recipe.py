"""Driver of tests/test_train_distributed.py: the recipe on prepared clips, in one process or under torchrun.

    torchrun --nproc_per_node 2 tests/distributed_recipe.py many DATA ROOT
    python tests/distributed_recipe.py one DATA ROOT

``many`` (2 processes): ROOT/many: teacher, ode, dmd with every step's gradients dumped; ROOT/resumed: the
teacher stopped half-way and resumed. ``one`` (1 process): ROOT/one: one step of each stage with gradients
dumped, each stage starting from the same weights as ``many``'s (its teacher and ODE student are copied in),
so the first steps of both must have the same gradients.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import torch

from motionstream_core.train import distributed, dmd, ode_init, teacher_train

TEACHER_STEPS = 12
ODE_STEPS = 8
DMD_STEPS = 3
REG_WEIGHT = 1.0  # the regression anchor on, so the generator gradients compared include its sharded pass
CLIP = 0.01  # teacher and ODE: a gradient-norm clip every step passes, so the compared gradients are clipped ones


def opts(module, **kw):
    return dataclasses.replace(module.PRESETS["tiny"], quiet=False, log_every=1, save_every_s=1e9, **kw)


def main(mode: str, data: str, root: str) -> None:
    torch.set_num_threads(1)
    root_p = Path(root)
    if mode == "many":
        out = str(root_p / "many")
        dump = str(root_p / "grads" / "many.pt")
        teacher_train.train_teacher(out, opts(teacher_train, data=data, steps=TEACHER_STEPS, grad_dump=dump,
                                                grad_clip=CLIP), "tiny")
        ode_init.train_ode(out, opts(ode_init, data=data, steps=ODE_STEPS, grad_dump=dump, grad_clip=CLIP))
        dmd.train_dmd(out, opts(dmd, data=data, steps=DMD_STEPS, grad_dump=dump, reg_weight=REG_WEIGHT))
        resumed = str(root_p / "resumed")
        teacher_train.train_teacher(resumed, opts(teacher_train, data=data, steps=TEACHER_STEPS // 2, grad_clip=CLIP),
                                    "tiny")
        teacher_train.train_teacher(resumed, opts(teacher_train, data=data, steps=TEACHER_STEPS, grad_clip=CLIP))
    else:
        out = root_p / "one"
        many = root_p / "many"
        dump = str(root_p / "grads" / "one.pt")
        teacher_train.train_teacher(str(out), opts(teacher_train, data=data, steps=1, grad_dump=dump, grad_clip=CLIP),
                                    "tiny")
        shutil.copy(many / "teacher" / "teacher.safetensors", out / "teacher" / "teacher.safetensors")
        ode_init.train_ode(str(out), opts(ode_init, data=data, steps=1, grad_dump=dump, grad_clip=CLIP))
        shutil.copy(many / "ode" / "student.safetensors", out / "ode" / "student.safetensors")
        dmd.train_dmd(str(out), opts(dmd, data=data, steps=1, grad_dump=dump, reg_weight=REG_WEIGHT))
    distributed.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])

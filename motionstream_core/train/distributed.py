"""PyTorch's own distributed stack for the training stages: one process, or ``torchrun`` with FSDP2.

* ``DistEnv.from_environment`` reads what ``torchrun`` sets (RANK, WORLD_SIZE, LOCAL_RANK) and starts the
  process group once per process: NCCL on CUDA, gloo on CPU. Without those variables it is one process.
* ``shard_model`` applies FSDP2 (``torch.distributed.fsdp.fully_shard``) when there is more than one process.
  FSDP2 works on gloo/CPU in torch 2.13 (checked: forward, backward, reduce-scatter and AdamW on DTensor
  shards, bf16 mixed precision), so the same code path runs on CPU and on GPUs; DDP is not needed.
  Units: each block's self-attention and FFN (the bulk of the parameters), and the root with the rest;
  every training pass runs inside ``sharded_call`` (one root forward, see ``shard_model``).
* Mixed precision: ``precision="bf16"`` computes in bf16 and keeps fp32 master weights (FSDP2's
  ``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)``; in one process ``torch.autocast``).
* Activation checkpointing (``torch.utils.checkpoint``, non-reentrant) recomputes each block's FFN in the
  backward pass, and the whole block when it runs without a KV cache. A cached (causal) pass reads the
  rolling cache, which later chunks overwrite before the backward pass runs, so its attention is never
  recomputed.
* Full state dicts for checkpoints come from ``torch.distributed.checkpoint.state_dict`` (rank-0 files that
  any world size can resume).
"""

from __future__ import annotations

import contextlib
import os
import threading
import types
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @classmethod
    def from_environment(cls, device: torch.device) -> "DistEnv":
        """The torchrun environment; starts the default process group on first use."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        env = cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend)
        return env

    def device(self, requested: str | None) -> torch.device:
        """``requested``, else this rank's GPU when there is one, else the CPU."""
        if requested:
            return torch.device(requested)
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean of each value over the ranks (the same keys on every rank)."""
        if not self.distributed or not values:
            return values
        t = torch.tensor(list(values.values()), dtype=torch.float64)
        dist.all_reduce(t)
        return dict(zip(values, (t / self.world).tolist()))

    def any(self, flags: list[bool]) -> list[bool]:
        """Per flag: whether any rank raised it (so time-based decisions agree on every rank)."""
        if not self.distributed:
            return flags
        t = torch.tensor(flags, dtype=torch.int32)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(x) for x in t.tolist()]

    def gather(self, value: float) -> list[float]:
        """``value`` from every rank, in rank order."""
        if not self.distributed:
            return [value]
        out: list = [None] * self.world
        dist.all_gather_object(out, value)
        return out


def shutdown() -> None:
    """End torchrun's process group, if one was started. Every rank waits at a barrier first, so that no rank
    tears down its gloo / NCCL threads while another still talks to it (a process left with the group alive, or
    destroying it while a peer still sends, can abort at exit: "terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def shard_model(model: nn.Module, env: DistEnv, precision: str) -> nn.Module:
    """FSDP2 over ``env``'s ranks (in place; returns ``model``). One process: unchanged.

    Units: each block's self-attention and each block's FFN (most of the parameters), then the root
    (embeddings, cross-attention, modulation, head, track head, text encoder). The training code uses
    the root's parts outside ``forward`` (track latents, cross-attention keys, chunk-by-chunk passes
    through the cache), so a pass runs as ``sharded_call(model, fn, ...)``: one FSDP forward of the root
    around ``fn`` (``fsdp_call`` registered as a forward method), inside which the blocks' units gather
    their shards as usual.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not env.distributed:
        return model
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method

    mp = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if precision == "bf16"
          else MixedPrecisionPolicy())
    # FSDP2 warns when a unit returns a view (an in-place op on it would skip the unit's pre-backward hook). The
    # blocks' units return views only because ``nn.Linear`` views its output of a 3-D input back to 3-D, and the
    # block uses both outputs out of place (``x + y * gate``): nothing to fix, so the warning is silenced for them.
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module \((FSDPSelfAttention|FSDPSequential)\) returned "
                            "a view tensor", category=UserWarning)
    for block in model.dit.blocks:
        fully_shard(block.self_attn, mp_policy=mp)
        fully_shard(block.ffn, mp_policy=mp)
    fully_shard(model, mp_policy=mp)
    model.fsdp_call = types.MethodType(_call, model)
    register_fsdp_forward_method(model, "fsdp_call")
    return model


def _call(self, fn: Callable[..., Any], *args, **kwargs):
    return fn(*args, **kwargs)


def sharded_call(model: nn.Module, fn: Callable[..., Any], *args, **kwargs):
    """``fn(*args, **kwargs)`` with ``model``'s root parameters gathered when it is FSDP-sharded."""
    call = getattr(model, "fsdp_call", None)
    return call(fn, *args, **kwargs) if call is not None else fn(*args, **kwargs)


def precision_context(device: torch.device, env: DistEnv, precision: str):
    """bf16 autocast for one process (FSDP2 casts by its policy instead)."""
    if precision == "bf16" and not env.distributed:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


_in_block = threading.local()  # .active: inside a recomputed block (its FFN is not checkpointed again)


def enable_activation_checkpointing(model: nn.Module) -> None:
    """Recompute activations in the backward pass, block by block (keeps state-dict keys unchanged)."""
    dit = getattr(model, "dit", model)
    for block in getattr(dit, "blocks", []):
        if getattr(block, "_ckpt", False):
            continue
        block._ckpt = True
        ffn_forward, block_forward = block.ffn.forward, block.forward

        def ffn(x: Tensor, _f=ffn_forward) -> Tensor:
            if torch.is_grad_enabled() and not getattr(_in_block, "active", False):
                return checkpoint(_f, x, use_reentrant=False)
            return _f(x)

        def inner(*args, _f=block_forward):  # the FFN inside a recomputed block is not checkpointed again
            _in_block.active = True
            try:
                return _f(*args)
            finally:
                _in_block.active = False

        def whole(x, e, cos, sin, ctx, cache, layer, write_cache, _f=block_forward, _inner=inner):
            if cache is None and torch.is_grad_enabled():
                return checkpoint(_inner, x, e, cos, sin, ctx, cache, layer, write_cache, use_reentrant=False)
            return _f(x, e, cos, sin, ctx, cache, layer, write_cache)

        block.ffn.forward = ffn
        block.forward = whole



def is_dtensor(t) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(t, DTensor)


def full_tensor(t: Tensor) -> Tensor:
    """A whole tensor from a (possibly FSDP-sharded) one; collective when sharded."""
    return t.full_tensor() if is_dtensor(t) else t


def model_state(model: nn.Module, env: DistEnv) -> dict[str, Tensor]:
    """The full state dict (CPU), gathered over ranks when sharded."""
    if not env.distributed:
        return model.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_model_state(model: nn.Module, sd: dict[str, Tensor], env: DistEnv) -> None:
    if not env.distributed:
        model.load_state_dict(sd)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, sd, options=StateDictOptions(full_state_dict=True))


def optimizer_state(model: nn.Module, opt: torch.optim.Optimizer, env: DistEnv) -> dict:
    """The optimiser's full state keyed by parameter name (resumable at any world size)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(model, opt, options=StateDictOptions(full_state_dict=True,
                                                                         cpu_offload=env.distributed))


def load_optimizer_state(model: nn.Module, opt: torch.optim.Optimizer, sd: dict, env: DistEnv) -> None:
    if all(isinstance(k, int) for k in sd.get("state", {})) and sd.get("state"):  # torch's own id-keyed layout
        opt.load_state_dict(sd)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    # strict=False: parameters that never had a gradient (e.g. an unused CLIP branch) have no Adam state
    set_optimizer_state_dict(model, opt, sd, options=StateDictOptions(full_state_dict=env.distributed, strict=False))
    # set_optimizer_state_dict first makes state for every parameter (a zero-gradient step at lr 0), then loads the
    # saved entries over it: drop what it made for the parameters the checkpoint has none for, so that they stay
    # as they were in the saved run (no state; the first gradient starts their Adam at step 1)
    saved = set(sd.get("state", {}))
    names = {id(p): n for n, p in model.named_parameters()}
    for p in list(opt.state):
        if names.get(id(p)) not in saved:
            del opt.state[p]


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process: allocated CUDA memory on a GPU, resident set size on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB

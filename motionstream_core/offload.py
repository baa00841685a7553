"""Block offload: a DiT larger than the GPU runs with its transformer blocks in host memory.

The blocks' weights stay in (pinned) host memory; everything else (embeddings, head: under 2% of a Wan DiT)
lives on the device. While block i computes, block i + 1's weights are copied to the device on a second
CUDA stream; block i runs with its device copy (``torch.func.functional_call``: the module itself is never
changed), which is dropped when the next block starts. So the device holds two blocks' weights at a time.

On the CPU the copies are plain and synchronous: the results equal running without offload exactly (the
same weights, the same kernels), which is what the tests check. The overlap of copy and compute only exists
on a GPU; its speed was not measured here (no GPU was lent).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call


class BlockOffload:
    """The runner ``WanDiT`` calls for each block (``dit.block_runner``); see the module docstring."""

    def __init__(self, blocks: nn.ModuleList, device: torch.device):
        self.blocks, self.device = blocks, torch.device(device)
        self.cuda = self.device.type == "cuda"
        self._copy_stream = torch.cuda.Stream(self.device) if self.cuda else None
        self._next: tuple[int, dict[str, Tensor], object] | None = None  # (index, tensors, copy event)
        self.copies = 0  # blocks copied to the device so far (for tests and logs)

    def _host_tensors(self, i: int) -> dict[str, Tensor]:
        block = self.blocks[i]
        return {**dict(block.named_parameters()), **{k: b for k, b in block.named_buffers() if b is not None}}

    def _copy(self, i: int) -> tuple[int, dict[str, Tensor], object]:
        self.copies += 1
        if not self.cuda:
            return i, {k: t.to(self.device, copy=True) for k, t in self._host_tensors(i).items()}, None
        with torch.cuda.stream(self._copy_stream):
            tensors = {k: t.to(self.device, non_blocking=True) for k, t in self._host_tensors(i).items()}
            event = torch.cuda.Event()
            event.record(self._copy_stream)
        return i, tensors, event

    def __call__(self, i: int, block: nn.Module, *args) -> Tensor:
        index, tensors, event = self._next if self._next is not None and self._next[0] == i else self._copy(i)
        if event is not None:
            compute = torch.cuda.current_stream(self.device)
            compute.wait_event(event)
            for t in tensors.values():
                t.record_stream(compute)  # the copy stream's memory is used on this stream
        self._next = self._copy((i + 1) % len(self.blocks))  # overlaps this block's compute on a GPU
        return functional_call(block, tensors, args)


def enable_block_offload(model: nn.Module, device: torch.device | str, blocks: nn.Module | None = None
                         ) -> BlockOffload:
    """Keep the DiT's blocks in host memory (pinned when CUDA is there) and the rest of ``model`` on
    ``device``; the DiT (``blocks``: the module holding ``.blocks``, default ``model``) then runs block by
    block through a ``BlockOffload``. Returns it."""
    device = torch.device(device)
    pin = device.type == "cuda"
    dit = blocks if blocks is not None else model
    held = {id(m) for m in dit.blocks.modules()}
    for module in model.modules():
        in_blocks = id(module) in held
        for store in (module._parameters, module._buffers):
            for key, t in store.items():
                if t is None:
                    continue
                new = t.data.to("cpu") if in_blocks else t.data.to(device)
                if in_blocks and pin and not new.is_pinned():
                    new = new.pin_memory()
                store[key] = nn.Parameter(new, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else new
    runner = BlockOffload(dit.blocks, device)
    dit.block_runner = runner
    return runner


__all__ = ["BlockOffload", "enable_block_offload"]

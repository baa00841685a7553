"""Combo values, checked by the node itself: this host does not check the values of V3 combo inputs
(a prompt with ``dtype`` = "fp8" reaches ``execute``), so every node with combos calls
``check_choices`` first, before it loads or allocates anything."""

from __future__ import annotations

from comfy_api.latest import io

from motionstream_core.pipeline import ATTENTION, WEIGHT_DTYPES


def check_choices(node: type[io.ComfyNode], **values) -> None:
    """Raise ValueError naming the input and its options when a value is not one of them."""
    for inp in node.define_schema().inputs:
        if not isinstance(inp, io.Combo.Input) or values.get(inp.id) is None:
            continue
        if values[inp.id] not in inp.options:
            raise ValueError(f"{inp.id}: {values[inp.id]!r} is not one of {', '.join(map(str, inp.options))}")


def runtime_inputs() -> list:
    """The inputs both model loaders take for how the model runs (dtype, device, attention, weight precision),
    in this order; ``host_memory.host_runtime`` reads them."""
    import torch

    devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [
        io.Combo.Input("dtype", options=["auto", "fp32", "bf16", "fp16"], default="auto",
                       tooltip="auto: fp32 on CPU, bf16 (or fp16) on CUDA."),
        io.Combo.Input("device", options=devices, default="auto", tooltip="auto: ComfyUI's main device."),
        io.Combo.Input("attention", options=list(ATTENTION), default="auto",
                       tooltip="auto: ComfyUI's attention (what ComfyUI was started with: sage, flash, "
                               "xformers or PyTorch); sdpa / flash: this pack's own."),
        io.Combo.Input("weight_dtype", options=list(WEIGHT_DTYPES), default="default", optional=True,
                       tooltip="default: the file's own precision (fp8 files stay fp8). fp8_e4m3fn / fp8_e5m2: "
                               "the transformer blocks' weights stored in fp8 (half of bf16's bytes), "
                               "computed in dtype."),
    ]

"""The host side of the model's memory and attention: ComfyUI owns both inside ComfyUI.

* Memory: a loaded model is wrapped the way ComfyUI wraps its own (a ``comfy.model_patcher.ModelPatcher``
  over the module) and loaded through ``comfy.model_management.load_models_gpu`` before each run. So the
  host counts it when it decides what fits, lists it among its loaded models, moves it off the GPU when
  another model needs the room (whole, or layer by layer: a layer left in host memory casts its weights
  to the GPU as it runs, ``ops.py``), unloads it on ``/free``, and loads it back at the next run.
* Attention: "auto" in the host is ComfyUI's ``optimized_attention`` -- what the user started ComfyUI with
  (``--use-sage-attention``, ``--use-flash-attention``, xformers, PyTorch) -- in our [B, L, H, D] layout.

Outside the host (CLI, tests) none of this runs: the pipeline places the model itself.
"""

from __future__ import annotations

import dataclasses
import logging

import torch

from motionstream_core.pipeline import LoadedModel, Runtime

log = logging.getLogger("motionstream")


def comfy_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """ComfyUI's optimized attention with the core's contract: q [B, Lq, H, D], k/v [B, Lk, H, D] -> [B, Lq, H, D]."""
    from comfy.ldm.modules.attention import optimized_attention  # read at call time: set from the host's flags

    b, lq, h, d = q.shape
    out = optimized_attention(q.reshape(b, lq, h * d), k.reshape(b, k.shape[1], h * d),
                              v.reshape(b, v.shape[1], h * d), heads=h)
    return out.view(b, lq, h, d)


def host_runtime(device: str, dtype: str, attention: str, weight_dtype: str = "default") -> tuple[Runtime, Runtime]:
    """(the runtime the model computes with, the runtime it is loaded with).

    ``device`` "auto": ComfyUI's main device, the model loaded into ComfyUI's offload device (host memory when
    the GPU is shared) and moved by model management; a named device: loaded and kept there. ``attention``
    "auto": ComfyUI's attention function.
    """
    import comfy.model_management as mm

    run_device = mm.get_torch_device() if device == "auto" else device
    fn = comfy_attention if attention == "auto" else attention
    runtime = Runtime.resolve(run_device, dtype, fn, weight_dtype)
    if device != "auto":
        return runtime, runtime
    return runtime, dataclasses.replace(runtime, device=torch.device(mm.unet_offload_device()))


class MotionStreamWeights(torch.nn.Module):
    """What the ModelPatcher holds: it sets ``device`` and its bookkeeping attributes on this module."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.motionstream = model

    def get_dtype(self) -> torch.dtype:
        return self.motionstream.dtype


def manage(loaded: LoadedModel, runtime: Runtime, load_runtime: Runtime) -> LoadedModel:
    """Hand the model's memory to ComfyUI's model management (``loaded.host`` holds its ModelPatcher)."""
    import comfy.model_patcher

    loaded.host = comfy.model_patcher.ModelPatcher(MotionStreamWeights(loaded.model), load_device=runtime.device,
                                                   offload_device=load_runtime.device)
    return loaded


def load(loaded: LoadedModel) -> None:
    """Before a run: ComfyUI loads the model onto its device (making room by unloading others as it does
    for its own models; a model that was moved off or freed comes back). Models not loaded in the host
    (none held) are left where they are."""
    patcher = loaded.host
    if patcher is None:
        return
    import comfy.model_management as mm

    mm.load_models_gpu([patcher])
    device = patcher.load_device
    # ComfyUI moves the leaf layers one by one when it loads part of a model; the few weights outside the
    # blocks' layers (each block's modulation, the embeddings and head the stream reads its device from:
    # under 2% of a Wan DiT) always go with the model.
    for name, module in loaded.model.named_modules():
        if name.startswith("dit.blocks.") and name.count(".") >= 3:
            continue
        for key in [k for k, t in list(module._parameters.items()) + list(module._buffers.items())
                    if t is not None and t.device != device]:
            _move(module, key, device)
    log.info("MotionStream: %s on %s (ComfyUI model management; %.0f MiB loaded)", loaded.name, device,
             patcher.loaded_size() / 2**20)


def _move(module: torch.nn.Module, key: str, device: torch.device) -> None:
    store = module._parameters if key in module._parameters else module._buffers
    t = store[key]
    moved = t.data.to(device)
    store[key] = torch.nn.Parameter(moved, requires_grad=t.requires_grad) if isinstance(t, torch.nn.Parameter) else moved


def loaded_in_host(loaded: LoadedModel) -> bool:
    """Whether ComfyUI's model management lists the model as loaded."""
    import comfy.model_management as mm

    patcher = loaded.host
    return patcher is not None and any(m is patcher for m in mm.loaded_models())

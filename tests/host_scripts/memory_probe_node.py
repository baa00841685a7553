"""A test-only custom node file for the host tests: what ComfyUI's model management holds, and the pack's
attention adapter against PyTorch SDPA, read inside the host process. Copied into the test host's
custom_nodes by tests/conftest.py; never part of the pack.

    GET  /motionstream-test/loaded_models   [{"class", "device", "loaded_bytes", "size"}] of every loaded model
    POST /motionstream-test/unload          comfy.model_management.unload_all_models(), then the list
    POST /motionstream-test/attention       {"max_abs_err", "function"}: the pack's comfy_attention vs SDPA
"""

import sys

import torch
import torch.nn.functional as F
from aiohttp import web
from server import PromptServer

import comfy.model_management as mm


def _loaded() -> list[dict]:
    out = []
    for patcher in mm.loaded_models():
        out.append({"class": type(patcher.model).__name__, "device": str(patcher.current_loaded_device()),
                    "loaded_bytes": int(patcher.loaded_size()), "size": int(patcher.model_size())})
    return out


def _pack_module(suffix: str, attr: str):
    """The pack's module as the host loaded it (its module name is the pack folder's)."""
    for name, module in list(sys.modules.items()):
        if name.endswith(suffix) and hasattr(module, attr):
            return module
    return None


@PromptServer.instance.routes.get("/motionstream-test/loaded_models")
async def loaded_models(request):
    return web.json_response(_loaded())


@PromptServer.instance.routes.post("/motionstream-test/unload")
async def unload(request):
    mm.unload_all_models()
    return web.json_response(_loaded())


@PromptServer.instance.routes.post("/motionstream-test/attention")
async def attention(request):
    host_memory = _pack_module("nodes.host_memory", "comfy_attention")
    if host_memory is None:
        return web.json_response({"error": "the pack's nodes.host_memory is not loaded"}, status=500)
    from comfy.ldm.modules import attention as comfy_attention_module

    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for b, lq, lk, h, d in ((1, 12, 36, 1, 128), (2, 7, 19, 3, 64), (1, 48, 48, 4, 16)):
        q, k, v = (torch.randn(b, n, h, d, generator=g) for n in (lq, lk, lk))
        ref = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
        got = host_memory.comfy_attention(q, k, v)
        assert got.shape == ref.shape
        worst = max(worst, (got - ref).abs().max().item())
    return web.json_response({"max_abs_err": worst,
                              "function": comfy_attention_module.optimized_attention.__name__})


NODE_CLASS_MAPPINGS = {}

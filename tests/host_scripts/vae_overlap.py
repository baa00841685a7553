"""Run under ComfyUI's Python: chunk-wise decoding through nodes/vae_adapter.py vs whole-video decoding.

A ComfyUI ``VAE`` (the Wan 2.1 architecture, random weights scaled to keep activations O(1)) decodes
``latents`` latent frames at once; the adapter decodes the same latents in stream chunks of 3:
"exact" (carried causal cache) and "overlap" (each chunk with ``context`` previous latents as causal
context, overlap dropped). Prints one JSON line: per mode/context, max / mean abs error in [0, 1]
pixels, PSNR, frame counts, and the encode_image check against VAE.encode.

argv: <comfyui path> <repo path> [size=32] [latents=9] [contexts=1,2,3]
"""

import json
import math
import sys
import time

comfy_path, repo_path = sys.argv[1], sys.argv[2]
size = int(sys.argv[3]) if len(sys.argv) > 3 else 32
num_latents = int(sys.argv[4]) if len(sys.argv) > 4 else 9
contexts = [int(c) for c in (sys.argv[5] if len(sys.argv) > 5 else "1,2,3").split(",")]
sys.path[:0] = [comfy_path, repo_path]

import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import torch  # noqa: E402
import comfy.sd  # noqa: E402
from comfy.ldm.wan.vae import WanVAE  # noqa: E402

import types  # noqa: E402

_pkg = types.ModuleType("motionstream_nodes")  # our nodes/ without its __init__ (ComfyUI owns "nodes")
_pkg.__path__ = [repo_path + "/nodes"]
sys.modules["motionstream_nodes"] = _pkg
from motionstream_nodes.vae_adapter import ComfyVAEBackend  # noqa: E402

torch.manual_seed(0)
ref = WanVAE(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
             temperal_downsample=[False, True, True], dropout=0.0)
sd = {}
for k, v in ref.state_dict().items():
    if k.endswith("gamma"):
        sd[k] = torch.ones_like(v)
    elif v.ndim >= 2:
        sd[k] = torch.randn_like(v) * (0.7 / math.sqrt(v[0].numel()))
    else:
        sd[k] = torch.zeros_like(v)
del ref
vae = comfy.sd.VAE(sd=sd)
h = size // 8
z = torch.randn(1, 16, num_latents, h, h)
torch.set_grad_enabled(False)

t0 = time.perf_counter()
whole = vae.decode(z)[0]  # [T', H, W, 3] in [0, 1]
whole_s = time.perf_counter() - t0
results = []
for ctx in [0] + contexts:
    backend = ComfyVAEBackend(vae, context=max(ctx, 1), mode="exact" if ctx == 0 else "overlap")
    t0 = time.perf_counter()
    parts = [((backend.decode_step(z[:, :, i:i + 3]) + 1) / 2)[0].movedim(0, -1) for i in range(0, num_latents, 3)]
    chunked = torch.cat(parts, 0)
    err = (chunked - whole).abs()
    mse = float((err.detach() ** 2).mean())
    per_chunk = [float(err[a:b].abs().max()) for a, b in
                 [(0, 9)] + [(9 + 12 * i, 21 + 12 * i) for i in range((num_latents - 3) // 3)]]
    results.append({"mode": backend.mode, "context": ctx, "frames": [int(chunked.shape[0]), int(whole.shape[0])],
                    "max_abs_err": float(err.max()), "mean_abs_err": float(err.mean()),
                    "psnr_db": (99.0 if mse == 0 else 10 * math.log10(1.0 / mse)),
                    "max_err_per_chunk": per_chunk, "seconds": time.perf_counter() - t0})
img = torch.rand(1, 3, size, size) * 2 - 1
enc = ComfyVAEBackend(vae).encode_image(img)
enc_ref = vae.encode(((img + 1) / 2).movedim(1, -1))
print(json.dumps({"encode_max_abs_err": float((enc - enc_ref).abs().max()), "encode_shape": list(enc.shape),
                  "size": size, "latents": num_latents, "whole_seconds": whole_s,
                  "whole_std": float(whole.std()), "saturated": float(((whole <= 0) | (whole >= 1)).float().mean()),
                  "results": results}))

"""Run under ComfyUI's Python: write a random-weight Wan 2.1 VAE (ComfyUI's own key layout, fp16) that
ComfyUI's VAELoader detects as the Wan 2.1 VAE. argv: <comfyui path> <output .safetensors>"""

import math
import sys

comfy_path, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, comfy_path)

import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import torch  # noqa: E402
from comfy.ldm.wan.vae import WanVAE  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

torch.manual_seed(0)
ref = WanVAE(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
             temperal_downsample=[False, True, True], dropout=0.0)
sd = {}
for k, v in ref.state_dict().items():
    if k.endswith("gamma"):
        sd[k] = torch.ones_like(v, dtype=torch.float16)
    elif v.ndim >= 2:
        sd[k] = (torch.randn_like(v) * (0.7 / math.sqrt(v[0].numel()))).half()
    else:
        sd[k] = torch.zeros_like(v, dtype=torch.float16)
save_file(sd, out)
print(len(sd))

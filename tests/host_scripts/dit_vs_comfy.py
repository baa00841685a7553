"""Run under ComfyUI's Python: our WanDiT (bidirectional) vs comfy.ldm.wan.model.WanModel on the same
random weights. Prints one JSON line {"max_abs_err": ..., "cases": [...]}. argv: <comfyui path> <repo path>."""

import json
import sys

comfy_path, repo_path = sys.argv[1], sys.argv[2]
sys.path[:0] = [comfy_path, repo_path]

import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import torch  # noqa: E402
import comfy.ops  # noqa: E402
from comfy.ldm.wan.model import WanModel  # noqa: E402

from motionstream_core.config import DiTConfig  # noqa: E402
from motionstream_core.dit import WanDiT  # noqa: E402

torch.manual_seed(0)
results = []
for image_cross_attn, per_frame_t in [(True, False), (False, False), (False, True)]:
    cfg = DiTConfig(dim=96, ffn_dim=160, num_heads=2, num_layers=2, in_dim=48, text_dim=40, freq_dim=32,
                    image_cross_attn=image_cross_attn, clip_dim=1280)
    ours = WanDiT(cfg).float()
    with torch.no_grad():
        for p in ours.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    ref = WanModel(model_type="i2v" if image_cross_attn else "t2v", patch_size=(1, 2, 2), in_dim=48, dim=96,
                   ffn_dim=160, freq_dim=32, text_dim=40, out_dim=16, num_heads=2, num_layers=2,
                   operations=comfy.ops.disable_weight_init, device="cpu", dtype=torch.float32)
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(1, 48, 5, 8, 12)
    t = torch.tensor([637.0]) if not per_frame_t else torch.tensor([[900.0, 700.0, 500.0, 300.0, 0.0]])
    ctx = torch.randn(1, 7, 40)
    clip = torch.randn(1, 9, 1280) if image_cross_attn else None
    with torch.no_grad():
        a = ours(x, t, ctx, clip)
        if per_frame_t:  # ComfyUI expects per-token timesteps for per-frame modulation
            t_ref = t.repeat_interleave(4 * 6, dim=1)
        else:
            t_ref = t
        b = ref(x, t_ref, ctx, clip_fea=clip)
    err = (a - b).abs().max().item()
    results.append({"image_cross_attn": image_cross_attn, "per_frame_t": per_frame_t, "err": err,
                    "scale": b.abs().max().item()})
print(json.dumps({"max_abs_err": max(r["err"] for r in results), "cases": results}))

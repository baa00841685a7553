"""Teacher training throughput on this machine (the CPU levers of the demo model's training): steps/s and clip-latent-frames/s of
one teacher step (forward, backward, AdamW) for each layout, eager and under ``torch.compile``, at the
thread count given.

    python bench/bench_train_step.py --threads 1
    python bench/bench_train_step.py --threads 2 --layouts s8p2 s4p2 --frames 9 5 --batch 4 8

Layouts: ``s8p2`` is today's demo (8x codec, patch 2: 64 tokens a latent frame at 128 px), ``s4p2`` the
4x codec with patch 2 (256 tokens), ``s4p4`` the 4x codec with patch 4 (64 tokens), ``s8p1`` the 8x codec
with patch 1 (256 tokens). Prints one JSON line per case and the compiled / eager ratio measured in the
same run. Never asserts on time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from motionstream_core import flow
from motionstream_core.train.common import build_model, model_config

LAYOUTS = {"s8p2": (8, 2), "s4p2": (4, 2), "s4p4": (4, 4), "s8p1": (8, 1)}


def layout_config(name: str, size: int):
    stride, patch = LAYOUTS[name]
    base = model_config("demo-small")
    space = (True, True, True) if stride == 8 else (False, True, True)
    return dataclasses.replace(base, name=name, height=size, width=size,
                               dit=dataclasses.replace(base.dit, patch_size=(1, patch, patch)),
                               track_head=dataclasses.replace(base.track_head, stride=stride),
                               vae=dataclasses.replace(base.vae, space_upscale=space)).validate()


def time_steps(cfg, frames: int, batch: int, compiled: bool, steps: int) -> float:
    """Seconds per teacher step (median of ``steps`` after two warm-up steps)."""
    torch.manual_seed(0)
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    h = cfg.height // cfg.spatial_stride
    z = torch.randn(batch, 16, frames, h, h)
    tracks = torch.randn_like(z)
    image = model.image_slot(z[:, :, :1], frames, 0)
    context = model.text_encoder.encode([""] * batch).detach()
    velocity = torch.compile(model.velocity) if compiled else model.velocity
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        sigma = torch.rand(batch)
        noise = torch.randn_like(z)
        v = velocity(flow.add_noise(z, noise, sigma), flow.to_timestep(sigma), tracks, image, context)
        loss = (v - (noise - z)).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def run(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layouts", nargs="+", default=["s8p2", "s4p2", "s4p4"], choices=sorted(LAYOUTS))
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--frames", nargs="+", type=int, default=[9, 5], help="latent frames per clip")
    p.add_argument("--batch", nargs="+", type=int, default=[4])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.layouts:
        cfg = layout_config(name, args.size)
        tokens = (args.size // cfg.spatial_stride // cfg.dit.patch_size[1]) ** 2
        for frames in args.frames:
            for batch in args.batch:
                row = {"layout": name, "size": args.size, "tokens_per_latent_frame": tokens, "latent_frames": frames,
                       "batch": batch, "threads": args.threads}
                eager = time_steps(cfg, frames, batch, False, args.steps)
                row.update(eager_steps_per_s=round(1 / eager, 3), eager_latent_frames_per_s=round(batch * frames / eager, 2))
                if args.compile:
                    comp = time_steps(cfg, frames, batch, True, args.steps)
                    row.update(compiled_steps_per_s=round(1 / comp, 3), compiled_over_eager=round(eager / comp, 3))
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    run()

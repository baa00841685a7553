"""The memory options of the training stages change how, not what, they compute.

* activation checkpointing (``distributed.enable_activation_checkpointing``): the gradients of a whole-clip
  pass (teacher loss: every block recomputed) and of cached causal passes (ODE loss: the FFNs recomputed,
  the attention over the rolling cache not) equal those without it (fp32, within 1e-6 of each tensor's max),
  and the state-dict keys are unchanged;
* bf16 autocast with fp32 master weights (one process): the teacher loss is within 5 % of the fp32 loss and
  the gradients land on fp32 parameters.
"""

from __future__ import annotations

import torch

from motionstream_core.config import get_config
from motionstream_core.train.causal import student_sigmas, teacher_forced_losses
from motionstream_core.train.common import build_model
from motionstream_core.train.data import Clips, TrackSampling, encode_tracks, make_batch
from motionstream_core.train.distributed import DistEnv, enable_activation_checkpointing, precision_context
from motionstream_core.train.loop import Sample, seeded
from motionstream_core.train.teacher_train import flow_matching_loss

torch.set_num_threads(2)


def _clips(cfg, n=2, frames=6, points=8):
    g = torch.Generator().manual_seed(0)
    h, w = cfg.height // 8, cfg.width // 8
    t = 1 + 4 * (frames - 1)
    path = torch.rand(n, t, points, 2, generator=g) * cfg.width
    return Clips(torch.randn(n, 16, frames, h, w, generator=g), torch.randn(n, 16, 1, h, w, generator=g), path,
                 torch.ones(n, t, points, dtype=torch.bool), ["a red square", "a blue circle"])


def _grads(model, loss_fn):
    model.zero_grad(set_to_none=True)
    loss_fn(model).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def _close(a: dict, b: dict, tol=1e-6):
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert (a[k] - b[k]).abs().max() <= tol * a[k].abs().max().clamp(min=1e-12), k


def _models(cfg):
    plain = build_model(cfg, 0)
    ckpt = build_model(cfg, 0)
    with torch.no_grad():  # a non-zero output head, so every layer gets a gradient
        for m in (plain, ckpt):
            torch.manual_seed(1)
            m.dit.head.head.weight.normal_(0, 0.02)
    keys = list(ckpt.state_dict())
    enable_activation_checkpointing(ckpt)
    assert list(ckpt.state_dict()) == keys
    return plain, ckpt


def test_checkpointing_keeps_the_teacher_gradients():
    cfg = get_config("tiny")
    data = _clips(cfg)
    batch = make_batch(data, [Sample(i, seeded(3, i), i) for i in range(2)], TrackSampling(max_tracks=8), "cpu")
    plain, ckpt = _models(cfg)
    batch2 = make_batch(data, [Sample(i, seeded(3, i), i) for i in range(2)], TrackSampling(max_tracks=8), "cpu")
    _close(_grads(plain, lambda m: flow_matching_loss(m, batch, cfg.teacher.shift)),
           _grads(ckpt, lambda m: flow_matching_loss(m, batch2, cfg.teacher.shift)))


def test_checkpointing_keeps_the_cached_student_gradients():
    cfg = get_config("tiny")
    data = _clips(cfg)
    g = torch.Generator().manual_seed(4)
    states = torch.randn(2, 4, 16, 6, 8, 8, generator=g)
    ids = torch.arange(8).repeat(2, 1)

    def loss(m):
        tracks = encode_tracks(m, data.path[:, :, :8], data.visible[:, :, :8], ids)
        ctx = m.dit.context_kv(m.text_encoder.encode(data.caption))
        slot = m.image_slot(data.image, states.shape[3], 0)
        return teacher_forced_losses(m, states, tracks, slot, ctx, student_sigmas(m),
                                     [seeded(9, i) for i in range(2)]).mean()

    plain, ckpt = _models(cfg)
    _close(_grads(plain, loss), _grads(ckpt, loss))


def test_bf16_autocast_keeps_fp32_weights_and_the_loss():
    cfg = get_config("tiny")
    data = _clips(cfg)
    model = build_model(cfg, 0)
    with torch.no_grad():
        model.dit.head.head.weight.normal_(0, 0.02)

    def loss(precision):
        batch = make_batch(data, [Sample(i, seeded(3, i), i) for i in range(2)], TrackSampling(max_tracks=8), "cpu")
        with precision_context(torch.device("cpu"), DistEnv(), precision):
            return flow_matching_loss(model, batch, cfg.teacher.shift)

    full, half = loss("fp32").detach(), loss("bf16")
    assert abs(half.item() - full.item()) < 0.05 * full.item(), (full.item(), half.item())
    half.backward()
    assert all(p.dtype == torch.float32 and (p.grad is None or p.grad.dtype == torch.float32)
               for p in model.parameters())

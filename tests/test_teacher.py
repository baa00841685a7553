"""Teacher guidance: three evaluations batched equal three separate ones combined by Eq. 2."""

from __future__ import annotations

import torch

from motionstream_core import flow
from motionstream_core.config import get_config
from motionstream_core.model import MotionStreamModel
from motionstream_core.teacher import Guidance, guided_velocity, teacher_sample


def _setup():
    torch.manual_seed(0)
    model = MotionStreamModel(get_config("tiny")).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    g = torch.Generator().manual_seed(0)
    lat = lambda: torch.randn(1, 16, 3, 4, 4, generator=g)  # noqa: E731
    return model, lat(), lat(), lat(), torch.randn(1, 5, 32, generator=g), torch.zeros(1, 5, 32)


def test_guided_velocity_matches_separate_evaluations():
    model, x, track, image, text, null = _setup()
    t = torch.tensor([500.0])
    with torch.no_grad():
        got = guided_velocity(model, x, t, track, image, text, null, Guidance(3.0, 1.5))
        full = model.velocity(x, t, track, image, text)
        no_text = model.velocity(x, t, track, image, null)
        no_motion = model.velocity(x, t, torch.zeros_like(track), image, text)
    expected = no_text + 3.0 * (full - no_text) + 1.5 * (full - no_motion)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # w_t = 1, w_m = 0 is plain conditional sampling
    with torch.no_grad():
        plain = guided_velocity(model, x, t, track, image, text, null, Guidance(1.0, 0.0))
    torch.testing.assert_close(plain, full, rtol=1e-5, atol=1e-5)


def test_teacher_sample_trajectory_is_an_euler_ode():
    model, x, track, image, text, null = _setup()
    x0, traj = teacher_sample(model, x, track, image, text, null, steps=4, shift=6.0, guidance=Guidance(),
                              return_trajectory=True)
    assert traj.shape == (5, *x.shape) and torch.equal(traj[0], x) and torch.equal(traj[-1], x0)
    sig = flow.sampling_sigmas(4, 6.0)
    with torch.no_grad():  # re-derive step 2 from step 1 independently
        v = guided_velocity(model, traj[1], torch.tensor([float(sig[1]) * 1000]), track, image, text, null, Guidance())
    torch.testing.assert_close(traj[2], traj[1] + (float(sig[2]) - float(sig[1])) * v, rtol=1e-5, atol=1e-5)
    assert abs(float(sig[0]) - 1) < 1e-12 and float(sig[-1]) == 0.0

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
        empty_grid = torch.zeros(1, model.track_head.proj_in.in_channels, *track.shape[2:])
        no_motion = model.velocity(x, t, model.track_head(empty_grid), image, text)
    expected = no_text + 3.0 * (full - no_text) + 1.5 * (full - no_motion)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # w_t = 1, w_m = 0 is plain conditional sampling
    with torch.no_grad():
        plain = guided_velocity(model, x, t, track, image, text, null, Guidance(1.0, 0.0))
    torch.testing.assert_close(plain, full, rtol=1e-5, atol=1e-5)


def test_no_motion_branch_is_the_teacher_on_a_clip_whose_tracks_are_all_hidden():
    """The motion-free branch is what track dropout trains: every track hidden, encoded by the head (its biases,
    not a zero latent). On a clip whose tracks are all hidden the motion term must vanish, so joint guidance at
    w_t = 1 is the teacher's plain conditional velocity for that clip, whatever w_m."""
    from motionstream_core.train.data import encode_tracks

    model, *_ = _setup()
    g = torch.Generator().manual_seed(1)
    frames, n = 9, 5  # pixel frames -> 3 latent frames
    path = torch.rand(1, frames, n, 2, generator=g) * 64
    hidden = encode_tracks(model, path, torch.zeros(1, frames, n, dtype=torch.bool), torch.arange(n)[None])
    assert hidden.abs().mean() > 1e-3  # the head's biases: a zero latent would be another input
    x, image = torch.randn(2, 1, *hidden.shape[1:], generator=g)
    text, null = torch.randn(1, 5, 32, generator=g), torch.zeros(1, 5, 32)
    t = torch.tensor([700.0])
    with torch.no_grad():
        got = guided_velocity(model, x, t, hidden, image, text, null, Guidance(1.0, 1.5))
        teacher = model.velocity(x, t, hidden, image, text)
        assert not torch.allclose(teacher, model.velocity(x, t, torch.zeros_like(hidden), image, text), atol=1e-3)
    torch.testing.assert_close(got, teacher, rtol=1e-5, atol=1e-5)


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


def test_refining_starts_from_the_slot_noised_to_start_sigma_and_takes_the_sigmas_scaled():
    """``start_sigma`` < 1 (``motionstream eval --start-sigma``): the trajectory starts at (1 - s) slot + s noise and
    steps through the sampling sigmas scaled by s (as a refining stream); a silent change model returns its slot from any start; a model whose
    slot is not a whole video is refused by name."""
    import pytest

    from motionstream_core.train.common import build_model, model_config

    model = build_model(model_config("tiny-clean"), 0).eval()
    with torch.no_grad():
        for p in model.dit.head.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
        model.latent_std.copy_(torch.linspace(0.2, 1.0, 16))
    g = torch.Generator().manual_seed(3)
    noise, track, image = (torch.randn(1, 16, 3, 8, 8, generator=g) for _ in range(3))
    slot = image[:, :, :1].expand(-1, -1, 3, -1, -1).contiguous()
    text = torch.randn(1, 5, model.config.dit.text_dim, generator=g)
    sig = flow.sampling_sigmas(8, 6.0)
    s0 = 0.5
    scaled = sig[1:] * s0
    with torch.no_grad():
        x0, traj = teacher_sample(model, noise, track, slot, text, text, 8, 6.0, return_trajectory=True, start_sigma=s0)
        torch.testing.assert_close(traj[0], 0.5 * slot + 0.5 * noise, rtol=0, atol=1e-6)
        assert traj.shape[0] == 8 + 1 and torch.equal(traj[-1], x0)
        v = model.velocity(traj[0], torch.tensor([s0 * 1000]), track, slot, text)
        torch.testing.assert_close(traj[1], traj[0] + (float(scaled[0]) - s0) * v, rtol=1e-5, atol=1e-5)
        assert torch.equal(teacher_sample(model, noise, track, slot, text, text, 8, 6.0, start_sigma=1.0),
                           teacher_sample(model, noise, track, slot, text, text, 8, 6.0))
        model.dit.head.head.weight.zero_()  # silent: F = 0, x0 = the slot at every step
        model.dit.head.head.bias.zero_()
        torch.testing.assert_close(teacher_sample(model, noise, track, slot, text, text, 8, 6.0, start_sigma=0.3),
                                   slot, rtol=0, atol=1e-5)
    plain = build_model(model_config("tiny-photo"), 0).eval()
    with pytest.raises(ValueError, match="start_sigma 0.5 refines the image slot, which must be a whole video "
                                         "\\(reference start_image or warp\\); model 'tiny-photo''s is its first "
                                         "frame"):
        teacher_sample(plain, noise, track, slot, text, text, 8, 6.0, start_sigma=0.5)

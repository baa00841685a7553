"""Learning the change from the start image (the ``start_image`` reference, the ``demo-change`` model): the
velocity against its definition, a silent model streaming the still video, the change's channel std, and the
flag carried by configs and refused across warm starts."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from motionstream_core.checkpoints import CheckpointError, save_model
from motionstream_core.config import ConfigError, ModelConfig, Parameterisation, get_config
from motionstream_core.decoders import TinyVAE, TinyVAECodec
from motionstream_core.model import MotionStreamModel
from motionstream_core.stream import MotionStream
from motionstream_core.train.common import model_config
from motionstream_core.train.init import initial_model
from motionstream_core.train.teacher_train import channel_std


def _model(change: bool, seed: int = 0) -> MotionStreamModel:
    torch.manual_seed(seed)
    cfg = model_config("tiny-photo")
    cfg = dataclasses.replace(cfg, parameterisation=dataclasses.replace(
        cfg.parameterisation, reference="start_image" if change else "first_frame")).validate()
    model = MotionStreamModel(cfg).eval()
    with torch.no_grad():  # large random weights so that every input visibly matters
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
        model.latent_std.copy_(torch.linspace(0.1, 1.5, cfg.latent_channels))
    return model


def test_the_velocity_is_the_changes_velocity_minus_the_start_image():
    """v(x) = v_plain(x - (1 - sigma) image, slot = image in every frame) - image, per frame's own sigma: the same
    weights in a model without the flag, given that input and slot by hand, are the reference."""
    change, plain = _model(True), _model(False)
    plain.load_state_dict(change.state_dict())
    C = change.config.latent_channels
    image = torch.randn(2, C, 1, 8, 8)
    x, track = torch.randn(2, C, 3, 8, 8), torch.randn(2, C, 3, 8, 8)
    t = torch.tensor([[900.0, 400.0, 30.0], [1000.0, 0.0, 600.0]])  # per-frame timesteps (the causal student's)
    ctx = torch.randn(2, 8, change.config.dit.text_dim)
    slot = change.image_slot(image, 3, first_frame=3)  # a later chunk: the image is in every frame all the same
    assert torch.equal(slot, image.expand(-1, -1, 3, -1, -1))
    sigma = (t / 1000).view(2, 1, 3, 1, 1)
    with torch.no_grad():
        got = change.velocity(x, t, track, slot, ctx)
        want = plain.velocity(x - (1 - sigma) * image, t, track, slot, ctx) - image
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert plain.image_slot(image, 3, first_frame=3).abs().sum() == 0  # the paper's layout: frame 0 only


def _silent(model: MotionStreamModel) -> MotionStreamModel:
    """The model with its DiT's output zeroed and a (clamped) near-zero data std: it predicts no change at all."""
    with torch.no_grad():
        model.dit.head.head.weight.zero_()
        model.dit.head.head.bias.zero_()
        model.latent_std.fill_(1e-3)
    return model


def test_a_model_that_predicts_no_change_streams_the_still_video(stream_inputs):
    """Through the real stream (sink + rolling cache, 4 chunks): every latent frame is the start image's latent;
    the same silent network without the flag predicts the (near-zero) data mean instead."""
    image, text, tracks = stream_inputs
    change, plain = _silent(_model(True)), _silent(_model(False))
    codec = TinyVAECodec(TinyVAE(change.config.vae).eval())
    start = codec.encode_image(image.permute(2, 0, 1)[None].contiguous())
    for model, expect_still in ((change, True), (plain, False)):
        chunks = list(MotionStream(model, codec).session(image, text, tracks, num_frames=45, seed=0))
        assert len(chunks) == 4
        for chunk in chunks:
            err = (chunk.latents - start).abs().max().item()
            if expect_still:
                assert err < 1e-4, f"chunk {chunk.index}: latents differ from the start image by {err}"
            else:
                assert err > 0.1 * start.abs().max().item(), f"chunk {chunk.index}: the plain model kept the image"


def test_channel_std_of_the_change_matches_torch():
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(10, 4, 3, 5, 5, generator=g) * torch.tensor([1.0, 0.1, 3.0, 0.5]).view(1, 4, 1, 1, 1)).half()
    image = z[:, :, :1] + 0.05 * torch.randn(10, 4, 1, 5, 5, generator=g).half()
    ref = (z.float() - image.float()).transpose(0, 1).reshape(4, -1).std(dim=1, unbiased=False)
    torch.testing.assert_close(channel_std(z, image, chunk=3), ref, rtol=1e-4, atol=1e-5)


def test_the_reference_round_trips_and_needs_a_track_head():
    cfg = model_config("tiny-change")
    assert ModelConfig.from_json(cfg.to_json()).parameterisation.reference == "start_image"
    assert ModelConfig.from_json(model_config("tiny-photo").to_json()).parameterisation.reference == "first_frame"
    assert model_config("demo-change").parameterisation.from_reference
    assert not model_config("demo-photo").parameterisation.from_reference
    tiny = get_config("tiny")  # as a text-to-video student: no track head, the DiT sees the noisy latent alone
    t2v = dataclasses.replace(tiny, track_head=None, dit=dataclasses.replace(tiny.dit, in_dim=tiny.latent_channels))
    with pytest.raises(ConfigError, match="reference 'start_image' needs the image slot of a model with track head"):
        dataclasses.replace(t2v, parameterisation=Parameterisation("flow", "start_image")).validate()


@pytest.mark.parametrize("source_change", [True, False])
def test_a_warm_start_across_the_flag_is_refused(tmp_path, source_change):
    save_model(MotionStreamModel(model_config("tiny-change" if source_change else "tiny-photo")),
               tmp_path / "m.safetensors")
    target = model_config("tiny-photo" if source_change else "tiny-change")
    learned, learns = ("the change from a reference video \\(reference 'start_image'\\)",
                       "the latent itself \\(reference 'first_frame'\\)")[::1 if source_change else -1]
    with pytest.raises(CheckpointError, match=f"m.safetensors learned {learned} and model config '{target.name}' "
                                              f"learns {learns}: start it from scratch"):
        initial_model(target, str(tmp_path / "m.safetensors"), text_encoder=False)
    same = initial_model(model_config("tiny-change" if source_change else "tiny-photo"), str(tmp_path / "m.safetensors"),
                         text_encoder=False)
    assert same.config.parameterisation.from_reference == source_change


def test_every_training_config_builds_and_demo_change_p2_has_8px_tokens():
    from motionstream_core.train.common import TRAIN_CONFIGS

    for name in TRAIN_CONFIGS:
        model_config(name)  # validates
    cfg = model_config("demo-change-p2")
    with torch.device("meta"):
        model = MotionStreamModel(cfg)
    h = cfg.height // cfg.spatial_stride // cfg.dit.patch_size[1]
    w = cfg.width // cfg.spatial_stride // cfg.dit.patch_size[2]
    assert (h * w, cfg.height // h) == (256, 8)  # 256 tokens a latent frame, each 8 px
    assert tuple(model.dit.patch_embedding.weight.shape) == (cfg.dit.dim, 48, 1, 2, 2)
    base = model_config("demo-change")
    assert dataclasses.replace(cfg, name=base.name, dit=base.dit) == base  # only the patch differs

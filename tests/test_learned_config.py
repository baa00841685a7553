"""The learned-motion demo configs: every chunk from pure noise, no warp, no codec copy in the model."""

import pytest
import torch

from motionstream_core.train.common import build_model, model_config


@pytest.mark.parametrize("name,size", [("demo-learn64", 64), ("demo-learn128", 128)])
def test_learned_configs_stream_from_noise_without_a_warp(name, size):
    cfg = model_config(name)
    assert (cfg.height, cfg.width) == (size, size) and cfg.dit.patch_size == (1, 2, 2)
    assert cfg.stream.start_sigma == 1.0 and not cfg.parameterisation.warps
    assert cfg.track_head.appearance_channels == cfg.latent_channels  # tracks carry their start content
    model = build_model(cfg, text_encoder=False)
    assert not any("slot_codec" in k for k in model.state_dict())
    # the image slot is the start latent itself (no reference from the tracks): the tracks enter through the track
    # head only
    image = torch.randn(1, cfg.latent_channels, 1, size // 4, size // 4)
    slot = model.image_slot(image, 3, 0)
    assert torch.equal(slot, image.expand(-1, -1, 3, -1, -1))

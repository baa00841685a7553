"""A decoder whose channels or strides differ from the model's is refused when the run is set up, with one
error naming what differs and which decoders fit (it used to fail mid-stream with a raw tensor error)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from motionstream_core.config import WAN21, get_config
from motionstream_core.decoders import TinyDecoder, save_autoencoder
from motionstream_core.model import MotionStreamModel
from motionstream_core.pipeline import (DecoderSource, LoadedModel, ModelSource, Pipeline, Runtime, load_decoder,
                                        load_model)
from motionstream_core.text_encoder import DemoTextEncoder
from motionstream_core.tiny_vae import TAEW2_1_CONFIG, TinyVAE

CPU = Runtime.resolve("cpu", "fp32", "sdpa")


@pytest.fixture(scope="module")
def taew(tmp_path_factory):
    path = tmp_path_factory.mktemp("dec") / "taew2_1.pth"
    torch.save(TinyVAE(TAEW2_1_CONFIG).state_dict(), path)
    return load_decoder(DecoderSource(path, name="taew2_1.pth"))


def test_a_wan_decoder_on_the_demo_model_names_what_differs_and_what_fits(taew):
    demo = load_model(ModelSource(), CPU)
    with pytest.raises(ValueError) as e:
        Pipeline(demo, taew)
    assert str(e.value) == ("decoder 'taew2_1.pth' does not fit model 'demo': spatial stride 8 (model 4), so it "
                            "cannot decode this model's own latents. Decoders that fit: its built-in decoder (the "
                            "model's own)")
    Pipeline(demo, None)  # the one that fits


def test_the_demo_autoencoder_on_a_wan_model_names_the_wan_decoders(tmp_path):
    cfg = dataclasses.replace(get_config("tiny"), latent_space=WAN21).validate()
    wan_model = LoadedModel(MotionStreamModel(cfg).eval(), "tiny-wan")
    demo = load_model(ModelSource(), CPU)
    save_autoencoder(demo.own_codec.vae, tmp_path / "demo_autoencoder.safetensors")
    dec = load_decoder(DecoderSource(tmp_path / "demo_autoencoder.safetensors", name="demo_autoencoder"))
    with pytest.raises(ValueError, match=r"^decoder 'demo_autoencoder' does not fit model 'tiny-wan': spatial stride 4 "
                                         r"\(model 8\), so it cannot decode this model's wan2.1 latents. Decoders that "
                                         r"fit: taew2_1 \(models/vae_approx\) or the Wan 2.1 VAE"):
        Pipeline(wan_model, dec)


def test_other_channels_are_named_too():
    cfg = get_config("tiny")
    model = LoadedModel(MotionStreamModel(cfg, text_encoder=DemoTextEncoder.from_config(cfg)).eval(), "tiny")
    wide = TinyVAE(dataclasses.replace(cfg.vae, latent_channels=32))
    with pytest.raises(ValueError, match=r"decoder 'wide' does not fit model 'tiny': latent channels 32 \(model 16\), "
                                         r"so it cannot decode this model's own latents. Decoders that fit: the "
                                         r"autoencoder trained with it \(16 channels, stride 8, 4 frames a latent"):
        Pipeline(model, load_decoder_from(wide, "wide"))
    # the same layout as the model's own decodes a chunk
    pipe = Pipeline(model, load_decoder_from(TinyVAE(cfg.vae), "own layout"))
    run = pipe.prepare(np.zeros((64, 64, 3), np.float32), "x", num_frames=4)
    assert next(iter(pipe.session(run))).frames.shape[1:] == (64, 64, 3)


def load_decoder_from(vae, name):
    from motionstream_core.pipeline import Decoder

    return Decoder(name, None, tiny=TinyDecoder(vae.eval()))

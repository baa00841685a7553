"""Where the model configs live: the runtime names the shipped ones (config.py); the training holds its ablation
arms and test configs (train/configs.py), each one step from a runtime config; checkpoints carry their own."""

import dataclasses

from motionstream_core import config
from motionstream_core.checkpoints import load_model, save_model
from motionstream_core.config import StreamConfig, get_config
from motionstream_core.demo import load_demo
from motionstream_core.model import MotionStreamModel
from motionstream_core.train.common import model_config
from motionstream_core.train.configs import TRAIN_CONFIGS, demo_arm, tiny_arm


def test_the_runtime_names_only_its_shipped_configs():
    assert set(config.NAMED_CONFIGS) == {"tiny", "demo", "demo-warp-refine", "wan2.1-1.3b"}
    assert not set(TRAIN_CONFIGS) & set(config.NAMED_CONFIGS)


def test_the_shipped_config_is_the_demo_weights_config():
    model, _ = load_demo()
    assert model.config == get_config("demo-warp-refine")


def test_an_arm_with_every_shipped_lever_is_the_shipped_config():
    shipped = get_config("demo-warp-refine")
    arm = demo_arm("demo-warp-refine", precondition=True, appearance=True, change=True, clean=True, warp=10.0,
                   stream=shipped.stream)
    assert arm == shipped
    assert dataclasses.replace(model_config("demo-warp"), name=shipped.name, stream=shipped.stream) == shipped
    refine = StreamConfig(steps=3, shift=1.0, start_sigma=0.3)
    assert dataclasses.replace(model_config("tiny-warp"), name="tiny-warp-refine", stream=refine) == \
        model_config("tiny-warp-refine")
    assert tiny_arm("x").vae == get_config("tiny").vae and tiny_arm("x", warp=6.0).vae.kind == "patch_pca"


def test_every_training_config_validates_and_carries_its_name():
    for name in TRAIN_CONFIGS:
        assert model_config(name).name == name


def test_a_checkpoint_of_an_ablation_arm_loads_from_its_stored_config(tmp_path):
    cfg = model_config("tiny-clean")
    save_model(MotionStreamModel(cfg), tmp_path / "arm.safetensors")
    assert load_model(tmp_path / "arm.safetensors").config == cfg

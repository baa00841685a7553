"""Where the model configs live: the runtime names the shipped ones (config.py); the training holds its ablation
arms and test configs (train/configs.py), each one step from a runtime config; checkpoints carry their own."""

import dataclasses
import json

import pytest

from motionstream_core import config
from motionstream_core.checkpoints import load_model, save_model
from motionstream_core.config import ConfigError, ModelConfig, Parameterisation, StreamConfig, get_config
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
    arm = demo_arm("demo-warp-refine", prediction="sample", appearance=True, reference="warp", warp=10.0,
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


def test_a_config_stored_with_the_old_flags_maps_to_its_parameterisation():
    """Checkpoints and run.json files written before the parameterisation carry four flags; each combination the
    project ever wrote maps to one parameterisation (the shipped demo's file is one of them)."""
    cases = {(False, False, False, 0.0): Parameterisation("flow", "first_frame"),
             (True, False, False, 0.0): Parameterisation("flow_preconditioned", "first_frame"),
             (True, True, False, 0.0): Parameterisation("flow_preconditioned", "start_image"),
             (True, True, True, 0.0): Parameterisation("sample", "start_image"),
             (True, True, True, 10.0): Parameterisation("sample", "warp", 10.0)}
    for (pre, change, clean, warp), want in cases.items():
        data = get_config("tiny").to_dict()
        del data["parameterisation"]
        data.update(precondition=pre, change_from_start=change, predict_clean=clean, slot_warp=warp)
        if warp:
            data["vae"] = {"latent_channels": 16, "stride": 8, "pack": 4, "kind": "patch_pca"}
        assert ModelConfig.from_dict(data).parameterisation == want
    both = get_config("tiny").to_dict()
    both["precondition"] = True
    with pytest.raises(ConfigError, match="model config has both a parameterisation and the flags it replaces"):
        ModelConfig.from_dict(both)
    from safetensors import safe_open
    from motionstream_core.demo import DEMO_WEIGHTS
    with safe_open(str(DEMO_WEIGHTS["student"]), "pt") as f:
        stored = json.loads(f.metadata()["motionstream_config"])
    if "parameterisation" not in stored:  # the shipped file predates it
        assert stored["predict_clean"] and stored["slot_warp"] == 10.0
    assert ModelConfig.from_dict(stored).parameterisation == Parameterisation("sample", "warp", 10.0)

"""A model file's stored config cannot ask for unbounded memory: its cache, RoPE, text and track-ID sizes are
capped to what the architecture allows when the config is read, before the model, its KV cache or its RoPE
tables exist, and the error names the field."""

from __future__ import annotations

import json
import tracemalloc

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from motionstream_core.checkpoints import CONFIG_KEY, CheckpointError, load_model, save_model
from motionstream_core.config import (MAX_CACHE_TOKENS, MAX_ROPE_POSITIONS, ConfigError, ModelConfig, get_config)
from motionstream_core.model import MotionStreamModel

MB = 1 << 20


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("caps") / "tiny.safetensors"
    save_model(MotionStreamModel(get_config("tiny")), path)
    return path


def _with_config(src, dst, **changes):
    """``src`` with its stored config changed: ``section__field=value`` or ``field=value``."""
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    cfg = json.loads(meta[CONFIG_KEY])
    for key, value in changes.items():
        section, _, field = key.rpartition("__")
        (cfg[section] if section else cfg)[field] = value
    meta[CONFIG_KEY] = json.dumps(cfg)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize("changes, message", [
    ({"stream__sink_chunks": 10**9},
     r"stored config is invalid: StreamConfig: the cache's \(sink_chunks 1000000000 \+ window_chunks 1 \+ 1\) x "
     r"chunk_frames 3 = 3000000006 latent frames is more than MAX_ROPE_POSITIONS = 1024"),
    ({"stream__window_chunks": 400},
     r"window_chunks 400 .* = 1206 latent frames is more than MAX_ROPE_POSITIONS = 1024"),
    ({"stream__window_chunks": 300, "height": 1024, "width": 1024},  # within RoPE's positions, too many tokens
     r"image size 1024x1024 with the cache's 906 latent frames .* is 3710976 cached tokens, more than "
     r"MAX_CACHE_TOKENS = 131072"),
    ({"height": 64 * 10**6}, r"image size 64x64000000 is 4x4000000 latent tokens, more than MAX_ROPE_POSITIONS"),
    ({"text_len": 10**9}, r"ModelConfig 'tiny'.text_len \(1000000000\) is more than 512, MAX_TEXT_LEN"),
    ({"track_head__max_id": 10**10}, r"TrackHeadConfig.max_id \(10000000000\) is more than 65536, MAX_TRACK_IDS"),
])
def test_a_stored_config_asking_for_too_much_is_refused_naming_the_field(tiny_file, tmp_path, changes, message):
    bad = _with_config(tiny_file, tmp_path / "bad.safetensors", **changes)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=message):
            load_model(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MB, f"{peak / MB:.0f} MB allocated before the refusal"


def test_the_caps_leave_every_shipped_and_preset_config_valid():
    from motionstream_core.causal_checkpoints import PRESETS

    for name in ("tiny", "demo", "wan2.1-1.3b"):
        cfg = get_config(name)
        cfg.check_size(720, 1280)  # 720p runs on every shipped config
    for preset in PRESETS.values():
        preset.stream.validate()
        assert preset.stream.max_rope_frames <= MAX_ROPE_POSITIONS
        # a 720p stream with the preset's cache is within the token cap
        assert preset.stream.max_rope_frames * (720 // 16) * (1280 // 16) <= MAX_CACHE_TOKENS


def test_a_run_size_past_the_cache_cap_is_refused_before_the_cache():
    cfg = get_config("wan2.1-1.3b")
    with pytest.raises(ConfigError, match=r"image size 4096x4096 with the cache's 9 latent frames .* is 589824 cached "
                                          r"tokens, more than MAX_CACHE_TOKENS = 131072"):
        cfg.check_size(4096, 4096)
    assert isinstance(ModelConfig.from_json(cfg.to_json()), ModelConfig)

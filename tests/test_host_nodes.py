"""The real host lists every MotionStream node with the right input and output types (GET /object_info)."""

from __future__ import annotations

import pytest

from host_scripts.host_client import http

pytestmark = pytest.mark.host

# node -> (required inputs {name: type}, optional inputs {name: type}, outputs [type])
EXPECTED = {
    "MotionStreamModelLoader": (
        {"model_name": "COMBO", "config": "COMBO", "dtype": "COMBO", "device": "COMBO", "attention": "COMBO"},
        {"weight_dtype": "COMBO"},
        ["MOTIONSTREAM_MODEL"]),
    "MotionStreamDecoderLoader": ({"decoder": "COMBO"}, {"vae": "VAE", "vae_decoding": "COMBO"},
                                  ["MOTIONSTREAM_DECODER"]),
    "MotionStreamCausalModelLoader": (
        {"checkpoint": "COMBO", "preset": "COMBO", "lora": "COMBO", "width": "INT", "height": "INT", "dtype": "COMBO",
         "device": "COMBO", "attention": "COMBO"},
        {"weight_dtype": "COMBO", "chunk_frames": "INT", "sink_chunks": "INT", "window_chunks": "INT", "clip": "CLIP"},
        ["MOTIONSTREAM_MODEL"]),
    "MotionStreamGenerate": (
        {"model": "MOTIONSTREAM_MODEL", "frames": "INT", "seed": "INT", "steps": "INT",
         "prompt": "STRING", "editor_state": "STRING"},
        {"image": "IMAGE", "decoder": "MOTIONSTREAM_DECODER", "positive": "CONDITIONING",
         "clip_vision_output": "CLIP_VISION_OUTPUT", "tracks": "TRACKS", "drag_mode": "COMBO", "t_weak": "FLOAT",
         "t_strong": "FLOAT"},
        ["IMAGE", "TRACKS", "FLOAT", "VIDEO"]),  # video: every frame, as a file
    "MotionStreamTracksFromCoords": ({"coordinates": "STRING", "format": "COMBO", "fps": "FLOAT", "num_frames": "INT"},
                                     {"image": "IMAGE", "width": "INT", "height": "INT"}, ["TRACKS"]),
    "MotionStreamTracksFromComfy": ({"tracks": "TRACKS", "fps": "FLOAT"},
                                    {"image": "IMAGE", "width": "INT", "height": "INT"}, ["TRACKS"]),
    "MotionStreamTracksFromVideo": ({"video": "IMAGE", "fps": "FLOAT", "grid_spacing": "INT", "max_fb_error": "FLOAT",
                                     "max_frames": "INT"}, {"image": "IMAGE", "width": "INT", "height": "INT"},
                                    ["TRACKS", "STRING"]),  # STRING: the report (points kept, re-seeded, cut)
    "MotionStreamCameraTracks": (
        {"num_frames": "INT", "fps": "FLOAT", "grid_spacing": "INT", "pan_x": "FLOAT", "pan_y": "FLOAT", "tilt": "FLOAT",
         "yaw": "FLOAT", "roll": "FLOAT", "zoom": "FLOAT", "dolly": "FLOAT", "orbit": "FLOAT", "start": "FLOAT",
         "end": "FLOAT", "easing": "COMBO", "fov": "FLOAT"},
        {"depth": "IMAGE", "depth_is_disparity": "BOOLEAN", "image": "IMAGE", "width": "INT", "height": "INT"},
        ["TRACKS"]),
    "MotionStreamCombineTracks": ({"tracks_a": "TRACKS", "tracks_b": "TRACKS"},
                                  {"tracks_c": "TRACKS", "tracks_d": "TRACKS", "image": "IMAGE"}, ["TRACKS"]),
    "MotionStreamDrawTracks": ({"images": "IMAGE", "tracks": "TRACKS", "trail": "INT", "radius": "INT"}, {},
                               ["IMAGE"]),
    "MotionStreamExampleClip": ({"seed": "INT", "width": "INT", "height": "INT", "num_frames": "INT",
                                 "num_points": "INT"}, {}, ["IMAGE", "IMAGE", "STRING", "TRACKS", "FLOAT"]),
    "MotionStreamDemoPhoto": ({}, {}, ["IMAGE", "TRACKS", "STRING"]),
    "MotionStreamTextEmbeddingFile": ({"file": "COMBO"}, {}, ["CONDITIONING"]),
}


def _type(spec) -> str:
    return "COMBO" if isinstance(spec[0], list) or spec[0] == "COMBO" else spec[0]


@pytest.fixture(scope="module")
def object_info(comfy_host):
    status, info = http(comfy_host, "GET", "/object_info")
    assert status == 200
    return info


def test_every_node_is_listed_with_its_types(object_info):
    ours = sorted(k for k in object_info if k.startswith("MotionStream"))
    assert ours == sorted(EXPECTED), f"unexpected node list {ours}"
    for name, (required, optional, outputs) in EXPECTED.items():
        info = object_info[name]
        got_req = {k: _type(v) for k, v in info["input"].get("required", {}).items()}
        got_opt = {k: _type(v) for k, v in info["input"].get("optional", {}).items()}
        assert got_req == required, f"{name} required inputs"
        assert got_opt == optional, f"{name} optional inputs"
        assert info["output"] == outputs, f"{name} outputs"
        assert info["category"].startswith("MotionStream"), name
        assert info["python_module"].startswith("custom_nodes."), name


def test_generate_node_contract(object_info):
    info = object_info["MotionStreamGenerate"]
    assert info["output_node"] is True
    assert info["output_name"] == ["frames", "tracks", "fps", "video"]
    editor = info["input"]["required"]["editor_state"][1]
    assert editor.get("multiline") is True
    assert info["input"]["required"]["seed"][1].get("control_after_generate") is True
    assert info["input"]["hidden"]["unique_id"] == ["UNIQUE_ID"]


def test_model_and_decoder_lists(object_info, comfy_host):
    models = object_info["MotionStreamModelLoader"]["input"]["required"]["model_name"][1]["options"]
    assert models[0] == "MotionStream demo (built-in)"  # always listed, first
    assert comfy_host.models["model"] in models and comfy_host.models["broken"] in models
    decoders = object_info["MotionStreamDecoderLoader"]["input"]["required"]["decoder"][1]["options"]
    assert decoders[0].startswith("built-in") and decoders[-1].startswith("ComfyUI VAE")
    assert comfy_host.models["decoder"] in decoders


def test_demo_photo_hands_on_the_shipped_sample(comfy_host):
    """The Demo Photo node outputs the demo's photo exactly and its drag + pins intact (drawn over the photo in the
    host, compared with the same drawing of the sample read here), and GET /motionstream/demo_image (the editor's
    picture before a run) is the shipped file."""
    import json

    import numpy as np
    from PIL import Image

    from conftest import host_requires
    from test_host_stream import run

    from motionstream_core.demo import DEMO_ASSETS, load_demo_sample
    from motionstream_core.motion.draw import draw_tracks

    host_requires(comfy_host, "cv2")
    p = {"1": {"class_type": "MotionStreamDemoPhoto", "inputs": {}},
         "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "demo_photo/start"}},
         "3": {"class_type": "MotionStreamDrawTracks", "inputs": {"images": ["1", 0], "tracks": ["1", 1], "trail": 8,
                                                                 "radius": 0}},
         "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "demo_photo/drawn"}}}
    _, _, end = run(comfy_host, p)
    assert end["type"] == "execution_success", json.dumps(end)[:2000]
    out = comfy_host.base_dir / "output" / "demo_photo"
    start = np.asarray(Image.open(sorted(out.glob("start_*.png"))[-1]).convert("RGB"))
    assert np.array_equal(start, np.asarray(Image.open(DEMO_ASSETS["image"]).convert("RGB")))
    sample = load_demo_sample()
    drawn = sorted(out.glob("drawn_*.png"))
    assert len(drawn) == sample.tracks.num_frames, "one drawn frame per frame of the sample's tracks"
    want = draw_tracks(sample.image, sample.tracks, trail=8)
    for i in (0, sample.tracks.num_frames - 1):
        assert np.array_equal(np.asarray(Image.open(drawn[i]).convert("RGB")), want[i]), f"frame {i}"
    import urllib.request

    with urllib.request.urlopen(comfy_host + "/motionstream/demo_image", timeout=60) as r:
        assert (r.status, r.headers["Content-Type"]) == (200, "image/png")
        assert r.read() == DEMO_ASSETS["image"].read_bytes()


def test_health_route(comfy_host):
    status, body = http(comfy_host, "GET", "/motionstream/health")
    assert status == 200 and body["ok"] is True and body["version"] == "0.1.0"


def test_an_import_failure_is_reported_once_and_clearly():
    """Importing the pack with a dependency missing logs one clear error and leaves ComfyUI running."""
    import json
    import subprocess

    from conftest import COMFYUI_PATH, COMFYUI_PYTHON, REPO, host_missing_reason

    reason = host_missing_reason()
    if reason:
        pytest.skip(reason)
    out = subprocess.run([str(COMFYUI_PYTHON), str(REPO / "tests/host_scripts/import_failure.py"), str(COMFYUI_PATH),
                          str(REPO), "safetensors"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["raised"] is None, "the host's import of the pack does not fail"
    assert result["nodes"] == [] and result["web"] == "./js"
    assert len(result["errors"]) == 1, result["errors"]
    level, logger, message = result["errors"][0]
    assert logger == "motionstream" and "ComfyUI-MotionStream could not load" in message
    assert "safetensors" in message and "requirements.txt" in message

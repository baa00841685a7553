"""A ComfyUI VAE as the stream's decoder (nodes/vae_adapter.py), against the real host.

* In ComfyUI's Python, on a random-weight Wan 2.1 VAE: chunk-wise "exact" decoding (the causal cache
  carried between chunks) equals decoding the whole video at once; "overlap" decoding (fresh
  ``VAE.decode`` calls with previous latents as context) is only an approximation -- its error is
  printed (see the numbers in vae_adapter.py's docstring); ``encode_image`` equals ``VAE.encode``.
* In the server: Load VAE -> Load MotionStream Decoder ("ComfyUI VAE") -> Generate streams and finishes.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import COMFYUI_PATH, COMFYUI_PYTHON, REPO, host_missing_reason
from host_scripts.host_client import WSClient, queue_prompt

pytestmark = pytest.mark.host


def _host_python(*args, timeout=300) -> str:
    reason = host_missing_reason()
    if reason:
        print(f"\nSKIP: {reason}")
        pytest.skip(reason)
    out = subprocess.run([str(COMFYUI_PYTHON), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_exact_chunked_decoding_equals_whole_video_decoding():
    result = json.loads(_host_python(REPO / "tests/host_scripts/vae_overlap.py", COMFYUI_PATH, REPO, 16, 9, "2"))
    exact = next(r for r in result["results"] if r["mode"] == "exact")
    overlap = next(r for r in result["results"] if r["mode"] == "overlap")
    print(f"\nWan VAE chunk decoding vs whole video: exact max err {exact['max_abs_err']:.2e}; overlap (context 2) "
          f"mean {overlap['mean_abs_err']:.4f}, max {overlap['max_abs_err']:.3f}, PSNR {overlap['psnr_db']:.1f} dB")
    assert exact["frames"] == [33, 33] and overlap["frames"] == [33, 33]
    assert exact["max_abs_err"] < 1e-5
    assert overlap["max_err_per_chunk"][0] == 0.0, "the first chunk has no context to miss"
    assert result["encode_max_abs_err"] == 0.0 and result["encode_shape"] == [1, 16, 1, 2, 2]
    assert result["saturated"] < 0.2, "the random VAE's output is not just clipped"


def test_generate_with_a_comfyui_vae(comfy_host):
    vae_dir = comfy_host.base_dir / "models" / "vae"
    vae_dir.mkdir(exist_ok=True)
    _host_python(REPO / "tests/host_scripts/make_wan_vae.py", COMFYUI_PATH, vae_dir / "wan-random-test.safetensors")
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0x4080C0}},
        "2": {"class_type": "MotionStreamModelLoader",
              "inputs": {"model_name": comfy_host.models["model"], "config": "auto", "dtype": "auto",
                         "device": "auto", "attention": "auto"}},
        "5": {"class_type": "VAELoader", "inputs": {"vae_name": "wan-random-test.safetensors"}},
        "3": {"class_type": "MotionStreamDecoderLoader",
              "inputs": {"decoder": "ComfyUI VAE (connect 'vae')", "vae": ["5", 0], "vae_decoding": "exact"}},
        "4": {"class_type": "MotionStreamGenerate",
              "inputs": {"model": ["2", 0], "image": ["1", 0], "frames": 21, "seed": 1, "steps": 0, "prompt": "a",
                         "editor_state": "", "decoder": ["3", 0]}},
    }
    ws = WSClient(comfy_host)
    try:
        status, body = queue_prompt(comfy_host, prompt, ws.client_id)
        assert status == 200, body
        end = ws.wait_prompt_end(body["prompt_id"], timeout=240)
        assert end["type"] == "execution_success", json.dumps(end)[:2000]
        events = ws.events("motionstream.frames")
        assert [len(e["frames"]) for e in events] == [9, 12]
    finally:
        ws.close()
        (vae_dir / "wan-random-test.safetensors").unlink(missing_ok=True)


def test_tiny_decoders_from_vae_approx(comfy_host):
    """A taew2_1-layout file (.pth) is recognised and streams; a file that is no decoder is a clear error."""
    from test_host_stream import prompt_for, run

    p = prompt_for(comfy_host, 9, seed=1)
    p["3"]["inputs"]["decoder"] = comfy_host.models["taew2_1"]
    ws, _, end = run(comfy_host, p)
    assert end["type"] == "execution_success", json.dumps(end)[:2000]
    assert [len(e["frames"]) for e in ws.events("motionstream.frames")] == [9]
    ws.close()
    p["3"]["inputs"]["decoder"] = comfy_host.models["wrong_decoder"]
    ws, _, end = run(comfy_host, p)
    ws.close()
    assert end["type"] == "execution_error"
    assert "is not a tiny video decoder this pack knows" in end["data"]["exception_message"]
    p["3"]["inputs"]["decoder"] = "ComfyUI VAE (connect 'vae')"
    ws, _, end = run(comfy_host, p)
    ws.close()
    assert end["type"] == "execution_error" and "nothing is connected to 'vae'" in end["data"]["exception_message"]

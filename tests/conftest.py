"""Shared pytest fixtures.

``stream_inputs`` (module-scoped): the inputs of the tiny-model stream tests.

``comfy_host`` (session-scoped) runs the real ComfyUI host with this pack installed and yields its
base URL (a ``str``; it also carries ``.base_dir``, ``.log_path``, ``.pid`` and ``.models``):

* the host is ``$COMFYUI_PATH`` (default /opt/ComfyUI) run by ``$COMFYUI_PYTHON`` (default
  /opt/comfyui-venv/bin/python); when either is missing the test is skipped and the reason printed;
* it runs ``main.py --cpu`` on a free port on 127.0.0.1 with ``--base-directory`` set to a temporary
  folder, so models, custom_nodes, input, output, temp and user files all live there and nothing is
  written into the ComfyUI checkout (the database is in memory, no bytecode is written);
* this checkout is symlinked as ``custom_nodes/ComfyUI-MotionStream``;
* ``models/`` holds small random test models (``.models`` names them): a tiny-config MotionStream
  checkpoint with the demo text encoder (``motionstream/tiny-test.safetensors``), one without a text
  encoder (``tiny-notext``), a corrupt file (``broken``), a plain DiT without track head
  (``plain-dit``), a tiny decoder with the same latent channels (``vae_approx/tiny-test-decoder``), a
  random decoder in the taew2_1 layout (``vae_approx/taew2_1.pth``), a file that is no decoder
  (``wrong-decoder``), and tiny causal Wan students in their real file layouts
  (``diffusion_models/self_forcing_tiny.pt``, LongLive's base + ``loras/longlive_lora_tiny.pt``);
* ``custom_nodes/`` also holds a test-only node, ``TestRandomConditioning`` (random CONDITIONING
  of any width), so the tiny causal models stream without the multi-GB Wan text encoder, and a
  test-only route, ``POST /motionstream-test/clock`` (freeze / advance / release the clock the
  steering rate limit reads), so rate-limit tests do not depend on the machine's speed;
* ``input/motionstream-test.png`` is a 64x64 textured test image (``.image``), and ``.missing`` lists the
  packages of the pack's requirements.txt the host's Python lacks (``host_requires`` skips on them);
* the fixture waits until the server answers, and stops it (and removes the folder) at the end.
  If the server dies while starting, the test fails with the tail of its log.

Helpers for driving it over HTTP and the websocket are in ``tests/host_scripts/host_client.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

COMFYUI_PATH = Path(os.environ.get("COMFYUI_PATH", "/opt/ComfyUI"))
COMFYUI_PYTHON = Path(os.environ.get("COMFYUI_PYTHON", "/opt/comfyui-venv/bin/python"))
PACK_NAME = "ComfyUI-MotionStream"
START_TIMEOUT_S = 180


PACK_MODULES = ("cv2", "einops", "av", "safetensors", "PIL")  # what requirements.txt brings
TEST_IMAGE = "motionstream-test.png"


class ComfyHost(str):
    """The base URL, with the running host's details attached."""

    base_dir: Path
    log_path: Path
    pid: int
    models: dict
    missing: list  # modules of the pack's requirements.txt the host's Python lacks
    image: str  # a 64x64 textured PNG in the host's input folder (for LoadImage)


def host_requires(host: ComfyHost, *modules: str) -> None:
    """Skip (saying why) when the host's Python lacks a package the test's nodes need."""
    lacking = [m for m in modules if m in host.missing]
    if lacking:
        _skip(f"ComfyUI's Python lacks {', '.join(lacking)}: install the pack's requirements into it "
              f"({COMFYUI_PYTHON} -m pip install -r {REPO / 'requirements.txt'})")


def _missing_modules() -> list[str]:
    code = ("import importlib.util, json; print(json.dumps([m for m in %r if importlib.util.find_spec(m) is None]))"
            % (PACK_MODULES,))
    out = subprocess.run([str(COMFYUI_PYTHON), "-c", code], capture_output=True, text=True, timeout=120)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else list(PACK_MODULES)


def _write_test_image(path: Path) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:64, 0:64]
    img = np.stack([128 + 100 * np.sin(x / 5), 128 + 100 * np.cos(y / 7), 96 + 0 * x], -1)
    img[20:44, 20:44] = (230, 60, 50)  # a red square
    img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path)


def host_missing_reason() -> str | None:
    if not (COMFYUI_PATH / "main.py").is_file():
        return f"the ComfyUI host is not installed at {COMFYUI_PATH} (set COMFYUI_PATH; see shared/comfyui-host.md)"
    if not COMFYUI_PYTHON.is_file():
        return f"ComfyUI's Python is not at {COMFYUI_PYTHON} (set COMFYUI_PYTHON; see shared/comfyui-host.md)"
    return None


def _skip(reason: str):
    print(f"\nSKIP: {reason}", file=sys.stderr)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_test_models(models_dir: Path) -> dict:
    """Small random models for the host (see the module docstring). Returns their names."""
    import torch
    from safetensors.torch import save_file

    from motionstream_core.checkpoints import save_model
    from motionstream_core.config import get_config
    from motionstream_core.model import MotionStreamModel
    from motionstream_core.text_encoder import DemoTextEncoder
    from motionstream_core.tiny_vae import TinyVAE

    cfg = get_config("tiny")
    (models_dir / "motionstream").mkdir(parents=True, exist_ok=True)
    (models_dir / "vae_approx").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1234)

    def randomised(module):  # default init makes near-constant frames; this makes varied, steerable ones
        with torch.no_grad():
            for p in module.parameters():
                p.copy_(torch.randn_like(p) * (1.0 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.02))
        return module

    model = randomised(MotionStreamModel(cfg, text_encoder=DemoTextEncoder.from_config(cfg)))
    save_model(model, models_dir / "motionstream" / "tiny-test.safetensors")
    save_model(randomised(MotionStreamModel(cfg)), models_dir / "motionstream" / "tiny-notext.safetensors")
    (models_dir / "motionstream" / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header")
    save_file({k: v.contiguous() for k, v in model.dit.state_dict().items()},
              str(models_dir / "motionstream" / "plain-dit.safetensors"))
    vae = randomised(TinyVAE(cfg.vae))
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()},
              str(models_dir / "vae_approx" / "tiny-test-decoder.safetensors"))
    from motionstream_core.tiny_vae import TAEW2_1_CONFIG

    torch.save(TinyVAE(TAEW2_1_CONFIG).state_dict(), models_dir / "vae_approx" / "taew2_1.pth")  # random, real layout
    save_file({"decoder.1.weight": torch.zeros(3, 3)}, str(models_dir / "vae_approx" / "wrong-decoder.safetensors"))
    causal = make_causal_test_models(models_dir, randomised)
    return {**causal, "model": "tiny-test.safetensors", "model_notext": "tiny-notext.safetensors",
            "broken": "broken.safetensors", "plain_dit": "plain-dit.safetensors",
            "decoder": "tiny-test-decoder.safetensors", "taew2_1": "taew2_1.pth",
            "wrong_decoder": "wrong-decoder.safetensors"}


def make_causal_test_models(models_dir: Path, randomised) -> dict:
    """Tiny random causal Wan students in the public files' real layouts (text width 32, dim 128): a
    Self-Forcing ``.pt`` (``generator_ema`` + ``generator``, keys prefixed ``model.``), and LongLive's
    base ``.pt`` + PEFT ``lora.pt`` (in models/loras)."""
    import torch

    from motionstream_core.causal_checkpoints import causal_config, get_preset
    from motionstream_core.config import DiTConfig
    from motionstream_core.model import MotionStreamModel

    dit = DiTConfig(dim=128, ffn_dim=64, num_heads=1, num_layers=2, in_dim=16, out_dim=16, text_dim=32, freq_dim=32,
                    image_cross_attn=False)
    (models_dir / "diffusion_models").mkdir(parents=True, exist_ok=True)
    (models_dir / "loras").mkdir(parents=True, exist_ok=True)
    model = randomised(MotionStreamModel(causal_config(dit, get_preset("self-forcing"))))
    sd = {"model." + k: v for k, v in model.dit.state_dict().items()}
    torch.save({"generator_ema": sd, "generator": sd}, models_dir / "diffusion_models" / "self_forcing_tiny.pt")
    torch.save({"generator": sd}, models_dir / "diffusion_models" / "longlive_base_tiny.pt")
    lora = {}
    for name, mod in model.dit.blocks.named_modules(prefix="blocks"):
        if isinstance(mod, torch.nn.Linear):
            lora[f"base_model.model.{name}.lora_A.weight"] = torch.randn(4, mod.in_features) * 0.05
            lora[f"base_model.model.{name}.lora_B.weight"] = torch.randn(mod.out_features, 4) * 0.05
    torch.save({"generator_lora": lora}, models_dir / "loras" / "longlive_lora_tiny.pt")
    return {"causal": "self_forcing_tiny.pt", "longlive": "longlive_base_tiny.pt", "longlive_lora": "longlive_lora_tiny.pt"}


@pytest.fixture(scope="session")
def comfy_host(tmp_path_factory):
    """Start the real ComfyUI host with this pack; yield its base URL (see the module docstring)."""
    reason = host_missing_reason()
    if reason:
        _skip(reason)
    base = tmp_path_factory.mktemp("comfy_base")
    for d in ("custom_nodes", "input", "output", "temp", "user", "models"):
        (base / d).mkdir(exist_ok=True)
    os.symlink(REPO, base / "custom_nodes" / PACK_NAME)
    # test-only: random CONDITIONING for the tiny models (no multi-GB text encoder in tests)
    shutil.copy(REPO / "tests" / "host_scripts" / "random_conditioning_node.py",
                base / "custom_nodes" / "random_conditioning_node.py")
    # test-only: a route that controls the clock of the steering rate limit (machine-speed-free tests)
    shutil.copy(REPO / "tests" / "host_scripts" / "rate_clock_node.py", base / "custom_nodes" / "rate_clock_node.py")
    # test-only: what ComfyUI's model management holds, read inside the host
    shutil.copy(REPO / "tests" / "host_scripts" / "memory_probe_node.py", base / "custom_nodes" / "memory_probe_node.py")
    models = make_test_models(base / "models")
    _write_test_image(base / "input" / TEST_IMAGE)
    missing = _missing_modules()
    if missing:
        print(f"\nNOTE: ComfyUI's Python lacks {missing} from requirements.txt; tests of nodes that need them skip",
              file=sys.stderr)
    port = _free_port()
    log_path = base / "comfyui.log"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    cmd = [str(COMFYUI_PYTHON), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
           "--base-directory", str(base), "--database-url", "sqlite:///:memory:"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=str(COMFYUI_PATH), stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-4000:]
                pytest.fail(f"ComfyUI exited with {proc.returncode} while starting:\n{tail}")
            try:
                with urllib.request.urlopen(url + "/object_info/MotionStreamGenerate", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-4000:]
                pytest.fail(f"ComfyUI did not answer within {START_TIMEOUT_S} s:\n{tail}")
            time.sleep(0.5)
        host = ComfyHost(url)
        host.base_dir, host.log_path, host.pid, host.models = base, log_path, proc.pid, models
        host.missing, host.image = missing, TEST_IMAGE
        yield host
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def stream_inputs():
    """(image float [64, 64, 3], TextCondition, Tracks): a random start image and text for the ``tiny`` config and
    two 45-frame tracks at 16 fps, one dragged along a line, one pinned."""
    import numpy as np
    import torch

    from motionstream_core.stream import TextCondition
    from motionstream_core.tracks import Tracks

    g = torch.Generator().manual_seed(1)
    image = torch.rand(64, 64, 3, generator=g)
    text = TextCondition(torch.randn(1, 8, 32, generator=g), torch.randn(1, 4, 24, generator=g))
    T = 45
    path = np.stack([np.linspace([10, 10], [50, 40], T), np.full((T, 2), 30.0)], axis=1).astype(np.float32)
    tracks = Tracks(path=path, visible=np.ones((T, 2), bool), fps=16, width=64, height=64)
    return image, text, tracks

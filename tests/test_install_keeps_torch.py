"""Installing the pack the ComfyUI way (``pip install -r requirements.txt``, then ``python install.py``) never
touches torch, numpy, triton or a CUDA package.

A fresh virtual environment holds the records of an older ComfyUI install (numpy 1.26.4 and torch 2.4.0 as
installed metadata, not the real wheels); pip resolves each step against PyPI with ``--dry-run --report``,
and nothing in either report may install or replace torch, numpy, triton or nvidia-* packages. Needs PyPI
(metadata and the OpenCV wheel pip reads its requirements from)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GUARDED = re.compile(r"^(torch|numpy|triton|nvidia-.*)$")

# the older ComfyUI environment, as pip sees installed distributions: their metadata
RECORDS = {
    "numpy": ("1.26.4", []),
    "torch": ("2.4.0", ["filelock", "typing-extensions>=4.8.0", "sympy", "networkx", "jinja2", "fsspec",
                        'nvidia-cuda-runtime-cu12==12.1.105; platform_system == "Linux" and platform_machine == '
                        '"x86_64"',
                        'triton==3.0.0; platform_system == "Linux" and platform_machine == "x86_64" and '
                        'python_version < "3.13"']),
}


@pytest.fixture(scope="module")
def old_comfy_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("old_comfy") / "venv"
    venv.EnvBuilder(with_pip=True).create(root)
    python = root / "bin" / "python"
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    for name, (version, requires) in RECORDS.items():
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                       + "".join(f"Requires-Dist: {r}\n" for r in requires))
        (info / "INSTALLER").write_text("pip\n")
        (info / "RECORD").write_text(f"{info.name}/METADATA,,\n{info.name}/INSTALLER,,\n{info.name}/RECORD,,\n")
    listed = subprocess.run([str(python), "-m", "pip", "list", "--isolated", "--format", "json"],
                            capture_output=True, text=True, check=True).stdout
    assert {(d["name"], d["version"]) for d in json.loads(listed)} >= {("numpy", "1.26.4"), ("torch", "2.4.0")}
    return python


def _dry_run(python: Path, report: Path, *args: str) -> list[tuple[str, str]]:
    """(name, version) of everything pip would install; ``--isolated``: this machine's pip settings (local
    indexes, constraints) play no part, as on a user's machine."""
    done = subprocess.run([str(python), *args, "--isolated", "--dry-run", "--report", str(report)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    return [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.loads(report.read_text())["install"]]


def _guarded(installs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(n, v) for n, v in installs if GUARDED.match(re.sub(r"[-_.]+", "-", n).lower())]


def test_requirements_leave_torch_numpy_and_cuda_alone(old_comfy_env, tmp_path):
    installs = _dry_run(old_comfy_env, tmp_path / "requirements.json", "-m", "pip", "install", "-r",
                        str(REPO / "requirements.txt"))
    assert installs, "pip would install nothing: the environment already held the requirements?"
    assert _guarded(installs) == [], installs


def test_install_py_picks_an_opencv_for_the_installed_numpy(old_comfy_env, tmp_path):
    # the unbounded requirement the pack used to install does upgrade numpy here: the environment can fail
    unbounded = _dry_run(old_comfy_env, tmp_path / "unbounded.json", "-m", "pip", "install",
                         "opencv-python-headless>=4.8")
    assert [n for n, _ in _guarded(unbounded)] == ["numpy"], unbounded

    installs = _dry_run(old_comfy_env, tmp_path / "install_py.json", str(REPO / "install.py"))
    assert [n for n, _ in installs] == ["opencv-python-headless"], installs
    assert installs[0][1].startswith("4."), installs  # the release line built for numpy 1
    assert _guarded(installs) == []

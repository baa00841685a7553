"""Registry-ready packaging: metadata, requirements that never pull a CUDA torch, nothing done at import."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TORCH_FAMILY = re.compile(r"^\s*(torch|torchvision|torchaudio|xformers|flash[-_]attn|nvidia-)", re.I)


def test_requirements_never_pull_torch():
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not TORCH_FAMILY.match(line), f"requirements.txt must leave torch to ComfyUI: {line!r}"
        assert not line.startswith(("-", "--")), f"no index URLs or options in requirements.txt: {line!r}"
        assert "==" not in line, f"no exact pins (they fight ComfyUI's own): {line!r}"


def test_registry_metadata():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    project, comfy = meta["project"], meta["tool"]["comfy"]
    import motionstream_core
    from nodes import routes

    assert project["name"] and project["description"] and project["license"]
    assert project["version"] == motionstream_core.__version__ == routes.VERSION
    assert project["urls"]["Repository"].startswith("https://github.com/")
    assert comfy["PublisherId"] and comfy["DisplayName"]
    assert "web" not in comfy, "the web folder is WEB_DIRECTORY in __init__.py; a second one loads the JS twice"


def test_entry_point_is_only_an_entry_point():
    src = (REPO / "__init__.py").read_text()
    tree = ast.parse(src)
    names = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert "WEB_DIRECTORY" in names and "comfy_entrypoint" in src
    assert re.search(r'WEB_DIRECTORY = "\./js"', src) and (REPO / "js").is_dir()
    assert "from .nodes.extension import comfy_entrypoint" in src, "the nodes are imported relative to the pack"


def test_nothing_is_installed_or_downloaded_at_import():
    forbidden = re.compile(r"\b(subprocess|pip\.main|ensurepip|urlopen|urllib\.request|requests\.|hf_hub_download|"
                           r"snapshot_download|os\.system)\b")
    for path in [REPO / "__init__.py", *sorted((REPO / "nodes").glob("*.py"))]:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not forbidden.search(code), f"{path.name}:{i}: {line.strip()}"


def test_node_files_are_thin():
    for path in sorted((REPO / "nodes").glob("*.py")):
        n = len(path.read_text().splitlines())
        assert n < 400, f"{path.name} has {n} lines"
        src = path.read_text()
        for inner in ("motionstream_core.dit", "motionstream_core.kv_cache", "motionstream_core.rope",
                      "motionstream_core.track_head"):
            assert inner not in src, f"{path.name} reaches into the model internals ({inner})"


def test_core_never_imports_comfy():
    for path in (REPO / "motionstream_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for m in mods:
                assert m.split(".")[0] not in ("comfy", "comfy_api", "folder_paths", "server", "nodes"), \
                    f"{path.relative_to(REPO)} imports {m}"


OPENCV_FAMILY = re.compile(r"^\s*opencv-", re.I)


def test_opencv_is_left_to_whichever_build_is_installed():
    """Packs pin different OpenCV distributions that all write ``cv2``: requirements.txt names none, and
    install.py (run by ComfyUI-Manager) adds one only where no ``cv2`` can be imported."""
    import importlib.metadata
    import importlib.util
    import sys

    lines = [ln for ln in (REPO / "requirements.txt").read_text().splitlines() if not ln.lstrip().startswith("#")]
    assert not [ln for ln in lines if OPENCV_FAMILY.match(ln)], lines
    spec = importlib.util.spec_from_file_location("motionstream_install", REPO / "install.py")
    install = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install)
    calls = []
    assert install.main(find_spec=lambda name: object(), run=calls.append) == 0
    assert calls == [], "an installed cv2 (any distribution) is used as it is"

    def run(cmd):  # the constraints file exists while pip runs
        calls.append((cmd, Path(cmd[cmd.index("-c") + 1]).read_text().split()))
        return 0

    assert install.main(["--dry-run"], find_spec=lambda name: None, run=run) == 0
    (cmd, pins), = calls
    numpy_version = importlib.metadata.version("numpy")
    assert cmd[:5] == [sys.executable, "-m", "pip", "install", install.opencv_requirement(numpy_version)]
    assert cmd[-1] == "--dry-run" and not Path(cmd[cmd.index("-c") + 1]).exists()
    assert f"numpy=={numpy_version}" in pins and f"torch=={importlib.metadata.version('torch')}" in pins
    # OpenCV's wheels follow numpy's major version: 4.x is built for numpy 1, 5.x for numpy 2
    assert install.opencv_requirement("1.26.4") == "opencv-python-headless>=4.8,<4.10"
    assert install.opencv_requirement("2.1.0") == "opencv-python-headless>=5.0,<5.2"
    assert install.opencv_requirement(None) == install.opencv_requirement("2.0")

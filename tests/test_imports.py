"""The import structure: no circles, and nothing outside ``motionstream_core.train`` imports it.

Walks every Python file of the pack (``motionstream_core/`` and ``nodes/``) with ``ast``: every
``import`` and ``from ... import`` anywhere in a file (also inside functions) is an arrow from that
file's module to the module it names (``from pkg import name`` points at ``pkg.name`` when that is a
module, else at ``pkg``). String literals naming ``motionstream_core.train`` (an ``import_module``
by name) count as imports too, so a dynamic import cannot hide an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("motionstream_core", "nodes")
TRAIN = "motionstream_core.train"
HOST_MODULES = ("comfy", "comfy_api", "comfy_extras", "folder_paths", "server", "nodes.")


def module_files(root: Path = ROOT, packages=PACKAGES) -> dict[str, Path]:
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """{imported module: line} for one file (relative imports resolved)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if sub in known else base, node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(TRAIN):
            add(node.value.split(":")[0], node.lineno)
    return found


def import_graph(root: Path = ROOT, packages=PACKAGES) -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    files = module_files(root, packages)
    known = set(files)
    return {name: imports_of(name, path, known) for name, path in files.items()}, files


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    graph, _ = import_graph()
    found = circles(graph)
    detail = "; ".join(" <-> ".join(c) for c in found)
    assert not found, f"import circles: {detail}"


def test_nothing_outside_train_imports_train():
    graph, files = import_graph()
    bad = [f"{files[m].relative_to(ROOT)}:{line} imports {target}"
           for m, targets in graph.items() if not (m == TRAIN or m.startswith(TRAIN + "."))
           for target, line in targets.items() if target == TRAIN or target.startswith(TRAIN + ".")]
    assert not bad, "runtime code imports the training code: " + "; ".join(bad)


def test_core_never_imports_the_host_or_the_nodes():
    graph, files = import_graph()
    bad = [f"{files[m].relative_to(ROOT)}:{line} imports {target}"
           for m, targets in graph.items() if m.startswith("motionstream_core")
           for target, line in targets.items()
           if target.split(".")[0] in {h.rstrip(".") for h in HOST_MODULES} or target == "nodes"]
    assert not bad, "; ".join(bad)


# What the node layer may import from the core: the pipeline (the one way into the runtime), and the
# data and file modules its sockets and routes speak (tracks and their formats, live points, video files,
# the example clips), and the package itself (its version).
NODE_REACH = {"motionstream_core", "motionstream_core.pipeline", "motionstream_core.tracks",
              "motionstream_core.track_formats", "motionstream_core.steering", "motionstream_core.video_io",
              "motionstream_core.synthetic"}


def test_the_nodes_reach_the_runtime_through_the_pipeline_only():
    graph, files = import_graph()
    bad = [f"{files[m].relative_to(ROOT)}:{line} imports {target}"
           for m, targets in graph.items() if m == "nodes" or m.startswith("nodes.")
           for target, line in targets.items()
           if target.startswith("motionstream_core") and target not in NODE_REACH]
    assert not bad, "the node layer must reach the core through motionstream_core.pipeline: " + "; ".join(bad)


def test_the_walk_finds_circles_and_train_imports(tmp_path):
    """The checks above can fail: a toy package with a circle (one arrow inside a function, one a
    relative ``from . import``) and a runtime module that imports train by name."""
    pkg = tmp_path / "motionstream_core"
    (pkg / "train").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "train" / "__init__.py").write_text("")
    (pkg / "train" / "stage.py").write_text("from ..a import x\n")
    (pkg / "a.py").write_text("def f():\n    from .b import y\n")
    (pkg / "b.py").write_text("from . import a\nimport importlib\nimportlib.import_module('motionstream_core.train.stage')\n")
    graph, _ = import_graph(tmp_path, ("motionstream_core",))
    assert circles(graph) == [["motionstream_core.a", "motionstream_core.b", "motionstream_core.train.stage"]]
    assert graph["motionstream_core.b"]["motionstream_core.train.stage"] == 3
    assert graph["motionstream_core.train.stage"] == {"motionstream_core.a": 1}


RUNTIME_ONLY = r"""
import sys

# An install without train/ and without the [train] extra: None in sys.modules makes `import` raise
# ModuleNotFoundError and importlib.util.find_spec answer None, as for a package that is not there.
for name in ("motionstream_core.train", "skimage", "sklearn", "matplotlib"):
    sys.modules[name] = None
from motionstream_core.cli import main
import nodes.editor_state, nodes.frames, nodes.sessions, nodes.sockets  # the pure node modules
rc = main(["demo", "--out", sys.argv[1], "--frames", "9", "--device", "cpu"])
assert rc == 0, rc
assert main(["train", "autoencoder"]) == 2
print("loaded:", sorted(m for m in sys.modules if m.startswith("motionstream_core.train.")))
"""


def test_demo_runs_without_the_training_code(tmp_path):
    """`motionstream demo` (and the pure node modules) with train/ and the [train] extra made unimportable;
    `motionstream train` then says it is unavailable instead of breaking the CLI."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", RUNTIME_ONLY, str(tmp_path)], capture_output=True, text=True,
                         timeout=600, cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "loaded: []" in out.stdout
    assert (tmp_path / "video.mp4").is_file() and (tmp_path / "tracks_overlay.mp4").is_file()
    assert "this install cannot run `motionstream train`" in out.stderr


def test_the_evals_and_the_retracker_import_without_pyav():
    """PyAV is imported when a video file is read or written (``video_io``), not with the modules that import
    ``video_io``: the re-tracker and the evals run on a machine without it (a GPU lease, where wheels must be carried)."""
    import subprocess
    import sys

    code = ("import builtins\nreal = builtins.__import__\n"
            "def guard(name, *a, **k):\n"
            "    if name == 'av' or name.startswith('av.'):\n        raise ImportError('no PyAV here')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = guard\n"
            "import motionstream_core.motion.transfer, motionstream_core.train.evaluate\n"
            "import motionstream_core.train.object_eval, motionstream_core.train.photo_eval\n"
            "from motionstream_core.video_io import read_video\n"
            "try:\n    read_video('README.md')\nexcept ImportError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "no PyAV here"  # reading a video is where it is needed

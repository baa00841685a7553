"""docs/ARCHITECTURE.md's claims about the structure, checked against the code.

The layer table is read from the document itself, so the document and this test cannot drift apart: a new
runtime module must be placed in a layer there, and an import that runs up a layer fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from test_imports import ROOT, TRAIN, import_graph, module_files

DOC = ROOT / "docs" / "ARCHITECTURE.md"
CORE = "motionstream_core"


def is_train(module: str) -> bool:
    return module == TRAIN or module.startswith(TRAIN + ".")


def is_runtime(module: str) -> bool:
    return (module == CORE or module.startswith(CORE + ".") or module == "nodes" or module.startswith("nodes.")) \
        and not is_train(module)


def layer_table(text: str) -> dict[str, int]:
    """{module or package prefix: layer} from the rows ``| N name | `a.py`, `pkg/`, ... |`` of the Layers section."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    out: dict[str, int] = {}
    for row in re.finditer(r"^\|\s*(\d+)[^|]*\|([^|]+)\|\s*$", section, re.MULTILINE):
        layer = int(row.group(1))
        for entry in re.findall(r"`([^`]+)`", row.group(2)):
            if entry == "nodes/":
                name = "nodes"
            elif entry.endswith("/"):
                name = f"{CORE}.{entry[:-1]}"
            else:
                name = f"{CORE}.{entry.removesuffix('.py')}"
            assert name not in out, f"{entry} is in two layers of the table"
            out[name] = layer
    return out


def layer_of(module: str, table: dict[str, int]) -> int | None:
    """The layer of a module: its own row, else its package's (``motionstream_core.motion.camera`` -> ``motion/``)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in table:
            return table[".".join(parts[:n])]
    return None


def up_imports(graph: dict[str, dict[str, int]], table: dict[str, int]) -> list[str]:
    bad = []
    for m, targets in graph.items():
        if not is_runtime(m) or m == CORE:
            continue
        for target, line in targets.items():
            if is_runtime(target) and target != CORE and layer_of(target, table) > layer_of(m, table):
                bad.append(f"{m} (layer {layer_of(m, table)}) imports {target} (layer {layer_of(target, table)}) "
                           f"at line {line}")
    return bad


def test_the_layer_table_is_read():
    table = layer_table(DOC.read_text(encoding="utf-8"))
    assert table[f"{CORE}.pipeline"] == 4 and table["nodes"] == 5 and table[f"{CORE}.config"] == 1
    assert layer_of(f"{CORE}.motion.camera", table) == 2 and layer_of("nodes.sockets", table) == 5


def test_every_runtime_module_has_a_layer():
    table = layer_table(DOC.read_text(encoding="utf-8"))
    missing = [m for m in module_files() if is_runtime(m) and m != CORE and layer_of(m, table) is None]
    assert not missing, (f"{missing}: in no layer of the table in docs/ARCHITECTURE.md; add each to the layer of "
                         "the lowest module that imports it")
    stale = [name for name in table if name != "nodes" and not any(m == name or m.startswith(name + ".")
                                                                  for m in module_files())]
    assert not stale, f"docs/ARCHITECTURE.md's layer table names modules that do not exist: {stale}"


def test_imports_run_down_the_layers_only():
    graph, _ = import_graph()
    bad = up_imports(graph, layer_table(DOC.read_text(encoding="utf-8")))
    assert not bad, "imports that run up a layer (docs/ARCHITECTURE.md): " + "; ".join(bad)


def test_an_import_up_a_layer_is_found():
    table = {f"{CORE}.config": 1, f"{CORE}.model": 2, f"{CORE}.pipeline": 4}
    graph = {f"{CORE}.config": {f"{CORE}.model": 3}, f"{CORE}.model": {f"{CORE}.config": 1},
             f"{CORE}.pipeline": {f"{CORE}.model": 2, TRAIN: 9}}
    assert up_imports(graph, table) == [f"{CORE}.config (layer 1) imports {CORE}.model (layer 2) at line 3"]


def argparse_users(root: Path, packages) -> set[str]:
    users = set()
    for name, path in module_files(root, packages).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if "argparse" in names:
                users.add(name)
    return users


def has_main_guard(path: Path) -> bool:
    return re.search(r"^if __name__ == [\"']__main__[\"']:", path.read_text(encoding="utf-8"), re.MULTILINE) is not None


def test_command_lines_are_parsed_where_the_document_says():
    users = argparse_users(ROOT, ("motionstream_core", "nodes", "bench"))
    assert {m for m in users if is_runtime(m)} == {f"{CORE}.cli"}, "only cli.py parses a command line in the runtime"
    files = module_files(ROOT, ("motionstream_core",))
    tools = {m.rpartition(".")[2] for m in users if is_train(m) and m != f"{TRAIN}.cli"}
    doc = DOC.read_text(encoding="utf-8")
    listed = set(re.findall(r"`([a-z_]+)`", doc.split("python -m motionstream_core.train.<tool>", 1)[1].split(")", 1)[0]))
    assert tools == listed, f"train/'s command-line tools {sorted(tools)} vs docs/ARCHITECTURE.md's {sorted(listed)}"
    assert all(has_main_guard(files[f"{TRAIN}.{t}"]) for t in tools), "a train/ tool that parses arguments runs as -m"
    assert all(m.startswith(("bench.", TRAIN)) or m == f"{CORE}.cli" for m in users), sorted(users)


LINE_LIMIT = 400


def test_no_runtime_file_is_over_the_line_limit_but_the_listed_ones():
    """The document names the runtime files still over the limit; every other one is within it, and a listed file
    that has come within it must leave the list."""
    doc = DOC.read_text(encoding="utf-8")
    line = re.search(r"No runtime file is over (\d+) lines(?:, except those still to be split: (.*))?\.", doc)
    assert line and int(line.group(1)) == LINE_LIMIT, "docs/ARCHITECTURE.md states the line limit"
    listed = {f"{CORE}/{name}" for name in re.findall(r"`([^`]+)`", line.group(2) or "")}
    sizes = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
             for m, path in module_files().items() if is_runtime(m)}
    over = {f for f, n in sizes.items() if n > LINE_LIMIT}
    assert over <= listed, f"runtime files over {LINE_LIMIT} lines: {sorted(over - listed)} (split them)"
    assert listed <= over, f"within the limit now, take them off docs/ARCHITECTURE.md's list: {sorted(listed - over)}"


def test_of_bench_only_the_training_benches_import_train():
    graph, files = import_graph(ROOT, ("bench",))
    importers = {m for m, targets in graph.items() if any(is_train(t) for t in targets)}
    assert importers == {"bench.bench_train", "bench.bench_train_step"}, sorted(importers)

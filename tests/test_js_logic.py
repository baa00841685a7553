"""Runs the widget's pure-logic tests (js/tests/*.test.mjs) with Node's built-in test runner.

Skips, saying why, when Node.js (>= 18, for `node --test`) is not installed.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JS_TESTS = ROOT / "js" / "tests"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (Node.js >= 18) is not installed: the widget's JS logic tests cannot run")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    m = re.match(r"v(\d+)", out)
    if not m or int(m.group(1)) < 18:
        pytest.skip(f"node {out or '?'} is too old for `node --test` (needs >= 18)")
    return node


def test_js_logic():
    node = _node()
    files = sorted(str(p.relative_to(ROOT)) for p in JS_TESTS.glob("*.test.mjs"))
    assert files, f"no JS tests found in {JS_TESTS}"
    proc = subprocess.run([node, "--test", *files], cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        failing = "\n".join(line for line in out.splitlines() if line.startswith("not ok"))
        pytest.fail(f"node --test failed (exit {proc.returncode}).\nFailing:\n{failing}\n\nFull output:\n{out[-20000:]}")
    m = re.search(r"^# pass (\d+)", out, re.M)
    assert m and int(m.group(1)) > 0, f"no JS test passed:\n{out[-5000:]}"


def test_js_files_stay_small_and_side_effect_free():
    """Every .js under js/ is loaded by ComfyUI as an extension: keep them small, and only
    motionstream.js may import the host's app/api or register anything."""
    for p in (ROOT / "js").rglob("*.js"):
        text = p.read_text(encoding="utf8")
        assert text.count("\n") < 500, f"{p.relative_to(ROOT)} has {text.count(chr(10))} lines (keep < 500: split by job)"
        if p.name != "motionstream.js":
            assert "registerExtension" not in text, f"{p.relative_to(ROOT)} must not register an extension"
            assert "scripts/app.js" not in text and "scripts/api.js" not in text, (
                f"{p.relative_to(ROOT)} must not import the host (pass what it needs in)")

"""Combo values, checked by the node itself: this host does not check the values of V3 combo inputs
(a prompt with ``dtype`` = "fp8" reaches ``execute``), so every node with combos calls
``check_choices`` first, before it loads or allocates anything."""

from __future__ import annotations

from comfy_api.latest import io


def check_choices(node: type[io.ComfyNode], **values) -> None:
    """Raise ValueError naming the input and its options when a value is not one of them."""
    for inp in node.define_schema().inputs:
        if not isinstance(inp, io.Combo.Input) or values.get(inp.id) is None:
            continue
        if values[inp.id] not in inp.options:
            raise ValueError(f"{inp.id}: {values[inp.id]!r} is not one of {', '.join(map(str, inp.options))}")

"""A small client for the ComfyUI host in tests: HTTP (urllib), the websocket (websocket-client), and
UI-format workflow -> API prompt conversion driven by /object_info (what the frontend's graphToPrompt does
for plain graphs: links become [node_id, slot], widget values are matched to widget inputs in
input order, a combo/int with control_after_generate has one extra value after it).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload")  # the frontend adds an "upload" widget value


def extra_values(opts: dict) -> int:
    """Widget values the frontend stores after an input's own (control_after_generate, upload button)."""
    return int(bool(opts.get("control_after_generate"))) + int(any(opts.get(f) for f in UPLOAD_FLAGS))
UI_ONLY_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}


def http(base: str, method: str, path: str, body=None, raw: bytes | None = None, timeout: float = 60.0):
    """(status, parsed JSON or text) for one request."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class WSClient:
    """A websocket client that records every JSON message (and counts binary ones) on a thread."""

    def __init__(self, base: str, client_id: str | None = None):
        try:
            import websocket
        except ImportError:  # a test dependency (pyproject [test] extra), not the pack's
            import pytest

            print("\nSKIP: the websocket-client package is not installed (pip install websocket-client)")
            pytest.skip("the websocket-client package is not installed (pip install websocket-client)")

        self.client_id = client_id or uuid.uuid4().hex
        self.ws = websocket.create_connection(base.replace("http://", "ws://") + f"/ws?clientId={self.client_id}",
                                              timeout=5)
        self.messages: list[tuple[float, dict]] = []
        self.binary = 0
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        import websocket

        while not self._stop:
            try:
                op, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:
                return
            with self._cond:
                if op == 2:
                    self.binary += 1
                elif op == 1:
                    self.messages.append((time.monotonic(), json.loads(data)))
                self._cond.notify_all()

    def events(self, kind: str, prompt_id: str | None = None) -> list[dict]:
        with self._cond:
            out = [m["data"] for _, m in self.messages if m.get("type") == kind]
        if prompt_id is not None:
            out = [d for d in out if d.get("prompt_id") in (None, prompt_id)]
        return out

    def wait_for(self, predicate, timeout: float = 60.0):
        """Wait until predicate(messages) returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = predicate([m for _, m in self.messages])
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [m.get("type") for _, m in self.messages][-30:]
                    raise TimeoutError(f"timed out after {timeout} s; last messages: {kinds}")
                self._cond.wait(min(left, 0.5))

    def wait_event(self, kind: str, match=None, timeout: float = 60.0) -> dict:
        def pred(msgs):
            for m in msgs:
                if m.get("type") == kind and (match is None or match(m["data"])):
                    return m["data"]
            return None
        return self.wait_for(pred, timeout)

    def wait_prompt_end(self, prompt_id: str, timeout: float = 120.0) -> dict:
        """The message that ends a prompt: execution_success / execution_error / execution_interrupted."""
        ends = ("execution_success", "execution_error", "execution_interrupted")

        def pred(msgs):
            for m in msgs:
                if m.get("type") in ends and m["data"].get("prompt_id") == prompt_id:
                    return m
            return None
        return self.wait_for(pred, timeout)

    def close(self):
        self._stop = True
        try:
            self.ws.close()
        except Exception:
            pass


def queue_prompt(base: str, prompt: dict, client_id: str) -> tuple[int, dict]:
    return http(base, "POST", "/prompt", {"prompt": prompt, "client_id": client_id})


def history(base: str, prompt_id: str, timeout: float = 10.0) -> dict:
    """The prompt's history entry (stored just after execution_success is sent, so wait for it)."""
    deadline = time.monotonic() + timeout
    while True:
        entry = http(base, "GET", f"/history/{prompt_id}")[1].get(prompt_id)
        if entry or time.monotonic() > deadline:
            return entry or {}
        time.sleep(0.1)


def widget_inputs(info: dict) -> list[tuple[str, str, dict]]:
    """(name, type, options) of the widget inputs of one /object_info entry, in order."""
    out = []
    for section in ("required", "optional"):
        for name in info.get("input_order", {}).get(section, []):
            spec = info["input"][section][name]
            typ, opts = spec[0], (spec[1] if len(spec) > 1 else {})
            if isinstance(typ, list):
                typ = "COMBO"
            if typ in WIDGET_TYPES and not opts.get("forceInput"):
                out.append((name, typ, opts))
    return out


def workflow_to_prompt(workflow: dict, object_info: dict) -> dict:
    """UI-format workflow (nodes + links) -> API prompt {id: {"class_type", "inputs"}}."""
    links = {lk[0]: lk for lk in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in UI_ONLY_TYPES or node.get("mode", 0) in (2, 4):
            continue
        info = object_info[node["type"]]
        inputs = {}
        values = list(node.get("widgets_values") or [])
        k = 0
        for name, typ, opts in widget_inputs(info):
            if k >= len(values):
                break
            inputs[name] = values[k]
            k += 1 + extra_values(opts)
        for inp in node.get("inputs", []):
            if inp.get("link") is not None:
                lk = links[inp["link"]]
                inputs[inp["name"]] = [str(lk[1]), lk[2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def check_workflow_links(workflow: dict, object_info: dict) -> list[str]:
    """Problems with a UI workflow against the host's node definitions (empty list: none)."""
    problems = []
    nodes = {n["id"]: n for n in workflow["nodes"]}
    for lk in workflow["links"]:
        lid, src, slot, dst, dslot, typ = lk[:6]
        s, d = nodes.get(src), nodes.get(dst)
        if s is None or d is None:
            problems.append(f"link {lid}: missing node")
            continue
        out_types = object_info[s["type"]]["output"] if s["type"] in object_info else None
        if out_types is not None and (slot >= len(out_types) or out_types[slot] != typ):
            problems.append(f"link {lid}: {s['type']} output {slot} is {out_types[slot:slot + 1]}, link says {typ}")
        name = d["inputs"][dslot]["name"] if dslot < len(d.get("inputs", [])) else None
        info = object_info.get(d["type"])
        if info is not None:
            spec = info["input"].get("required", {}).get(name) or info["input"].get("optional", {}).get(name)
            if spec is None:
                problems.append(f"link {lid}: {d['type']} has no input {name!r}")
            else:
                want = "COMBO" if isinstance(spec[0], list) else spec[0]
                if want != typ and typ != "*" and not (want == "COMBO" and typ == "COMBO"):
                    problems.append(f"link {lid}: {d['type']}.{name} takes {want}, link carries {typ}")
    for n in workflow["nodes"]:
        if n["type"] in UI_ONLY_TYPES:
            continue
        if n["type"] not in object_info:
            problems.append(f"node {n['id']}: unknown type {n['type']}")
            continue
        want = sum(1 + extra_values(o) for _, _, o in widget_inputs(object_info[n["type"]]))
        have = len(n.get("widgets_values") or [])
        if have != want:
            problems.append(f"node {n['id']} ({n['type']}): {have} widget values, the node has {want}")
    return problems

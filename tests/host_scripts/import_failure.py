"""Run under ComfyUI's Python: import the pack the way ComfyUI does while a dependency is missing.

Prints one JSON line: the error records the pack logged, whether the import raised, the node list its
comfy_entrypoint returns, and its LOAD_ERROR. argv: <comfyui path> <repo path> <missing module>"""

import asyncio
import importlib.util
import json
import logging
import os
import sys

comfy_path, repo_path, missing = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, comfy_path)
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import comfy_api.latest  # noqa: E402,F401  (ComfyUI itself loaded first, as in the real host)

for key in [k for k in sys.modules if k == missing or k.startswith(missing + ".")]:
    del sys.modules[key]
sys.modules[missing] = None  # from now on "import <missing>" raises ImportError


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append((record.levelname, record.name, record.getMessage()))


handler = Collect()
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.DEBUG)
name = "ComfyUI-MotionStream"
spec = importlib.util.spec_from_file_location(name, os.path.join(repo_path, "__init__.py"),
                                              submodule_search_locations=[repo_path])
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
raised = None
try:
    spec.loader.exec_module(module)
except BaseException as e:  # noqa: BLE001
    raised = repr(e)
nodes = None
if raised is None:
    ext = asyncio.run(module.comfy_entrypoint())
    nodes = [n.__name__ for n in asyncio.run(ext.get_node_list())]
errors = [r for r in handler.records if r[0] in ("ERROR", "CRITICAL")]
print(json.dumps({"raised": raised, "errors": errors, "nodes": nodes, "load_error": getattr(module, "LOAD_ERROR", None),
                  "web": getattr(module, "WEB_DIRECTORY", None)}))

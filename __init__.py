"""ComfyUI-MotionStream: ComfyUI's entry point only (``comfy_entrypoint`` + ``WEB_DIRECTORY``).

The nodes live in ``nodes/`` and the engine in ``motionstream_core/``, both imported relative to this
file. Importing the pack installs nothing and downloads nothing; if it cannot load (a missing
dependency, say), one clear error is logged, ComfyUI keeps running without these nodes, and
GET /motionstream/health answers 503 with the reason.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys

WEB_DIRECTORY = "./js"

_HERE = os.path.dirname(os.path.abspath(__file__))
_log = logging.getLogger("motionstream")
LOAD_ERROR: str | None = None


def _bundled_core() -> None:
    """Import this checkout's ``motionstream_core`` under its own name (without putting the pack on sys.path)."""
    if "motionstream_core" in sys.modules:
        found = os.path.dirname(getattr(sys.modules["motionstream_core"], "__file__", "") or "")
        if os.path.realpath(found) != os.path.realpath(os.path.join(_HERE, "motionstream_core")):
            _log.warning("ComfyUI-MotionStream: using the motionstream_core already imported from %s", found)
        return
    pkg = os.path.join(_HERE, "motionstream_core")
    spec = importlib.util.spec_from_file_location("motionstream_core", os.path.join(pkg, "__init__.py"),
                                                  submodule_search_locations=[pkg])
    module = importlib.util.module_from_spec(spec)
    sys.modules["motionstream_core"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["motionstream_core"]
        raise


try:
    _bundled_core()
    from .nodes.extension import comfy_entrypoint, setup as _setup  # noqa: F401

    _setup()
except Exception as _e:  # report once, clearly, and let ComfyUI carry on without our nodes
    LOAD_ERROR = f"{type(_e).__name__}: {_e}"
    _req = os.path.join(_HERE, "requirements.txt")
    _log.error("ComfyUI-MotionStream could not load (%s). Its nodes are not available. If a package is missing, "
               "install the requirements into ComfyUI's Python (python -m pip install -r %s, then python %s for "
               "OpenCV) and restart ComfyUI.", LOAD_ERROR, _req, os.path.join(_HERE, "install.py"))
    _log.debug("ComfyUI-MotionStream import failure", exc_info=True)

    async def comfy_entrypoint():
        from comfy_api.latest import ComfyExtension

        class _Unavailable(ComfyExtension):
            async def get_node_list(self):
                return []

        return _Unavailable()

    try:  # the widget asks /motionstream/health; tell it why
        from server import PromptServer
        from aiohttp import web

        async def _health(request):
            return web.json_response({"ok": False, "version": "0.1.0", "error": LOAD_ERROR}, status=503)

        _table = PromptServer.instance.routes
        if not any(getattr(r, "path", None) == "/motionstream/health" for r in _table):
            _table.get("/motionstream/health")(_health)
    except Exception:
        pass

"""HTTP routes the widget talks to while a MotionStreamGenerate node runs (aiohttp, on the server loop).

    POST /motionstream/steer    {"session", "points": [{"id", "x", "y", "active"}], "t"} -> {"ok", "chunk"}
    POST /motionstream/control  {"session", "action": "pause" | "resume" | "stop"}   -> {"ok"}
    GET  /motionstream/health                                                        -> {"ok", "version"}

Errors: 400 (malformed), 404 (no such running session), 429 (over 120 posts/s) with {"error": "..."}.
The handlers only touch the thread-safe session registry (see ``sessions.py``).
"""

from __future__ import annotations

import logging

from motionstream_core import __version__ as VERSION

from .sessions import MAX_BODY_BYTES, REGISTRY, SessionRegistry, handle_control, handle_steer

log = logging.getLogger("motionstream")
_registered: set[int] = set()


async def _read(request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return b"x" * (MAX_BODY_BYTES + 1)  # parse_body rejects it with a clear message, unread
    return await request.content.read(MAX_BODY_BYTES + 1)


def make_handlers(registry: SessionRegistry = REGISTRY, load_error: str | None = None):
    from aiohttp import web

    async def steer(request):
        status, body = handle_steer(registry, await _read(request))
        return web.json_response(body, status=status)

    async def control(request):
        status, body = handle_control(registry, await _read(request))
        return web.json_response(body, status=status)

    async def health(request):
        if load_error:
            return web.json_response({"ok": False, "version": VERSION, "error": load_error}, status=503)
        return web.json_response({"ok": True, "version": VERSION, "sessions": len(registry)})

    return steer, control, health


def register(routes, registry: SessionRegistry = REGISTRY, load_error: str | None = None) -> bool:
    """Add the routes to an aiohttp RouteTableDef (PromptServer.instance.routes); once per table."""
    if id(routes) in _registered:
        return False
    steer, control, health = make_handlers(registry, load_error)
    routes.post("/motionstream/steer")(steer)
    routes.post("/motionstream/control")(control)
    routes.get("/motionstream/health")(health)
    _registered.add(id(routes))
    return True


def register_with_server(load_error: str | None = None) -> bool:
    """Register on the running ComfyUI server, if there is one (there is none in plain Python)."""
    try:
        from server import PromptServer
    except ImportError:
        return False
    instance = getattr(PromptServer, "instance", None)
    if instance is None:
        return False
    return register(instance.routes, REGISTRY, load_error)

"""HTTP routes the widget talks to while a MotionStreamGenerate node runs (aiohttp, on the server loop).

    POST /motionstream/steer    {"session", "client_id", "points": [{"id", "x", "y", "active"}], "t"} -> {"ok", "chunk"}
    POST /motionstream/control  {"session", "client_id", "action": "pause" | "resume" | "stop"}   -> {"ok"}
    POST /motionstream/session  {"session", "client_id"} -> the session event's fields (a page joining a run)
    POST /motionstream/prompt   {"session", "client_id", "prompt"} -> {"ok", "chunk"}: a new prompt from the next chunk
    POST /motionstream/example_image  {Example Clip inputs} -> image/png, its start image (before any run)
    GET  /motionstream/demo_image                   -> image/png, the Demo Photo node's picture (before any run)
    GET  /motionstream/health                 -> {"ok", "version", "sessions", "running": [node ids of runs in progress]}

Errors: 400 (malformed, one line), 415 (a body not sent as application/json), 403 (not the client that queued the run), 404 (no such running session),
405 (a GET on a POST route, with ``Allow: POST``), 409 (a prompt switch for a model that reads CONDITIONING),
429 (over 120 posts/s), all with {"error": "..."}.
The handlers only touch the thread-safe session registry (see ``sessions.py``).
"""

from __future__ import annotations

import logging

from motionstream_core import __version__ as VERSION

from .sessions import (MAX_BODY_BYTES, REGISTRY, SessionRegistry, SteerError, body_too_large, handle_control,
                       handle_prompt, handle_session, handle_steer, parse_body)

log = logging.getLogger("motionstream")
_registered: set[int] = set()


POST_ROUTES = ("steer", "control", "session", "example_image", "prompt")


async def _read(request) -> bytes:
    """The body, refused unread (SteerError) when it is not JSON or over the limit (its real size when declared).

    Only ``application/json`` is read: a page on another site cannot send that type without the browser
    asking this server first (CORS preflight), while a plain form post can."""
    if request.content_type != "application/json":
        raise SteerError(415, f"{request.path} takes a JSON body: send it with 'Content-Type: application/json' "
                              f"(got {request.content_type[:60]!r})")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise body_too_large(request.content_length)
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:  # streamed without a length: only "more than" is known
        raise body_too_large(None)
    return raw


def make_handlers(registry: SessionRegistry = REGISTRY, load_error: str | None = None):
    from aiohttp import web

    def post_handler(handle):
        async def handler(request):
            try:
                raw = await _read(request)
            except SteerError as e:
                return web.json_response({"error": e.message}, status=e.status)
            status, body = handle(registry, raw)
            return web.json_response(body, status=status)
        return handler

    steer, control = post_handler(handle_steer), post_handler(handle_control)

    async def health(request):
        if load_error:
            return web.json_response({"ok": False, "version": VERSION, "error": load_error}, status=503)
        return web.json_response({"ok": True, "version": VERSION, "sessions": len(registry),
                                  "running": registry.node_ids()})

    async def example_image(request):
        import asyncio

        from . import preview

        try:
            params = preview.preview_params(parse_body(await _read(request)))
        except SteerError as e:
            return web.json_response({"error": e.message}, status=e.status)
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        png = await asyncio.get_running_loop().run_in_executor(None, preview.start_image_png, params)
        return web.Response(body=png, content_type="image/png")

    async def demo_image(request):
        from . import examples

        return web.Response(body=examples.demo_photo_png(), content_type="image/png")

    return (steer, control, health, post_handler(handle_session), example_image, post_handler(handle_prompt),
            demo_image)


async def _get_on_post_route(request):
    from aiohttp import web

    return web.json_response({"error": f"{request.method} is not allowed on {request.path}: use POST"},
                             status=405, headers={"Allow": "POST"})


def register(routes, registry: SessionRegistry = REGISTRY, load_error: str | None = None) -> bool:
    """Add the routes to an aiohttp RouteTableDef (PromptServer.instance.routes); once per table.

    A GET on a POST route is answered 405 here: the host's own catch-all would answer a bare 404."""
    if id(routes) in _registered:
        return False
    steer, control, health, session, example_image, prompt, demo_image = make_handlers(registry, load_error)
    for name, handler in zip(POST_ROUTES, (steer, control, session, example_image, prompt)):
        routes.post(f"/motionstream/{name}")(handler)
        routes.get(f"/motionstream/{name}")(_get_on_post_route)
    routes.get("/motionstream/health")(health)
    routes.get("/motionstream/demo_image")(demo_image)
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

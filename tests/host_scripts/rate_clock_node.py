"""A test-only custom node file for the host tests: ``POST /motionstream-test/clock`` controls the clock
the pack's steering rate limits read (``nodes.sessions.CLOCK``), so a test makes a burst "faster than
the limit" on a machine of any speed. Copied into the test host's custom_nodes by tests/conftest.py;
never part of the pack.

    {"action": "freeze"}              time stands still (from the next session's limiter on)
    {"action": "advance", "seconds": s}
    {"action": "release"}             time runs again (continuing from where it stood)
"""

import sys
import threading
import time

from aiohttp import web
from server import PromptServer


class ControlledClock:
    def __init__(self):
        self._lock = threading.Lock()
        self._frozen = None  # the time it stands at, or None while running
        self._offset = 0.0

    def __call__(self) -> float:
        with self._lock:
            return self._frozen if self._frozen is not None else time.monotonic() + self._offset

    def act(self, action: str, seconds: float = 0.0) -> None:
        now = self()
        with self._lock:
            if action == "freeze":
                self._frozen = now
            elif action == "advance":
                if self._frozen is not None:
                    self._frozen += seconds
                else:
                    self._offset += seconds
            elif action == "release":
                self._offset, self._frozen = now - time.monotonic(), None
            else:
                raise ValueError(f"unknown action {action!r}")


CLOCK = ControlledClock()


def _sessions_module():
    """The pack's nodes.sessions as the host loaded it (its module name is the pack folder's)."""
    for name, module in list(sys.modules.items()):
        if name.endswith("nodes.sessions") and hasattr(module, "RateLimiter") and hasattr(module, "CLOCK"):
            return module
    return None


@PromptServer.instance.routes.post("/motionstream-test/clock")
async def clock(request):
    body = await request.json()
    sessions = _sessions_module()
    if sessions is None:
        return web.json_response({"error": "the MotionStream pack's nodes.sessions is not loaded"}, status=500)
    sessions.CLOCK = CLOCK
    try:
        CLOCK.act(body.get("action"), float(body.get("seconds", 0.0)))
    except ValueError as e:
        return web.json_response({"error": str(e)}, status=400)
    return web.json_response({"now": CLOCK()})


NODE_CLASS_MAPPINGS = {}

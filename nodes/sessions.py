"""Live sessions: one per running MotionStreamGenerate node, reachable by its random id.

The node registers a ``LiveSession`` (holding the core's thread-safe ``Steering``) for the length of
its run; the HTTP routes (``routes.py``, on the server's asyncio loop) look it up by id, check that
the request comes from the client that queued the run (its websocket ``client_id``), validate what
the browser posted and write into the steering object; the node's worker thread reads it at each
chunk boundary. Nothing here imports ComfyUI or aiohttp, so it is unit-tested on its own.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from motionstream_core.steering import LivePoint, Steering, takeover_id, takeover_slot
from motionstream_core.tracks import MAX_REGION_POINTS

MAX_POINTS = 256  # points per steer post
MAX_ID_LEN = 64
MAX_RATE_HZ = 120.0  # sustained steer posts per second per session
BURST = 24  # posts a session may send back to back before the rate applies
MARGIN = 0.5  # coordinates may lie this fraction of the image size outside it
MAX_BODY_BYTES = 64 * 1024
ACTIONS = ("pause", "resume", "stop")
MAX_PROMPT_CHARS = 4000


class SteerError(Exception):
    """A rejected request: ``status`` is the HTTP status, the message is what the client sees."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# The clock (seconds) a rate limit reads when it is given none: replaceable, so that a test host controls
# time (tests/host_scripts/rate_clock_node.py) and a burst is "faster than the limit" on any machine.
CLOCK: Callable[[], float] = time.monotonic


class RateLimiter:
    """Token bucket: ``rate`` posts per second sustained, ``burst`` at once. Thread-safe. ``clock``:
    seconds, monotonic (default: the module's ``CLOCK`` as it is when the limiter is made)."""

    def __init__(self, rate: float = MAX_RATE_HZ, burst: int = BURST, clock: Callable[[], float] | None = None):
        clock = clock if clock is not None else CLOCK
        self.rate, self.burst, self.clock = float(rate), float(burst), clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


@dataclass
class LiveSession:
    """What the routes need to know about one running stream.

    ``offset``: planned slots before the editor's own tracks (the connected TRACKS input), so the
    widget's ``track:<i>`` (i-th drawn track) is slot ``offset + i``. ``drawn``: how many tracks the
    widget drew. ``max_slots``: the model's track limit (planned + live). ``client_id``: the client
    that queued the run, the only one allowed to steer it (None for an API prompt without one:
    nobody may). ``details``: what a page that joins the run needs (the "motionstream.session"
    event's fields: exact start image, connected tracks, size, fps).
    """

    node_id: str
    client_id: str | None
    width: int
    height: int
    steering: Steering = field(default_factory=Steering)
    offset: int = 0
    drawn: int = 0
    max_slots: int = 1024
    reads_prompts: bool = False  # the model reads prompt text (a live prompt switch is possible)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    started: float = field(default_factory=time.monotonic)
    posts: int = 0
    details: dict = field(default_factory=dict)
    _live_ids: set = field(default_factory=set)
    _last_t: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def planned(self) -> int:
        return self.offset + self.drawn

    def authorize(self, client) -> None:
        """Refuse (403) a request from any client but the one that queued the run."""
        if self.client_id is None:
            raise SteerError(403, f"session '{self.id}' was queued without a client id (an API prompt): "
                                  "it cannot be steered")
        if client is None:
            raise SteerError(403, f"session '{self.id}' is bound to the client that queued it: send its "
                                  "'client_id' (the websocket's clientId) with the request")
        if client != self.client_id:
            raise SteerError(403, f"session '{self.id}' belongs to another client: only the client that "
                                  "queued the run may steer it")

    # -- steering ------------------------------------------------------------------------------

    def steer(self, payload) -> dict:
        """Validate one POST /motionstream/steer body (already parsed JSON) and apply it.

        Raises SteerError (429 rate, 400 invalid). Returns the JSON reply.
        """
        if not self.limiter.allow():
            raise SteerError(429, f"too many steering posts for session '{self.id}': at most "
                                  f"{MAX_RATE_HZ:g} per second")
        points, t = self._validate(payload)
        with self._lock:
            if t is not None and self._last_t is not None and t < self._last_t:
                return {"ok": True, "chunk": self.steering.chunk, "stale": True}  # out-of-order post
            new = {p.id for p in points if takeover_slot(p.id) is None} - self._live_ids
            if self.planned + len(self._live_ids) + len(new) > self.max_slots:
                raise SteerError(400, f"too many live points: this model takes at most {self.max_slots} tracks "
                                      f"({self.planned} planned, {len(self._live_ids)} live)")
            self._live_ids |= new
            if t is not None:
                self._last_t = t
            self.posts += 1
            self.steering.update_points([self._to_slot(p) for p in points])
        return {"ok": True, "chunk": self.steering.chunk}

    def _to_slot(self, p: LivePoint) -> LivePoint:
        drawn = takeover_slot(p.id)
        if drawn is not None:  # the widget's i-th drawn track is planned slot offset + i
            return LivePoint(takeover_id(self.offset + drawn), p.x, p.y, p.active, p.region)
        return p

    @staticmethod
    def _region(r, where: str, box) -> tuple:
        """A point's ``region``: a polygon [[x, y], ...] of 3 to MAX_REGION_POINTS points within the margin."""
        if not isinstance(r, list) or not 3 <= len(r) <= MAX_REGION_POINTS:
            raise SteerError(400, f"{where}.region must be a list of 3 to {MAX_REGION_POINTS} [x, y] points; got "
                                  + (f"{len(r)} points" if isinstance(r, list) else _short(r)))
        lo_x, hi_x, lo_y, hi_y = box
        out = []
        for k, q in enumerate(r):
            if not (isinstance(q, list) and len(q) == 2 and all(_is_number(v) and _finite(v) for v in q)):
                raise SteerError(400, f"{where}.region[{k}] must be [x, y] (finite numbers); got {_short(q)}")
            x, y = float(q[0]), float(q[1])
            if not (lo_x <= x <= hi_x and lo_y <= y <= hi_y):
                raise SteerError(400, f"{where}.region[{k}] ({x:g}, {y:g}) is more than 50% outside the image")
            out.append((x, y))
        return tuple(out)

    def _validate(self, payload) -> tuple[list[LivePoint], float | None]:
        if not isinstance(payload, dict):
            raise SteerError(400, "the body must be a JSON object {\"session\", \"points\", \"t\"}")
        pts = payload.get("points")
        if not isinstance(pts, list):
            raise SteerError(400, "'points' must be a list of {\"id\", \"x\", \"y\", \"active\"}")
        if len(pts) > MAX_POINTS:
            raise SteerError(400, f"too many points in one post: {len(pts)} > {MAX_POINTS}")
        t = payload.get("t")
        if t is not None and (not _is_number(t) or not _finite(t)):
            raise SteerError(400, f"'t' must be a finite number of milliseconds; got {_short(t)}")
        out, seen = [], set()
        lo_x, hi_x = -MARGIN * self.width, (1 + MARGIN) * self.width
        lo_y, hi_y = -MARGIN * self.height, (1 + MARGIN) * self.height
        for i, p in enumerate(pts):
            where = f"points[{i}]"
            if not isinstance(p, dict):
                raise SteerError(400, f"{where} must be an object {{\"id\", \"x\", \"y\", \"active\"}}")
            pid = p.get("id")
            if not isinstance(pid, str) or not pid or len(pid) > MAX_ID_LEN:
                raise SteerError(400, f"{where}.id must be a non-empty string of at most {MAX_ID_LEN} characters")
            if pid in seen:
                raise SteerError(400, f"{where}.id {pid!r} appears twice in one post")
            seen.add(pid)
            drawn = takeover_slot(pid)
            if drawn is not None and drawn >= self.drawn:
                raise SteerError(400, f"{where}.id {pid!r}: there is no drawn track {drawn} "
                                      f"(the editor has {self.drawn})")
            for k in ("x", "y"):
                v = p.get(k)
                if not _is_number(v):
                    raise SteerError(400, f"{where}.{k} must be a number; got {_short(v)}")
                if not _finite(v):
                    raise SteerError(400, f"{where}.{k} is not finite ({_short(v)})")
            x, y = float(p["x"]), float(p["y"])
            if not (lo_x <= x <= hi_x and lo_y <= y <= hi_y):
                raise SteerError(400, f"{where} ({x:g}, {y:g}) is more than 50% outside the "
                                      f"{self.width}x{self.height} image")
            active = p.get("active", True)
            if not isinstance(active, bool):
                raise SteerError(400, f"{where}.active must be true or false; got {_short(active)}")
            region = self._region(p["region"], where, (lo_x, hi_x, lo_y, hi_y)) if "region" in p else None
            out.append(LivePoint(pid, x, y, active, region))
        return out, (None if t is None else float(t))

    # -- prompt switch ------------------------------------------------------------------------

    def switch_prompt(self, payload) -> dict:
        """POST /motionstream/prompt {"session", "prompt"}: the new prompt applies at the next chunk."""
        if not self.limiter.allow():
            raise SteerError(429, f"too many posts for session '{self.id}': at most {MAX_RATE_HZ:g} per second")
        text = payload.get("prompt") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise SteerError(400, "'prompt' must be a non-empty string")
        if len(text) > MAX_PROMPT_CHARS:
            raise SteerError(400, f"'prompt' is {len(text)} characters long; at most {MAX_PROMPT_CHARS}")
        if not self.reads_prompts:
            raise SteerError(409, "this model takes its text as CONDITIONING, which cannot change during a run: to "
                                  "switch prompts live, connect the Wan text encoder (CLIPLoader, type wan) to 'clip' "
                                  "of Load Causal Wan Model and type the prompt in the Generate node")
        self.steering.switch_prompt(text)
        return {"ok": True, "chunk": self.steering.chunk}

    # -- control -------------------------------------------------------------------------------

    def control(self, action) -> dict:
        if action not in ACTIONS:
            raise SteerError(400, f"'action' must be one of {', '.join(ACTIONS)}; got {_short(action)}")
        getattr(self.steering, action)()
        return {"ok": True}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    """A number that is finite as a float (an integer too large for a float is not)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _short(v, limit: int = 40) -> str:
    """repr(v), cut to ``limit`` characters (error messages stay one short line)."""
    text = repr(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class SessionRegistry:
    """Thread-safe id -> LiveSession for the runs in progress."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sessions: dict[str, LiveSession] = {}

    def add(self, session: LiveSession) -> LiveSession:
        with self._lock:
            self._sessions[session.id] = session
        return session

    def remove(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def get(self, session_id) -> LiveSession:
        if not isinstance(session_id, str) or not session_id:
            raise SteerError(400, "'session' must be the session id string from the motionstream.session event")
        with self._lock:
            s = self._sessions.get(session_id)
        if s is None:
            raise SteerError(404, f"no running MotionStream session '{session_id[:80]}'")
        return s

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def node_ids(self) -> list[str]:
        """The graph node ids of the runs in progress (what a page that did not queue them may know)."""
        with self._lock:
            return sorted({s.node_id for s in self._sessions.values()})


REGISTRY = SessionRegistry()


def body_too_large(size: int | None) -> SteerError:
    """The error for a body over the limit; ``size`` is its real size (None: unknown, streamed)."""
    what = f"{size} bytes" if size is not None else f"more than {MAX_BODY_BYTES} bytes"
    return SteerError(400, f"request body too large: {what} > {MAX_BODY_BYTES}")


def parse_body(raw: bytes):
    """Request bytes -> JSON value, or SteerError(400)."""
    import json

    if len(raw) > MAX_BODY_BYTES:
        raise body_too_large(len(raw))
    try:
        return json.loads(raw.decode("utf-8") if raw else "")
    except (UnicodeDecodeError, ValueError) as e:
        raise SteerError(400, f"request body is not valid JSON: {e}") from None
    except RecursionError:
        raise SteerError(400, "request body is nested too deeply to be a MotionStream request") from None


def _handle(registry: SessionRegistry, raw: bytes, act) -> tuple[int, dict]:
    """Parse, find the session, check the client, then ``act(session, payload)``: (status, JSON reply)."""
    try:
        payload = parse_body(raw)
        session = registry.get(payload.get("session") if isinstance(payload, dict) else None)
        session.authorize(payload.get("client_id"))
        return 200, act(session, payload)
    except SteerError as e:
        return e.status, {"error": e.message}


def handle_steer(registry: SessionRegistry, raw: bytes) -> tuple[int, dict]:
    """POST /motionstream/steer, transport-free: (status, JSON reply)."""
    return _handle(registry, raw, lambda s, p: s.steer(p))


def handle_control(registry: SessionRegistry, raw: bytes) -> tuple[int, dict]:
    """POST /motionstream/control, transport-free: (status, JSON reply)."""
    return _handle(registry, raw, lambda s, p: s.control(p.get("action")))


def handle_prompt(registry: SessionRegistry, raw: bytes) -> tuple[int, dict]:
    """POST /motionstream/prompt, transport-free: (status, JSON reply)."""
    return _handle(registry, raw, lambda s, p: s.switch_prompt(p))


def handle_session(registry: SessionRegistry, raw: bytes) -> tuple[int, dict]:
    """POST /motionstream/session: what a page joining the run needs (see ``LiveSession.details``)."""
    return _handle(registry, raw, lambda s, p: {"session": s.id, **s.details})

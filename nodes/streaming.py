"""Running one stream inside a node: frames to the browser as they are made, steering in, a record out.

``StreamRun.run()`` is called in ComfyUI's worker thread. Per chunk it keeps the frames, hands them
to the ``Emitter`` (a background thread that JPEG-encodes and sends "motionstream.frames" to the
client that queued the prompt, in order, without holding up the next chunk), updates the ComfyUI
progress bar with a preview, and checks for an interrupt. The ``LiveSession`` is in the registry
for exactly the length of the run. At the end "motionstream.done" carries the recorded tracks (our tracks
JSON as text, also saved next to the video).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from pathlib import Path

import numpy as np
import torch

from motionstream_core import track_formats
from motionstream_core.pipeline import frames_to_chunks
from motionstream_core.tracks import Tracks

from .frames import jpeg_data_url, to_uint8
from .output import KEEP_FRAMES, RunOutput
from .sessions import REGISTRY, LiveSession

log = logging.getLogger("motionstream")

PAUSE_LIMIT_S = 15 * 60  # a stream paused longer than this stops by itself
QUEUE_CHUNKS = 4  # chunks waiting for the encoder before generation waits for it
PREVIEW_SIDE = 512
RECORD_INLINE_BYTES = 256 * 1024  # a longer record goes to the page as a reference to its .tracks.json


class Emitter:
    """Sends the JSON events for one session to one client; frames are encoded on its own thread."""

    def __init__(self, client_id: str | None, node_id: str, session_id: str, fps: float, send=None,
                 quality: int = 85, max_side: int = 1024):
        self.client_id, self.node_id, self.session_id, self.fps = client_id, node_id, session_id, fps
        self.quality, self.max_side = quality, max_side
        self._send = send if send is not None else _server_send
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._made, self._spent_s = 0, 0.0  # frames generated and seconds spent on them (run-level speed)
        self._thread = threading.Thread(target=self._work, name=f"motionstream-emit-{session_id[:8]}", daemon=True)
        self._thread.start()

    def _emit(self, event: str, data: dict) -> None:
        if self.client_id is None:  # an API prompt without a client: nobody to stream to
            return
        try:
            self._send(event, {"session": self.session_id, "node": self.node_id, **data}, self.client_id)
        except Exception:  # the browser is a viewer: never let it break the run
            log.exception("MotionStream: could not send %s", event)

    def session(self, width: int, height: int, num_frames: int | None, image: torch.Tensor,
                connected: dict | None = None, max_tracks: int | None = None, drag_mode: str | None = None) -> dict:
        """Announce the run; returns what it said (a page that joins later asks for the same).
        ``image``: the exact start image the model gets; ``connected``: the TRACKS input's tracks (JSON
        object in the run's pixels), drawn read-only by the editor; ``max_tracks``: how many tracks the run
        takes (0: it takes no drags); ``drag_mode``: how drags move the video ("model": the track head, "warp": the
        start image's regions cut and dragged, refined by the dual clock)."""
        details = {"width": width, "height": height, "fps": self.fps, "num_frames": num_frames,
                   "image": jpeg_data_url(to_uint8(image), self.quality, self.max_side), "connected": connected,
                   "max_tracks": max_tracks, "drag_mode": drag_mode}
        self._emit("motionstream.session", details)
        return details

    def frames(self, index: int, start: int, frames: np.ndarray, timing: dict) -> None:
        """``frames``: uint8 [T, H, W, 3], not written to afterwards (the encoder reads them later)."""
        self._queue.put(("frames", (index, start, frames, dict(timing))))

    def done(self, reason: str, recorded: str | None, message: str = "", video: dict | None = None,
             prompts: list | None = None, tracks_file: dict | None = None, recorded_in_file: bool = False) -> None:
        """The run ended; ``recorded``: its tracks as our tracks JSON text (a string, so a long record is
        never a Python object per number), None when ``recorded_in_file`` (too long to send: the page keeps
        a reference to ``tracks_file`` instead); ``video``/``tracks_file``: the files the video and the record
        were written to ({filename, subfolder, type}); ``prompts``: the prompt schedule when the run
        switched prompts ([{"chunk", "text"}], chunk 0 first)."""
        payload = {"reason": reason, "recorded": recorded, "message": message, "video": video,
                   "tracks_file": tracks_file, "recorded_in_file": recorded_in_file}
        if prompts:
            payload["prompts"] = prompts
        self._queue.put(("done", payload))

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            kind, payload = item
            if kind == "done":
                self._emit("motionstream.done", {**payload, "gen_fps": self._run_fps()})
                continue
            index, start, frames, timing = payload
            total = timing.get("total_s") or 0.0
            self._made += len(frames)
            self._spent_s += total
            if self.client_id is None:
                continue
            urls = [jpeg_data_url(f, self.quality, self.max_side) for f in frames]
            self._emit("motionstream.frames", {
                "chunk": index, "start_frame": start, "fps": self.fps, "frames": urls,
                "width": int(frames.shape[2]), "height": int(frames.shape[1]),
                "latency_ms": round(total * 1000.0, 2),
                "gen_fps": round(len(urls) / total, 2) if total > 0 else None, "run_fps": self._run_fps()})

    def _run_fps(self) -> float | None:
        """The run's generation speed so far: every frame made over the time spent making them (a
        short last chunk would misstate it)."""
        return round(self._made / self._spent_s, 2) if self._spent_s > 0 else None


def _server_send(event, data, sid) -> None:
    from server import PromptServer

    PromptServer.instance.send_sync(event, data, sid)


def _client_id() -> str | None:
    try:
        from server import PromptServer

        return getattr(PromptServer.instance, "client_id", None)
    except Exception:
        return None


class PauseWatch:
    """The session's ``on_pause`` callback (given when the session is built): raises when the host was
    interrupted while paused, and stops a stream paused longer than ``PAUSE_LIMIT_S``."""

    def __init__(self, live: LiveSession, limit_s: float = PAUSE_LIMIT_S):
        self.live, self.limit_s = live, limit_s
        self.paused_since: float | None = None

    def __call__(self) -> None:
        import comfy.model_management as mm

        mm.throw_exception_if_processing_interrupted()
        now = time.monotonic()
        self.paused_since = self.paused_since or now
        if now - self.paused_since > self.limit_s:
            log.warning("MotionStream: session %s paused for over %d s; stopping it", self.live.id, self.limit_s)
            self.live.steering.stop()

    def reset(self) -> None:
        """A chunk was made: the stream is not paused."""
        self.paused_since = None


class StreamRun:
    """One node run: ``session`` is the core StreamSession, ``live`` its registered LiveSession,
    ``pause_watch`` the session's ``on_pause`` callback (reset at every chunk), ``output`` where the
    frames go (a video file as they are made, and a bounded tail for IMAGE: memory stays flat)."""

    def __init__(self, session, live: LiveSession, num_frames: int | None, fps: float, chunk_latents: int,
                 planned: Tracks | None, image: torch.Tensor, emitter: Emitter | None = None,
                 pause_watch: PauseWatch | None = None, output: RunOutput | None = None):
        self.session, self.live, self.num_frames, self.fps = session, live, num_frames, fps
        self.total_chunks = None if num_frames is None else frames_to_chunks(num_frames, chunk_latents)
        self.planned, self.image = planned, image
        self.height, self.width = int(image.shape[0]), int(image.shape[1])
        self.emitter = emitter or Emitter(live.client_id, live.node_id, live.id, fps)
        self.pause_watch = pause_watch
        # a short run's ring holds its frames only (the ring is allocated whole at the first frames)
        self.output = output or RunOutput(fps, keep=min(KEEP_FRAMES, num_frames or KEEP_FRAMES))
        self.reason = "finished"

    def run(self) -> torch.Tensor:
        import comfy.model_management as mm
        import comfy.utils
        from PIL import Image

        REGISTRY.add(self.live)
        message = ""
        it = None
        try:
            self.live.details = self.emitter.session(self.width, self.height, self.num_frames, self.image,
                                                     connected=self._connected_for_editor(),
                                                     max_tracks=self.live.max_slots,
                                                     drag_mode=getattr(getattr(self.session, "drag", None), "mode", None))
            pbar = comfy.utils.ProgressBar(self.total_chunks or 1, node_id=self.live.node_id)
            it = iter(self.session)
            for chunk in it:
                if self.pause_watch is not None:
                    self.pause_watch.reset()
                data = self.output.add(chunk.frames)
                self.emitter.frames(chunk.index, chunk.start_frame, data, chunk.timing)
                preview = Image.fromarray(data[-1])
                pbar.update_absolute(chunk.index + 1, self.total_chunks or chunk.index + 2,
                                     ("JPEG", preview, PREVIEW_SIDE))
                mm.throw_exception_if_processing_interrupted()
            if self.live.steering.stopped:
                self.reason = "stopped"
        except mm.InterruptProcessingException:
            self.reason = "interrupted"
            raise
        except BaseException as e:
            self.reason, message = "error", f"{type(e).__name__}: {e}"
            raise
        finally:
            if it is not None:
                it.close()  # frees the cache now, not at garbage collection
            REGISTRY.remove(self.live.id)
            recorded, saved = self._save_record()
            in_file = recorded is None and saved is not None
            try:
                self.output.close()
            except Exception:  # a full disk must not hide the run's own outcome either
                log.exception("MotionStream: could not finish the video of session %s", self.live.id)
            self.emitter.done(self.reason, recorded, message, prompts=self.prompts_for_editor(),
                              video=self.output.file_info(), tracks_file=self.output.file_info(saved) if saved else None,
                              recorded_in_file=in_file)
            self.emitter.close()
        if not self.output.frames_written:
            return self.image[None].clone()
        return self.output.image()

    # -- the record ----------------------------------------------------------------------------

    def recorded(self) -> Tracks | None:
        """The tracks used for every output frame (planned + live), frame-aligned with the video file
        (the IMAGE output is its last ``output.keep`` frames at most)."""
        try:
            return self.session.recorded_tracks(trim=True)
        except ValueError:
            return None

    def prompts_for_editor(self) -> list[dict] | None:
        """The prompts the run used, as the schedule the widget stores in editor_state (chunk 0 first), so
        re-queueing replays the live switches; None when it never switched (or its text is CONDITIONING)."""
        switches = getattr(self.session, "prompt_switches", [])
        if not switches or not isinstance(self.session.text, str):
            return None
        schedule = {0: self.session.text}
        for p in switches:  # later entries win: a replayed chunk-0 prompt replaces the widget's text
            if isinstance(p.text, str):
                schedule[p.chunk] = p.text
        return [{"chunk": c, "text": t} for c, t in sorted(schedule.items())]

    def _connected_for_editor(self) -> dict | None:
        """The connected TRACKS input's tracks (the plan's first ``offset`` slots, in the run's pixels),
        for the editor to draw read-only; None without any."""
        m = self.live.offset
        if self.planned is None or m == 0:
            return None
        return json.loads(track_formats.to_json(self.planned.select(list(range(m)))))

    def _recorded_for_editor(self) -> Tracks | None:
        """What the widget stores back into editor_state so that re-queueing replays this run: every
        frame handed to the model (also those cut from the last chunk), without the connected TRACKS
        input's slots (the graph adds those again)."""
        try:
            full = self.session.recorded_tracks()
        except ValueError:  # nothing generated
            return None
        m = self.live.offset
        if full.num_tracks <= m:
            return Tracks.empty(full.num_frames, full.fps, full.width, full.height)
        return full.select(list(range(m, full.num_tracks)))

    def _save_record(self) -> tuple[str | None, Path | None]:
        """The record for the editor as our tracks JSON text, also written next to the video (a live
        session is kept on disk whether or not a page is open), and that file; (None, None) when nothing
        was generated; (None, file) when the file is over ``RECORD_INLINE_BYTES`` (the page keeps a
        reference to it, not the text, so the workflow stays small). Written block by block and read back
        as one string: no Python object per number."""
        try:
            part = self._recorded_for_editor()
            if part is None:
                return None, None
        except Exception:  # never hide the run's own outcome
            log.exception("MotionStream: could not record session %s", self.live.id)
            return None, None
        path = self.output.tracks_path()
        if path is not None:
            try:
                track_formats.save(part, path)
                if path.stat().st_size > RECORD_INLINE_BYTES:
                    return None, path
                return path.read_text(encoding="utf-8"), path
            except OSError:  # a full disk: the editor still gets the record
                log.exception("MotionStream: could not save the record of session %s to %s", self.live.id, path)
        return track_formats.to_json(part), None

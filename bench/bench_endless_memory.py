"""An endless stream holds flat memory: the Generate node's run loop for 50,000 frames or 30 minutes.

Runs ``nodes.streaming.StreamRun`` (what the MotionStreamGenerate node runs: every chunk JPEG-encoded
for the browser, written to an MP4, the newest frames kept for the IMAGE output, the run recorded as
tracks, one live point steered the whole time) on the smallest config with random weights, until
``--frames`` frames or ``--minutes`` minutes, whichever comes first, then builds the node's outputs
(IMAGE, the recorded TRACKS, the record for the editor and its file). Prints the process's RSS at
minute 1 and at the end, and the growth between them (the bar: within 5%).

    /opt/comfyui-venv/bin/python bench/bench_endless_memory.py            # 50,000 frames / 30 min
    /opt/comfyui-venv/bin/python bench/bench_endless_memory.py --frames 5000 --minutes 3

It needs ComfyUI's Python and checkout (``COMFYUI_PATH``, default /opt/ComfyUI): StreamRun checks for
interrupts and reports progress through ComfyUI; no server is started and nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMFYUI = Path(os.environ.get("COMFYUI_PATH", "/opt/ComfyUI"))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


class Sampler(threading.Thread):
    """RSS once a second; stops the stream at the frame or time limit."""

    def __init__(self, run, steering, frames: int, seconds: float):
        super().__init__(daemon=True)
        self.run_, self.steering, self.frames, self.seconds = run, steering, frames, seconds
        self.t0 = time.monotonic()
        self.at_minute: float | None = None
        self.frames_at_minute = 0
        self.peak = 0.0
        self.last = 0.0  # the newest sample while streaming
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            now, rss = time.monotonic() - self.t0, rss_mb()
            self.peak = max(self.peak, rss)
            if not self.steering.stopped:
                self.last = rss
            made = self.run_.output.frames_written
            if self.at_minute is None and now >= 60.0:
                self.at_minute, self.frames_at_minute = rss, made
                print(f"minute 1: RSS {rss:.1f} MB after {made} frames", flush=True)
            elif int(now) % 60 == 0:
                print(f"{now / 60:.0f} min: RSS {rss:.1f} MB, {made} frames", flush=True)
            if made >= self.frames or now >= self.seconds:
                self.steering.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=50_000)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--config", default="tiny", help="model config (random weights); tiny is the smallest")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the CPU is shared)")
    ap.add_argument("--no-trim", action="store_true", help="never hand freed heap back (nodes.output's malloc_trim)")
    args = ap.parse_args()

    sys.path[:0] = [str(REPO), str(COMFYUI)]
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # before comfy.model_management is imported
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import nodes.output
    from motionstream_core.pipeline import Pipeline, Runtime, random_model
    from motionstream_core.stream import TextCondition
    from motionstream_core.tracks import Tracks
    from nodes.output import KEEP_FRAMES, RunOutput
    from nodes.sessions import LiveSession, RateLimiter
    from nodes.sockets import pack_tracks
    from nodes.streaming import Emitter, PauseWatch, StreamRun

    if args.no_trim:
        nodes.output.TRIM_EVERY_S = float("inf")
    pipe = Pipeline(random_model(args.config, Runtime.resolve("cpu", "fp32")))
    cfg = pipe.config
    h, w = cfg.height, cfg.width  # the config's own size
    g = torch.Generator().manual_seed(0)
    image = torch.rand(h, w, 3, generator=g)
    text = TextCondition(torch.randn(1, cfg.text_len, cfg.dit.text_dim, generator=g))
    t = 49
    drag = Tracks(np.stack([np.linspace(8, w - 8, t), np.full(t, h / 2)], -1)[:, None].astype(np.float32),
                  np.ones((t, 1), bool), pipe.fps, w, h, ("drag",))
    inputs = pipe.prepare(image, embedding=text, tracks=[None, drag], num_frames=None, seed=0)
    live = LiveSession(node_id="bench", client_id="bench", width=w, height=h, offset=0, drawn=1,
                       max_slots=cfg.track_head.max_tracks, limiter=RateLimiter(1e9, 10**9))
    watch = PauseWatch(live)
    session = pipe.session(inputs, steering=live.steering, on_pause=watch)
    folder = tempfile.mkdtemp(prefix="motionstream-bench-")
    output = RunOutput(pipe.fps, path=Path(folder) / "endless.mp4")
    emitter = Emitter("bench", "bench", live.id, pipe.fps, send=lambda event, data, sid: None)
    run = StreamRun(session, live, None, pipe.fps, cfg.stream.chunk_frames, inputs.tracks, inputs.image,
                    emitter=emitter, pause_watch=watch, output=output)

    class Steer(threading.Thread):  # a user dragging a live point around, ten posts a second
        def run(self):
            i = 0
            while not live.steering.stopped:
                x, y = (w / 2) + (w / 3) * np.cos(i / 20), (h / 2) + (h / 3) * np.sin(i / 20)
                live.steer({"points": [{"id": "live:1", "x": float(x), "y": float(y), "active": True}]})
                i += 1
                time.sleep(0.1)

    sampler = Sampler(run, live.steering, args.frames, args.minutes * 60.0)
    print(f"config {cfg.name} {w}x{h}, {args.threads} thread(s); RSS at start {rss_mb():.1f} MB; "
          f"until {args.frames} frames or {args.minutes:g} min", flush=True)
    t0 = time.monotonic()
    sampler.start()
    Steer(daemon=True).start()
    image_out = run.run()  # the IMAGE output; the record for the editor is sent and saved in here
    elapsed = time.monotonic() - t0
    sampler.done.set()
    streaming = sampler.last
    tracks_out = pack_tracks(run.recorded())  # the node's TRACKS output
    end = rss_mb()
    made = output.frames_written
    size = (Path(folder) / "endless.mp4").stat().st_size / 2**20
    record = Path(folder) / "endless.tracks.json"
    print(f"frames {made} in {elapsed / 60:.1f} min ({made / elapsed:.1f} frames/s); video {size:.1f} MB; "
          f"IMAGE output {tuple(image_out.shape)} (at most {KEEP_FRAMES} frames kept); TRACKS output "
          f"{tuple(tracks_out['track_path'].shape)}; record in memory {run.session.plan.record.nbytes / 2**20:.2f} MB, "
          f"its file {record.stat().st_size / 2**20:.1f} MB; last RSS while streaming {streaming:.1f} MB; "
          f"malloc_trim {'off' if args.no_trim else f'every {nodes.output.TRIM_EVERY_S:g} s'}")
    if sampler.at_minute is None:
        print(f"RSS at the end {end:.1f} MB, peak {sampler.peak:.1f} MB (the run was shorter than a minute)")
        return 0
    growth = (end - sampler.at_minute) / sampler.at_minute * 100.0
    per_frame = (end - sampler.at_minute) * 1024 / max(1, made - sampler.frames_at_minute)
    print(f"RSS minute 1 {sampler.at_minute:.1f} MB -> end {end:.1f} MB ({growth:+.1f}%, {per_frame:+.3f} KB a frame "
          f"after minute 1), peak {sampler.peak:.1f} MB; bar: within 5% -> {'met' if abs(growth) <= 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

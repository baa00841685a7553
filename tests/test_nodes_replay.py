"""Replay of a live run, without the host: what the node sends back for editor_state reproduces the run.

The node's plan is [connected TRACKS input | drawn tracks]; the widget's ``track:<i>`` takes over drawn
track i (slot offset + i) and other ids add live slots. The record sent to the widget leaves out the
connected slots (the graph adds them again) and keeps every frame handed to the model, also the ones
cut from the last chunk. Re-running with [connected | record] must give the same frames.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motionstream_core.config import get_config
from motionstream_core.decoders import TinyVAECodec
from motionstream_core.model import MotionStreamModel
from motionstream_core.stream import MotionStream, TextCondition
from motionstream_core.tiny_vae import TinyVAE
from motionstream_core.tracks import TrackError, Tracks, combine_tracks
from nodes import streaming
from nodes.editor_state import parse_editor_state, with_recorded_file
from nodes.sessions import LiveSession, RateLimiter
from nodes.streaming import StreamRun


class NullEmitter:
    def __init__(self):
        self.events = []

    def session(self, *a):
        self.events.append(("session", a))

    def frames(self, *a):
        self.events.append(("frames", a))

    def done(self, reason, recorded, message="", **files):
        self.events.append(("done", (reason, recorded, message, files)))

    def close(self):
        pass


def _model():
    cfg = get_config("tiny")
    torch.manual_seed(0)
    model, vae = MotionStreamModel(cfg), TinyVAE(cfg.vae)
    with torch.no_grad():
        for m in (model, vae):
            for p in m.parameters():
                p.copy_(torch.randn_like(p) * (1.0 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.02))
    return model, vae


def _line(x0, x1, y, t=57, kind="drag") -> Tracks:
    path = np.stack([np.linspace(x0, x1, t), np.full(t, y)], -1)[:, None].astype(np.float32)
    return Tracks(path, np.ones((t, 1), bool), 16, 64, 64, (kind,))


def test_recorded_live_run_replays_with_connected_tracks_and_takeover():
    model, vae = _model()
    stream = MotionStream(model, TinyVAECodec(vae))
    image = torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(1))
    text = TextCondition(torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(2)))
    connected = _line(10, 50, 12).concat(_line(50, 10, 50))  # 2 tracks from a TRACKS input
    drawn = _line(20, 40, 30)  # 1 track drawn in the widget
    plan = combine_tracks(connected, drawn)
    live = LiveSession("4", None, 64, 64, offset=2, drawn=1, max_slots=64, limiter=RateLimiter(1e9, 10**9))
    session = stream.session(image, text, tracks=plan, steering=live.steering, num_frames=40, seed=5)
    em = NullEmitter()
    run = StreamRun(session, live, 40, 16.0, 3, plan, image, emitter=em)

    frames, it = [], iter(session)
    for chunk in it:  # what StreamRun.run does, with steering posted between chunks
        frames.append(chunk.frames)
        if chunk.index == 0:
            live.steer({"points": [{"id": "track:0", "x": 55.0, "y": 55.0, "active": True},
                                   {"id": "live:1", "x": 5.0, "y": 40.0, "active": True}]})
        if chunk.index == 1:
            live.steer({"points": [{"id": "live:1", "x": 30.0, "y": 8.0, "active": True}]})
    video = torch.cat(frames)
    assert video.shape[0] == 40
    sent, saved = run._save_record()  # what "motionstream.done" carries (no video here, so no file)
    assert isinstance(sent, str) and saved is None
    recorded = json.loads(sent)
    assert recorded["num_frames"] == 45, "the whole last chunk (9 + 3 x 12 frames), not only the 40 kept"
    assert [t["kind"] for t in recorded["tracks"]] == ["live", "live"], "drawn track 0 taken over + one new point"
    # the widget stores it; queueing again: [connected | editor tracks], same seed, no steering
    state = json.dumps({"version": 1, "tracks": recorded, "grid_spacing": 32, "duration_frames": 45})
    replay_plan = combine_tracks(connected, parse_editor_state(state).tracks)
    again = torch.cat([c.frames for c in stream.session(image, text, tracks=replay_plan, num_frames=40, seed=5)])
    assert torch.equal(again, video)
    plain = torch.cat([c.frames for c in stream.session(image, text, tracks=plan, num_frames=40, seed=5)])
    assert not torch.equal(plain, video), "the steering did change the video"
    assert torch.equal(plain[:9], video[:9])


class _Output:
    """Stands in for the run's video output: only where the record goes."""

    def __init__(self, path):
        self.path = path

    def tracks_path(self):
        return self.path


def test_a_long_record_goes_by_reference_to_its_file_and_replays_from_it(tmp_path, monkeypatch):
    """Over the inline size the page gets no record text, only the file; an editor_state that references
    the file replays the run exactly; a reference outside the output folder or to a missing file is refused."""
    model, vae = _model()
    stream = MotionStream(model, TinyVAECodec(vae))
    image = torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(1))
    text = TextCondition(torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(2)))
    drawn = _line(20, 40, 30)
    live = LiveSession("4", None, 64, 64, offset=0, drawn=1, max_slots=64, limiter=RateLimiter(1e9, 10**9))
    session = stream.session(image, text, tracks=drawn, steering=live.steering, num_frames=21, seed=5)
    (tmp_path / "video").mkdir()
    record = tmp_path / "video" / "run_00001.tracks.json"
    run = StreamRun(session, live, 21, 16.0, 3, drawn, image, emitter=NullEmitter())
    run.output = _Output(record)
    frames = []
    for chunk in session:
        frames.append(chunk.frames)
        if chunk.index == 0:
            live.steer({"points": [{"id": "live:1", "x": 5.0, "y": 40.0, "active": True}]})
    video = torch.cat(frames)
    sent, saved = run._save_record()
    assert saved == record and sent == record.read_text(encoding="utf-8"), "a short record is sent as it is"
    monkeypatch.setattr(streaming, "RECORD_INLINE_BYTES", record.stat().st_size - 1)
    assert run._save_record() == (None, record), "a longer one is only referenced"
    ref = {"filename": record.name, "subfolder": "video", "type": "output"}
    state = json.dumps({"version": 1, "tracks": {"format": "motionstream-tracks", "version": 1, "width": 64,
                                                 "height": 64, "fps": 16, "num_frames": 1, "tracks": []},
                        "grid_spacing": 32, "duration_frames": 21, "recorded_file": ref})
    replay = with_recorded_file(parse_editor_state(state), tmp_path).tracks
    assert [k for k in replay.kinds] == ["drag", "live"]
    again = torch.cat([c.frames for c in stream.session(image, text, tracks=replay, num_frames=21, seed=5)])
    assert torch.equal(again, video)
    for bad, error in (({**ref, "subfolder": "../.."}, "editor_state recorded_file 'output/../../run_00001.tracks.json' "
                                                     "is outside ComfyUI's output folder"),
                       ({**ref, "filename": "gone.tracks.json"}, "the run's recorded tracks output/video/gone.tracks.json "
                                                                 "are gone: undo (Ctrl+Z) or clear the tracks in the node "
                                                                 "to draw new ones")):
        with pytest.raises(TrackError) as e:
            with_recorded_file(parse_editor_state(state.replace(json.dumps(ref), json.dumps(bad))), tmp_path)
        assert str(e.value) == error
    with pytest.raises(TrackError, match="recorded_file must be"):
        parse_editor_state(state.replace(json.dumps(ref), json.dumps({**ref, "filename": "x.py"})))

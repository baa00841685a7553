"""One door into a stream: ``stream_inputs`` checks a run's inputs once; ``Pipeline.prepare`` and
``MotionStream.session`` both go through it (the same errors, word for word), and a session takes nothing else."""

import numpy as np
import pytest
import torch

from motionstream_core.pipeline import Pipeline, Runtime, random_model
from motionstream_core.stream import StreamSession
from motionstream_core.stream_parts import StreamInputs
from motionstream_core.tracks import Tracks


@pytest.fixture(scope="module")
def pipe():
    return Pipeline(random_model("tiny", Runtime.resolve("cpu")))


def _error(call) -> str:
    with pytest.raises(ValueError) as e:
        call()
    return str(e.value)


def test_the_pipeline_and_the_stream_refuse_bad_inputs_with_the_same_words(pipe, stream_inputs):
    image, text, tracks = stream_inputs
    odd = torch.rand(60, 64, 3)
    cases = {
        "image: image size 64x60 is not supported by model 'tiny': width and height must be positive multiples of "
        "16. Resize or crop the start image first (e.g. to 64x64).":
            (lambda: pipe.prepare(odd, embedding=text), lambda: pipe.stream.session(odd, text)),
        "num_frames must be >= 1 or None (until stopped), got 0":
            (lambda: pipe.prepare(image, embedding=text, num_frames=0),
             lambda: pipe.stream.session(image, text, num_frames=0)),
        "the start image must be [H, W, 3] (RGB), got shape (64, 64, 4)":
            (lambda: pipe.prepare(torch.rand(64, 64, 4), embedding=text),
             lambda: pipe.stream.session(torch.rand(64, 64, 4), text)),
        "size 32x32 differs from the start image's 64x64":
            (lambda: pipe.prepare(image, embedding=text, size=(32, 32)),
             lambda: pipe.stream.session(image, text, size=(32, 32))),
    }
    for message, (prepare, session) in cases.items():
        assert _error(prepare) == _error(session) == message
    assert _error(lambda: pipe.prepare(None, embedding=text)) == _error(lambda: pipe.stream.session(None, text)) == \
        "model 'tiny' needs a start image"
    # tracks that do not fit: prepare fits (resamples) them to the run, the stream refuses them by name
    wrong_fps = Tracks(path=tracks.path, visible=tracks.visible, fps=8, width=64, height=64)
    assert _error(lambda: pipe.stream.session(image, text, wrong_fps)) == (
        "tracks are at 8.0 fps but the model runs at 16 fps: resample them with Tracks.resample(fps=...)")
    assert pipe.prepare(image, embedding=text, tracks=[wrong_fps]).tracks.fps == 16


def test_a_session_takes_checked_inputs_only(pipe, stream_inputs):
    image, text, tracks = stream_inputs
    inputs = pipe.prepare(image, embedding=text, tracks=[tracks], num_frames=9)
    assert isinstance(inputs, StreamInputs) and inputs.image.shape == (64, 64, 3)
    with pytest.raises(TypeError, match="a stream session takes StreamInputs \\(stream_inputs checks them\\), got "
                                        "dict"):
        StreamSession(pipe.stream, {"image": image})
    a = torch.cat([c.frames for c in pipe.session(inputs)])
    b = torch.cat([c.frames for c in pipe.stream.session(np.asarray(image), text, inputs.tracks, num_frames=9)])
    assert torch.equal(a, b)  # the two ways in make the same run

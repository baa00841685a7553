"""A run's frames go to a video file as they are made; only a bounded tail stays in memory (no host needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import av

from nodes.output import RunOutput  # noqa: E402


def _chunk(i: int, t: int = 12, h: int = 32, w: int = 48) -> torch.Tensor:
    g = torch.Generator().manual_seed(i)
    base = torch.linspace(0, 1, w).view(1, 1, w, 1).expand(t, h, w, 3)
    return (0.9 * base + 0.05 * torch.rand(t, h, w, 3, generator=g) + 0.05 * i / 6).clamp(0, 1)


def test_every_frame_goes_to_the_file_and_the_newest_stay_in_memory(tmp_path):
    out = RunOutput(16.0, keep=30, path=tmp_path / "run.mp4")
    assert out.file_info() is None and out.video() is None
    chunks = [_chunk(i) for i in range(6)]
    for c in chunks:
        out.add(c)
    path = out.close()
    assert path == tmp_path / "run.mp4" and out.frames_written == 72
    with av.open(str(path)) as c:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    allf = torch.cat(chunks)
    assert decoded.shape == (72, 32, 48, 3)
    assert np.abs(decoded.astype(np.float32) / 255 - allf.numpy()).mean() < 0.03
    img = out.image()
    assert img.shape == (30, 32, 48, 3) and img.dtype == torch.float32
    assert torch.equal(img, allf[-30:]), "the newest 30 frames, as made"
    assert img.data_ptr() == out.ring._buf.ctypes.data, "the ring itself, not a copy"
    assert out.tracks_path() == tmp_path / "run.tracks.json"
    assert out.file_info(out.tracks_path())["filename"] == "run.tracks.json"
    assert out.file_info() == {"filename": "run.mp4", "subfolder": "", "type": "output"}

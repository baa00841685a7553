"""Writing videos chunk by chunk (constant memory) and keeping a bounded tail of frames in memory."""

from __future__ import annotations

import numpy as np
import pytest

av = pytest.importorskip("av", reason="PyAV is not installed")

from motionstream_core.video_io import RecentFrames, VideoWriter, write_video  # noqa: E402


def _frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(t):  # smooth moving gradients: what a codec sees in practice
        img = np.stack([x * 255 / w, y * 255 / h, (x + y + 8 * i) % 256], -1) + rng.normal(0, 2, (h, w, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def _decode(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


@pytest.mark.parametrize("ext", [".mp4", ".webm"])
def test_chunked_writing_decodes_like_writing_at_once(tmp_path, ext):
    frames = _frames(21, 48, 64)
    whole = write_video(tmp_path / f"whole{ext}", frames, 16)
    with VideoWriter(tmp_path / f"chunks{ext}", 16) as w:
        for a in range(0, 21, 9):
            w.write(frames[a:a + 9])
    assert w.frames_written == 21
    got, ref = _decode(w.path), _decode(whole)
    assert got.shape == ref.shape == (21, 48, 64, 3)
    np.testing.assert_array_equal(got, ref)
    err = np.abs(got.astype(np.float32) - frames).mean()
    assert err < 4.0, f"mean abs error {err:.2f} of 255: the video is not the frames given"


def test_odd_sizes_are_padded_and_float_frames_accepted(tmp_path):
    frames = _frames(5, 33, 47).astype(np.float32) / 255.0
    with VideoWriter(tmp_path / "odd.mp4", 16) as w:
        w.write(frames)
        with pytest.raises(ValueError, match="frames of 46x33 in a 47x33 video"):
            w.write(frames[:, :, :46])
    got = _decode(w.path)
    assert got.shape == (5, 34, 48, 3)
    assert np.abs(got[:, :33, :47].astype(np.float32) / 255.0 - frames).mean() < 4.0 / 255


def test_writer_errors_and_no_file_without_frames(tmp_path):
    with pytest.raises(ValueError, match="unsupported video extension '.avi'"):
        VideoWriter(tmp_path / "x.avi", 16)
    w = VideoWriter(tmp_path / "none.mp4", 16)
    assert w.close() is None and not (tmp_path / "none.mp4").exists()
    with pytest.raises(ValueError, match=r"needs frames \[T, H, W, 3\]"):
        VideoWriter(tmp_path / "y.mp4", 16).write(np.zeros((4, 4, 3), np.uint8))


def test_recent_frames_keeps_the_newest_only():
    frames = _frames(30, 8, 8)
    r = RecentFrames(keep=12)
    assert len(r) == 0 and r.as_array().shape == (0, 0, 0, 3)
    for a in range(0, 30, 7):
        r.add(frames[a:a + 7])
    assert r.seen == 30 and len(r) == 12 and r.first_kept == 18
    np.testing.assert_array_equal(r.as_array(), frames[18:])
    r.add(frames[:20])  # a chunk longer than the buffer
    np.testing.assert_array_equal(r.as_array(), frames[8:20])
    with pytest.raises(ValueError, match="keep must be >= 1"):
        RecentFrames(0)

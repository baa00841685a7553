"""Motion transfer on synthetic videos with known motion (a texture translated and zoomed)."""
import av
import cv2
import numpy as np
import pytest

from motionstream_core.motion.transfer import read_video, tracks_from_video
from motionstream_core.tracks import TrackError

H, W, T = 96, 128, 12
OCC_ROWS, OCC_COLS, OCC_FROM = (20, 60), (30, 70), 6  # a flat grey square covers this from frame 6 on


def _texture(size=256, seed=0):
    rng = np.random.default_rng(seed)
    tex = np.zeros((size, size), np.float32)
    for sigma in (1.5, 4.0, 10.0):
        b = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma)
        tex += b / b.std()
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    return np.stack([tex, np.roll(tex, 7, 0), np.roll(tex, 13, 1)], -1)


def _affine(t, size=256):
    """Texture -> frame t (OpenCV pixel centres): zoom 1 + 0.02 t about the texture centre, then a shift."""
    s, c = 1 + 0.02 * t, size / 2
    return np.array([[s, 0, -s * c + W / 2 + 1.3 * t - 0.5], [0, s, -s * c + H / 2 - 0.7 * t - 0.5], [0, 0, 1]])


@pytest.fixture(scope="module")
def video():
    tex = (_texture() * 255).astype(np.uint8)
    frames = np.stack([cv2.warpAffine(tex, _affine(t)[:2], (W, H), flags=cv2.INTER_CUBIC,
                                      borderMode=cv2.BORDER_REFLECT) for t in range(T)])
    occluded = frames.copy()
    occluded[OCC_FROM:, OCC_ROWS[0]:OCC_ROWS[1], OCC_COLS[0]:OCC_COLS[1]] = 128
    return frames, occluded


def _truth(p0):
    """Where the points p0 (our pixel-corner coordinates in frame 0) are in every frame."""
    out = []
    for t in range(T):
        m = _affine(t) @ np.linalg.inv(_affine(0))
        out.append((p0 - 0.5) @ m[:2, :2].T + m[:2, 2] + 0.5)
    return np.stack(out)


def test_endpoint_error_on_visible_points_and_occlusion(video):
    _, frames = video
    tr = tracks_from_video(frames, grid_spacing=16, reseed=False)
    assert (tr.num_frames, tr.num_tracks, tr.fps, tr.width, tr.height) == (T, 48, 16, W, H)
    assert tr.kinds == ("transfer",) * 48
    truth = _truth(tr.path[0])
    err = np.linalg.norm(tr.path - truth, axis=-1)
    vis = tr.visible
    assert vis.mean() > 0.6
    assert err[vis].mean() <= 0.5  # the bound
    assert err[vis].mean() <= 0.15  # what this tracker actually reaches (about 0.06)
    # points whose true position is well inside the occluder are hidden
    cx, cy = truth[..., 0], truth[..., 1]
    m = 4
    inside = (cx > OCC_COLS[0] + m) & (cx < OCC_COLS[1] - m) & (cy > OCC_ROWS[0] + m) & (cy < OCC_ROWS[1] - m)
    inside[:OCC_FROM] = False
    assert inside.sum() >= 10
    assert not (vis & inside).any()
    # a lost point stays lost and holds its last position
    lost = np.flatnonzero(~vis[-1] & vis[0])
    assert len(lost) > 0
    for i in lost:
        first = np.flatnonzero(~vis[:, i])[0]
        assert not vis[first:, i].any()
        assert (tr.path[first:, i] == tr.path[first - 1, i]).all()


def test_refinement_removes_zoom_drift(video):
    frames, _ = video
    refined = tracks_from_video(frames, grid_spacing=16, reseed=False)
    plain = tracks_from_video(frames, grid_spacing=16, refine=False, reseed=False)
    e_ref = np.linalg.norm(refined.path - _truth(refined.path[0]), axis=-1)[refined.visible].mean()
    e_lk = np.linalg.norm(plain.path - _truth(plain.path[0]), axis=-1)[plain.visible].mean()
    assert e_ref < 0.05 and e_ref < e_lk / 4


def test_points_leaving_the_frame_are_hidden(video):
    frames, _ = video
    tr = tracks_from_video(frames, grid_spacing=16, reseed=False)
    truth = _truth(tr.path[0])
    outside = (truth[..., 0] < -1) | (truth[..., 0] > W + 1) | (truth[..., 1] < -1) | (truth[..., 1] > H + 1)
    assert outside.any() and not (tr.visible & outside).any()


def test_float_frames_size_and_rate(video):
    frames, _ = video
    base = tracks_from_video(frames, grid_spacing=32)
    as_float = tracks_from_video(frames.astype(np.float32) / 255.0, grid_spacing=32)
    np.testing.assert_allclose(as_float.path, base.path, atol=1e-3)
    big = tracks_from_video(frames, grid_spacing=64, width=2 * W, height=2 * H, fps=24)
    assert (big.width, big.height, big.fps, big.num_frames) == (2 * W, 2 * H, 24, 17)
    np.testing.assert_allclose(big.path[::3], 2 * base.path[::2], atol=1e-3)  # same points, twice the pixels


def test_video_file_read_with_pyav(video, tmp_path):
    frames, _ = video
    path = tmp_path / "ref.mkv"
    with av.open(str(path), "w") as c:  # lossless, so the file gives the same tracks as the array
        s = c.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "bgr0"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    decoded, fps = read_video(path)
    assert fps == 24 and decoded.shape == frames.shape and (decoded == frames).all()
    from_file = tracks_from_video(path, grid_spacing=32)
    assert from_file.fps == 24
    np.testing.assert_allclose(from_file.path, tracks_from_video(frames, grid_spacing=32).path, atol=1e-4)
    at16 = tracks_from_video(str(path), grid_spacing=32, fps=16, max_frames=7)
    assert (at16.num_frames, at16.fps) == (5, 16)


def test_transfer_errors(tmp_path):
    with pytest.raises(TrackError, match="frames must be"):
        tracks_from_video(np.zeros((4, 8, 8)), grid_spacing=4)
    with pytest.raises(TrackError, match="no such video file"):
        tracks_from_video(tmp_path / "nope.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(TrackError, match="cannot read video"):
        tracks_from_video(tmp_path / "bad.mp4")
    with pytest.raises(TrackError, match=r"too many tracks: 9216 > limit 8192 \(increase grid_spacing\)"):
        tracks_from_video(np.zeros((2, 96, 96, 3), np.uint8), grid_spacing=1)


def test_track_points_starts_at_the_given_points(video):
    """``track_points`` (what eval re-tracks generated videos with) follows arbitrary start points, off
    the grid, as closely as the grid tracker, and agrees with ``tracks_from_video`` on grid points."""
    from motionstream_core.motion.transfer import track_points

    _, frames = video
    rng = np.random.default_rng(0)
    start = np.stack([rng.uniform(8, W - 8, 24), rng.uniform(8, H - 8, 24)], -1).astype(np.float32)
    path, vis = track_points(frames, start)
    assert path.shape == (T, 24, 2) and vis.shape == (T, 24) and vis[0].all()
    np.testing.assert_array_equal(path[0], start)
    err = np.linalg.norm(path - _truth(start), axis=-1)
    assert vis.mean() > 0.6 and err[vis].mean() <= 0.15
    grid = tracks_from_video(frames, grid_spacing=16, reseed=False)
    again, again_vis = track_points(frames, grid.path[0], keep_untracked=True)
    np.testing.assert_allclose(again, grid.path, atol=1e-4)
    np.testing.assert_array_equal(again_vis, grid.visible)

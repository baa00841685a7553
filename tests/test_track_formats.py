"""Round trips for every track format, real-world example strings, and file loading."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motionstream_core import track_formats as tf
from motionstream_core.tracks import TrackError, Tracks

DATA = Path(__file__).parent / "data" / "tracks"
W, H = 832, 480


def random_tracks(t=9, n=4, fps=16.0, seed=0, hidden=True, kinds=None):
    rng = np.random.default_rng(seed)
    path = np.stack([rng.uniform(-40, W + 40, (t, n)), rng.uniform(-20, H + 20, (t, n))], -1).astype(np.float32)
    vis = rng.random((t, n)) > 0.2 if hidden else np.ones((t, n), bool)
    return Tracks(path, vis, fps, W, H, kinds)


def kijai_pad_pts(track, length=121):
    """Reference: how kijai's WanVideoATITracks turns one JSON track into [121, 3] (x, y, visible)."""
    pts = np.array([[p["x"], p["y"], 1] for p in track], np.float32)
    if len(pts) < length:
        pts = np.vstack([pts, np.zeros((length - len(pts), 3), np.float32)])
    return pts[:length]


# ----------------------------------------------------------------------------- ComfyUI TRACKS
def test_comfy_round_trip():
    tr = random_tracks()
    d = tf.to_comfy(tr)
    assert set(d) == {"track_path", "track_visibility"}
    assert d["track_path"].dtype == torch.float32 and tuple(d["track_path"].shape) == (9, 4, 2)
    assert d["track_visibility"].dtype == torch.bool and tuple(d["track_visibility"].shape) == (9, 4)
    back = tf.from_comfy(d, fps=16, width=W, height=H)
    np.testing.assert_array_equal(back.path, tr.path)
    np.testing.assert_array_equal(back.visible, tr.visible)
    d["track_path"][0, 0, 0] = -1  # the dict holds copies
    assert tr.path[0, 0, 0] != -1


def test_comfy_variants_from_other_nodes():
    path = torch.arange(24, dtype=torch.float32).reshape(4, 3, 2)
    # WanMoveTracksFromCoords with a mask writes visibility [T, 1]
    vis = torch.tensor([[True], [True], [False], [True]])
    tr = tf.from_comfy({"track_path": path, "track_visibility": vis}, width=W, height=H)
    assert tr.visible[:, 2].tolist() == [True, True, False, True]
    # no visibility at all: everything visible (as ComfyUI reads it)
    assert tf.from_comfy({"track_path": path.numpy()}, width=W, height=H).visible.all()
    # a leading batch of one
    tr1 = tf.from_comfy({"track_path": path[None], "track_visibility": torch.ones(1, 4, 3, dtype=torch.bool)},
                            fps=24, width=W, height=H)
    assert tr1.num_frames == 4 and tr1.fps == 24


# ----------------------------------------------------------------------------- our JSON
def test_json_round_trip_is_exact():
    tr = random_tracks(fps=12.5, kinds=("drag", "static", "live", "transfer"))
    s = tf.to_json(tr)
    assert tf.from_json(s) == tr
    doc = json.loads(s)
    assert {k: doc[k] for k in ("format", "version", "width", "height", "fps", "num_frames")} == {
        "format": "motionstream-tracks", "version": 1, "width": W, "height": H, "fps": 12.5, "num_frames": 9}
    t0 = doc["tracks"][0]
    assert set(t0) <= {"points", "visible", "kind"} and len(t0["points"]) == 9
    assert t0["points"][3] == [float(str(tr.path[3, 0, 0])), float(str(tr.path[3, 0, 1]))]


def _json_as_one_document(tr: Tracks) -> str:
    """Reference: the whole document built as Python objects and dumped in one go (shortest float32
    decimals), as the writer did before it wrote block by block."""
    fps = int(tr.fps) if float(tr.fps).is_integer() else tr.fps
    tracks = []
    for i in range(tr.num_tracks):
        entry = {"points": [[float(str(x)), float(str(y))] for x, y in tr.path[:, i]]}
        if not tr.visible[:, i].all():
            entry["visible"] = tr.visible[:, i].astype(int).tolist()
        entry["kind"] = tr.kinds[i]
        tracks.append(entry)
    return json.dumps({"format": "motionstream-tracks", "version": 1, "width": tr.width, "height": tr.height,
                       "fps": fps, "num_frames": tr.num_frames, "tracks": tracks}, separators=(",", ":"))


@pytest.mark.parametrize("t, n, fps, hidden", [(9, 4, 12.5, True), (9000, 3, 16.0, True), (5000, 1, 16.0, False),
                                               (4096, 2, 24.0, True), (1, 1, 16.0, False)])
def test_json_written_block_by_block_is_the_same_document(tmp_path, t, n, fps, hidden):
    tr = random_tracks(t=t, n=n, fps=fps, seed=t, hidden=hidden, kinds=("drag", "live", "static", "camera")[:n])
    text = tf.to_json(tr)
    assert text == _json_as_one_document(tr)
    tf.save(tr, tmp_path / "r.json")
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == text and tf.from_json(text) == tr
    empty = Tracks.empty(t, fps, W, H)
    assert tf.to_json(empty) == _json_as_one_document(empty)


def test_json_optional_fields_and_widget_style():
    all_vis = random_tracks(hidden=False)
    doc = json.loads(tf.to_json(all_vis))
    assert "visible" not in doc["tracks"][0] and doc["fps"] == 16 and isinstance(doc["fps"], int)
    # what the JS widget writes: visible always present, booleans or 0/1, meta ignored
    widget = {"format": "motionstream-tracks", "version": 1, "width": 64, "height": 64, "fps": 16, "num_frames": 3,
              "meta": {"session": "abc"},
              "tracks": [{"points": [[1, 2], [3, 4.5], [5, 6]], "visible": [1, 0, 1], "kind": "live"},
                         {"points": [[9, 9]] * 3, "visible": [True, True, False]},
                         {"points": [[0, 0]] * 3}]}
    tr = tf.from_json(json.dumps(widget))
    assert tr.kinds == ("live", "drag", "drag")
    assert tr.visible.T.tolist() == [[True, False, True], [True, True, False], [True, True, True]]
    assert tr.path[1, 0].tolist() == [3.0, 4.5]
    assert tf.from_json(widget) == tr  # an already-parsed dict is accepted too


# ----------------------------------------------------------------------------- KJNodes coord_str
def test_coord_str_round_trip():
    tr = random_tracks(hidden=False)
    s = tf.to_coord_str(tr)
    assert tf.from_coord_str(s, W, H, fps=16) == tr
    one = tr.select([1])
    flat = json.loads(tf.to_coord_str(one))
    assert isinstance(flat, list) and isinstance(flat[0], dict)  # one track: a flat list, as KJNodes writes it
    assert tf.from_coord_str(tf.to_coord_str(one), W, H) == one


def test_coord_str_cannot_store_visibility_unless_told():
    tr = random_tracks(seed=3)
    with pytest.raises(TrackError, match=r"coord_str cannot store visibility: track \d+ is hidden at frame \d+"):
        tf.to_coord_str(tr)
    back = tf.from_coord_str(tf.to_coord_str(tr, drop_visibility=True), W, H)
    np.testing.assert_array_equal(back.path, tr.path)
    assert back.visible.all()


def test_kjnodes_real_world_multi_spline_and_single_point():
    s = (DATA / "kjnodes_coord_str_multi.txt").read_text()
    tr = tf.from_coord_str(s, W, H, fps=16)
    assert (tr.num_frames, tr.num_tracks) == (16, 3)
    assert tr.kinds == ("drag", "drag", "static")  # KJNodes' single point: repeated copies
    raw = json.loads(s)
    assert tr.path[0, 0].tolist() == [raw[0][0]["x"], raw[0][0]["y"]]
    assert tr.path[15, 1].tolist() == [raw[1][15]["x"], raw[1][15]["y"]]
    assert (tr.path[:, 2] == [256, 96]).all() and tr.visible.all()


def test_kjnodes_real_world_single_legacy_and_widget():
    single = tf.from_coord_str((DATA / "kjnodes_coord_str_single.txt").read_text(), W, H)
    assert (single.num_frames, single.num_tracks) == (24, 1)
    legacy = tf.from_coord_str((DATA / "kjnodes_coord_str_legacy.txt").read_text(), 128, 128)
    assert legacy.num_frames == 8 and legacy.path[0, 0].tolist() == [10, 20] and legacy.path[7, 0].tolist() == [90, 70]
    widget = tf.from_coord_str((DATA / "kjnodes_coordinates_widget.txt").read_text(), 512, 512)
    assert (widget.num_frames, widget.num_tracks) == (10, 2) and widget.kinds == ("drag", "static")
    assert widget.path[9, 0].tolist() == pytest.approx([120.5 + 7.25 * 9, 200.75 - 3.5 * 9 + 0.125 * 81])


def test_coord_str_num_frames_stretches():
    s = (DATA / "kjnodes_coord_str_multi.txt").read_text()
    tr = tf.from_coord_str(s, W, H, num_frames=31)
    base = tf.from_coord_str(s, W, H)
    assert tr.num_frames == 31
    np.testing.assert_allclose(tr.path[::2], base.path, atol=1e-4)


# ----------------------------------------------------------------------------- ATI
def test_ati_real_world_example():
    s = (DATA / "ati_tracks.json").read_text()
    tr = tf.from_ati_json(s, W, H)
    assert (tr.num_frames, tr.num_tracks, tr.fps) == (121, 3, 24)
    raw = json.loads(s)
    for i, track in enumerate(raw):
        ref = kijai_pad_pts(track)
        vis = ref[:, 2] > 0
        np.testing.assert_array_equal(tr.visible[:, i], vis)
        np.testing.assert_array_equal(tr.path[vis, i], ref[vis, :2])
    assert tr.visible[:73, 2].all() and not tr.visible[73:, 2].any()
    assert (tr.path[73:, 2] == tr.path[72, 2]).all()  # the hidden tail holds the last position


def test_ati_to_model_rate_matches_ati_frame_mapping():
    """ATI maps its 121 frames to 81 by taking frame 0 then floor(1.5 k); we interpolate at 1.5 k exactly."""
    s = (DATA / "ati_tracks.json").read_text()
    tr = tf.from_ati_json(s, W, H, fps=16)
    full = tf.from_ati_json(s, W, H)
    assert tr.num_frames == 81 and tr.fps == 16
    k = np.arange(81)
    ati_idx = np.where(k == 0, 0, 1 + (1 + 3 * (k - 1)) // 2)  # ATI's repeat_interleave(2)[1::3]
    even = k % 2 == 0
    np.testing.assert_array_equal(tr.path[even, :2], full.path[ati_idx[even], :2])
    step = np.abs(np.diff(full.path[:, :2], axis=0)).max()
    assert np.abs(tr.path[~even, :2] - full.path[ati_idx[~even], :2]).max() <= step / 2 + 1e-4


def test_ati_round_trip_and_kijai_compatibility():
    t = 121
    rng = np.random.default_rng(1)
    path = rng.uniform(0, 400, (t, 3, 2)).astype(np.float32)
    vis = np.ones((t, 3), bool)
    vis[10:20, 0] = False   # hidden in the middle: written with "visible": 0
    vis[100:, 1] = False    # hidden at the end: the track ends there (ATI's own convention)
    tr = Tracks(path, vis, 24, W, H)
    s = tf.to_ati_json(tr)
    raw = json.loads(s)
    assert [len(x) for x in raw] == [121, 100, 121]
    assert raw[0][12] == {"x": float(str(path[12, 0, 0])), "y": float(str(path[12, 0, 1])), "visible": 0}
    back = tf.from_ati_json(s, W, H)
    np.testing.assert_array_equal(back.visible, vis)
    np.testing.assert_array_equal(back.path[vis], tr.path[vis])
    ref = kijai_pad_pts(raw[1])  # what kijai's node reads: visible up to 100, then padding
    assert (ref[:100, 2] == 1).all() and (ref[100:, 2] == 0).all()


def test_ati_from_model_rate_and_too_long():
    k = np.arange(81, dtype=np.float32)
    tr = Tracks(np.stack([100 + 2 * k, 50 + k], -1)[:, None], np.ones((81, 1), bool), 16, W, H)
    raw = json.loads(tf.to_ati_json(tr))
    assert len(raw[0]) == 121
    assert raw[0][3] == {"x": 104.0, "y": 52.0}  # 24 fps frame 3 = 16 fps frame 2
    back = tf.from_ati_json(tf.to_ati_json(tr), W, H, fps=16)
    np.testing.assert_allclose(back.path, tr.path, atol=1e-4)
    with pytest.raises(TrackError) as e:
        tf.to_ati_json(tr.hold_to(82))
    assert str(e.value) == ("ATI holds at most 121 frames (5 s at 24 fps); these tracks have 123 frames at 24 fps "
                            "(5.08 s): use slice_frames first")


def test_ati_pth_file_like_bytedance(tmp_path):
    arr = np.zeros((2, 121, 1, 3), np.float32)
    arr[:, :, 0, 0] = np.linspace(10, 50, 121)
    arr[:, :, 0, 1] = 30
    arr[:, :, 0, 2] = 1
    arr[1, 90:] = 0  # a track ending at 90: zeros, invisible
    bio = io.BytesIO()
    np.savez_compressed(bio, array=arr * 8)  # bytedance/ATI quantises by 8
    torch.save(bio.getvalue(), tmp_path / "bear.pth")
    tr = tf.load(tmp_path / "bear.pth", width=W, height=H)
    assert (tr.num_frames, tr.num_tracks, tr.fps) == (121, 2, 24)
    np.testing.assert_allclose(tr.path[:, 0, 0], np.linspace(10, 50, 121), atol=1e-4)
    assert tr.visible[:90, 1].all() and not tr.visible[90:, 1].any()
    assert tf.load(tmp_path / "bear.pth", width=W, height=H, fps=16).num_frames == 81


# ----------------------------------------------------------------------------- CoTracker-style arrays
def test_array_round_trips_and_cotracker_layouts(tmp_path):
    tr = random_tracks()
    pred_tracks = torch.from_numpy(tr.path.copy())[None]     # [B=1, T, N, 2]
    pred_vis = torch.from_numpy(tr.visible.copy())[None]     # [B=1, T, N]
    a = tf.from_array(pred_tracks, pred_vis, width=W, height=H)
    assert a == tr
    probs = np.where(tr.visible, 0.9, 0.1).astype(np.float32)  # CoTracker3 probabilities: threshold 0.5
    assert tf.from_array(tr.path, probs, width=W, height=H) == tr
    assert tf.from_array(tr.path, width=W, height=H).visible.all()

    np.save(tmp_path / "clip_tracks.npy", tr.path)
    np.save(tmp_path / "clip_visibility.npy", tr.visible)  # Wan-Move-style sibling file
    assert tf.load(tmp_path / "clip_tracks.npy", width=W, height=H) == tr
    np.savez(tmp_path / "c.npz", pred_tracks=pred_tracks.numpy(), pred_visibility=pred_vis.numpy())
    assert tf.load(tmp_path / "c.npz", width=W, height=H) == tr
    torch.save({"tracks": pred_tracks, "visibility": pred_vis, "width": W, "height": H, "fps": 16},
               tmp_path / "c.pt")
    assert tf.load(tmp_path / "c.pt") == tr
    torch.save(pred_tracks, tmp_path / "bare.pt")
    assert tf.load(tmp_path / "bare.pt", width=W, height=H).visible.all()


# ----------------------------------------------------------------------------- load() dispatch
def test_load_dispatch_on_content(tmp_path):
    tr = random_tracks()
    (tmp_path / "ours.json").write_text(tf.to_json(tr))
    assert tf.load(tmp_path / "ours.json") == tr
    (tmp_path / "ati.json").write_text((DATA / "ati_tracks.json").read_text())
    assert tf.load(tmp_path / "ati.json", width=W, height=H).fps == 24  # longest track has 121 points: ATI
    kj = tf.load(DATA / "kjnodes_coord_str_multi.txt", width=W, height=H, fps=8)
    assert kj.fps == 8 and kj.num_frames == 16
    forced = tf.load(DATA / "kjnodes_coord_str_multi.txt", width=W, height=H, format="ati")
    assert forced.num_frames == 121 and forced.fps == 24


def test_load_errors(tmp_path):
    with pytest.raises(TrackError, match="no such tracks file"):
        tf.load(tmp_path / "missing.json")
    with pytest.raises(TrackError, match=r"kjnodes_coord_str_multi.txt needs width and height"):
        tf.load(DATA / "kjnodes_coord_str_multi.txt")
    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(TrackError, match=r"cannot read tracks from x.bin: unknown extension '.bin'"):
        tf.load(tmp_path / "x.bin")
    np.savez(tmp_path / "y.npz", foo=np.zeros(3))
    with pytest.raises(TrackError, match=r"y.npz: no track array found"):
        tf.load(tmp_path / "y.npz", width=W, height=H)
    with pytest.raises(TrackError, match="unknown tracks format 'csv'"):
        tf.load(DATA / "ati_tracks.json", format="csv")


def test_formats_module_constants():
    assert tf.FORMAT_NAME == "motionstream-tracks" and tf.SUPPORTED_VERSIONS == (1,)
    assert (tf.ATI_FPS, tf.ATI_LENGTH) == (24.0, 121)

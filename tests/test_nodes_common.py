"""Conversions between ComfyUI values and the core's types, without the host (nodes/common.py)."""

from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from motionstream_core import track_formats
from motionstream_core.tracks import TrackError, Tracks, combine_tracks, fit_tracks
from nodes.editor_state import default_editor_state, parse_editor_state
from nodes.frames import jpeg_data_url
from nodes.sockets import pack_tracks, start_image, text_condition, unpack_tracks


def tracks(n=2, t=5, w=64, h=48, fps=16.0, shift=0.0) -> Tracks:
    path = np.stack([np.stack([np.linspace(4, 40, t) + i + shift, np.full(t, 10.0 + i)], -1) for i in range(n)], 1)
    return Tracks(path.astype(np.float32), np.ones((t, n), bool), fps, w, h)


# -- CONDITIONING ----------------------------------------------------------------------------------

def wan_cond(length=512, width=4096, extras=None):
    return [[torch.randn(1, length, width), {"pooled_output": None, **(extras or {})}]]


def test_wan_conditioning_becomes_the_text_context():
    cond = wan_cond(512)
    tc = text_condition(cond, text_dim=4096, text_len=512, clip_dim=1280)
    assert tc.context.shape == (1, 512, 4096) and torch.equal(tc.context, cond[0][0]) and tc.clip is None


def test_short_context_is_zero_padded_to_text_len_as_wan_does():
    cond = wan_cond(7)
    tc = text_condition(cond, text_dim=4096, text_len=512, clip_dim=None)
    assert tc.context.shape == (1, 512, 4096)
    assert torch.equal(tc.context[:, :7], cond[0][0]) and not tc.context[:, 7:].any()
    long = text_condition(wan_cond(600), text_dim=4096, text_len=512, clip_dim=None)
    assert long.context.shape == (1, 600, 4096), "longer contexts are kept whole, as ComfyUI's WanModel does"


def test_clip_vision_tokens_from_the_input_or_the_conditioning():
    tokens = torch.randn(1, 257, 1280)
    out = SimpleNamespace(penultimate_hidden_states=tokens)
    tc = text_condition(wan_cond(), text_dim=4096, text_len=512, clip_dim=1280, clip_vision_output=out)
    assert torch.equal(tc.clip, tokens)
    tc = text_condition(wan_cond(extras={"clip_vision_output": out}), text_dim=4096, text_len=512, clip_dim=1280)
    assert torch.equal(tc.clip, tokens), "WanImageToVideo-style conditioning carries it"
    tc = text_condition(wan_cond(), text_dim=4096, text_len=512, clip_dim=None, clip_vision_output=out)
    assert tc.clip is None, "a model without the CLIP branch ignores it"
    with pytest.raises(ValueError, match="width 1024 but this model takes 1280"):
        text_condition(wan_cond(), text_dim=4096, text_len=512, clip_dim=1280,
                       clip_vision_output=SimpleNamespace(penultimate_hidden_states=torch.randn(1, 257, 1024)))


@pytest.mark.parametrize("cond, words", [
    ([], "non-empty list"),
    ("text", "non-empty list"),
    ([[None, {}]], "malformed CONDITIONING"),
    ([[torch.randn(1, 77, 768), {}]], "width 768 but this model takes 4096 (use CLIPLoader with type 'wan'"),
    ([[torch.randn(2, 3, 4, 4096), {}]], "must be [1, L, 4096]"),
])
def test_bad_conditioning_is_a_clear_error(cond, words):
    with pytest.raises(ValueError) as e:
        text_condition(cond, text_dim=4096, text_len=512, clip_dim=None)
    assert words in str(e.value)


def test_first_of_several_entries_is_used():
    a, b = wan_cond(), wan_cond()
    tc = text_condition(a + b, text_dim=4096, text_len=512, clip_dim=None)
    assert torch.equal(tc.context, a[0][0])


# -- TRACKS sockets --------------------------------------------------------------------------------

def test_pack_keeps_comfy_keys_and_our_tracks():
    t = tracks(fps=24.0)
    v = pack_tracks(t)
    assert v["track_path"].shape == (5, 2, 2) and v["track_visibility"].dtype == torch.bool
    assert unpack_tracks(v) is t, "our own value comes back with its size and rate"


def test_comfy_dicts_take_the_given_size_and_rate():
    t = tracks()
    raw = {"track_path": torch.from_numpy(t.path.copy()), "track_visibility": torch.ones(5, 1, dtype=torch.bool)}
    u = unpack_tracks(raw, 64, 48, 16)
    assert u.path.shape == (5, 2, 2) and u.visible.all() and (u.width, u.height, u.fps) == (64, 48, 16)
    with pytest.raises(TrackError, match="without an image size"):
        unpack_tracks({"track_path": raw["track_path"]})
    with pytest.raises(TrackError, match="must be a ComfyUI track dict"):
        unpack_tracks([1, 2, 3], 64, 48)


def test_a_dict_edited_by_another_node_is_reread():
    t = tracks(w=64, h=48, fps=24)
    v = pack_tracks(t)
    v["track_path"] = v["track_path"] + 1.0  # another pack moved the points but kept our key
    u = unpack_tracks(v, 999, 999, 16)
    assert np.allclose(u.path, t.path + 1) and (u.width, u.height, u.fps) == (64, 48, 24)


def test_fit_and_combine():
    a = tracks(n=2, t=5, w=128, h=96, fps=16)
    b = tracks(n=1, t=9, w=64, h=48, fps=32)
    fa, fb = fit_tracks(a, 64, 48, 16), fit_tracks(b, 64, 48, 16)
    assert (fa.width, fa.height) == (64, 48) and np.allclose(fa.path, a.path / 2)
    assert fb.fps == 16 and fb.num_frames == 5, "32 fps over 0.25 s -> 16 fps, 5 frames"
    assert fit_tracks(fb, 64, 48, 16) is fb
    both = combine_tracks(fa, tracks(n=3, t=8))
    assert both.num_tracks == 5 and both.num_frames == 8 and np.array_equal(both.path[7, :2], fa.path[4])
    assert combine_tracks(None, fa) is fa and combine_tracks(fa, None) is fa and combine_tracks(None, None) is None
    empty = Tracks.empty(3, 16, 64, 48)
    assert combine_tracks(empty, None) is None and combine_tracks(empty, fa) is fa


# -- editor_state -----------------------------------------------------------------------------------

def test_default_editor_state_means_no_tracks():
    state = json.loads(default_editor_state(64, 48))
    assert state["version"] == 1 and state["grid_spacing"] == 32 and state["duration_frames"] == 49
    assert state["tracks"]["format"] == "motionstream-tracks" and state["tracks"]["tracks"] == []
    assert parse_editor_state(default_editor_state()).tracks is None
    assert parse_editor_state("").tracks is None and parse_editor_state("   ").tracks is None


def test_editor_state_with_tracks_round_trips():
    t = tracks(n=2, t=5)
    text = json.dumps({"version": 1, "tracks": json.loads(track_formats.to_json(t)), "grid_spacing": 24, "duration_frames": 33})
    st = parse_editor_state(text)
    assert st.tracks == t and st.grid_spacing == 24 and st.duration_frames == 33
    st2 = parse_editor_state(json.dumps({"version": 1, "tracks": track_formats.to_json(t)}))
    assert st2.tracks == t, "tracks may also be given as a JSON string"


def test_editor_state_tracks_hold_after_their_last_entry():
    """The widget writes each track up to its last change; the node holds it to num_frames exactly as a
    full-length track would be read."""
    full = {"format": "motionstream-tracks", "version": 1, "width": 64, "height": 48, "fps": 16, "num_frames": 6,
            "tracks": [{"points": [[1, 2], [3, 4], [5, 6], [5, 6], [5, 6], [5, 6]], "visible": [1, 1, 0, 0, 0, 0],
                        "kind": "drag"},
                       {"points": [[9, 9]] * 6, "kind": "static"}]}
    held = json.loads(json.dumps(full))
    held["tracks"][0].update(points=full["tracks"][0]["points"][:3], visible=[1, 1, 0])
    held["tracks"][1]["points"] = [[9, 9]]
    full["tracks"][0]["region"] = held["tracks"][0]["region"] = [[0, 0], [8, 0], [8, 8]]
    want = track_formats.from_json(full)
    got = parse_editor_state(json.dumps({"version": 1, "tracks": held})).tracks
    assert got == want and np.array_equal(got.regions[0], [[0, 0], [8, 0], [8, 8]]) and got.regions[1] is None
    assert parse_editor_state(json.dumps({"version": 1, "tracks": json.dumps(held)})).tracks == want
    long = {**held, "num_frames": 100_000}
    got = parse_editor_state(json.dumps({"version": 1, "tracks": long})).tracks
    assert got.num_frames == 100_000 and np.array_equal(got.path[-1], [[5, 6], [9, 9]]) and not got.visible[-1, 0]
    too_many = {**held, "num_frames": 100_000, "tracks": [{"points": [[1, 1]]}] * 400}
    with pytest.raises(TrackError, match="editor_state tracks: held tracks: 100000 frames x 400 tracks = 40000000 points "
                                         "is more than MAX_TRACK_POINTS"):
        parse_editor_state(json.dumps({"version": 1, "tracks": too_many}))
    bad = json.loads(json.dumps(held))
    bad["tracks"][1]["points"] = [[9, "x"]]
    with pytest.raises(TrackError, match="editor_state tracks: track 1, frame 0: y is not a number"):
        parse_editor_state(json.dumps({"version": 1, "tracks": bad}))


@pytest.mark.parametrize("text, words", [
    ("{not json", "editor_state is not valid JSON"),
    ("[]", "editor_state must be a JSON object"),
    ('{"version": 2}', "version 2 is not supported"),
    ('{"version": 1, "grid_spacing": -3}', "grid_spacing must be a positive integer"),
    ('{"version": 1, "tracks": {"format": "other"}}', "editor_state tracks:"),
    ('{"version": 1, "tracks": {"format": "motionstream-tracks", "version": 1, "width": 64, "height": 48, "fps": 16,'
     ' "num_frames": 2, "tracks": [{"points": [[1, 1], [1, 1e9]]}]}}', "far outside"),
])
def test_bad_editor_state_is_one_clear_error(text, words):
    with pytest.raises(TrackError) as e:
        parse_editor_state(text)
    assert words in str(e.value)


# -- images ---------------------------------------------------------------------------------------

def test_start_image_and_jpeg():
    img = torch.rand(2, 48, 64, 4)
    s = start_image(img)
    assert s.shape == (48, 64, 3) and torch.equal(s, img[0, ..., :3])
    assert start_image(torch.rand(1, 8, 8, 1)).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="expected an IMAGE"):
        start_image(torch.rand(8, 8, 3))
    from PIL import Image

    frame = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    url = jpeg_data_url(frame)
    assert url.startswith("data:image/jpeg;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert back.shape == (48, 64, 3)
    assert url == jpeg_data_url(frame), "the same frame always encodes to the same bytes"
    small = Image.open(io.BytesIO(base64.b64decode(jpeg_data_url(frame, max_side=32).split(",", 1)[1])))
    assert max(small.size) == 32

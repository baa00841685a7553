"""Tracks that carry their appearance (``TrackHeadConfig.appearance_channels``): sampling the start image's
latent, the first-visible rule, chunk-wise == whole video, the stream's live record replaying exactly, and
the errors a wrong call gets."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from motionstream_core.config import ConfigError, TrackHeadConfig, get_config
from motionstream_core.decoders import TinyVAE, TinyVAECodec
from motionstream_core.model import MotionStreamModel
from motionstream_core.steering import LivePoint, Steering
from motionstream_core.stream import MotionStream
from motionstream_core.track_head import (AppearanceMemory, TrackAnchors, TrackHead, assign_track_ids, first_visible,
                                          pixel_range, track_appearance)


def test_appearance_at_a_cell_centre_is_that_cells_latent_and_bilinear_between():
    g = torch.Generator().manual_seed(0)
    lat = torch.randn(5, 6, 8, generator=g)  # C=5, a 6 x 8 grid of 4 px cells: a 24 x 32 px image
    xy = torch.tensor([[4 * 3 + 2.0, 4 * 1 + 2.0],   # centre of cell (row 1, col 3)
                       [4 * 3 + 4.0, 4 * 1 + 2.0],   # half way between cols 3 and 4
                       [1.0, 1.0]])                   # before the first centre: the border value
    out = track_appearance(lat, xy, torch.tensor([True, True, False]), height=24, width=32)
    torch.testing.assert_close(out[0], lat[:, 1, 3])
    torch.testing.assert_close(out[1], (lat[:, 1, 3] + lat[:, 1, 4]) / 2)
    assert torch.equal(out[2], torch.zeros(5)), "a track never visible carries no appearance"


def test_first_visible_position():
    path = torch.arange(3 * 2 * 2, dtype=torch.float32).view(3, 2, 2)
    vis = torch.tensor([[False, False], [True, False], [True, True]])
    xy, seen = first_visible(path, vis)
    assert seen.tolist() == [True, True]
    assert xy.tolist() == [path[1, 0].tolist(), path[2, 1].tolist()]
    _, seen = first_visible(path, torch.zeros(3, 2, dtype=torch.bool))
    assert seen.tolist() == [False, False]


def _head() -> TrackHead:
    torch.manual_seed(0)
    return TrackHead(TrackHeadConfig(id_dim=8, stride=4, hidden=16, out_channels=5, max_id=64, max_tracks=16,
                                     appearance_channels=5))


def test_chunkwise_appearance_equals_the_whole_video():
    """A track first seen in a later chunk, then moving: the stream's memory fixes it at first sight, as the
    whole-video rule does, and the encoded chunks equal the whole video's."""
    head = _head()
    lat = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))  # 32 x 32 px
    T, N = 33, 4
    path = torch.rand(T, N, 2, generator=torch.Generator().manual_seed(2)) * 32
    vis = torch.ones(T, N, dtype=torch.bool)
    vis[:12, 2] = False  # appears in the second chunk (pixel frames 9..20)
    vis[:, 3] = False  # never visible
    ids = assign_track_ids(N, 0, 64)
    whole_app = head.appearance_of(lat, path, vis, 32, 32)
    torch.testing.assert_close(whole_app[2], track_appearance(lat[:, 0], path[12, 2][None], torch.tensor([True]),
                                                              32, 32)[0])
    memory = AppearanceMemory(lat[:, 0], 16, 32, 32)
    anchors = TrackAnchors(16)  # the stream's: shared with its warped slot, updated before the appearance reads it
    shared = AppearanceMemory(lat[:, 0], 16, 32, 32, anchors)
    with torch.no_grad():
        whole = head.encode(path, vis, ids, 32, 32, starts_video=True, appearance=whole_app)
        parts = []
        for first in (0, 3, 6):
            a, b = pixel_range(first, 3)
            anchors.update(path[a:b], vis[a:b])
            torch.testing.assert_close(shared.update(path[a:b], vis[a:b]), memory.update(path[a:b], vis[a:b]),
                                       rtol=0, atol=0)
            app = memory.values[:N]
            parts.append(head.encode(path[a:b], vis[a:b], ids, 32, 32, starts_video=first == 0, appearance=app))
    torch.testing.assert_close(memory.values[:N], whole_app, rtol=0, atol=0)
    torch.testing.assert_close(anchors.xy[:3], first_visible(path, vis)[0][:3], rtol=0, atol=0)  # 3: never seen
    assert anchors.seen[:N].tolist() == [True, True, True, False]
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, rtol=0, atol=0)


def test_appearance_changes_the_track_latent_only_where_tracks_are():
    head = _head()
    path = torch.tensor([[[6.0, 6.0]]]).expand(5, 1, 2)
    vis = torch.ones(5, 1, dtype=torch.bool)
    ids = torch.tensor([3])
    lat_a, lat_b = torch.randn(5, 8, 8), torch.randn(5, 8, 8)
    with torch.no_grad():
        a = head.encode(path, vis, ids, 32, 32, True, appearance=head.appearance_of(lat_a, path, vis, 32, 32))
        b = head.encode(path, vis, ids, 32, 32, True, appearance=head.appearance_of(lat_b, path, vis, 32, 32))
    diff = (a - b).abs().sum(dim=(0, 1, 2))
    assert diff[1, 1] > 1e-3, "the track's cell must depend on the start image"
    diff[1, 1] = 0
    assert diff.max() == 0, "cells without a track must not depend on the start image"


def test_wrong_calls_and_configs_are_named():
    head = _head()
    path, vis, ids = torch.zeros(5, 1, 2), torch.ones(5, 1, dtype=torch.bool), torch.tensor([0])
    with pytest.raises(AssertionError, match="this track head carries appearance: pass the start image's latent"):
        head.encode(path, vis, ids, 32, 32, True)
    with pytest.raises(AssertionError, match=r"appearance \(1, 3\) for 1 tracks of 5 channels"):
        head.encode(path, vis, ids, 32, 32, True, appearance=torch.zeros(1, 3))
    plain = TrackHead(TrackHeadConfig(id_dim=8, stride=4, hidden=16, out_channels=5, max_id=64, max_tracks=16))
    with pytest.raises(AssertionError, match=r"this track head takes IDs alone \(appearance_channels = 0\)"):
        plain.encode(path, vis, ids, 32, 32, True, appearance=torch.zeros(1, 5))
    cfg = get_config("tiny")
    bad = dataclasses.replace(cfg, track_head=dataclasses.replace(cfg.track_head, appearance_channels=3))
    with pytest.raises(ConfigError, match=r"track_head.appearance_channels must be 0 or the latent channels \(16\)"):
        bad.validate()


@pytest.fixture(scope="module")
def stream():
    torch.manual_seed(0)
    base = get_config("tiny")
    cfg = dataclasses.replace(base, track_head=dataclasses.replace(base.track_head,
                                                                   appearance_channels=base.latent_channels))
    model = MotionStreamModel(cfg)
    with torch.no_grad():  # large random weights so that every input visibly matters
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return MotionStream(model, TinyVAECodec(TinyVAE(cfg.vae).eval()))


def test_stream_live_drags_replay_exactly_and_the_image_reaches_the_tracks(stream, stream_inputs):
    image, text, tracks = stream_inputs
    T = tracks.num_frames
    steering = Steering()
    session = stream.session(image, text, tracks, steering=steering, num_frames=T, seed=3)
    live = []
    for chunk in session:
        live.append(chunk)
        if chunk.index == 1:
            t = threading.Thread(target=steering.update_points,
                                 args=([LivePoint("track:0", 5.0, 60.0), LivePoint("new", 40.0, 8.0)],))
            t.start()
            t.join()
    recorded = session.recorded_tracks()
    replay = list(stream.session(image, text, recorded, num_frames=T, seed=3))
    for a, b in zip(live, replay):
        assert torch.equal(a.frames, b.frames), f"replaying the record differs at chunk {a.index}"
    # the same tracks on another start image: the appearance slot changes the track latent, so the chunks
    # differ beyond what the image slot alone does (checked by the track latent itself)
    model = stream.model
    lat = stream.codec.encode_image(image.permute(2, 0, 1)[None])
    other = stream.codec.encode_image(image.flip(0).permute(2, 0, 1)[None])
    p, v = torch.from_numpy(tracks.path.copy()), torch.from_numpy(tracks.visible.copy())
    ids = assign_track_ids(2, 3, model.config.track_head.max_id)
    enc = [model.track_head.encode(p, v, ids, 64, 64, True, appearance=model.track_head.appearance_of(
        x[0], p, v, 64, 64)) for x in (lat, other)]
    assert (enc[0] - enc[1]).abs().max() > 1e-3


def test_training_batches_encode_like_the_stream(stream):
    """``data.encode_tracks`` (teacher, ODE and DMD stages) gives each clip what ``TrackHead.encode`` gives it with
    its own start image's appearance, and refuses a batch without start images."""
    from motionstream_core.train.data import encode_tracks

    model = stream.model
    cfg = model.config
    g = torch.Generator().manual_seed(5)
    B, T, M = 2, 9, 3
    path = torch.rand(B, T, M, 2, generator=g) * cfg.width
    vis = torch.rand(B, T, M, generator=g) > 0.3
    ids = torch.stack([assign_track_ids(M, s, cfg.track_head.max_id) for s in range(B)])
    s = cfg.spatial_stride
    image = torch.randn(B, cfg.latent_channels, 1, cfg.height // s, cfg.width // s, generator=g)
    with torch.no_grad():
        batch = encode_tracks(model, path, vis, ids, image)
        for b in range(B):
            app = model.track_head.appearance_of(image[b], path[b], vis[b], cfg.height, cfg.width)
            one = model.track_head.encode(path[b], vis[b], ids[b], cfg.height, cfg.width, True, appearance=app)
            # a batch of 2 through the 1x1x1 head may round differently from one clip (thread blocking)
            torch.testing.assert_close(batch[b:b + 1], one, rtol=1e-5, atol=1e-5)
        with pytest.raises(AssertionError, match="it needs the start image's latent"):
            encode_tracks(model, path, vis, ids)

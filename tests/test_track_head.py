"""Track encoding: rasterisation cells, visibility, collisions, time packing, chunk-wise == whole-video."""

from __future__ import annotations

import pytest
import torch

from motionstream_core.config import TrackHeadConfig
from motionstream_core.track_head import (TrackHead, assign_track_ids, pack_time, pixel_range, rasterize_tracks,
                                          track_id_embedding)


def test_rasterisation_cell_and_visibility():
    emb = track_id_embedding(torch.tensor([5, 9]), 8)
    path = torch.tensor([[[17.0, 33.9], [63.99, 0.0]],
                         [[17.0, 33.9], [70.0, 5.0]]])  # frame 1: track 1 is outside a 64-wide image
    visible = torch.tensor([[True, True], [False, True]])
    grid = rasterize_tracks(path, visible, emb, height=48, width=64, stride=8)
    assert grid.shape == (2, 8, 6, 8)
    torch.testing.assert_close(grid[0, :, 33 // 8, 17 // 8], emb[0])  # cell (y//8, x//8) = (4, 2)
    torch.testing.assert_close(grid[0, :, 0, 63 // 8], emb[1])
    assert grid[0].abs().sum() == pytest.approx((emb[0].abs().sum() + emb[1].abs().sum()).item(), rel=1e-6)
    assert grid[1].abs().sum() == 0, "an invisible track and an out-of-frame track must write nothing"


def test_collisions_average():
    emb = track_id_embedding(torch.tensor([1, 700]), 16)
    path = torch.tensor([[[3.0, 3.0], [6.0, 1.0]]])  # both in cell (0, 0)
    grid = rasterize_tracks(path, torch.ones(1, 2, dtype=torch.bool), emb, 8, 8, 8)
    torch.testing.assert_close(grid[0, :, 0, 0], (emb[0] + emb[1]) / 2)


def test_ids_are_unique_and_seeded():
    a, b = assign_track_ids(50, seed=3, max_id=64), assign_track_ids(50, seed=3, max_id=64)
    assert torch.equal(a, b) and len(set(a.tolist())) == 50
    assert not torch.equal(a, assign_track_ids(50, seed=4, max_id=64))
    assert torch.equal(assign_track_ids(10, 3, 64), a[:10]), "track i must keep its ID whatever N is"
    with pytest.raises(ValueError, match="65 tracks exceed the 64 distinct track IDs"):
        assign_track_ids(65, 0, 64)


def test_embedding_is_sinusoidal():
    e = track_id_embedding(torch.tensor([0, 3]), 6)
    torch.testing.assert_close(e[0], torch.tensor([1.0, 1, 1, 0, 0, 0]))
    freqs = 10000 ** (-torch.arange(3) / 3)
    torch.testing.assert_close(e[1], torch.cat([(3 * freqs).cos(), (3 * freqs).sin()]))


def test_time_packing_repeats_first_frame():
    grid = torch.arange(9, dtype=torch.float32).view(9, 1, 1, 1).expand(9, 2, 1, 1)  # value = pixel frame
    packed = pack_time(grid, starts_video=True)  # 9 pixel frames -> 3 latent frames, 4 * 2 channels
    assert packed.shape == (8, 3, 1, 1)
    assert packed[:, 0, 0, 0].tolist() == [0.0] * 8
    assert packed[:, 1, 0, 0].tolist() == [1, 1, 2, 2, 3, 3, 4, 4]  # channel = slot * D + c
    assert packed[:, 2, 0, 0].tolist() == [5, 5, 6, 6, 7, 7, 8, 8]
    assert pixel_range(0, 3) == (0, 9) and pixel_range(3, 3) == (9, 21) and pixel_range(6, 3) == (21, 33)


def test_chunkwise_encoding_equals_whole_video():
    torch.manual_seed(0)
    cfg = TrackHeadConfig(id_dim=16, hidden=32, max_id=128, max_tracks=64)
    head = TrackHead(cfg)
    T, N = 33, 7  # 9 latent frames = 3 chunks of 3
    path = torch.rand(T, N, 2) * torch.tensor([64.0, 48.0])
    visible = torch.rand(T, N) > 0.3
    ids = assign_track_ids(N, 0, cfg.max_id)
    with torch.no_grad():
        whole = head.encode(path, visible, ids, 48, 64, starts_video=True)
        parts = []
        for first in (0, 3, 6):
            a, b = pixel_range(first, 3)
            parts.append(head.encode(path[a:b], visible[a:b], ids, 48, 64, starts_video=first == 0))
    assert whole.shape == (1, 16, 9, 6, 8)
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, rtol=0, atol=0)

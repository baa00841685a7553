"""User-style track requests on layered clips (``data.TrackSampling.user``): a few points on every moving layer,
a few pins on what stays still, nothing else."""

import numpy as np
import pytest
import torch

from motionstream_core.train.data import Clips, TrackSampling, sample_tracks
from motionstream_core.train.photo_clips import PhotoClipConfig, make_photo_clip


@pytest.mark.parametrize("seed", range(6))
def test_user_request_tracks_each_moving_layer_with_one_to_three_points_and_pins_the_rest(seed):
    clip = make_photo_clip(seed, PhotoClipConfig(height=64, width=64, num_frames=9, num_points=64, max_layers=3,
                                                 camera_motion_prob=0.0))
    path, vis, owner = torch.from_numpy(clip.path), torch.from_numpy(clip.visible), torch.from_numpy(clip.owner)
    s = TrackSampling(max_tracks=16, user=True, mask_prob=0.0, drop_prob=0.0)
    out_path, out_vis, ids = sample_tracks(path, vis, s, torch.Generator().manual_seed(seed), owner=owner)
    n = int(out_vis.any(0).sum())
    # match each requested track back to the clip's (exact copies)
    picked = [int(np.nonzero((clip.path == out_path[:, i].numpy()[:, None]).all((0, 2)))[0][0]) for i in range(n)]
    assert not out_vis[:, n:].any() and (out_vis[0, :n]).all(), "requested tracks start visible, padding never is"
    moved = np.linalg.norm(clip.path - clip.path[:1], axis=-1).max(0) > 1.0
    layers = {int(k) for k in clip.owner if k >= 0 and moved[clip.owner == k].any()}
    for k in layers:
        on = sum(clip.owner[i] == k for i in picked)
        assert 1 <= on <= 3, f"moving layer {k} got {on} points"
    pins = [i for i in picked if clip.owner[i] not in layers]
    assert len(pins) <= 8 and not any(moved[i] for i in pins), "pins only on what stays still"
    assert len(set(ids[:n].tolist())) == n


def test_user_requests_need_the_tracks_layers():
    path, vis = torch.zeros(5, 4, 2), torch.ones(5, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match="user-style track requests need each track's layer"):
        sample_tracks(path, vis, TrackSampling(max_tracks=4, user=True), torch.Generator().manual_seed(0))


def test_clips_take_keeps_the_owners():
    c = Clips(torch.zeros(3, 2, 1, 1, 1), torch.zeros(3, 2, 1, 1, 1), torch.zeros(3, 2, 4, 2),
              torch.ones(3, 2, 4, dtype=torch.bool), ["a", "b", "c"], owner=torch.tensor([[0, 1, -1, 0]] * 3) * torch.arange(1, 4)[:, None])
    assert c.take([2, 0]).owner.tolist() == [[0, 3, -3, 0], [0, 1, -1, 0]]

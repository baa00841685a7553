"""A track that hides holds its last visible point in every reference built from the start image (the kernel warp,
the stream's chunk-by-chunk references): what it carried stays where it left it instead of snapping back."""

import numpy as np
import torch

from motionstream_core.config import PatchCodecConfig
from motionstream_core.decoders import build_autoencoder, codec_over
from motionstream_core.reference import ReferenceBuilder, hold_hidden, warp_image


def _builder():
    codec = codec_over(build_autoencoder(PatchCodecConfig(latent_channels=4, stride=4, pack=4)))
    image = torch.rand(1, 3, 8, 8)
    return ReferenceBuilder(codec, image, codec.encode_image(image), radius=3.0)


def _track(T=9, hide=(4, 7)):
    """Two tracks over T frames: track 0 moves right 2 px a frame and hides over frames ``hide``; track 1 is
    never visible."""
    path = torch.zeros(T, 2, 2)
    path[:, 0, 0] = 10 + 2 * torch.arange(T).float()
    path[:, 0, 1] = 12
    path[:, 1] = 5
    visible = torch.zeros(T, 2, dtype=torch.bool)
    visible[:, 0] = True
    visible[hide[0]:hide[1], 0] = False
    return path, visible


def test_hold_hidden_keeps_the_last_visible_point():
    path, visible = _track()
    held, counts, last, have = hold_hidden(path, visible)
    assert torch.equal(held[4:7, 0], path[3, 0].expand(3, 2))  # hidden: where it was last seen
    assert torch.equal(held[7:, 0], path[7:, 0])  # reappears: moves on from where it reappears
    assert torch.equal(held[:4, 0], path[:4, 0])
    assert counts[:, 0].all() and not counts[:, 1].any()  # a track never seen never counts
    assert torch.equal(last[0], path[-1, 0]) and have.tolist() == [True, False]


def test_chunk_by_chunk_equals_the_whole_clip():
    path, visible = _track(T=12, hide=(3, 10))
    whole, counts, _, _ = hold_hidden(path, visible)
    builder = _builder()
    parts = [builder.hold(path[None, a:b], visible[None, a:b]) for a, b in ((0, 1), (1, 5), (5, 9), (9, 12))]
    assert torch.equal(torch.cat([p for p, _ in parts], 1)[0], whole)
    assert torch.equal(torch.cat([c for _, c in parts], 1)[0], counts)


def test_kept_tracks_drop_out_while_hidden():
    """Camera points leave the frame as the camera moves: they are passed through, not held."""
    path, visible = _track()
    builder = _builder()
    held, counts = builder.hold(path[None], visible[None], keep=torch.tensor([True, False]))
    assert torch.equal(held[0, :, 0], path[:, 0]) and torch.equal(counts[0, :, 0], visible[:, 0])


def test_the_warp_does_not_snap_back_when_a_drag_hides():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    path, visible = _track(T=9, hide=(4, 9))
    path, visible = path[:, :1].numpy(), visible[:, :1].numpy()
    out = warp_image(image, path, visible, radius=4.0)
    # the independent reference: the same drag written out by hand, parked at its last visible point, never hidden
    parked = path.copy()
    parked[4:] = path[3]
    expected = warp_image(image, parked, np.ones_like(visible), radius=4.0)
    np.testing.assert_array_equal(out, expected)
    moved = np.abs(out[-1].astype(int) - image.astype(int)).mean()
    assert moved > 5, f"the last frame must keep the drag (mean change {moved:.2f} levels from the start image)"

"""Which pixel frames a tiny-VAE latent encodes (the packing alignment of pixel frames to latent frames).

taehv's encoder pads the end, so its latent j encodes frames 4j..4j+3, three frames later than the
frames its decoder makes from latent j (4j-3..4j) and than the track head packs into latent j. With
``encoder_pad_start`` (the demo codec's setting) the encoder follows Wan and the track head.
"""

import dataclasses

import torch

from motionstream_core.config import TinyVAEConfig
from motionstream_core.tiny_vae import TinyVAE
from motionstream_core.track_head import pixel_range

SMALL = TinyVAEConfig(channels=(8, 8, 8, 8), encoder_width=8, blocks_per_stage=1)


def _first_latent_changed_by(vae: TinyVAE, x: torch.Tensor, frame: int) -> int:
    z = vae.encode_video(x)
    y = x.clone()
    y[:, :, frame] = 1 - y[:, :, frame]
    changed = (vae.encode_video(y) - z).abs().amax((0, 1, 3, 4)) > 1e-6
    return int(changed.nonzero()[0])


def test_taehv_alignment_is_kept_by_default():
    torch.manual_seed(0)
    vae = TinyVAE(SMALL).eval()
    x = torch.rand(1, 3, 9, 16, 16)
    assert [_first_latent_changed_by(vae, x, k) for k in range(9)] == [0, 0, 0, 0, 1, 1, 1, 1, 2]


def test_pad_start_matches_the_track_head_packing_and_the_start_image():
    torch.manual_seed(0)
    vae = TinyVAE(dataclasses.replace(SMALL, encoder_pad_start=True)).eval()
    x = torch.rand(2, 3, 13, 16, 16)
    z = vae.encode_video(x)
    assert z.shape[2] == 4
    for k in range(13):
        first = _first_latent_changed_by(vae, x, k)
        start, stop = pixel_range(first, 1)
        assert start <= k < stop, (k, first)  # the latent the track head packs frame k into
    # the start image encoded alone is exactly the clip's first latent (as TinyVAECodec.encode_image does)
    torch.testing.assert_close(vae.encode_video(x[:, :, :1]), z[:, :, :1])
    # and a round trip keeps the frame count: 1 + 4k frames in, 1 + 4k out
    assert vae.decode_video(z).shape[2] == 13

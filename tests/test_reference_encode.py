"""The run's codec as a streaming encoder of reference videos (``reference.ChunkEncoder``): chunk by chunk equals
encoding the whole video at once for the tiny VAE (carried MemBlock state) and the linear patch codec; a full VAE
without a video encoder gets each latent frame's last pixel frame as an image latent; wrong frame counts are
named; ``decode_start`` is the codec's own decode of a first frame."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from motionstream_core.config import get_config
from motionstream_core.decoders import FullVAECodec, PatchCodec, PatchPCA, TinyVAE, TinyVAECodec
from motionstream_core.reference import ChunkEncoder, decode_start
from motionstream_core.train.common import model_config


def _video(t: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, t, 32, 32, generator=torch.Generator().manual_seed(seed))


def _randomised(module):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.05))
    return module.eval()


def test_the_tiny_vae_encodes_chunk_by_chunk_as_the_whole_video():
    cfg = dataclasses.replace(get_config("tiny").vae, encoder_pad_start=True)
    vae = _randomised(TinyVAE(cfg))
    stats = (torch.linspace(-0.3, 0.3, cfg.latent_channels), torch.linspace(0.5, 1.5, cfg.latent_channels))
    codec = TinyVAECodec(vae, *stats)
    frames = _video(1 + 4 * 8)
    enc = ChunkEncoder(codec)
    chunks = [enc.encode(frames[:, :, :9]), enc.encode(frames[:, :, 9:21]), enc.encode(frames[:, :, 21:])]
    whole = codec.stats.normalize(vae.encode_video(frames))
    assert whole.shape[2] == 9 and [c.shape[2] for c in chunks] == [3, 3, 3]
    torch.testing.assert_close(torch.cat(chunks, 2), whole, atol=1e-5, rtol=1e-5)
    enc.reset()  # a new video starts over
    torch.testing.assert_close(enc.encode(frames[:, :, :9]), whole[:, :, :3], atol=1e-5, rtol=1e-5)
    fresh = ChunkEncoder(codec)
    fresh.encode(frames[:, :, :9])
    assert (fresh.encode(frames[:, :, 9:21] * 0 + 0.5) - chunks[1]).abs().amax() > 1e-3  # it reads its input


def test_the_patch_codec_encodes_each_latent_frame_on_its_own():
    pca = PatchPCA(model_config("tiny-warp").vae)
    codec = PatchCodec(pca, torch.linspace(-0.1, 0.1, 16), torch.linspace(0.5, 2.0, 16))
    frames = _video(1 + 4 * 5)
    enc = ChunkEncoder(codec)
    got = torch.cat([enc.encode(frames[:, :, :9]), enc.encode(frames[:, :, 9:])], 2)
    torch.testing.assert_close(got, codec.stats.normalize(pca.encode_video(frames)), atol=1e-6, rtol=0)
    assert enc.exact


class _ImageOnly:
    """A full-VAE backend that only encodes images: the raw latent of an image is its 4x4 mean colour, tiled."""

    latent_channels, spatial_stride, temporal_stride = 3, 4, 4

    def reset(self):
        pass

    def decode_step(self, latents):
        raise NotImplementedError

    def encode_image(self, pixels):
        return torch.nn.functional.avg_pool2d(pixels, 4)[:, :, None]


def test_a_codec_without_a_video_encoder_gets_each_latent_frames_last_pixel_frame():
    codec = FullVAECodec(_ImageOnly())
    frames = _video(1 + 4 * 2, seed=5)
    enc = ChunkEncoder(codec)
    assert not enc.exact
    first = enc.encode(frames)
    later = enc.encode(frames[:, :, 1:])
    for got, index in ((first, [0, 4, 8]), (later, [4, 8])):
        want = torch.cat([codec.encode_image(frames[:, :, i]) for i in index], 2)
        torch.testing.assert_close(got, want)


def test_wrong_frame_counts_are_named_and_decode_start_is_the_codecs_first_frame():
    codec = PatchCodec(PatchPCA(model_config("tiny-warp").vae))
    enc = ChunkEncoder(codec)
    with pytest.raises(ValueError, match=r"frames must be \[B, 3, 1 \+ 4k, H, W\] \(the video starts\), got "
                                         r"\(1, 3, 4, 32, 32\)"):
        enc.encode(_video(4))
    enc.encode(_video(5))
    with pytest.raises(ValueError, match=r"frames must be \[B, 3, 4k, H, W\] \(a later chunk\), got \(1, 3, 5, 32, 32\)"):
        enc.encode(_video(5))
    image = _video(1)[:, :, 0]
    latent = codec.encode_image(image)
    codec.reset()
    torch.testing.assert_close(decode_start(codec, latent), codec.decode_chunk(latent)[:, 0].permute(0, 3, 1, 2))

"""The warp drag mode: the reference builder's cut-and-drag is exact (an integer move equals a cut-and-paste made
in numpy, holes exactly where the region left; two tracks rotate a region), the dual clock's schedule (its
defaults from the model's steps; both strengths 0: the chunks are the references; held cells are the reference
noised with the chunk's start noise at every step at or above t_strong, and free below), a live drag changes only
the next chunk's reference and the record replays the run, and `motionstream generate --drag-mode warp` on a
Self-Forcing-layout file with a region drag writes a video of the asked length."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from motionstream_core import track_formats
from motionstream_core.causal_checkpoints import causal_config, get_preset
from motionstream_core.cli import main
from motionstream_core.config import DiTConfig, TinyVAEConfig
from motionstream_core.decoders import TinyVAE, TinyVAECodec
from motionstream_core.drag_mode import DragMode, resolve_drag
from motionstream_core.model import MotionStreamModel
from motionstream_core.motion.transfer import read_video
from motionstream_core.reference import ReferenceBuilder
from motionstream_core.reference.regions import polygon_mask, similarity
from motionstream_core.steering import LivePoint, Steering
from motionstream_core.stream import MotionStream, TextCondition, denoising_sigmas
from motionstream_core.tracks import Tracks

DIT = DiTConfig(dim=128, ffn_dim=64, num_heads=1, num_layers=2, in_dim=16, out_dim=16, text_dim=32, freq_dim=32,
                image_cross_attn=False)
H, W = 48, 64
SQUARE = np.array([[8, 8], [24, 8], [24, 24], [8, 24]], np.float32)


def _image(seed=0) -> torch.Tensor:
    return torch.rand(3, H, W, generator=torch.Generator().manual_seed(seed))


def _randomised(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 / p[0].numel() ** 0.5 if p.ndim > 1 else 0.02))
    return module.eval()


@pytest.fixture(scope="module")
def student():
    """A small random causal student (Self-Forcing preset: 4 steps, no track head) and a random tiny codec."""
    model = _randomised(MotionStreamModel(causal_config(DIT, get_preset("self-forcing"))))
    codec = TinyVAECodec(_randomised(TinyVAE(TinyVAEConfig(channels=(8, 8, 8, 8), encoder_width=8,
                                                          blocks_per_stage=1, encoder_pad_start=True)), 1))
    text = TextCondition(torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(3)))
    return model, codec, text


def _builder(codec, image):
    return ReferenceBuilder(codec, image[None], codec.encode_image(image[None]), radius=4.0)


def test_an_integer_move_is_a_numpy_cut_and_paste_with_holes_where_the_region_left(student):
    _, codec, _ = student
    image = _image()
    offsets = np.array([[0, 0], [3, 1], [7, -2], [12, 5], [20, 9]])  # px, integer
    T = len(offsets)
    path = torch.tensor(np.stack([[16.0, 16.0] + offsets, np.full((T, 2), 56.0)], 1), dtype=torch.float32)
    visible = torch.ones(T, 2, dtype=torch.bool)
    visible[:, 1] = False  # a hidden pin: nothing moves by it
    anchors = (path[0], torch.ones(2, dtype=torch.bool))
    ref = _builder(codec, image).warp(path, visible, anchors, [SQUARE, None])
    # independently, in numpy: the square's pixels (centres inside [8, 24)) moved by each offset
    src = image.numpy()
    inside = np.zeros((H, W), bool)
    inside[8:24, 8:24] = True
    for t, (dx, dy) in enumerate(offsets):
        want = src.copy()
        ys, xs = np.nonzero(inside)
        want[:, ys + dy, xs + dx] = src[:, ys, xs]
        moved = np.zeros((H, W), bool)
        moved[ys + dy, xs + dx] = True
        hole = inside & ~moved
        got = ref.frames[0, :, t].numpy()
        assert np.abs(got - want)[:, ~hole].max() < 1e-5, t
        assert np.array_equal(ref.pixel_holes[t].numpy(), hole), t
        assert np.array_equal(ref.pixel_held[t].numpy(), moved), t  # held: where the region is now
        assert ref.frames[0, :, t].min() >= 0 and ref.frames[0, :, t].max() <= 1
        if hole.any():  # filled from around the hole, not left as the region's copy
            assert np.abs(got - src)[:, hole].mean() > 0.05
    assert ref.latents.shape == (1, 16, 2, H // 8, W // 8) and ref.held.shape == (1, 1, 2, H // 8, W // 8)
    assert bool(ref.held[0, 0, 0, 1:3, 1:3].all())  # latent 0: the square where it starts


def test_two_tracks_on_one_region_rotate_it():
    m = similarity(torch.tensor([[16.0, 16.0], [20.0, 16.0]]), torch.tensor([[16.0, 16.0], [16.0, 20.0]]))
    torch.testing.assert_close(m.float(), torch.tensor([[0.0, -1.0, 32.0], [1.0, 0.0, 0.0]]))
    image = _image(1)
    path = torch.tensor([[[16.0, 16.0], [20.0, 16.0]], [[16.0, 16.0], [16.0, 20.0]]])
    from motionstream_core.reference.regions import RegionLayer, reference_frames
    layer = RegionLayer([SQUARE, SQUARE], H, W)
    frames, held, holes = reference_frames(image, path, torch.ones(2, 2, dtype=torch.bool), path[0],
                                           torch.ones(2, dtype=torch.bool), 4.0, layer)
    # a quarter turn about (16, 16): pixel (x, y) shows source pixel (y, 31 - x)
    ys, xs = np.nonzero(polygon_mask(SQUARE, H, W).numpy())
    got = frames[:, 1].numpy()[:, ys, xs]
    want = image.numpy()[:, 31 - xs, ys]
    assert np.abs(got - want).max() < 1e-5
    assert not holes[1].any()  # a square turned about its centre covers where it was


def test_the_dual_clock_defaults_come_from_the_models_steps_and_are_validated(student):
    model, _, _ = student
    sigmas = denoising_sigmas(model.config.stream)
    assert sigmas == pytest.approx([1.0, 0.9375, 0.8333333, 0.625])  # Self-Forcing's 4 warped steps
    drag = resolve_drag(model.config, sigmas)
    assert drag == DragMode("warp", pytest.approx(0.9375), pytest.approx(0.8333333))
    assert drag.sigmas(sigmas) == pytest.approx([0.9375, 0.8333333, 0.625])
    assert DragMode("warp", 0.7, 0.3).sigmas(sigmas) == pytest.approx([0.7, 0.625])
    assert DragMode("warp", 0.0, 0.0).sigmas(sigmas) == []
    assert resolve_drag(model.config, sigmas, t_weak=0.5).t_strong == 0.5
    for bad, message in ((DragMode("warp", 1.5, 0.1), r"t_weak must be a noise level in \[0, 1\]; got 1.5"),
                         (DragMode("drag"), "drag mode must be one of model, warp; got 'drag'"),
                         (DragMode("warp", 0.4, 0.6), r"t_strong \(0.6\) must not exceed t_weak \(0.4\)")):
        with pytest.raises(ValueError, match=message):
            bad.validate()
    with pytest.raises(ValueError, match="t_weak / t_strong set the warp drag mode's dual clock; this run's drag "
                                         "mode is 'model'"):
        from motionstream_core.config import get_config
        resolve_drag(get_config("tiny"), sigmas, "model", 0.5)


def _drag_tracks(T=33, region=SQUARE) -> Tracks:
    path = np.stack([np.linspace([16, 16], [40, 24], T), np.full((T, 2), 56.0)], 1).astype(np.float32)
    return Tracks(path, np.ones((T, 2), bool), 16, W, H, regions=(region, None))


def _run(student, drag, tracks, steering=None, seed=4, frames=33, on_step=None):
    model, codec, text = student
    image = _image(2).permute(1, 2, 0)
    session = MotionStream(model, codec, drag=drag).session(image, text, tracks, steering=steering, num_frames=frames,
                                                            seed=seed)
    session.on_step = on_step
    chunks = []
    for c in session:
        chunks.append(c)
        if steering is not None and c.index == 1:
            steering.update_points([LivePoint("live", 30.0, 40.0, True, ((40.0, 30.0), (56.0, 30.0), (48.0, 44.0)))])
    return session, chunks


def test_both_strengths_at_zero_stream_the_reference_through_the_codec(student):
    model, codec, _ = student
    refs = []
    session, chunks = _run(student, DragMode("warp", 0.0, 0.0), _drag_tracks(), on_step=None)
    # the references, built independently chunk by chunk with the same tracks (chunk 0 is the image start)
    builder = _builder(codec, _image(2))
    anchors = (torch.tensor(_drag_tracks().path[0]), torch.ones(2, dtype=torch.bool))
    tracks = _drag_tracks()
    for c in chunks:
        p0, p1 = (0, 9) if c.index == 0 else (9 + 12 * (c.index - 1), 21 + 12 * (c.index - 1))
        idx = np.minimum(np.arange(p0, p1), tracks.num_frames - 1)
        refs.append(builder.warp(torch.tensor(tracks.path[idx]), torch.tensor(tracks.visible[idx]), anchors,
                                 tracks.regions))
    assert len(chunks) == 3
    for c, r in zip(chunks[1:], refs[1:]):
        torch.testing.assert_close(c.latents.float(), r.latents.float(), atol=1e-6, rtol=0)
    codec.reset()
    decoded = torch.cat([codec.decode_chunk(c.latents)[0] for c in chunks])
    video = torch.cat([c.frames for c in chunks])
    torch.testing.assert_close(video, decoded[:len(video)], atol=1e-6, rtol=0)


def test_held_cells_are_the_reference_noised_at_every_step_at_or_above_t_strong(student):
    seen = []
    drag = DragMode("warp", 0.9375, 0.8333333)
    _run(student, drag, _drag_tracks(), on_step=lambda *a: seen.append(a) if a[0] == 2 else None)
    assert [round(s[2], 4) for s in seen] == [0.9375, 0.8333, 0.625]
    _, _, s0, x0, ref = seen[0]
    noise = (x0.float() - (1 - s0) * ref.latents.float()) / s0  # the chunk's start noise, where it starts
    held = ref.held.expand_as(x0)
    assert 0.05 < held.float().mean() < 0.9  # some cells held, some free
    for _, k, sigma, x, _ in seen[1:]:
        renoised = (1 - sigma) * ref.latents.float() + sigma * noise
        gap = (x.float() - renoised).abs()
        if sigma >= drag.t_strong - 1e-6:
            assert gap[held].max() < 1e-4, k  # held: exactly the reference re-noised with the same draw
            assert gap[~held].mean() > 1e-2, k  # free: the model's own
        else:
            assert gap[held].mean() > 1e-2, k  # below t_strong the held cells are free too


def test_a_live_region_drag_changes_only_the_next_chunks_reference_and_the_record_replays(student):
    refs = {}
    drag = resolve_drag(student[0].config, denoising_sigmas(student[0].config.stream))

    def keep(index, k, sigma, x, ref):
        if k == 0:
            refs.setdefault(index, ref.latents.clone())

    base = {}
    _run(student, drag, _drag_tracks(), on_step=lambda i, k, s, x, r: base.setdefault(i, r.latents.clone())
         if k == 0 else None, frames=45)
    session, chunks = _run(student, drag, _drag_tracks(), steering=Steering(), on_step=keep, frames=45)
    assert sorted(refs) == sorted(base) == [1, 2, 3]
    assert torch.equal(refs[1], base[1])  # before the drag
    assert not torch.equal(refs[2], base[2])  # the chunk after it: its reference moved
    record = session.recorded_tracks()
    assert record.regions[2] is not None and record.kinds[2] == "live"
    _, again = _run(student, drag, record, frames=45)
    assert all(torch.equal(a.frames, b.frames) for a, b in zip(chunks, again))


def test_generate_cli_warp_mode_with_a_region_drag_on_a_self_forcing_file(tmp_path):
    torch.manual_seed(0)
    model = MotionStreamModel(causal_config(DIT, get_preset("self-forcing")))
    sd = {"model." + k: v for k, v in model.dit.state_dict().items()}
    torch.save({"generator_ema": sd, "generator": sd}, tmp_path / "self_forcing_dmd.pt")
    torch.save(TinyVAE(TinyVAEConfig()).state_dict(), tmp_path / "taew2_1.pth")
    from safetensors.torch import save_file
    save_file({"context": torch.randn(1, 8, 32)}, str(tmp_path / "ctx.safetensors"))
    cv2.imwrite(str(tmp_path / "start.png"), (np.random.default_rng(0).random((H, W, 3)) * 255).astype(np.uint8))
    (tmp_path / "drag.json").write_text(track_formats.to_json(_drag_tracks(T=30)))
    out = tmp_path / "v.mp4"
    assert main(["generate", "--checkpoint", str(tmp_path / "self_forcing_dmd.pt"), "--text-embedding",
                 str(tmp_path / "ctx.safetensors"), "--decoder", str(tmp_path / "taew2_1.pth"), "--device", "cpu",
                 "--image", str(tmp_path / "start.png"), "--tracks", str(tmp_path / "drag.json"), "--drag-mode", "warp",
                 "--frames", "30", "--width", str(W), "--height", str(H), "--out", str(out)]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (30, H, W, 3) and fps == 16


def test_the_object_evals_region_drag_moves_the_whole_object():
    """``eval --objects --drag-mode warp``: the drag point carries the object's outline (``scene_region``, its mask
    within a pixel), and the cut-and-drag reference alone puts the object where the truth has it."""
    from motionstream_core.train.object_eval import (object_scenes, scene_region, score_object_video, warp_rows,
                                                     with_ratios)
    from motionstream_core.train.photo_eval import eval_images

    scene = object_scenes(eval_images("builtin"), 128, 128, 1, 17, 16.0, seed=0)[0]
    region = polygon_mask(scene_region(scene), 128, 128).numpy()
    mask = scene.mask(0) > 0.5
    assert (region & mask).sum() / (region | mask).sum() > 0.9
    videos = warp_rows(scene, scene.request.combined(), 0, 17, {})
    assert list(videos) == ["region_reference"] and videos["region_reference"].shape == (17, 128, 128, 3)
    scores = with_ratios({"still": score_object_video(np.repeat(scene.frames[:1], 17, 0), scene),
                          "region_reference": score_object_video(videos["region_reference"], scene)})
    assert scores["region_reference"]["object_over_still"] < 0.1
    assert scores["region_reference"]["uncovered_over_still"] < 0.9  # filled, not the object's copy left behind


def test_a_camera_pan_moves_the_whole_frame_and_what_it_brings_in_is_a_hole():
    """A camera path's tracks (``motion.camera``) through the same builder: a pan of a quarter of the width shifts
    every pixel by 16 px (the grid's field, exact for a uniform move), and the band the pan brings in is the hole."""
    from motionstream_core.motion.camera import CameraPath, camera_tracks
    from motionstream_core.reference.regions import RegionLayer, reference_frames

    tracks = camera_tracks(CameraPath(pan_x=0.25), W, H, 5, grid_spacing=8)
    image = _image(4)
    p, v = torch.tensor(tracks.path), torch.tensor(tracks.visible)
    frames, held, holes = reference_frames(image, p, v, p[0], v[0], 2.4, RegionLayer(tracks.regions, H, W),
                                           torch.tensor([k == "camera" for k in tracks.kinds]))
    torch.testing.assert_close(frames[:, -1, :, :W - 16], image[:, :, 16:], atol=1e-5, rtol=0)
    band = torch.zeros(H, W, dtype=torch.bool)
    band[:, W - 16:] = True
    assert torch.equal(holes[-1], band) and torch.equal(held[-1], ~band)
    assert not holes[0].any() and held[0].all()  # frame 0: the image itself, all placed by the camera

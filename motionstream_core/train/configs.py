"""The training's own model configs: the ablation arms behind the shipped demo model, and the tiny test configs.

The runtime's named configs (``tiny``, ``demo``, the shipped ``demo-warp-refine``, ``wan2.1-1.3b``) live in
``config.py``. Each config here is one of them with the levers an arm changed, spelled out in one call: no arm is
built from another. docs/DEMO_MODEL.md has the figures that decided between them.
"""

from __future__ import annotations

import dataclasses

from ..config import ModelConfig, Parameterisation, PatchCodecConfig, StreamConfig, TinyVAEConfig, get_config

# the demo's first codec: a TAEHV-layout tiny VAE (8x space, 4x time)
TINY_VAE_32 = TinyVAEConfig(channels=(32, 32, 32, 32), encoder_width=32, blocks_per_stage=1)


def demo_arm(name: str, *, patch: int = 4, codec=None, channels: int = 16, prediction: str = "flow",
             appearance: bool = False, reference: str = "first_frame", warp: float = 0.0,
             stream: StreamConfig = StreamConfig(), size: int = 128) -> ModelConfig:
    """The shipped demo layout (``demo-warp-refine``: 192 wide, 4 layers, 3 heads, 128 x 128, the demo text
    encoder) with the levers the ablations varied:

    ``patch``: DiT patch 1 x p x p; ``codec``: the codec (default: the linear codec, 4 x 4 px x 4 frames, of
    ``channels`` components); ``prediction``, ``reference`` and ``warp`` (its radius, px): the parameterisation;
    ``appearance``: tracks carry the start latent;
    ``stream``: the student's schedule (default: sampled from noise in 3 steps at shift 5); ``size``: height and
    width in px. A warp model's teacher
    samples without motion guidance (its motion-free branch would pair the warped slot with no tracks).
    """
    shipped = get_config("demo-warp-refine")
    codec = codec or PatchCodecConfig(latent_channels=channels, stride=4, pack=4)
    return dataclasses.replace(
        shipped, name=name, height=size, width=size,
        dit=dataclasses.replace(shipped.dit, patch_size=(1, patch, patch), in_dim=3 * channels, out_dim=channels),
        track_head=dataclasses.replace(shipped.track_head, stride=codec.spatial_stride, out_channels=channels,
                                       appearance_channels=channels if appearance else 0),
        vae=codec, stream=stream,
        teacher=dataclasses.replace(shipped.teacher, motion_guidance=0.0 if warp else 1.5),
        parameterisation=Parameterisation(prediction, reference, warp))


def tiny_arm(name: str, *, prediction: str = "flow_preconditioned", reference: str = "first_frame", warp: float = 0.0,
             stream: StreamConfig = StreamConfig()) -> ModelConfig:
    """The ``tiny`` test config with the demo's features: tracks that carry appearance, a preconditioned
    ``prediction``, its ``reference`` (``warp``: the image slot warped along the tracks, ``warp`` px, on a linear codec
    of tiny's strides) and a refining ``stream``."""
    tiny = get_config("tiny")
    codec = PatchCodecConfig(latent_channels=tiny.latent_channels, stride=tiny.spatial_stride, pack=4) if warp \
        else tiny.vae
    return dataclasses.replace(
        tiny, name=name, vae=codec, stream=stream,
        track_head=dataclasses.replace(tiny.track_head, appearance_channels=tiny.latent_channels),
        teacher=dataclasses.replace(tiny.teacher, motion_guidance=0.0 if warp else tiny.teacher.motion_guidance),
        parameterisation=Parameterisation(prediction, reference, warp))


def _s4(patch: int) -> ModelConfig:
    """The first codec at 4x space, its encoder padding the start (latent j encodes the frames the track head
    packs into j)."""
    codec = dataclasses.replace(TINY_VAE_32, space_upscale=(False, True, True), encoder_pad_start=True)
    return demo_arm(f"demo-s4p{patch}", patch=patch, codec=codec)


TRAIN_CONFIGS = {
    # the first shipped model: a tiny VAE codec, 8 px tokens over 8x latents (16 px of image a token)
    "demo-small": lambda: demo_arm("demo-small", patch=2, codec=TINY_VAE_32),
    "demo-s4p2": lambda: _s4(2), "demo-s4p4": lambda: _s4(4),
    # the linear codec; then tracks that carry their appearance and a preconditioned velocity
    "demo-pca": lambda: demo_arm("demo-pca"),
    "demo-photo": lambda: demo_arm("demo-photo", prediction="flow_preconditioned", appearance=True),
    "demo-photo8": lambda: demo_arm("demo-photo8", channels=8, prediction="flow_preconditioned", appearance=True),
    # the change from the start image; predicted clean; from the image warped along the tracks (16 or 8 px tokens)
    "demo-change": lambda: demo_arm("demo-change", prediction="flow_preconditioned", appearance=True,
                                    reference="start_image"),
    "demo-change-p2": lambda: demo_arm("demo-change-p2", patch=2, prediction="flow_preconditioned", appearance=True,
                                       reference="start_image"),
    "demo-clean": lambda: demo_arm("demo-clean", prediction="sample", appearance=True, reference="start_image"),
    "demo-clean-p2": lambda: demo_arm("demo-clean-p2", patch=2, prediction="sample", appearance=True,
                                      reference="start_image"),
    "demo-warp": lambda: demo_arm("demo-warp", prediction="sample", appearance=True, reference="warp", warp=10.0),
    "demo-warp-p2": lambda: demo_arm("demo-warp-p2", patch=2, prediction="sample", appearance=True, reference="warp",
                                     warp=10.0),
    # motion learned from noise (no warp, every chunk from sigma 1): the clean change, 8 px tokens, 64 then 128 px
    "demo-learn64": lambda: demo_arm("demo-learn64", patch=2, prediction="sample", appearance=True,
                                     reference="start_image", size=64),
    "demo-learn128": lambda: demo_arm("demo-learn128", patch=2, prediction="sample", appearance=True,
                                      reference="start_image"),
    # the tiny test configs of each feature
    "tiny-photo": lambda: tiny_arm("tiny-photo"),
    "tiny-change": lambda: tiny_arm("tiny-change", reference="start_image"),
    "tiny-clean": lambda: tiny_arm("tiny-clean", prediction="sample", reference="start_image"),
    "tiny-warp": lambda: tiny_arm("tiny-warp", prediction="sample", reference="warp", warp=6.0),
    "tiny-warp-refine": lambda: tiny_arm("tiny-warp-refine", prediction="sample", reference="warp", warp=6.0,
                                         stream=StreamConfig(steps=3, shift=1.0, start_sigma=0.3)),
}

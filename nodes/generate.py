"""MotionStreamGenerate: image + prompt + tracks -> video, streamed chunk by chunk into the node's canvas.

Inputs are turned into the core's types here (``common.py``), then ``streaming.StreamRun`` drives
``MotionStream.session``. Tracks: the connected TRACKS input first, then the tracks drawn in the
widget (``editor_state``), both resampled to the start image and the model's frame rate. The
widget's ``track:<i>`` steering ids refer to its own drawn tracks.
"""

from __future__ import annotations

import logging

from comfy_api.latest import io

from motionstream_core.config import ConfigError
from motionstream_core.stream import MotionStream
from motionstream_core.tracks import TrackError

from .common import (combine_tracks, default_editor_state, fit_tracks, pack_tracks, parse_editor_state, start_image,
                     text_condition, unpack_tracks)
from .loaders import LoadedDecoder, LoadedModel
from .sessions import LiveSession
from .streaming import StreamRun, _client_id
from .types import CATEGORY, DecoderType, ModelType, TracksType

log = logging.getLogger("motionstream")


def resolve_text(loaded: LoadedModel, positive, prompt: str, clip_vision_output):
    """A prompt string for models with a built-in text encoder (the demo), else stock CONDITIONING."""
    model, cfg = loaded.model, loaded.model.config
    if model.text_encoder is not None:
        if positive is not None:
            log.info("MotionStream: %s reads the prompt text with its own encoder; 'positive' is not used", loaded.name)
        return prompt or ""
    if positive is None:
        raise ValueError(f"model {loaded.name!r} has no built-in text encoder: connect 'positive' (CLIPTextEncode with "
                         "the Wan umT5-XXL text encoder, CLIPLoader type 'wan')")
    return text_condition(positive, text_dim=cfg.dit.text_dim, text_len=cfg.text_len,
                          clip_dim=cfg.dit.clip_dim if cfg.dit.image_cross_attn else None,
                          clip_vision_output=clip_vision_output)


def check_image_size(loaded: LoadedModel, width: int, height: int) -> None:
    try:
        loaded.model.config.check_size(height, width)
    except ConfigError as e:
        m = loaded.model.config.spatial_stride * loaded.model.config.dit.patch_size[1]
        w2, h2 = max(m, round(width / m) * m), max(m, round(height / m) * m)
        raise ValueError(f"image: {e}. Resize or crop the start image first (e.g. ImageScale to {w2}x{h2}).") from None


class MotionStreamGenerate(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamGenerate",
            display_name="MotionStream Generate (live)",
            category=CATEGORY,
            description="Streams a video from a start image that follows the drawn / connected tracks. Frames "
                        "appear in the node while they are made; drag points during the run to steer it.",
            inputs=[
                ModelType.Input("model"),
                io.Image.Input("image", tooltip="The start image. Width and height must be multiples of 16."),
                io.Int.Input("frames", default=49, min=0, max=100000, step=1,
                             tooltip="Frames to generate; 0 streams until stopped (Stop in the node). Every frame is "
                                     "kept for the IMAGE output (about 5 MB per 832x480 frame)."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
                io.Int.Input("steps", default=0, min=0, max=16,
                             tooltip="Denoising steps per chunk; 0: the model's own (3)."),
                io.String.Input("prompt", multiline=True, default="",
                                tooltip="Text for models with a built-in text encoder (the demo model); other "
                                        "models take 'positive'."),
                io.String.Input("editor_state", multiline=True, default=default_editor_state(),
                                tooltip="The tracks drawn in the node's editor (JSON, written by the widget)."),
                DecoderType.Input("decoder", optional=True,
                                  tooltip="How latents become frames; default: the model's own decoder."),
                io.Conditioning.Input("positive", optional=True,
                                      tooltip="From CLIPTextEncode with the Wan umT5 text encoder."),
                io.ClipVisionOutput.Input("clip_vision_output", optional=True,
                                          tooltip="From CLIPVisionEncode (models with CLIP image cross-attention)."),
                TracksType.Input("tracks", optional=True,
                                 tooltip="More tracks (camera, motion transfer, coordinates); the drawn ones come after."),
            ],
            outputs=[
                io.Image.Output(display_name="frames"),
                TracksType.Output(display_name="tracks", tooltip="The tracks actually used (live drags included)."),
                io.Float.Output(display_name="fps"),
            ],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        # A live node: every queue streams into the canvas (and may be steered), so it is never served
        # from ComfyUI's cache. NaN never equals the previous fingerprint.
        return float("nan")

    @classmethod
    def execute(cls, model, image, frames=49, seed=0, steps=0, prompt="", editor_state="", decoder=None,
                positive=None, clip_vision_output=None, tracks=None) -> io.NodeOutput:
        if not isinstance(model, LoadedModel):
            raise ValueError("model: connect 'Load MotionStream Model'")
        cfg = model.model.config
        img = start_image(image)
        height, width = int(img.shape[0]), int(img.shape[1])
        check_image_size(model, width, height)
        fps = float(cfg.stream.fps)

        text = resolve_text(model, positive, prompt, clip_vision_output)
        editor = parse_editor_state(editor_state)
        try:
            connected = None if tracks is None else fit_tracks(unpack_tracks(tracks, width, height, fps),
                                                               width, height, fps)
            drawn = None if editor.tracks is None else fit_tracks(editor.tracks, width, height, fps)
            plan = combine_tracks(connected, drawn)
        except TrackError as e:
            raise TrackError(f"tracks: {e}") from None
        limit = cfg.track_head.max_tracks
        if plan is not None and plan.num_tracks > limit:
            raise TrackError(f"tracks: {plan.num_tracks} tracks, but model {model.name!r} takes at most {limit} "
                             "(use a larger grid_spacing)")

        codec = (decoder or LoadedDecoder("builtin", "built-in")).codec(model)
        stream = MotionStream(model.model, codec, steps=steps or None)
        node_id = str(getattr(cls.hidden, "unique_id", None) or "")
        live = LiveSession(node_id=node_id, client_id=_client_id(), width=width, height=height,
                           offset=0 if connected is None else connected.num_tracks,
                           drawn=0 if drawn is None else drawn.num_tracks, max_slots=limit)
        num_frames = frames or None
        session = stream.session(img, text, tracks=plan, steering=live.steering, num_frames=num_frames, seed=seed)
        run = StreamRun(session, live, num_frames, fps, cfg.stream.chunk_frames, plan, img)
        session.on_pause = run._on_pause
        video = run.run()
        used = run.recorded()
        if used is None:
            from motionstream_core.tracks import Tracks

            used = Tracks.empty(video.shape[0], fps, width, height)
        summary = {"session": live.id, "reason": run.reason, "frames": int(video.shape[0]),
                   "tracks": used.num_tracks, "width": width, "height": height, "fps": fps}
        return io.NodeOutput(video, pack_tracks(used), fps, ui={"motionstream": [summary]})


NODES = [MotionStreamGenerate]

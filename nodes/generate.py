"""MotionStreamGenerate: image + prompt + tracks -> video, streamed chunk by chunk into the node's canvas.

An adapter: ComfyUI values become the core's types (``common.py``), ``pipeline.Pipeline.prepare``
makes the run's inputs (tracks: the connected TRACKS input first, then the tracks drawn in the
widget, both fitted to the start image and the model's frame rate), and ``streaming.StreamRun``
drives the session. The widget's ``track:<i>`` steering ids refer to its own drawn tracks.
"""

from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

import folder_paths

from motionstream_core.pipeline import DRAG_MODES, Decoder, LoadedModel, Pipeline
from motionstream_core.tracks import MAX_FRAMES, TrackError, Tracks

from . import host_memory
from .editor_state import default_editor_state, parse_editor_state, with_recorded_file
from .output import KEEP_FRAMES
from .sockets import pack_tracks, start_image, text_condition, unpack_tracks
from .sessions import LiveSession
from .streaming import PauseWatch, StreamRun, _client_id
from .types import CATEGORY, DecoderType, ModelType, TracksType

log = logging.getLogger("motionstream")
AUTO = "auto"  # the drag mode the model defaults to (``drag_mode.default_mode``)


def replayed_prompts(editor, prompt: str, pipe: Pipeline) -> tuple:
    """The recorded prompt switches to replay: only for a model that reads the prompt text, and only while
    the node's prompt is still the one the recorded run ended with (an edited prompt starts a new video)."""
    if not editor.prompts or not pipe.reads_prompts:
        return ()
    if editor.prompts[-1].text != prompt:
        log.info("MotionStream: the prompt was edited since the recorded run; its prompt switches are not replayed")
        return ()
    return editor.prompts


# the host's VIDEO type, where it has one: the run's video file (every frame; IMAGE keeps only the newest)
VIDEO_OUTPUT = [io.Video.Output(display_name="video", tooltip="Every frame of the run (the MP4 in "
                                                              "output/motionstream/).")] if hasattr(io, "Video") else []


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
                io.Image.Input("image", optional=True,
                               tooltip="The start image. Width and height must be multiples of 16. Optional for causal "
                                       "Wan models (text-to-video): without it they stream at the loader's size."),
                io.Int.Input("frames", default=49, min=0, max=MAX_FRAMES, step=1,
                             tooltip="Frames to generate; 0 streams until stopped (Stop in the node). Every frame "
                                     "goes into the video output (an MP4 in output/motionstream/) as it is made; "
                                     f"the frames (IMAGE) output keeps the newest {KEEP_FRAMES}, so memory stays "
                                     "flat for any length."),
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
                                          tooltip="From CLIPVisionEncode, for causal students with CLIP image "
                                                  "cross-attention; MotionStream models ignore it (never trained "
                                                  "with it)."),
                TracksType.Input("tracks", optional=True,
                                 tooltip="More tracks (camera, motion transfer, coordinates); the drawn ones come after."),
                io.Combo.Input("drag_mode", options=[AUTO, *DRAG_MODES], default=AUTO, optional=True,
                               tooltip="How drags move the video: 'model' (the model's track head) or 'warp' (no "
                                       "training: the start image's regions are cut and dragged, and the model "
                                       "refines that with a dual clock). auto: 'model' for models with a track "
                                       "head, 'warp' for causal Wan students."),
                io.Float.Input("t_weak", default=-1.0, min=-1.0, max=1.0, step=0.01, optional=True,
                               tooltip="warp: the noise level each chunk starts from (the frame outside the drags is "
                                       "free from it); -1: from the model's steps."),
                io.Float.Input("t_strong", default=-1.0, min=-1.0, max=1.0, step=0.01, optional=True,
                               tooltip="warp: dragged regions are held to their reference down to this noise level "
                                       "(<= t_weak); -1: from the model's steps."),
            ],
            outputs=[
                io.Image.Output(display_name="frames", tooltip=f"The newest {KEEP_FRAMES} frames at most (all of "
                                                                "a shorter video)."),
                TracksType.Output(display_name="tracks", tooltip="The tracks actually used (live drags included), "
                                                                 "for every frame of the video."),
                io.Float.Output(display_name="fps"),
                *VIDEO_OUTPUT,
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
    def execute(cls, model, image=None, frames=49, seed=0, steps=0, prompt="", editor_state="", decoder=None,
                positive=None, clip_vision_output=None, tracks=None, drag_mode=AUTO, t_weak=-1.0,
                t_strong=-1.0) -> io.NodeOutput:
        if not isinstance(model, LoadedModel):
            raise ValueError("model: connect 'Load MotionStream Model' (or 'Load Causal Wan Model')")
        if decoder is not None and not isinstance(decoder, Decoder):
            raise ValueError("decoder: connect 'Load MotionStream Decoder'")
        host_memory.load(model)  # ComfyUI's model management puts it on its device (again, if it was moved off)
        if drag_mode not in (AUTO, *DRAG_MODES):
            raise ValueError(f"drag_mode: one of {', '.join((AUTO, *DRAG_MODES))}; got {drag_mode!r}")
        strength = lambda v: None if v is None or v < 0 else float(v)  # noqa: E731  (-1: the model's default)
        try:
            pipe = Pipeline(model, decoder, steps=steps or None, drag_mode=None if drag_mode == AUTO else drag_mode,
                            t_weak=strength(t_weak), t_strong=strength(t_strong))
        except ValueError as e:
            raise ValueError(f"drag_mode: {e}") from None
        cfg = model.config
        if image is None and cfg.takes_tracks:
            raise ValueError(f"image: model {model.name!r} needs a start image (connect Load Image)")
        img = None if image is None else start_image(image)
        height, width = (cfg.height, cfg.width) if img is None else (int(img.shape[0]), int(img.shape[1]))
        pipe.check_size(width, height)
        embedding = None
        if positive is not None and not pipe.reads_prompts:
            embedding = text_condition(positive, text_dim=cfg.dit.text_dim, text_len=cfg.text_len,
                                       clip_dim=cfg.dit.clip_dim if cfg.dit.image_cross_attn else None,
                                       clip_vision_output=clip_vision_output)
        editor = with_recorded_file(parse_editor_state(editor_state), folder_paths.get_output_directory())
        try:
            connected = None if tracks is None else unpack_tracks(tracks, width, height, pipe.fps)
        except TrackError as e:
            raise TrackError(f"tracks: {e}") from None
        if not cfg.takes_tracks and not pipe.drag.warp and editor.tracks is not None:
            raise TrackError(f"tracks: model {model.name!r} takes no drags in drag mode {pipe.drag.mode!r}; clear "
                             "the tracks drawn in the node (Delete) or use drag_mode warp")
        if img is None and (editor.tracks is not None or connected is not None):
            raise TrackError("tracks: a drag needs a start image (warp mode cuts and drags its regions): connect "
                             "Load Image, or clear the tracks drawn in the node (Delete)")
        run = pipe.prepare(img, prompt, embedding, [connected, editor.tracks], num_frames=frames or None, seed=seed,
                           size=(width, height) if img is None else None, prompts=replayed_prompts(editor, prompt, pipe))

        offset, drawn = run.source_tracks
        live = LiveSession(node_id=str(getattr(cls.hidden, "unique_id", None) or ""), client_id=_client_id(),
                           width=width, height=height, offset=offset, drawn=drawn,
                           max_slots=pipe.max_tracks if img is not None else 0,  # a drag needs a start image
                           reads_prompts=pipe.reads_prompts)
        watch = PauseWatch(live)
        session = pipe.session(run, steering=live.steering, on_pause=watch)
        # the canvas shows the start image until frames arrive (gray without one)
        shown = img if img is not None else torch.full((height, width, 3), 0.5)
        stream_run = StreamRun(session, live, run.num_frames, pipe.fps, cfg.stream.chunk_frames, run.tracks, shown,
                               pause_watch=watch)
        frames_out = stream_run.run()
        made = stream_run.output.frames_written
        used = stream_run.recorded()
        if used is None:
            used = Tracks.empty(max(1, made), pipe.fps, width, height)
        summary = {"session": live.id, "reason": stream_run.reason, "frames": made,
                   "image_frames": int(frames_out.shape[0]), "video": stream_run.output.file_info(),
                   "tracks": used.num_tracks, "width": width, "height": height, "fps": pipe.fps,
                   "drag_mode": pipe.drag.mode}
        video = (stream_run.output.video(),) if VIDEO_OUTPUT else ()
        return io.NodeOutput(frames_out, pack_tracks(used), pipe.fps, *video, ui={"motionstream": [summary]})


NODES = [MotionStreamGenerate]

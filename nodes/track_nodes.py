"""Track nodes: make, convert, combine and draw point tracks (TRACKS sockets).

Every track node outputs ComfyUI's core ``TRACKS`` dict with our full ``Tracks`` inside (see
``common.pack_tracks``). Tracks keep their own frame rate and size; the generate node resamples
them, explicitly, to the start image and the model's rate.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import torch
from comfy_api.latest import io

from motionstream_core import track_formats
from motionstream_core.tracks import TrackError, combine_tracks, fit_tracks

from .choices import check_choices
from .sockets import pack_tracks, unpack_tracks
from .types import TRACKS_CATEGORY, TracksType

log = logging.getLogger("motionstream")

FORMATS = ("auto", "KJNodes coord_str", "ATI JSON", "MotionStream JSON")


def _motion(name: str):
    """``motionstream_core.motion.<name>``, imported when a node first needs it (OpenCV)."""
    import importlib

    try:
        return importlib.import_module(f"motionstream_core.motion.{name}")
    except ImportError as e:
        raise RuntimeError(f"this node needs the Python package {e.name or 'opencv-python-headless'!r}, which is not "
                           "installed in ComfyUI's Python: pip install -r ComfyUI-MotionStream/requirements.txt, "
                           "then restart ComfyUI") from None


def _size(image, width: int, height: int) -> tuple[int, int]:
    if image is not None:
        return int(image.shape[2]), int(image.shape[1])
    return int(width), int(height)


def _size_inputs(default_w: int = 832, default_h: int = 480, minimum: int = 16) -> list:
    return [
        io.Image.Input("image", optional=True, tooltip="Take the size from this image (the start image)."),
        io.Int.Input("width", default=default_w, min=minimum, max=8192, step=8, optional=True,
                     tooltip="Image width the coordinates are in (ignored when an image is connected)."),
        io.Int.Input("height", default=default_h, min=minimum, max=8192, step=8, optional=True,
                     tooltip="Image height the coordinates are in (ignored when an image is connected)."),
    ]


class MotionStreamTracksFromCoords(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamTracksFromCoords",
            display_name="MotionStream Tracks From Coordinates",
            category=TRACKS_CATEGORY,
            description="Point tracks from text: KJNodes SplineEditor coord_str (one point per frame), ATI JSON "
                        "(24 fps, up to 121 points) or MotionStream tracks JSON.",
            inputs=[
                io.String.Input("coordinates", multiline=True, default="[]",
                                tooltip="coord_str / ATI JSON / MotionStream JSON, in pixels of width x height."),
                io.Combo.Input("format", options=list(FORMATS), default="auto",
                               tooltip="auto: MotionStream JSON for an object with 'format', else coord_str."),
                io.Float.Input("fps", default=16.0, min=1.0, max=240.0, step=1.0,
                               tooltip="Frame rate of coord_str points (ATI is always 24, ours stores its own)."),
                io.Int.Input("num_frames", default=0, min=0, max=100000,
                             tooltip="0: as given; otherwise stretch the motion over this many frames."),
                *_size_inputs(),
            ],
            outputs=[TracksType.Output(display_name="tracks")],
        )

    @classmethod
    def execute(cls, coordinates, format="auto", fps=16.0, num_frames=0, image=None, width=832,
                height=480) -> io.NodeOutput:
        check_choices(cls, format=format)
        w, h = _size(image, width, height)
        n = num_frames or None
        kind = format
        if kind == "auto":
            try:
                doc = json.loads(coordinates)
            except json.JSONDecodeError:
                doc = None
            kind = "MotionStream JSON" if isinstance(doc, dict) and "format" in doc else "KJNodes coord_str"
        if kind == "MotionStream JSON":
            tracks = track_formats.from_json(coordinates)
            if image is not None:
                tracks = tracks.resample(width=w, height=h) if (tracks.width, tracks.height) != (w, h) else tracks
            if n is not None and n != tracks.num_frames:
                tracks = tracks.resample(num_frames=n)
        elif kind == "ATI JSON":
            tracks = track_formats.from_ati_json(coordinates, w, h, num_frames=n)
        else:
            tracks = track_formats.from_coord_str(coordinates, w, h, fps=fps, num_frames=n)
        return io.NodeOutput(pack_tracks(tracks))


class MotionStreamTracksFromComfy(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamTracksFromComfy",
            display_name="MotionStream Tracks From ComfyUI TRACKS",
            category=TRACKS_CATEGORY,
            description="Gives ComfyUI core TRACKS (track_path / track_visibility, pixels) the image size and frame "
                        "rate they were made for.",
            inputs=[
                TracksType.Input("tracks"),
                io.Float.Input("fps", default=16.0, min=1.0, max=240.0, step=1.0),
                *_size_inputs(),
            ],
            outputs=[TracksType.Output(display_name="tracks")],
        )

    @classmethod
    def execute(cls, tracks, fps=16.0, image=None, width=832, height=480) -> io.NodeOutput:
        w, h = _size(image, width, height)
        raw = {k: v for k, v in tracks.items() if k != "motionstream"} if isinstance(tracks, dict) else tracks
        return io.NodeOutput(pack_tracks(track_formats.from_comfy(raw, fps=fps, width=w, height=h)))


class MotionStreamTracksFromVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamTracksFromVideo",
            display_name="MotionStream Tracks From Video (motion transfer)",
            category=TRACKS_CATEGORY,
            description="Tracks a grid of points through a reference video (OpenCV Lucas-Kanade, template-checked) "
                        "so the generated video moves the same way. Points in flat regions are kept, lost points "
                        "are re-seeded, the video is cut at its first shot change; 'report' says how many points "
                        "held.",
            inputs=[
                io.Image.Input("video", tooltip="The reference frames (e.g. Get Video Components -> images)."),
                io.Float.Input("fps", default=16.0, min=1.0, max=240.0, step=0.01,
                               tooltip="Frame rate of the reference (Get Video Components -> fps)."),
                io.Int.Input("grid_spacing", default=32, min=4, max=512, step=1,
                             tooltip="Pixels between tracked points, in the output size."),
                io.Float.Input("max_fb_error", default=1.0, min=0.05, max=20.0, step=0.05,
                               tooltip="Forward-backward error (source pixels) above which a point is lost."),
                io.Int.Input("max_frames", default=0, min=0, max=100000, tooltip="0: every frame."),
                *_size_inputs(0, 0, minimum=0),
            ],
            outputs=[TracksType.Output(display_name="tracks"),
                     io.String.Output(display_name="report", tooltip="Points kept, re-seeded, where the video was "
                                                                     "cut.")],
        )

    @classmethod
    def execute(cls, video, fps=16.0, grid_spacing=32, max_fb_error=1.0, max_frames=0, image=None, width=0,
                height=0) -> io.NodeOutput:
        transfer_tracks = _motion("transfer").transfer_tracks
        w, h = _size(image, width, height)
        found = transfer_tracks(video, grid_spacing=grid_spacing, width=w or None, height=h or None,
                                max_fb_error=max_fb_error, source_fps=fps, max_frames=max_frames or None)
        log.info("MotionStream Tracks From Video: %s", found.summary())
        return io.NodeOutput(pack_tracks(found.tracks), found.summary())


class MotionStreamCameraTracks(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        amount = dict(min=-10.0, max=10.0, step=0.01)
        degrees = dict(min=-180.0, max=180.0, step=0.5)
        return io.Schema(
            node_id="MotionStreamCameraTracks",
            display_name="MotionStream Camera Tracks",
            category=TRACKS_CATEGORY,
            description="Tracks of a grid seen by a moving camera (pan, tilt, yaw, roll, zoom, dolly, orbit), with an "
                        "optional depth image (larger = farther). Amounts are reached at 'end' (fractions of the clip).",
            inputs=[
                io.Int.Input("num_frames", default=49, min=1, max=100000),
                io.Float.Input("fps", default=16.0, min=1.0, max=240.0, step=1.0),
                io.Int.Input("grid_spacing", default=32, min=4, max=512),
                io.Float.Input("pan_x", default=0.0, **amount, tooltip="Camera moves right (fraction of the width)."),
                io.Float.Input("pan_y", default=0.0, **amount, tooltip="Camera moves up (fraction of the height)."),
                io.Float.Input("tilt", default=0.0, **degrees, tooltip="Degrees the camera pitches up."),
                io.Float.Input("yaw", default=0.0, **degrees, tooltip="Degrees the camera turns right."),
                io.Float.Input("roll", default=0.0, **degrees, tooltip="Degrees the camera rolls clockwise."),
                io.Float.Input("zoom", default=1.0, min=0.1, max=10.0, step=0.01, tooltip="Focal-length factor."),
                io.Float.Input("dolly", default=0.0, min=-10.0, max=0.95, step=0.01,
                               tooltip="Camera moves forward by this fraction of the reference depth."),
                io.Float.Input("orbit", default=0.0, **degrees, tooltip="Degrees around the image centre."),
                io.Float.Input("start", default=0.0, min=0.0, max=1.0, step=0.01),
                io.Float.Input("end", default=1.0, min=0.0, max=1.0, step=0.01),
                io.Combo.Input("easing", options=["linear", "ease"], default="ease"),
                io.Float.Input("fov", default=60.0, min=1.0, max=179.0, step=1.0, tooltip="Horizontal field of view."),
                io.Image.Input("depth", optional=True, tooltip="A depth image (e.g. from a depth estimator)."),
                io.Boolean.Input("depth_is_disparity", default=True, optional=True,
                                 tooltip="Most depth estimators (MiDaS, Depth Anything) output inverse depth."),
                *_size_inputs(),
            ],
            outputs=[TracksType.Output(display_name="tracks")],
        )

    @classmethod
    def execute(cls, num_frames, fps, grid_spacing, pan_x, pan_y, tilt, yaw, roll, zoom, dolly, orbit, start, end,
                easing, fov, depth=None, depth_is_disparity=True, image=None, width=832, height=480) -> io.NodeOutput:
        check_choices(cls, easing=easing)
        camera = _motion("camera")
        CameraPath, camera_tracks = camera.CameraPath, camera.camera_tracks
        w, h = _size(image, width, height)
        path = CameraPath(pan_x=pan_x, pan_y=pan_y, tilt=tilt, yaw=yaw, roll=roll, zoom=zoom, dolly=dolly,
                          orbit=orbit, start=start, end=end, easing=easing)
        tracks = camera_tracks(path, w, h, num_frames, fps=fps, grid_spacing=grid_spacing, depth=depth, fov=fov,
                               disparity=bool(depth_is_disparity))
        return io.NodeOutput(pack_tracks(tracks))


class MotionStreamCombineTracks(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamCombineTracks",
            display_name="MotionStream Combine Tracks",
            category=TRACKS_CATEGORY,
            description="All tracks of a, then b (then c, d) as one set, in the size and frame rate of a; shorter "
                        "sets hold their last frame.",
            inputs=[
                TracksType.Input("tracks_a"),
                TracksType.Input("tracks_b"),
                TracksType.Input("tracks_c", optional=True),
                TracksType.Input("tracks_d", optional=True),
                io.Image.Input("image", optional=True, tooltip="Size for ComfyUI TRACKS that carry none."),
            ],
            outputs=[TracksType.Output(display_name="tracks")],
        )

    @classmethod
    def execute(cls, tracks_a, tracks_b, tracks_c=None, tracks_d=None, image=None) -> io.NodeOutput:
        w, h = (None, None) if image is None else _size(image, 0, 0)
        first = unpack_tracks(tracks_a, w, h)
        out = first
        for other in (tracks_b, tracks_c, tracks_d):
            if other is not None:
                t = fit_tracks(unpack_tracks(other, first.width, first.height, first.fps),
                               first.width, first.height, first.fps)
                out = combine_tracks(out, t)
        return io.NodeOutput(pack_tracks(out))


class MotionStreamDrawTracks(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamDrawTracks",
            display_name="MotionStream Draw Tracks",
            category=TRACKS_CATEGORY,
            description="Draws the tracks (dots and fading trails) over frames or over one image.",
            inputs=[
                io.Image.Input("images", tooltip="Frames [T, H, W, 3], or one image to draw every frame on."),
                TracksType.Input("tracks"),
                io.Int.Input("trail", default=8, min=0, max=1000, tooltip="Frames of trail behind each point."),
                io.Int.Input("radius", default=0, min=0, max=100, tooltip="Dot radius in pixels; 0: automatic."),
            ],
            outputs=[io.Image.Output(display_name="images")],
        )

    @classmethod
    def execute(cls, images, tracks, trail=8, radius=0) -> io.NodeOutput:
        draw_tracks = _motion("draw").draw_tracks
        t = unpack_tracks(tracks, int(images.shape[2]), int(images.shape[1]))
        n = int(images.shape[0])
        if n > 1 and n != t.num_frames:  # frame-aligned: cut or hold the tracks to the frames
            t = t.slice_frames(0, n) if t.num_frames > n else t.hold_to(n)
        if t.num_tracks == 0:
            return io.NodeOutput(images)
        drawn = draw_tracks(images, t, trail=trail, radius=radius or None)
        return io.NodeOutput(torch.from_numpy(np.ascontiguousarray(drawn)).float() / 255.0)


NODES = [MotionStreamTracksFromCoords, MotionStreamTracksFromComfy, MotionStreamTracksFromVideo,
         MotionStreamCameraTracks, MotionStreamCombineTracks, MotionStreamDrawTracks]
__all__ = ["NODES", "TrackError"]

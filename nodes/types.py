"""The socket types this pack adds (V3 ``io.Custom``), and the shared ``TRACKS`` type.

``TRACKS`` is the name ComfyUI itself uses for point tracks (``{"track_path", "track_visibility"}``);
where the host defines ``io.Tracks`` that type is used, so our sockets connect to core nodes.
"""

from __future__ import annotations

from comfy_api.latest import io

ModelType = io.Custom("MOTIONSTREAM_MODEL")
DecoderType = io.Custom("MOTIONSTREAM_DECODER")
TracksType = getattr(io, "Tracks", None) or io.Custom("TRACKS")

CATEGORY = "MotionStream"
TRACKS_CATEGORY = "MotionStream/tracks"

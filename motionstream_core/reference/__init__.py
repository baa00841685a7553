"""Reference videos built in pixels from the start image and the drags, encoded by the run's codec.

Outside every model: a model takes latents and returns velocities; what the drags say the video looks like
is built here, by the stream (chunk by chunk, with the start image it holds) and by the training data (whole
clips, with the start image decoded from its latent). Parts:

* ``kernel``: the rubber-sheet warp along tracks (``warp_frames``; the demo model's image slot, and the
  fallback of a drag without a region);
* ``encode``: the run's codec as a streaming encoder of reference videos (``ChunkEncoder``);
* ``regions``: cut-and-drag frames (regions moved by their tracks, holes filled and marked; camera paths);
* ``builder``: ``ReferenceBuilder`` (one run's references, chunk by chunk) and ``clip_slot`` (training).
"""

from .builder import DEFAULT_RADIUS, Reference, ReferenceBuilder, clip_slot, kernel_frames, latent_mask, warp_radius
from .encode import ChunkEncoder, decode_start
from .kernel import STILL_WEIGHT, hold_hidden, track_displacement, warp_frames, warp_image

__all__ = ["DEFAULT_RADIUS", "Reference", "latent_mask", "ReferenceBuilder", "clip_slot", "kernel_frames", "warp_radius", "ChunkEncoder", "decode_start",
           "STILL_WEIGHT", "hold_hidden", "track_displacement", "warp_frames", "warp_image"]

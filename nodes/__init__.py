"""ComfyUI nodes of MotionStream: thin adapters from ComfyUI types to ``motionstream_core``.

    loaders.py      Load MotionStream Model / Load MotionStream Decoder
    track_nodes.py  tracks from coordinates, ComfyUI TRACKS, video, camera; combine; draw
    generate.py     MotionStream Generate (live): the streaming node
    examples.py     a synthetic example clip (start image, caption, frames, tracks)
    streaming.py    one stream inside a node run: events to the browser, progress, interrupt, record
    sessions.py     live-steering sessions, validation, rate limit (pure Python)
    routes.py       /motionstream/steer, /motionstream/control, /motionstream/health
    vae_adapter.py  a ComfyUI VAE as the stream's chunk-wise full-quality decoder
    common.py       conversions: TRACKS sockets, CONDITIONING, editor_state, JPEG (pure Python)
"""

from __future__ import annotations

from typing_extensions import override

from comfy_api.latest import ComfyExtension, io

from . import examples, generate, loaders, routes, track_nodes

NODE_LIST: list[type[io.ComfyNode]] = [
    loaders.MotionStreamModelLoader,
    loaders.MotionStreamDecoderLoader,
    *generate.NODES,
    *track_nodes.NODES,
    *examples.NODES,
]


class MotionStreamExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODE_LIST)


def setup() -> None:
    """What the pack does when ComfyUI imports it: a model folder and three HTTP routes (nothing else)."""
    loaders.register_folder()
    routes.register_with_server()


async def comfy_entrypoint() -> MotionStreamExtension:
    return MotionStreamExtension()

"""The ComfyExtension of this pack: the node list, and what importing the pack sets up."""

from __future__ import annotations

from typing_extensions import override

from comfy_api.latest import ComfyExtension, io

from . import causal, examples, generate, loaders, routes, text_embedding, track_nodes

NODE_LIST: list[type[io.ComfyNode]] = [
    loaders.MotionStreamModelLoader,
    loaders.MotionStreamDecoderLoader,
    *causal.NODES,
    *text_embedding.NODES,
    *generate.NODES,
    *track_nodes.NODES,
    *examples.NODES,
]


class MotionStreamExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODE_LIST)


def setup() -> None:
    """What the pack does when ComfyUI imports it: a model folder and its HTTP routes (nothing else)."""
    loaders.register_folder()
    text_embedding.register_folder()
    routes.register_with_server()


async def comfy_entrypoint() -> MotionStreamExtension:
    return MotionStreamExtension()

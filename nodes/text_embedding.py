"""Text Embedding File: a prompt's text embedding read from a file, as CONDITIONING for the Generate node.

For running without the Wan text encoder (umT5-XXL, ~6 GB) in this ComfyUI: the same file ``motionstream
generate --text-embedding`` reads (safetensors or a weights-only ``.pt`` holding ``context`` [1, L, D]), made
once wherever the text encoder is. Files live in ``models/motionstream_text``.
"""

from __future__ import annotations

import os

import folder_paths
from comfy_api.latest import io

from motionstream_core.pipeline import load_text_embedding

from .types import CATEGORY

FOLDER = "motionstream_text"


def register_folder() -> None:
    path = os.path.join(folder_paths.models_dir, FOLDER)
    if FOLDER not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[FOLDER] = ([path], {".safetensors", ".pt", ".pth"})


class MotionStreamTextEmbeddingFile(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MotionStreamTextEmbeddingFile",
            display_name="MotionStream Text Embedding File",
            category=CATEGORY,
            description="A prompt's text embedding from a file in models/motionstream_text (a 'context' tensor "
                        "[1, L, 4096]: what CLIPTextEncode with the Wan umT5 text encoder makes), for the Generate "
                        "node's 'positive' without the text encoder. The prompt cannot change during the run.",
            inputs=[io.Combo.Input("file", options=folder_paths.get_filename_list(FOLDER),
                                   tooltip="A .safetensors / .pt with 'context' (the CLI's --text-embedding file).")],
            outputs=[io.Conditioning.Output(display_name="positive")],
        )

    @classmethod
    def validate_inputs(cls, file):
        if file in folder_paths.get_filename_list(FOLDER):
            return True
        return f"text embedding file {file!r} was not found in models/{FOLDER}"

    @classmethod
    def execute(cls, file) -> io.NodeOutput:
        embedding = load_text_embedding(folder_paths.get_full_path(FOLDER, file))
        return io.NodeOutput([[embedding.context, {}]])


NODES = [MotionStreamTextEmbeddingFile]

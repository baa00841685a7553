"""ComfyUI nodes of MotionStream: thin adapters from ComfyUI types to ``motionstream_core``.

    loaders.py      Load MotionStream Model / Load MotionStream Decoder
    track_nodes.py  tracks from coordinates, ComfyUI TRACKS, video, camera; combine; draw
    generate.py     MotionStream Generate (live): the streaming node
    examples.py     inputs that need no files: a synthetic example clip, the demo's sample photo
    text_embedding.py  Text Embedding File: a prompt's embedding from a file (no text encoder needed)
    streaming.py    one stream inside a node run: events to the browser, progress, interrupt, record
    sessions.py     live-steering sessions, validation, rate limit (pure Python)
    routes.py       /motionstream/steer, /motionstream/control, /motionstream/health
    vae_adapter.py  a ComfyUI VAE as the stream's chunk-wise full-quality decoder
    sockets.py      ComfyUI values <-> core types: TRACKS, CONDITIONING, IMAGE (pure Python)
    editor_state.py the widget's editor_state JSON <-> the drawn Tracks (pure Python)
    frames.py       frames -> JPEG data URLs for the browser (pure Python)
    extension.py    the ComfyExtension listing the nodes (``comfy_entrypoint``)

This package file imports nothing, so the pure modules are importable (and unit-tested) without ComfyUI.
"""

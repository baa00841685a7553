"""Writes the example workflows in workflows/ (UI format, what ComfyUI's "Load" / drag-and-drop reads).

    python tests/host_scripts/build_workflows.py

Run it with the project's Python (it uses motionstream_core to place the demo drag on a shape of the
example clip). tests/test_host_workflows.py checks every file against the live host's /object_info
(node types, link types, widget counts) and runs the ones that need no downloads.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from motionstream_core import track_formats  # noqa: E402
from motionstream_core.tracks import Tracks  # noqa: E402

OUT = REPO / "workflows"
NEEDS_MODELS = OUT / "needs_models"  # workflows that cannot run until the user adds model files
SCALE, TITLE_H = 0.8, 30  # the opening zoom; a node's title bar above its pos
CLEAR_TOP, CLEAR_LEFT = 110, 60  # screen pixels taken by ComfyUI 1.27's menu + workflow tabs, and side bar
VERSION = "0.1.0"

# socket inputs and outputs of the node types used (ComfyUI 0.3.64 + this pack)
SOCKETS = {
    "MotionStreamModelLoader": ([], [("model", "MOTIONSTREAM_MODEL")]),
    "MotionStreamDecoderLoader": ([("vae", "VAE")], [("decoder", "MOTIONSTREAM_DECODER")]),
    "MotionStreamCausalModelLoader": ([("clip", "CLIP")], [("model", "MOTIONSTREAM_MODEL")]),
    "MotionStreamGenerate": ([("model", "MOTIONSTREAM_MODEL"), ("image", "IMAGE"), ("decoder", "MOTIONSTREAM_DECODER"),
                              ("positive", "CONDITIONING"), ("clip_vision_output", "CLIP_VISION_OUTPUT"),
                              ("tracks", "TRACKS")],
                             [("frames", "IMAGE"), ("tracks", "TRACKS"), ("fps", "FLOAT")]),
    "MotionStreamExampleClip": ([], [("start_image", "IMAGE"), ("frames", "IMAGE"), ("caption", "STRING"),
                                     ("tracks", "TRACKS"), ("fps", "FLOAT")]),
    "MotionStreamDemoPhoto": ([], [("start_image", "IMAGE"), ("tracks", "TRACKS"), ("prompt", "STRING")]),
    "MotionStreamTracksFromVideo": ([("video", "IMAGE"), ("image", "IMAGE")], [("tracks", "TRACKS")]),
    "MotionStreamCameraTracks": ([("depth", "IMAGE"), ("image", "IMAGE")], [("tracks", "TRACKS")]),
    "MotionStreamDrawTracks": ([("images", "IMAGE"), ("tracks", "TRACKS")], [("images", "IMAGE")]),
    "CreateVideo": ([("images", "IMAGE"), ("audio", "AUDIO")], [("VIDEO", "VIDEO")]),
    "SaveVideo": ([("video", "VIDEO")], []),
    "CLIPLoader": ([], [("CLIP", "CLIP")]),
    "CLIPTextEncode": ([("clip", "CLIP")], [("CONDITIONING", "CONDITIONING")]),
    "VAELoader": ([], [("VAE", "VAE")]),
    "LoadImage": ([], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "ImageScale": ([("image", "IMAGE")], [("IMAGE", "IMAGE")]),
    "CLIPVisionLoader": ([], [("CLIP_VISION", "CLIP_VISION")]),
    "CLIPVisionEncode": ([("clip_vision", "CLIP_VISION"), ("image", "IMAGE")],
                         [("CLIP_VISION_OUTPUT", "CLIP_VISION_OUTPUT")]),
    "MarkdownNote": ([], []),
}
CORE = {"CreateVideo", "SaveVideo", "CLIPLoader", "CLIPTextEncode", "VAELoader", "LoadImage", "ImageScale",
        "CLIPVisionLoader", "CLIPVisionEncode", "MarkdownNote"}


class Graph:
    def __init__(self):
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def node(self, type_: str, pos, widgets, size=(320, 200), title: str | None = None) -> int:
        nid = len(self.nodes) + 1
        ins, outs = SOCKETS[type_]
        node = {"id": nid, "type": type_, "pos": list(pos), "size": list(size), "flags": {}, "order": nid - 1,
                "mode": 0,
                "inputs": [{"name": n, "type": t, "link": None} for n, t in ins],
                "outputs": [{"name": n, "type": t, "slot_index": i, "links": []} for i, (n, t) in enumerate(outs)],
                "properties": {"cnr_id": "comfy-core" if type_ in CORE else "comfyui-motionstream",
                               "ver": "0.3.64" if type_ in CORE else VERSION, "Node name for S&R": type_},
                "widgets_values": list(widgets)}
        if title:
            node["title"] = title
        self.nodes.append(node)
        return nid

    def link(self, src: int, out_name: str, dst: int, in_name: str, widget: bool = False) -> None:
        s, d = self.nodes[src - 1], self.nodes[dst - 1]
        slot = next(i for i, o in enumerate(s["outputs"]) if o["name"] == out_name)
        typ = s["outputs"][slot]["type"]
        lid = len(self.links) + 1
        inputs = d["inputs"]
        idx = next((i for i, x in enumerate(inputs) if x["name"] == in_name), None)
        if idx is None:
            if not widget:
                raise KeyError(f"{d['type']} has no socket {in_name}")
            inputs.append({"name": in_name, "type": typ, "widget": {"name": in_name}, "link": None})
            idx = len(inputs) - 1
        inputs[idx]["link"] = lid
        s["outputs"][slot]["links"].append(lid)
        self.links.append([lid, src, slot, dst, idx, typ])

    def view(self) -> dict:
        """The opening view: every node, title bar included, below the host's menu and workflow-tab bars
        (CLEAR_TOP screen pixels) and right of its side bar (CLEAR_LEFT). Screen = (pos + offset) * scale."""
        top = min(n["pos"][1] for n in self.nodes) - TITLE_H
        left = min(n["pos"][0] for n in self.nodes)
        return {"scale": SCALE, "offset": [CLEAR_LEFT / SCALE - left, CLEAR_TOP / SCALE - top]}

    def save(self, name: str, title: str, folder: Path = OUT) -> None:
        doc = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-motionstream/workflows/{name}")), "revision": 0, "last_node_id": len(self.nodes),
               "last_link_id": len(self.links), "nodes": self.nodes, "links": self.links, "groups": [],
               "config": {}, "extra": {"ds": self.view(), "motionstream": {"title": title}},
               "version": 0.4}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")


def editor_state(width: int, height: int, tracks: Tracks | None = None, duration: int = 49) -> str:
    doc = json.loads(track_formats.to_json(tracks)) if tracks is not None else {
        "format": "motionstream-tracks", "version": 1, "width": width, "height": height, "fps": 16,
        "num_frames": duration, "tracks": []}
    return json.dumps({"version": 1, "tracks": doc, "grid_spacing": 32, "duration_frames": duration})


def save_nodes(g: Graph, frames_src: tuple[int, str], fps_src: tuple[int, str], x: int, y: int,
               prefix: str) -> None:
    video = g.node("CreateVideo", (x, y), [16.0], (260, 80))
    g.link(*frames_src, video, "images")
    g.link(*fps_src, video, "fps", widget=True)
    save = g.node("SaveVideo", (x + 300, y), [f"video/{prefix}", "auto", "auto"], (320, 320))
    g.link(video, "VIDEO", save, "video")


def demo_workflow() -> None:
    """The demo model on its own sample (``motionstream demo``'s): the photo, and its drag + pins in the editor."""
    from motionstream_core.demo import load_demo_sample

    sample = load_demo_sample()
    g = Graph()
    size, frames = sample.image.shape[0], sample.tracks.num_frames
    g.node("MarkdownNote", (20, -220), ["### MotionStream: drag with the built-in demo model\n\nQueue it: the flower "
           "follows the drag drawn in the Generate node (the other points pin the background) and the video streams "
           "into the node. Move the points, or drag any spot of the picture while it runs to steer it; the run is "
           "recorded into the node, so queueing again with the same seed replays it. Replace **Demo Photo** with "
           "**Load Image** (+ ImageScale to 128x128) for your own picture."], (560, 160))
    photo = g.node("MotionStreamDemoPhoto", (20, 0), [], (300, 120))
    model = g.node("MotionStreamModelLoader", (20, 300), ["MotionStream demo (built-in)", "auto", "auto", "auto",
                                                          "auto"], (320, 180))
    dec = g.node("MotionStreamDecoderLoader", (20, 520), ["built-in (the model's own decoder)", "exact"], (320, 100))
    gen = g.node("MotionStreamGenerate", (400, 0),
                 [frames, 0, "fixed", 0, sample.prompt, editor_state(size, size, sample.tracks, frames)], (520, 640))
    g.link(model, "model", gen, "model")
    g.link(photo, "start_image", gen, "image")
    g.link(dec, "decoder", gen, "decoder")
    g.link(photo, "prompt", gen, "prompt", widget=True)
    save_nodes(g, (gen, "frames"), (gen, "fps"), 980, 0, "MotionStream_demo")
    g.save("motionstream_demo_drag", "Drag with the demo model")


def transfer_workflow() -> None:
    g = Graph()
    size, frames = 128, 49
    g.node("MarkdownNote", (20, -220), ["### MotionStream: motion transfer\n\nThe motion of a reference video is "
           "tracked (grid of points, Lucas-Kanade) and applied to the start image. For your own video use **Load "
           "Video** -> **Get Video Components** (images, fps) instead of the reference Example Clip."], (560, 160))
    ref = g.node("MotionStreamExampleClip", (20, 0), [21, "fixed", size, size, frames, 64], (300, 240), "Reference video")
    start = g.node("MotionStreamExampleClip", (20, 300), [7, "fixed", size, size, 1, 64], (300, 240), "Start image")
    tracks = g.node("MotionStreamTracksFromVideo", (360, 0), [16.0, 32, 1.0, 0, 0, 0], (340, 220))
    g.link(ref, "frames", tracks, "video")
    g.link(ref, "fps", tracks, "fps", widget=True)
    g.link(start, "start_image", tracks, "image")
    model = g.node("MotionStreamModelLoader", (360, 280), ["MotionStream demo (built-in)", "auto", "auto", "auto",
                                                           "auto"], (320, 180))
    gen = g.node("MotionStreamGenerate", (740, 0), [frames, 0, "fixed", 0, "", editor_state(size, size)], (520, 640))
    g.link(model, "model", gen, "model")
    g.link(start, "start_image", gen, "image")
    g.link(start, "caption", gen, "prompt", widget=True)
    g.link(tracks, "tracks", gen, "tracks")
    save_nodes(g, (gen, "frames"), (gen, "fps"), 1300, 0, "MotionStream_transfer")
    draw = g.node("MotionStreamDrawTracks", (1300, 400), [8, 0], (300, 120))
    g.link(gen, "frames", draw, "images")
    g.link(gen, "tracks", draw, "tracks")
    save_nodes(g, (draw, "images"), (gen, "fps"), 1640, 400, "MotionStream_transfer_tracks")
    g.save("motionstream_motion_transfer", "Motion transfer from a video")


def camera_workflow() -> None:
    g = Graph()
    size, frames = 128, 49
    g.node("MarkdownNote", (20, -220), ["### MotionStream: camera control\n\nA camera path (pan, zoom, orbit, ...) "
           "becomes the tracks of a grid of points; connect a depth image (larger = farther, or disparity) for "
           "parallax. Drag extra points in the Generate node to move objects while the camera moves."], (560, 160))
    start = g.node("MotionStreamExampleClip", (20, 0), [7, "fixed", size, size, 1, 64], (300, 240), "Start image")
    cam = g.node("MotionStreamCameraTracks", (360, 0),
                 [frames, 16.0, 32, 0.25, 0.0, 0.0, 0.0, 0.0, 1.3, 0.0, 0.0, 0.0, 1.0, "ease", 60.0, True, 832, 480],
                 (340, 560))
    g.link(start, "start_image", cam, "image")
    model = g.node("MotionStreamModelLoader", (20, 300), ["MotionStream demo (built-in)", "auto", "auto", "auto",
                                                          "auto"], (320, 180))
    gen = g.node("MotionStreamGenerate", (740, 0), [frames, 0, "fixed", 0, "", editor_state(size, size)], (520, 640))
    g.link(model, "model", gen, "model")
    g.link(start, "start_image", gen, "image")
    g.link(start, "caption", gen, "prompt", widget=True)
    g.link(cam, "tracks", gen, "tracks")
    save_nodes(g, (gen, "frames"), (gen, "fps"), 1300, 0, "MotionStream_camera")
    g.save("motionstream_camera_control", "Camera control")


def wan_workflow() -> None:
    g = Graph()
    w, h, frames = 832, 480, 81
    g.node("MarkdownNote", (20, -330), ["### MotionStream 1.3B (Wan 2.1): needs model files\n\n"
           "This workflow runs only once these files are in ComfyUI's `models/` folders:\n\n"
           "| file | folder |\n|---|---|\n"
           "| `motionstream-wan2.1-1.3b.safetensors` (a MotionStream 1.3B checkpoint: DiT + track head) | "
           "`models/motionstream/` |\n"
           "| `umt5_xxl_fp8_e4m3fn_scaled.safetensors` | `models/text_encoders/` |\n"
           "| `wan_2.1_vae.safetensors` (or `taew2_1.pth` in `models/vae_approx/` for speed) | `models/vae/` |\n"
           "| `clip_vision_h.safetensors` | `models/clip_vision/` |\n"
           "| a start image (`example.png`) | `input/` |\n\n"
           "No MotionStream 1.3B checkpoint has been published (the paper released none): train one with "
           "`motionstream train` (GPU scale, see docs). Then draw tracks in the Generate node, queue, and drag "
           "while it streams."], (700, 300))
    model = g.node("MotionStreamModelLoader", (20, 0), ["motionstream-wan2.1-1.3b.safetensors", "auto", "auto",
                                                        "auto", "auto"], (340, 180))
    clip = g.node("CLIPLoader", (20, 220), ["umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan", "default"], (340, 110))
    text = g.node("CLIPTextEncode", (380, 220), ["a corgi running on a beach, cinematic, high detail"], (400, 160))
    g.link(clip, "CLIP", text, "clip")
    vae = g.node("VAELoader", (20, 380), ["wan_2.1_vae.safetensors"], (340, 60))
    dec = g.node("MotionStreamDecoderLoader", (380, 420), ["ComfyUI VAE (connect 'vae')", "exact"], (400, 100))
    g.link(vae, "VAE", dec, "vae")
    img = g.node("LoadImage", (20, 480), ["example.png", "image"], (340, 320))
    scale = g.node("ImageScale", (380, 560), ["lanczos", w, h, "center"], (300, 130))
    g.link(img, "IMAGE", scale, "image")
    cv = g.node("CLIPVisionLoader", (20, 840), ["clip_vision_h.safetensors"], (340, 60))
    cve = g.node("CLIPVisionEncode", (380, 740), ["none"], (300, 80))
    g.link(cv, "CLIP_VISION", cve, "clip_vision")
    g.link(scale, "IMAGE", cve, "image")
    gen = g.node("MotionStreamGenerate", (820, 0), [frames, 0, "fixed", 0, "", editor_state(w, h, duration=frames)],
                 (640, 700))
    g.link(model, "model", gen, "model")
    g.link(scale, "IMAGE", gen, "image")
    g.link(dec, "decoder", gen, "decoder")
    g.link(text, "CONDITIONING", gen, "positive")
    g.link(cve, "CLIP_VISION_OUTPUT", gen, "clip_vision_output")
    save_nodes(g, (gen, "frames"), (gen, "fps"), 1500, 0, "MotionStream_wan")
    g.save("motionstream_wan2.1_1.3b", "Wan 2.1 1.3B with the stock text encoder and VAE", NEEDS_MODELS)


def self_forcing_workflow() -> None:
    g = Graph()
    w, h, frames = 832, 480, 0
    g.node("MarkdownNote", (20, -430), ["### Live stream with Self-Forcing: needs model files\n\n"
           "A public causal Wan 2.1 student streams into the Generate node, chunk by chunk, for as long as you let "
           "it (frames 0: until Stop). It is text-to-video: it takes **no drags**. Connect a start image to "
           "Generate to continue your picture (the image prefills the cache).\n\n"
           "| file | folder |\n|---|---|\n"
           "| `self_forcing_dmd.pt` (huggingface.co/gdhe17/Self-Forcing, `checkpoints/`) | "
           "`models/diffusion_models/` |\n"
           "| `umt5_xxl_fp8_e4m3fn_scaled.safetensors` (Comfy-Org/Wan_2.1_ComfyUI_repackaged) | "
           "`models/text_encoders/` |\n"
           "| `taew2_1.safetensors` (madebyollin/taehv) | `models/vae_approx/` |\n\n"
           "Other families (Causal Forcing, Rolling Forcing, Infinite-Forcing, LongLive + its `lora.pt` in "
           "`models/loras/`, CausVid): pick the file and its preset in the loader. Full-quality frames: "
           "`wan_2.1_vae.safetensors` in `models/vae/` through Load VAE -> Load MotionStream Decoder. "
           "See docs/CAUSAL_MODELS.md."], (760, 360))
    model = g.node("MotionStreamCausalModelLoader", (20, 0),
                   ["self_forcing_dmd.pt", "self-forcing", "none", w, h, "auto", "auto", "auto", 0, 0, -1], (360, 330))
    clip = g.node("CLIPLoader", (20, 370), ["umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan", "default"], (360, 110))
    text = g.node("CLIPTextEncode", (400, 370), ["a red fox trotting through a snowy forest at sunrise, cinematic, "
                                                 "high detail"], (400, 160))
    g.link(clip, "CLIP", text, "clip")
    dec = g.node("MotionStreamDecoderLoader", (400, 0), ["taew2_1.safetensors", "exact"], (360, 100))
    gen = g.node("MotionStreamGenerate", (820, 0), [frames, 0, "fixed", 0, "", editor_state(w, h, duration=81)],
                 (640, 700))
    g.link(model, "model", gen, "model")
    g.link(dec, "decoder", gen, "decoder")
    g.link(text, "CONDITIONING", gen, "positive")
    save_nodes(g, (gen, "frames"), (gen, "fps"), 1500, 0, "MotionStream_self_forcing")
    g.save("motionstream_live_self_forcing", "Live stream with Self-Forcing", NEEDS_MODELS)


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    demo_workflow()
    transfer_workflow()
    camera_workflow()
    wan_workflow()
    self_forcing_workflow()
    print("wrote", ", ".join(sorted(str(p.relative_to(OUT)) for p in OUT.rglob("*.json"))))

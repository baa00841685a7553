"""`motionstream` command line: demo, generate, bench, tracks (+ the commands of installed extensions).

    motionstream demo --out out/                      # the embedded demo model, no downloads
    motionstream generate --checkpoint m.safetensors --image start.png --tracks t.json \\
        --text-embedding prompt.safetensors --out video.mp4
    motionstream bench --config tiny --chunks 120     # one JSON line of figures
    motionstream tracks --from-video ref.mp4 --out tracks.json --grid 32   # motion transfer's tracks

Public causal Wan students (Self-Forcing family; text-to-video, no tracks) stream with the same commands:

    motionstream generate --checkpoint self_forcing_dmd.pt --text-embedding ctx.safetensors \
        --decoder taew2_1.safetensors --frames 81 --out v.mp4 [--image start.png]
    motionstream bench --checkpoint self_forcing_dmd.pt --decoder taew2_1.safetensors --chunks 200

The parser is the only place command-line arguments exist: each command turns them into the typed
options of ``generate`` / ``bench`` (never passing the namespace on). More commands come from the
entry-point group ``motionstream.commands`` (``motionstream train`` and ``motionstream eval`` are
registered by ``motionstream_core.train``), so the runtime never imports the training code.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

import torch

from .attention import BACKENDS
from .bench import DECODERS, BenchOptions, run_bench
from .generate import DemoOptions, GenerateOptions, run_demo, run_generate
from .causal_checkpoints import PRESETS, StreamOverrides
from .pipeline import DRAG_MODES, DTYPES, OFFLOAD, WEIGHT_DTYPES, CausalSource, DecoderSource, ModelSource, Runtime, source_for

COMMAND_GROUP = "motionstream.commands"  # entry points: callables taking the subparsers object


def _add_runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=DTYPES, default=None, help="default: bf16 on CUDA (fp16 where the GPU lacks "
                                                                 "bf16), fp32 on CPU")
    p.add_argument("--attention", default="auto", choices=BACKENDS)
    p.add_argument("--weight-dtype", choices=WEIGHT_DTYPES, default="default",
                   help="default: the file's own precision (fp8 files stay fp8); fp8_e4m3fn / fp8_e5m2: the "
                        "transformer blocks' weights quantized at load (half the bytes of bf16)")
    p.add_argument("--offload", choices=OFFLOAD, default="none",
                   help="blocks: keep the transformer blocks in host memory and copy each to the device as it runs "
                        "(for models larger than the GPU)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps per chunk (default: the model's own, stored with it: 2 for the "
                   "built-in demo model, 3 for the Wan configs)")
    p.add_argument("--seed", type=int, default=0)


def _runtime(args: argparse.Namespace) -> Runtime:
    return Runtime.resolve(args.device, args.dtype, args.attention, getattr(args, "weight_dtype", "default"),
                           getattr(args, "offload", "none"))


def _add_causal_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("causal Wan students (Self-Forcing family)",
                             "files that are not MotionStream checkpoints load as text-to-video causal students")
    g.add_argument("--preset", choices=list(PRESETS), default=None,
                   help="the family's sampling settings (default: from the file name, else self-forcing)")
    g.add_argument("--lora", default=None, help="LongLive's lora.pt, merged at load")
    g.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default: its rank, scale 1)")
    g.add_argument("--chunk-frames", type=int, default=None, help="latent frames per chunk (default: the preset's)")
    g.add_argument("--sink-chunks", type=int, default=None)
    g.add_argument("--window-chunks", type=int, default=None)
    g.add_argument("--step-list", default=None, help="timesteps, comma-separated, e.g. 1000,750,500,250")
    g.add_argument("--no-warp-steps", action="store_true", help="use --step-list as it is (not warped by shift)")
    g.add_argument("--shift", type=float, default=None)


def _overrides(args: argparse.Namespace) -> StreamOverrides:
    try:
        steps = () if args.step_list is None else tuple(float(t) for t in args.step_list.split(","))
    except ValueError:
        raise ValueError(f"--step-list must be comma-separated numbers, got {args.step_list!r}") from None
    return StreamOverrides(args.chunk_frames, args.sink_chunks, args.window_chunks, steps,
                           False if args.no_warp_steps else None, args.shift)


def _causal(args: argparse.Namespace, path: str) -> CausalSource | None:
    """The causal settings given on the command line, or None when none is (then the file decides)."""
    overrides = _overrides(args)
    if args.preset is None and args.lora is None and overrides == StreamOverrides():
        return None
    return CausalSource(path, args.preset, args.lora, args.lora_alpha, overrides)


def _size(args: argparse.Namespace) -> tuple[int, int] | None:
    if (args.width is None) != (args.height is None):
        raise ValueError("give both --width and --height (or neither)")
    return None if args.width is None else (args.width, args.height)


def _demo(args: argparse.Namespace) -> dict[str, Path]:
    return run_demo(DemoOptions(out=Path(args.out), runtime=_runtime(args), frames=args.frames, steps=args.steps,
                                seed=args.seed))


def _generate(args: argparse.Namespace) -> dict[str, Path]:
    if args.checkpoint == "demo":
        model = ModelSource()
    else:
        model = source_for(args.checkpoint, _causal(args, args.checkpoint))
    runtime = _runtime(args)
    if args.decoder and args.vae:
        raise ValueError("give --decoder or --vae, not both")
    decoder = DecoderSource(args.decoder) if args.decoder else DecoderSource()
    if args.vae:
        decoder = DecoderSource(backend=_full_vae(args.vae, runtime), name=Path(args.vae).name)
    opt = lambda v: None if v is None else Path(v)  # noqa: E731
    if args.image is None and isinstance(model, ModelSource):
        raise ValueError("--image is required for a MotionStream model (only text-to-video causal students "
                         "stream without a start image)")
    return run_generate(GenerateOptions(
        model=model, decoder=decoder, runtime=runtime, image=opt(args.image), out=Path(args.out),
        tracks=opt(args.tracks), prompt=args.prompt, text_embedding=opt(args.text_embedding), frames=args.frames,
        overlay=opt(args.overlay), steps=args.steps, seed=args.seed, size=_size(args), drag_mode=args.drag_mode,
        t_weak=args.t_weak, t_strong=args.t_strong))


def _full_vae(path: str, runtime: Runtime):
    """A factory of the full Wan VAE's streaming backend (diffusers), loaded once on first use."""
    from .wan_vae import DiffusersWanBackend, load_wan_vae

    if not Path(path).exists():
        raise FileNotFoundError(f"Wan VAE not found: {path}")
    vae = []

    def backend():
        if not vae:
            vae.append(load_wan_vae(path, device=runtime.device))
        return DiffusersWanBackend(vae[0])

    return backend


def _bench(args: argparse.Namespace) -> dict:
    model = None if args.checkpoint is None else source_for(args.checkpoint, _causal(args, args.checkpoint))
    return run_bench(BenchOptions(runtime=_runtime(args), config=args.config, chunks=args.chunks, height=args.height,
                                  width=args.width, tracks=args.tracks, warmup_chunks=args.warmup_chunks,
                                  decoder=args.decoder, steps=args.steps, seed=args.seed, model=model,
                                  preset=args.preset, overrides=_overrides(args)))


def _tracks(args: argparse.Namespace) -> dict[str, str]:
    from .motion.transfer import transfer_tracks
    from .track_formats import save

    found = transfer_tracks(args.from_video, grid_spacing=args.grid, width=args.width, height=args.height,
                            fps=args.fps, max_frames=args.max_frames, max_fb_error=args.max_fb_error)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save(found.tracks, args.out)
    return {"tracks": args.out, "found": found.summary()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motionstream", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the embedded demo model on its sample image and drag tracks")
    demo.add_argument("--out", default="out", help="output folder (video.mp4 and tracks_overlay.mp4)")
    demo.add_argument("--frames", type=int, default=None, help="frames to generate (default: the tracks' length)")
    _add_runtime_args(demo)
    demo.set_defaults(func=_demo)

    gen = sub.add_parser("generate", help="write a video from a checkpoint, an image, tracks and a text embedding")
    gen.add_argument("--checkpoint", required=True, help="a MotionStream .safetensors, 'demo', or a causal Wan "
                                                         "student (.pt / .safetensors, e.g. self_forcing_dmd.pt)")
    gen.add_argument("--image", default=None, help="the start image (required, except for causal students: "
                                                   "without it they stream from the prompt alone)")
    gen.add_argument("--width", type=int, default=None, help="output width (default: the model's, 832 for Wan)")
    gen.add_argument("--height", type=int, default=None, help="output height (default: the model's, 480 for Wan)")
    gen.add_argument("--tracks", default=None, help="tracks file (our JSON, KJNodes coord_str, ATI JSON, .npy/.pt)")
    text = gen.add_mutually_exclusive_group()
    text.add_argument("--text-embedding", default=None,
                      help="a .safetensors/.pt holding 'context' [1, L, text_dim] (and optional 'clip')")
    text.add_argument("--prompt", default=None, help="a prompt, for models with a built-in text encoder (the demo)")
    gen.add_argument("--decoder", default=None, help="tiny decoder weights (taew2_1 .pth/.safetensors); "
                                                     "default: the model's own (the demo's autoencoder)")
    gen.add_argument("--vae", default=None, help="decode with the full Wan 2.1 VAE instead (a single file or a "
                                                 "diffusers folder; needs diffusers): e.g. the one `motionstream train "
                                                 "prepare` encoded your videos with")
    gen.add_argument("--frames", type=int, default=None)
    gen.add_argument("--out", required=True, help="output video (.mp4, .webm or .gif)")
    gen.add_argument("--overlay", default=None, help="also write the video with the tracks drawn over it")
    gen.add_argument("--drag-mode", choices=DRAG_MODES, default=None,
                     help="how drags move the video: 'model' (the track head; the default for checkpoints with one) "
                          "or 'warp' (training-free dual clock on the start image: regions cut and dragged; the "
                          "default, and the only mode, for causal students without a track head)")
    gen.add_argument("--t-weak", type=float, default=None, help="warp mode: the noise level in [0, 1] the chunk "
                     "starts from (the rest of the frame is free from it; default: from the model's schedule)")
    gen.add_argument("--t-strong", type=float, default=None, help="warp mode: the dragged regions are held to "
                     "their reference down to this noise level (<= --t-weak; default: from the model's schedule)")
    _add_runtime_args(gen)
    _add_causal_args(gen)
    gen.set_defaults(func=_generate)

    bench = sub.add_parser("bench", help="stream random-weight chunks and print one JSON line of figures")
    bench.add_argument("--config", default="tiny", help="tiny | demo | wan2.1-1.3b (random weights; with --preset: "
                                                        "that DiT as a causal text-to-video student)")
    bench.add_argument("--checkpoint", default=None, help="a real model file instead of random weights (a "
                                                          "MotionStream checkpoint or a causal Wan student)")
    bench.add_argument("--chunks", type=int, default=120)
    bench.add_argument("--height", type=int, default=None)
    bench.add_argument("--width", type=int, default=None)
    bench.add_argument("--tracks", type=int, default=16, help="number of random drag tracks")
    bench.add_argument("--warmup-chunks", type=int, default=3, help="chunks of a discarded warm-up session")
    bench.add_argument("--decoder", default="tiny",
                       help=f"{' | '.join(DECODERS)} (random: the config's tiny VAE; the taew2_1 architecture), or a "
                            "decoder file (taew2_1.safetensors)")
    _add_runtime_args(bench)
    _add_causal_args(bench)
    bench.set_defaults(func=_bench)

    tracks = sub.add_parser("tracks", help="point tracks of a reference video (motion transfer) as our tracks JSON")
    tracks.add_argument("--from-video", required=True, help="the reference video (any file PyAV reads)")
    tracks.add_argument("--out", required=True, help="the tracks JSON to write (with visibility)")
    tracks.add_argument("--grid", type=float, default=32, help="pixels between tracked points, in the output size")
    tracks.add_argument("--width", type=int, default=None, help="output width (default: the video's)")
    tracks.add_argument("--height", type=int, default=None, help="output height (default: the video's)")
    tracks.add_argument("--fps", type=float, default=None, help="output frame rate (default: the video's)")
    tracks.add_argument("--max-frames", type=int, default=None, help="read at most this many frames")
    tracks.add_argument("--max-fb-error", type=float, default=1.0,
                        help="forward-backward error (video pixels) above which LK's step is not trusted")
    tracks.set_defaults(func=_tracks)

    for ep in entry_points(group=COMMAND_GROUP):  # e.g. `train` and `eval` from motionstream_core.train
        try:
            register = ep.load()
        except ImportError as e:  # an extension left out of this install: the runtime commands still work
            _unavailable(sub, ep.name, e)
        else:
            register(sub)
    return parser


def _unavailable(sub, name: str, error: ImportError) -> None:
    """A stand-in for an extension's command that could not be imported: says why when it is used."""
    def fail(args: argparse.Namespace) -> int:
        raise ValueError(f"this install cannot run `motionstream {name}` ({error}); install the extra, e.g. "
                         f"pip install 'comfyui-motionstream[{name}]'")

    p = sub.add_parser(name, help=f"unavailable in this install ({error})", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=fail)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError) as e:  # bad input, a missing file or stage: one clear line, no traceback
        print(f"motionstream {args.command}: error: {e}", file=sys.stderr)
        return 2
    if isinstance(result, int):  # an extension's command returns its exit status
        return result
    if args.command == "bench":
        print(json.dumps(result), flush=True)
        return 0
    for label, path in result.items():
        print(f"{label}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

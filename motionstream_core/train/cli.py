"""`motionstream train <stage>` and `motionstream eval`: the demo model's recipe from the command line.

    motionstream train autoencoder --out runs/demo --minutes 10
    motionstream train decoder     --out runs/demo --minutes 30   # optional: a wider decoder, encoder frozen
    motionstream train teacher     --out runs/demo --minutes 35   # builds the latent cache first
    motionstream train ode         --out runs/demo --minutes 15   # teacher trajectories first (cached)
    motionstream train dmd         --out runs/demo --minutes 20
    motionstream train export      --out runs/demo                # -> motionstream_core/demo/weights/
    motionstream eval              --out runs/demo --clips 16

Real videos (docs/TRAINING.md): ``prepare`` makes shards, then ``teacher``, ``ode``, ``dmd`` with ``--data``:

    motionstream train prepare --videos videos/ --data data/ --vae wan_vae.safetensors --text-encoder umt5/
    torchrun --nproc_per_node 8 -m motionstream_core.train.cli teacher --out runs/wan --config wan2.1-1.3b \
        --data data/ --set init=Wan2.1-Fun-1.3B-Control.safetensors --precision bf16 --checkpointing
    motionstream train embed-text --out runs/wan --data data/ --prompt "..." --dest prompt.safetensors

Every stage resumes from ``<out>/<stage>/ckpt.pt``, stops at ``--steps`` (a total across resumes) or
after ``--minutes`` of this run, prints progress and appends its losses to ``<out>/<stage>/log.jsonl``.
The same command runs in one process or under ``torchrun`` (FSDP2; ``--batch`` is the global batch).
Without this package's CLI registration the same works as ``python -m motionstream_core.train.cli``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import sys

from .stages import STAGES, get_stage

def _run_stage(args) -> int:
    from .common import DEFAULT_OUT, set_threads

    set_threads(args.threads)
    out = args.out or DEFAULT_OUT
    if args.stage == "export":
        from .export import export_demo

        for label, path in export_demo(out, source=args.source, dest=args.dest, assets=args.assets).items():
            print(f"{label}: {path}")
        return 0
    if args.stage == "embed-text":
        from .prepare import embed_text

        if not (args.data and args.prompt is not None and args.dest):
            raise SystemExit("motionstream train embed-text: needs --data, --prompt and --dest (the file to write)")
        print(embed_text(args.data, args.prompt, args.dest, out=args.out, text_encoder=args.text_encoder,
                         device=args.device))
        return 0
    if args.stage == "prepare":
        from .prepare import PrepareOptions, prepare

        needed = ("videos", "data", "vae", "text_encoder")
        missing = [f"--{n.replace('_', '-')}" for n in needed if not getattr(args, n)]
        if missing:
            raise SystemExit(f"motionstream train prepare: needs {', '.join(missing)}")
        popts = PrepareOptions(videos=args.videos, data=args.data, vae=args.vae, text_encoder=args.text_encoder,
                               config=args.config or PrepareOptions.config)
        _apply_options(popts, args)
        manifest = prepare(popts)
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun: once, not once per rank
            print(manifest)
        from .distributed import shutdown

        shutdown()
        return 0
    spec = get_stage(args.stage)
    opts = spec.options(args.preset)
    _apply_options(opts, args)
    spec.function()(out, opts, config_name=args.config)
    from .distributed import shutdown

    shutdown()  # under torchrun: every rank done before the group goes
    return 0


def _apply_options(opts, args) -> None:
    """The command line's options (``--steps`` etc. and every ``--set KEY=VALUE``) onto ``opts``, typed by
    the option's declared type."""
    fields = {f.name: f for f in dataclasses.fields(opts)}
    for name in ("steps", "minutes", "batch", "lr", "device", "seed", "save_every_s", "log_every", "precision",
                 "checkpointing", "data"):
        value = getattr(args, name, None)
        if value is not None and name in fields:
            setattr(opts, name, value)
    for item in args.set or []:
        key, _, raw = item.partition("=")
        key = key.replace("-", "_")
        if key not in fields:
            raise SystemExit(f"motionstream train {args.stage}: unknown option {key!r} for --set "
                             f"(known: {', '.join(sorted(fields))})")
        kind = str(fields[key].type)
        if raw.lower() == "none" and "None" in kind:
            value = None
        elif kind.startswith("bool"):
            value = raw.lower() in ("1", "true", "yes")
        elif kind.startswith("int"):
            value = int(raw)
        elif kind.startswith("float"):
            value = float(raw)
        else:
            value = raw
        setattr(opts, key, value)


def _run_eval(args) -> int:
    from .common import DEFAULT_OUT, set_threads
    from .evaluate import EvalOptions, run_eval

    set_threads(args.threads)
    opts = EvalOptions(clips=args.clips, frames=args.frames, tracks=args.tracks, teacher_steps=args.teacher_steps,
                       seed=args.seed, device=args.device, student=args.student, teacher=not args.no_teacher,
                       drag_points=args.drag_points, pins=args.pins, motion_guidance=args.motion_guidance,
                       start_sigma=args.start_sigma)
    if args.objects:
        from .object_eval import run_object_eval

        run_object_eval(args.out or DEFAULT_OUT, opts, args.objects, scenes=args.scenes, json_path=args.json,
                        sheets=args.sheets, hide_from=args.hide_from, drag_mode=args.drag_mode)
    elif args.photos:
        from .photo_eval import run_photo_eval

        run_photo_eval(args.out or DEFAULT_OUT, opts, args.photos, json_path=args.json, sheets=args.sheets)
    else:
        run_eval(args.out or DEFAULT_OUT, opts, json_path=args.json)
    return 0


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train the stages (prepare, autoencoder, decoder, teacher, ode, dmd, "
                                            "export, embed-text)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=tuple(STAGES) + ("prepare", "export", "embed-text"))
    _add_stage_arguments(p)
    p.set_defaults(func=_run_stage)
    return p


def _add_stage_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``motionstream train <stage>`` (also of the standalone ``python -m ...train.cli``)."""
    p.add_argument("--out", default=None, help="run directory (default runs/demo)")
    p.add_argument("--config", default=None, help="model config for a new run: demo-small (default), demo or tiny")
    p.add_argument("--preset", default="demo", choices=["demo", "refine", "learn", "tiny"],
                   help="stage hyper-parameters: demo (students from noise), refine (the shipped demo model's recipe: "
                        "autoencoder, teacher, ode, dmd), learn (the learned-motion models' teacher, ode, dmd; "
                        "recipes/learned_ladder.sh), tiny (tests)")
    p.add_argument("--steps", type=int, default=None, help="total steps (across resumes)")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget of this run")
    p.add_argument("--batch", type=int, default=None, help="global batch (all torchrun processes together)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="default: this rank's GPU when there is one, else cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--log-every", dest="log_every", type=int, default=None)
    p.add_argument("--save-every", dest="save_every_s", type=float, default=None, help="seconds between checkpoints")
    p.add_argument("--precision", default=None, choices=["fp32", "bf16"],
                   help="bf16: bf16 compute with fp32 master weights (FSDP2's mixed precision under torchrun)")
    p.add_argument("--checkpointing", action="store_const", const=True, default=None,
                   help="activation checkpointing (recompute block activations in the backward pass)")
    p.add_argument("--data", default=None, help="prepared clips folder (prepare writes it; teacher/ode/dmd read it)")
    p.add_argument("--videos", default=None, help="prepare: a folder of videos, a list file or a JSONL")
    p.add_argument("--vae", default=None, help="prepare: the Wan VAE (single file or diffusers folder)")
    p.add_argument("--text-encoder", dest="text_encoder", default=None,
                   help="prepare: a transformers folder with the umT5 tokenizer and encoder")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other stage option (repeatable)")
    p.add_argument("--source", default=None, help="export: the stage whose student to ship (default: dmd, else ode)")
    p.add_argument("--dest", default=None, help="export: folder (default motionstream_core/demo/weights); "
                                                "embed-text: the file to write")
    p.add_argument("--prompt", default=None, help="embed-text: the prompt to encode with the umT5 that prepared "
                                                  "--data (or --text-encoder), for `motionstream generate "
                                                  "--text-embedding`")
    p.add_argument("--assets", default="photo", choices=("photo", "synthetic", "none"),
                   help="export: the sample inputs written to motionstream_core/demo/assets, or DEST/assets with "
                        "--dest (default: a real photo never trained on, with a drag and pins)")


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="track-following error (EPE) of student, teacher and no-motion baseline "
                                           "on held-out synthetic clips, and the student's frames/s")
    p.add_argument("--out", default=None, help="run directory with the teacher (default runs/demo)")
    p.add_argument("--student", default=None,
                   help="student checkpoint (default: the shipped demo model; 'ode' or 'dmd' for the run's stages; "
                        "'none': the run's teacher alone)")
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--frames", type=int, default=33)
    p.add_argument("--tracks", type=int, default=16, help="requested tracks per clip")
    p.add_argument("--teacher-steps", dest="teacher_steps", type=int, default=24)
    p.add_argument("--no-teacher", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--photos", default=None, metavar="builtin|FOLDER",
                   help="real-photo mode: drag requests on held-out photos ('builtin': photos from sources the "
                        "training never reads; or a folder of images): drag EPE vs a still video, pin drift, identity")
    p.add_argument("--objects", nargs="?", const="builtin", default=None, metavar="builtin|FOLDER",
                   help="object mode: one drag point at the centre of a shape cut from one held-out photo and pasted "
                        "over another (the truth known), pins away from it: the whole object's position vs a still "
                        "video, identity, the uncovered background vs a still video, pin drift (default: builtin)")
    p.add_argument("--scenes", type=int, default=12, help="object mode: composite scenes to score")
    p.add_argument("--drag-mode", dest="drag_mode", choices=("model", "warp"), default="model",
                   help="object mode: 'warp' also scores the models in the warp drag mode with a region drag (the "
                        "drag point carries the object's outline at its start: rows shipped_warp / student_warp) and "
                        "the cut-and-drag reference alone (row region_reference)")
    p.add_argument("--hide-from", dest="hide_from", type=float, default=None, metavar="FRACTION",
                   help="object mode: the drag point hides from this fraction of the clip on; also scores whether the "
                        "object jumps back to its start (0: stays where the drag left it, 1: back at the start)")
    p.add_argument("--drag-points", dest="drag_points", type=int, default=5,
                   help="real-photo mode: points on the dragged object (a user places a few)")
    p.add_argument("--pins", type=int, default=6, help="real-photo mode: static pins on the background")
    p.add_argument("--motion-guidance", dest="motion_guidance", type=float, default=None,
                   help="the teacher's motion guidance (default: its config's; 0 for warp-reference models, whose "
                        "motion-free branch keeps the warped image)")
    p.add_argument("--start-sigma", dest="start_sigma", type=float, default=None,
                   help="< 1: the teacher refines its image slot noised to this sigma instead of sampling from noise "
                        "(models whose reference is a whole video: the still one or the warp); default: its stream's start_sigma "
                        "(1 unless it is a refiner)")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    p.add_argument("--sheets", default=None, metavar="FOLDER",
                   help="real-photo and object modes: also write one PNG per photo or scene (a row per video, every 4th frame, the "
                        "request drawn: drags red, pins green) to look at")
    p.set_defaults(func=_run_eval)
    return p


def register_commands(subparsers) -> None:
    """`motionstream train` and `motionstream eval` (the entry point ``motionstream.commands: train``)."""
    add_train_parser(subparsers)
    add_eval_parser(subparsers)


def main(argv: list[str] | None = None) -> int:
    """The standalone form (``python -m motionstream_core.train.cli``, and so ``torchrun ... -m``). A user's mistake
    (a bad option, a missing file, a batch that does not split over the processes) is one line on stderr, written
    once -- by rank 0 under torchrun, every rank exiting with status 2 -- as ``motionstream train`` writes it."""
    parser = argparse.ArgumentParser(prog="python -m motionstream_core.train.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    # standalone: `python -m motionstream_core.train.cli teacher ...` == `motionstream train teacher ...`
    for stage in tuple(STAGES) + ("prepare", "export", "embed-text"):
        sp = sub.add_parser(stage)
        _add_stage_arguments(sp)
        sp.set_defaults(func=_run_stage, stage=stage)
    add_eval_parser(sub)
    rank = int(os.environ.get("RANK", "0"))
    with contextlib.redirect_stderr(io.StringIO()) if rank else contextlib.nullcontext():
        args = parser.parse_args(argv)  # argparse's usage errors: rank 0's only
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, SystemExit) as e:
        if isinstance(e, SystemExit) and not isinstance(e.code, str):
            raise
        if rank == 0:
            command = "eval" if args.command == "eval" else "train"
            print(e.code if isinstance(e, SystemExit) else f"motionstream {command}: error: {e}", file=sys.stderr)
        _end_process_group()
        return 2


def _end_process_group() -> None:
    """After an error: leave torchrun's process group without waiting for the other ranks (they may never come)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())

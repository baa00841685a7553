"""recipes/: the shell recipes name stages, presets and options that exist (a renamed preset or option fails here,
not an hour into a GPU lease). The whole learned-model recipe ran end to end on 1 CPU thread with minutes of 0.1-0.5
(docs/DEMO_MODEL.md); each stage is tested on tiny configs in test_train_stages.py."""

import re
import shlex
import subprocess
from pathlib import Path

from motionstream_core.train.cli import add_train_parser
from motionstream_core.train.stages import get_stage

ROOT = Path(__file__).resolve().parents[1]
LADDER = ROOT / "recipes" / "learned_ladder.sh"


def _commands(text: str) -> list[list[str]]:
    """Every ``$M ...`` line (continuations joined), its shell variables replaced by a placeholder value."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [ln.split("$M ", 1)[1] for ln in joined.splitlines() if "$M " in ln and not ln.lstrip().startswith("#")]
    words = []
    for ln in lines:
        ln = re.sub(r"\$\{[A-Z_]+:-\}|\$T\b", "", ln)  # optional option lists: empty by default
        ln = re.sub(r"\$[A-Z_]+_MIN\b", "1", ln)  # the minutes
        ln = re.sub(r"\$[A-Z_]+", "X", ln)
        words.append(shlex.split(ln))
    return words


def test_the_ladder_is_valid_shell():
    subprocess.run(["bash", "-n", str(LADDER)], check=True)


def test_every_stage_and_eval_of_the_ladder_parses_with_presets_that_exist():
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_train_parser(sub)
    from motionstream_core.train.cli import add_eval_parser

    add_eval_parser(sub)
    commands = _commands(LADDER.read_text())
    stages = [c[0] for c in commands if c[0] != "eval"]
    assert stages == ["autoencoder", "teacher", "ode", "dmd"], stages
    assert sum(c[0] == "eval" for c in commands) == 4
    for c in commands:
        args = parser.parse_args(["eval", *c[1:]] if c[0] == "eval" else ["train", *c])
        if c[0] != "eval":
            get_stage(c[0]).options(args.preset)  # raises for a preset the stage lacks
            assert args.preset == ("refine" if c[0] == "autoencoder" else "learn"), c

"""A training stage stopped by SIGTERM or Ctrl-C keeps its steps: the step in flight finishes, the stage checkpoints
and exits cleanly, and the same command resumes from there (``loop.StopSignals``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from motionstream_core.train.loop import StopSignals


def _stage(out: Path, *extra: str) -> list[str]:
    """The first stage (it needs nothing before it) on the tiny config."""
    return [sys.executable, "-m", "motionstream_core.cli", "train", "autoencoder", "--out", str(out), "--config", "tiny",
            "--preset", "tiny", "--threads", "1", "--set", "log_every=1", *extra]


def _logged_steps(log: Path) -> list[int]:
    if not log.is_file():
        return []
    return [json.loads(line)["step"] for line in log.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_the_steps_done_and_the_command_resumes(tmp_path, signum):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # periodic checkpoints off: only the signal's checkpoint can hold the steps
    proc = subprocess.Popen(_stage(out, "--set", "steps=100000", "--set", "save_every_s=1e9"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = out / "autoencoder" / "log.jsonl"
    deadline = time.monotonic() + 240
    while len(_logged_steps(log)) < 3:
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "the tiny stage logged no steps in 240 s"
        time.sleep(0.2)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    ckpt = torch.load(out / "autoencoder" / "ckpt.pt", weights_only=True)
    done = _logged_steps(log)[-1]
    assert ckpt["step"] == done >= 3
    assert f"stopped on a signal at step {done}, checkpointed: the same command resumes" in output
    assert (out / "autoencoder" / "autoencoder.safetensors").is_file()

    resumed = subprocess.run(_stage(out, "--set", f"steps={done + 2}"), env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _logged_steps(log)[-3:] == [done, done + 1, done + 2]


def test_a_second_signal_stops_at_once_and_the_handlers_are_restored():
    before = {s: signal.getsignal(s) for s in StopSignals.SIGNALS}
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.received
        with pytest.raises(KeyboardInterrupt, match="signal SIGTERM again: stopped without a checkpoint"):
            os.kill(os.getpid(), signal.SIGTERM)
    assert {s: signal.getsignal(s) for s in StopSignals.SIGNALS} == before

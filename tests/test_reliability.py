"""Crash safety and exact resume: interrupted runs continue bit for bit, kills never leave an
unloadable checkpoint, signals save and exit with 128 + signum, NaN stops the run cleanly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import assert_same_training_state, fit, tiny
from typer.testing import CliRunner

from textwgan.checkpoint import load_checkpoint
from textwgan.cli import app
from textwgan.config import get_preset
from textwgan.corpus import Corpus
from textwgan.errors import Diverged

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes

ROOT = Path(__file__).resolve().parent.parent


def test_nan_loss_stops_with_last_good_checkpoint(small_corpus, tmp_path, monkeypatch):
    import textwgan.steps as steps

    real_step = steps.generator_step
    calls = {"n": 0}

    def poisoned(*args):
        calls["n"] += 1
        loss = real_step(*args)
        return loss * float("nan") if calls["n"] >= 4 else loss  # from step 4 on

    monkeypatch.setattr(steps, "generator_step", poisoned)
    with pytest.raises(Diverged, match="NaN or Inf"):
        fit(Corpus(small_corpus), tiny(20).with_overrides(log_every=5), tmp_path / "r")
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert ckpt["step"] == 2  # saved before the poison; the bad steps were never saved
    assert all(torch.isfinite(v).all() for v in ckpt["generator"].values())


def _start_training(run: Path, corpus: Path, save_every: int = 1000) -> subprocess.Popen:
    # The default thread count, as in this process: float sums depend on it.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "textwgan", "train", str(corpus), "--preset", "tiny",
         "--iters", "100000", "--eval-every", "100000", "--save-every", str(save_every),
         "--device", "cpu", "--seed", "2", "--out", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _wait_for_steps(run: Path, proc: subprocess.Popen, n_records: int, timeout: float = 120):
    deadline = time.monotonic() + timeout
    log = run / "log.jsonl"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if log.exists() and log.read_text().count('"kind": "train"') >= n_records:
            return
        time.sleep(0.05)
    raise AssertionError("training made no progress")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_and_resumes_exactly(small_corpus, tmp_path, sig):
    run = tmp_path / "run"
    proc = _start_training(run, small_corpus)
    _wait_for_steps(run, proc, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "resume with: textwgan train --resume" in err
    assert "Traceback" not in err
    stopped = load_checkpoint(run / "checkpoint.pt")
    n = stopped["step"]
    assert n >= 10  # at least the two logged steps' worth

    # Resuming to n + 3 gives exactly what n + 3 uninterrupted steps give.
    r = CliRunner().invoke(app, ["train", "--resume", str(run), "--iters", str(n + 3)])
    assert r.exit_code == 0, r.output
    config = get_preset("tiny").with_overrides(iters=n + 3, seed=2, eval_every=100000,
                                               save_every=1000)
    fit(Corpus(small_corpus), config, tmp_path / "straight")
    assert_same_training_state(load_checkpoint(run / "checkpoint.pt"),
                               load_checkpoint(tmp_path / "straight" / "checkpoint.pt"))


def test_kill_9_never_leaves_an_unloadable_checkpoint(small_corpus, tmp_path):
    run = tmp_path / "run"
    rnd = random.Random(0)
    last_step = 0
    for _ in range(3):
        proc = _start_training(run, small_corpus, save_every=1)  # saving all the time
        _wait_for_steps(run, proc, 1)
        time.sleep(rnd.uniform(0.0, 0.5))
        proc.kill()
        proc.communicate()
        ckpt = load_checkpoint(run / "checkpoint.pt")  # always whole
        assert ckpt["step"] >= last_step  # each restart resumed, nothing older came back
        last_step = ckpt["step"]
    assert last_step > 0


def test_stale_temporary_files_are_cleared_on_resume(small_corpus, tmp_path):
    corpus = Corpus(small_corpus)
    fit(corpus, tiny(2), tmp_path / "r")
    (tmp_path / "r" / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    fit(corpus, tiny(4), tmp_path / "r")
    assert not list((tmp_path / "r").glob(".*.tmp"))



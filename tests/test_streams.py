"""Standard output and error that go away or fill up: `train | head` never costs the steps
since the last save, and a failed write names the stream, in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="pipes and /dev/full")]

CMD = [sys.executable, "-m", "textwgan"]


@pytest.mark.parametrize("closed", ["stdout", "both"])
def test_training_goes_on_when_its_reader_goes_away(closed, tmp_path):
    """`textwgan train … | head -3` (and `2>&1 | head -3`): the reader leaves after three
    lines, and the run still trains to its last step and saves it."""
    run = tmp_path / "run"
    read, write = os.pipe()
    stderr = write if closed == "both" else subprocess.DEVNULL
    proc = subprocess.Popen([*CMD, "train", "--preset", "tiny", "--iters", "40", "--threads",
                             "1", "--out", str(run)], stdout=write, stderr=stderr,
                            env={**os.environ, "TEXTWGAN_PROGRESS_EVERY": "0"})
    os.close(write)
    with os.fdopen(read) as reader:
        for _ in range(3 if closed == "both" else 1):
            reader.readline()
    assert proc.wait(timeout=300) in (0, 141)
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 40


def test_a_full_standard_output_is_named(tmp_path):
    for args in (["sample", "-n", "3"], ["models"], ["interpolate", "--steps", "3"]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([*CMD, *args], stdout=full, stderr=subprocess.PIPE, text=True,
                               timeout=120)
        assert r.returncode == 1, (args, r.stderr)
        errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
        assert errors == ["error: standard output: could not write (No space left on device); "
                          "nothing more was written"], (args, r.stderr)

"""Importing textwgan changes nothing in the process: no typer class patched for other apps,
no umask set (even for an instant), no RNG touched, and no torch for a scoring-only eval."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import os, sys
calls = []
real = os.umask
os.umask = lambda mask: (calls.append(mask), real(mask))[1]
import typer.core
before = {k: v for k, v in vars(typer.core.TyperArgument).items()}
import torch
state = torch.get_rng_state()
import textwgan, textwgan.cli, textwgan.fileio, textwgan.training, textwgan.sample
after = {k: v for k, v in vars(typer.core.TyperArgument).items()}
assert after == before, "typer patched"
assert not calls, f"umask set at import: {calls}"
assert torch.equal(torch.get_rng_state(), state), "RNG moved"
print("ok")
"""


@pytest.mark.slow
def test_importing_textwgan_changes_nothing_in_the_process():
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


@pytest.mark.slow
def test_a_scoring_only_eval_never_imports_torch(tmp_path):
    probe = ("import sys\nfrom textwgan.cli import main\nsys.argv = ['textwgan', 'eval', "
             f"{str(tmp_path / 's.txt')!r}, '--corpus', 'coco', '--n', '5']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')")
    (tmp_path / "s.txt").write_text("a man riding a horse\n" * 5)
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "NO TORCH", r.stdout + r.stderr

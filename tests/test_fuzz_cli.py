"""Random values and types for every option of every command (hypothesis): never a traceback,
always exit 0 or 2, and never a file written outside the command's --out.

Values are drawn from boundary and malformed numbers, random text, and each option's valid
choices, so validation is exercised without running heavy valid configurations (a valid
--channels is 3, not 8192).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import BUNDLED, COCO_TEST, runner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textwgan.cli import app

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes

NUMBERS = ["-1", "0", "1", "2", "3", "0.5", "1.5", "-0.0", "1e-300", "1e309", "nan", "inf",
           "-inf", str(2**63), str(-2**63 - 1), "9" * 30, "0x10", " 7", "٣", "", "abc", "1,2"]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
               max_size=8)


def value(*valid: str):
    return st.one_of(st.sampled_from(NUMBERS), TEXT, *([st.sampled_from(valid)] if valid else []))


# option → values (None: a flag, present or absent)
OPTIONS: dict[str, dict[str, object]] = {
    "sample": {"-n": value("3"), "--seed": value("0", "7"), "--temperature": value("0", "0.7"),
               "--device": value("cpu", "cuda", "cuda:9"), "--threads": value("1", "2")},
    "baseline": {"--order": value("1", "3"), "-n": value("3"), "--temperature": value("1.0"),
                 "--seed": value("0")},
    "prepare": {"--seq-len": value("4", "8", "32"), "--heldout-fraction": value("0.2"),
                "--lowercase": None, "--max-chars": value("3", "40"), "--seed": value("1"),
                "--workers": value("0", "1")},
    "train": {"--iters": value("0", "1", "2"), "--time-limit": value("1s", "2m", "1h30m"),
              "--batch-size": value("4", "8"), "--critic-iters": value("1"),
              "--gp-lambda": value("10"), "--lr": value("1e-4"), "--critic-lr": value("3e-4"),
              "--betas": value("0.5,0.9", "0,0.99"), "--channels": value("4"),
              "--blocks": value("0", "1"), "--critic-channels": value("4"),
              "--critic-blocks": value("0"), "--residual-scale": value("0.3"),
              "--critic-norm": value("layer", "none", "batch"),
              "--lipschitz": value("gp", "clip", "gp-finite-difference", "none"),
              "--clip-value": value("0.01"), "--loss": value("gan", "wgan"),
              "--optimizer": value("adam", "rmsprop", "auto"),
              "--device": value("cpu", "cuda"), "--threads": value("1"),
              "--seed": value("0", "5"), "--data": value("device", "mapped", "auto"),
              "--diag-every": value("0", "1"), "--eval-every": value("1", "2"),
              "--save-every": value("1"), "--keep-last": value("0", "1"), "--fast": None,
              "--no-fast": None, "--cuda-graphs": None, "--seq-len": value("32"),
              "--lowercase": None},
    "eval": {"--n": value("5", "20"), "--seed": value("0"), "--orders": value("1,2", "4"),
             "--protocol": value("heldout", "paper"), "--lm-order": value("1", "3"),
             "--temperature": value("0", "1.0"), "--gan-bpc": value("2"),
             "--threads": value("1"), "--json": None},
    "bench": {"--n": value("5"), "--seed": value("0"), "--orders": value("1,2"),
              "--protocol": value("heldout", "paper"), "--lm-order": value("2"),
              "--temperatures": value("0.7,1.3", "1"), "--baseline": value("kn2", "kn0"),
              "--wide": None, "--json": None, "--markdown": None},
    "export": {"--best": None},
    "plot": {},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory, small_corpus):
    """A tiny run, a samples file and a source text the commands can point at."""
    d = tmp_path_factory.mktemp("fuzz")
    r = runner.invoke(app, ["train", str(small_corpus), "--preset", "tiny", "--iters", "2",
                            "--eval-every", "2", "--out", str(d / "run")])
    assert r.exit_code == 0, r.output
    lines = COCO_TEST.read_text(encoding="utf-8").splitlines()
    (d / "samples.txt").write_text("\n".join(lines[:30]) + "\n", encoding="utf-8")
    (d / "source.txt").write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
    return {"run": d / "run", "samples": d / "samples.txt", "source": d / "source.txt",
            "corpus": small_corpus}


def positional(command: str, w: dict, out: Path) -> list[str]:
    """The arguments a command needs to get as far as its options: inputs, and --out."""
    return {
        "sample": ["--checkpoint", str(w["run"]), "--out", str(out)],
        "baseline": [str(BUNDLED), "--out", str(out)],
        "prepare": [str(w["source"]), "--out", str(out)],
        "train": [str(w["corpus"]), "--preset", "tiny", "--eval-every", "1000", "--out",
                  str(out)],
        "eval": [str(w["samples"]), "--corpus", str(w["corpus"])],
        "bench": [str(w["samples"]), str(w["run"]), "--corpus", str(w["corpus"])],
        "export": [str(w["run"]), "--out", str(out)],
        "plot": [str(w["run"])],
    }[command]


def files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if not p.is_symlink() and p.is_file()}


@st.composite
def invocations(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    opts = OPTIONS[command]
    chosen = draw(st.lists(st.sampled_from(sorted(opts)), unique=True, max_size=5)) if opts \
        else []
    args = []
    for name in chosen:
        args.append(name)
        if opts[name] is not None:
            args.append(draw(opts[name]))
    return command, args


# What may already stand at --out: nothing, or something the user made that no command may
# replace or follow into a loop.
SHAPES = ("new", "user file", "folder", "symlink loop", "dangling symlink", "fifo",
          "symlink to user file")


def make_shape(out: Path, shape: str) -> None:
    if shape == "user file":
        out.write_text("the user's own text\n", encoding="utf-8")
    elif shape == "folder":
        out.mkdir()
        (out / "notes.txt").write_text("keep me\n", encoding="utf-8")
    elif shape == "symlink loop":
        out.symlink_to(out.name)
    elif shape == "dangling symlink":
        out.symlink_to(out.parent / "nowhere")
    elif shape == "fifo":
        os.mkfifo(out)
    elif shape == "symlink to user file":
        (out.parent / "theirs.txt").write_text("the user's own text\n", encoding="utf-8")
        out.symlink_to(out.parent / "theirs.txt")


def entries(folder: Path) -> dict[str, object]:
    """Every entry, links as links (a loop cannot be followed), files by size and time."""
    found = {}
    for p in folder.rglob("*"):
        if p.is_symlink():
            found[str(p.relative_to(folder))] = ("link", os.readlink(p))
        elif p.is_file():
            found[str(p.relative_to(folder))] = (p.stat().st_size, p.stat().st_mtime_ns)
    return found


@given(invocations(), st.sampled_from(SHAPES))
@settings(max_examples=int(os.environ.get("TEXTWGAN_FUZZ_EXAMPLES", "120")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_option_values_give_exit_0_or_2_and_no_stray_files(world, monkeypatch, invocation,
                                                               shape):
    command, args = invocation
    cwd = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        monkeypatch.chdir(cwd)
        suffix = {"export": "g.pt", "sample": "s.txt", "baseline": "s.txt"}.get(command, "out")
        out = cwd / suffix
        make_shape(out, shape)
        users = entries(cwd) if shape != "new" else {}
        watched = [cwd, world["run"]]
        before = [files(f) for f in watched]
        r = runner.invoke(app, [command, *positional(command, world, out), *args])
        assert r.exit_code in (0, 2), (command, args, r.output)
        assert "Traceback" not in r.output, (command, args, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit), (
            command, args, repr(r.exception))
        after = [files(f) for f in watched]
        changed = [f"{f}/{k}" for f, b, a in zip(watched, before, after, strict=True)
                   for k in set(a) | set(b) if a.get(k) != b.get(k)]
        stray = [c for c in changed if not c.startswith(f"{cwd}/{suffix}")]
        assert not stray, (command, args, stray)
        if users:  # what the user had at --out is still there, unchanged
            now = entries(cwd)
            assert {k: now.get(k) for k in users} == users, (command, args, shape, r.output)
    finally:
        shutil.rmtree(cwd, ignore_errors=True)

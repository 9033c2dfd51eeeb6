"""Shared fixtures and helpers: real corpora paths, small prepared corpora, and running the
command line (invoke, one-line errors, snapshots of a folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from textwgan.assets import bundled_corpus_path
from textwgan.cli import app
from textwgan.device import tf32, tf32_flags

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpora"
COCO_TRAIN = ROOT / "corpora" / "coco-text" / "train.txt"
COCO_TEST = ROOT / "corpora" / "coco-text" / "test.txt"
BUNDLED = bundled_corpus_path()


def shared(rel: str) -> Path:
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/corpora is beside the repo in CI)")
    return path


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path):
    # Tests never write into the user's cache, and never reach a hub.
    monkeypatch.setenv("TEXTWGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    threads, precision = torch.get_num_threads(), tf32_flags()
    with tf32():  # the flags come back whatever the test does
        yield
        precision_after = tf32_flags()
    # On a CPU the thread count changes float sums: a command that leaves it changed makes
    # every later exact-resume comparison in this process fail. TF32 left on (or off) by a
    # library call changes a caller's later fp32 work on a GPU in the same way.
    leaked = torch.get_num_threads()
    torch.set_num_threads(threads)
    assert leaked == threads, f"the test left torch at {leaked} threads (was {threads})"
    assert precision_after == precision, "the test's calls left the TF32 flags changed"


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """The first 2,000 COCO captions, 500 held out: a corpus folder tests can train on."""
    from textwgan.preparation import prepare

    d = tmp_path_factory.mktemp("small_corpus")
    lines = COCO_TRAIN.read_text(encoding="utf-8").splitlines()
    (d / "train.txt").write_text("\n".join(lines[:2000]) + "\n", encoding="utf-8")
    (d / "held.txt").write_text("\n".join(lines[2000:2500]) + "\n", encoding="utf-8")
    prepare([str(d / "train.txt")], d / "corpus", heldout_file=str(d / "held.txt"))
    return d / "corpus"


def held_out(corpus) -> np.ndarray:
    """Every held-out row of a corpus, its test split then its validation split."""
    parts = [np.asarray(corpus.heldout)]
    if corpus.validation is not None:
        parts.append(np.asarray(corpus.validation))
    return np.concatenate(parts)


def sorted_rows(rows) -> list:
    return sorted(map(tuple, rows.tolist()))


def fit(corpus, config, out, **kw):
    """textwgan.train with the settings of `config` (those that differ from its preset's)."""
    from textwgan.config import get_preset
    from textwgan.training import train

    d, base = config.to_dict(), get_preset(config.preset).to_dict()
    overrides = {k: v for part in ("model", "train") for k, v in d[part].items()
                 if (v != base[part][k] or k == "lipschitz") and k != "seq_len"}
    return train(corpus, preset=config.preset, out=out, **{"device": "cpu", **kw}, **overrides)


def tiny(iters: int, **kw):
    """The tiny preset, evaluating every 4 steps and saving every 2."""
    from textwgan.config import get_preset

    return get_preset("tiny").with_overrides(iters=iters, eval_every=4, save_every=2, **kw)


def assert_same_training_state(a: dict, b: dict) -> None:
    """Two checkpoints hold the same training: weights, optimizer state, step, RNG."""
    assert a["step"] == b["step"]
    for part in ("generator", "critic"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    for part in ("opt_generator", "opt_critic"):
        for i, st in a[part]["state"].items():
            for k, v in st.items():
                assert torch.equal(v, b[part]["state"][i][k]), (part, i, k)
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])



# --------------------------------------------------------------------------------------------
# Running the command line in tests


runner = CliRunner()


def invoke(*args, **kwargs):
    """The command line, in this process (typer's CliRunner: exceptions land in r.exception,
    never on the output); `kwargs` as CliRunner.invoke takes them (input, env)."""
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes (the locks aside)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def assert_one_line_error(r, code: int = 2, *fragments: str) -> None:
    """One `error:` line, the exit code, and no exception other than the exit itself."""
    assert r.exit_code == code, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    errors = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, r.output
    for fragment in fragments:
        assert fragment in r.output, (fragment, r.output)


def wait_for(path: Path, proc, text: str, timeout: float = 120) -> None:
    """Until `text` appears in the file at `path`, while the process `proc` runs."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")

"""Messages that said the wrong thing, or took more than one line, from the second adversarial
sweep: each case is the real command, with its exit code and its single `error:` line."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import BUNDLED, COCO_TEST, assert_one_line_error, invoke

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("msg")
    r = invoke("train", "--preset", "tiny", "--iters", "10", "--eval-every", "5", "--diag-every",
               "5", "--out", d / "runs" / "first")
    assert r.exit_code == 0, r.output
    return d / "runs" / "first"


@pytest.mark.parametrize(("args", "says"), [
    (("sample", "--nope"), "No such option: --nope"),
    (("nosuch",), "No such command"),
    (("eval",), "Missing argument"),
    (("sample", "-n", "abc"), "Invalid value for '-n'"),
])
def test_usage_errors_are_one_line(args, says):
    r = invoke(*args)
    assert_one_line_error(r, 2, says, "--help")
    assert "Usage:" not in r.output


def test_a_path_holding_a_newline_stays_on_one_line(tmp_path):
    odd = tmp_path / "two\nlines"
    assert_one_line_error(invoke("sample", "--checkpoint", odd), 2, "two\\nlines")


def test_a_file_name_that_is_not_utf8_is_one_line(tmp_path):
    import os

    name = os.fsdecode(b"\xff-notes.txt")
    (tmp_path / name).write_text("", encoding="utf-8")
    r = invoke("prepare", tmp_path / name, "--out", tmp_path / "c")
    assert_one_line_error(r, 2, "\\xff-notes.txt")


def test_a_folder_given_as_a_checkpoint_is_named_for_what_it_is(run, tmp_path):
    assert_one_line_error(invoke("sample", "--checkpoint", BUNDLED), 2,
                          "is a corpus folder, not a run")
    assert_one_line_error(invoke("sample", "--checkpoint", run.parent), 2,
                          "holds runs, not a checkpoint of its own (first)")
    early = tmp_path / "early"
    early.mkdir()
    shutil.copy(run / "config.json", early / "config.json")
    assert_one_line_error(invoke("sample", "--checkpoint", early), 2,
                          "the run has no checkpoint yet")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(invoke("sample", "--checkpoint", empty), 2, "not a run folder")
    assert "yet" not in invoke("sample", "--checkpoint", empty).output


def test_the_critic_distance_of_one_sample_is_one_line(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text(COCO_TEST.read_text(encoding="utf-8").splitlines()[0] + "\n",
                   encoding="utf-8")
    assert_one_line_error(invoke("eval", one, "--corpus", BUNDLED, "--critic"), 2,
                          "needs at least 4 samples")


@pytest.mark.parametrize("field", ["layer_grad_norms", "weights", "slope_mean"])
def test_plot_names_the_missing_diagnostics(run, tmp_path, field):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    records = [json.loads(x) for x in (copy / "log.jsonl").read_text().splitlines()]
    for r in records:
        if r["kind"] == "diag":
            r.pop(field)
    (copy / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    r = invoke("plot", copy, "--out", tmp_path / "p.png")
    assert_one_line_error(r, 2, "a diag record without")
    assert field in r.output


def test_an_unreadable_corpus_meta_is_not_called_invalid_json(tmp_path):
    shutil.copytree(BUNDLED, tmp_path / "c")
    (tmp_path / "c" / "meta.json").unlink()
    (tmp_path / "c" / "meta.json").mkdir()  # unreadable as a file, even for root
    r = invoke("eval", COCO_TEST, "--corpus", tmp_path / "c")
    assert_one_line_error(r, 2, "meta.json: is not a regular file")
    assert "JSON" not in r.output


def test_an_unreachable_hub_is_one_line_at_once(tmp_path, monkeypatch):
    import time

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    t0 = time.monotonic()
    r = invoke("prepare", "hf:textwgan-tests/no-such-dataset", "--out", tmp_path / "c")
    assert_one_line_error(r, 2, "hf:textwgan-tests/no-such-dataset")
    assert "cannot reach the Hugging Face Hub" in r.output or "no such dataset" in r.output
    assert "Retrying" not in r.output and time.monotonic() - t0 < 20


@pytest.mark.slow
def test_a_run_that_has_not_saved_yet_is_said_to_be_training(tmp_path, small_corpus):
    """Sampling or exporting a run in its first steps, before its first save: it has lost
    nothing, and resuming would collide with the training."""
    import subprocess
    import sys

    from conftest import ROOT, wait_for

    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "textwgan", "train", str(small_corpus), "--preset", "tiny",
         "--iters", "100000", "--eval-every", "2", "--save-every", "100000",
         "--threads", "1", "--out", str(run)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_for(run / "log.jsonl", proc, '"kind": "train"')
        wait_for(run / "log.jsonl", proc, '"step": 4')  # past an evaluation: best.pt exists
        for args in (("sample", "-n", "2", "--checkpoint", run),
                     ("export", run, "--out", tmp_path / "m")):
            r = invoke(*args)
            assert_one_line_error(r, 2, "the run is training and has not saved yet",
                                  "the first save comes at step 100,000")
            assert "lost" not in r.output and "resume" not in r.output
    finally:
        proc.terminate()
        proc.wait(timeout=120)

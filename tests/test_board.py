"""TensorBoard events of a run, read back with tensorboard's own reader: every logged figure,
samples and critic diagnostics, and each step once after an interruption and a resume."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, invoke

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


def events(run):
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0,
                                                                   "histograms": 0})
    acc.Reload()
    return acc


ARGS = ("--preset", "tiny", "--eval-every", "4", "--save-every", "4",
        "--diag-every", "2", "--tensorboard")


def test_events_hold_every_logged_figure(tmp_path):
    r = invoke("train", *ARGS, "--iters", "8", "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    acc = events(tmp_path / "run")
    tags = acc.Tags()
    for tag in ("train/w_estimate", "train/penalty", "train/critic_loss",
                "train/generator_loss", "train/it_s", "eval/js4", "floor/js4", "eval/distinct",
                "diag/slope_mean"):
        assert tag in tags["scalars"], (tag, tags["scalars"])
    assert any(t.startswith("grad_norm/") for t in tags["scalars"])
    assert "critic/weights" in tags["histograms"]
    assert any(t.startswith("samples") for t in tags["tensors"])
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    js4 = [(x["step"], x["js4"]) for x in log if x["kind"] == "eval"]
    assert [(e.step, pytest.approx(e.value)) for e in acc.Scalars("eval/js4")] == js4


def test_a_resumed_run_holds_each_step_once(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", *ARGS, "--iters", "8", "--out", run).exit_code == 0
    # As if killed after step 8's events but before its last save: back to the step-4 save.
    (run / "checkpoint.pt").unlink()
    (run / "step_0000008.pt").unlink()
    r = invoke("train", *ARGS, "--iters", "12", "--out", run)
    assert r.exit_code == 0 and "resuming from step_0000004.pt" in r.output, r.output
    acc = events(run)
    for tag in ("train/w_estimate", "eval/js4"):
        steps = [e.step for e in acc.Scalars(tag)]
        assert steps == sorted(set(steps)), (tag, steps)  # each step once, in order
    assert [e.step for e in acc.Scalars("eval/js4")] == [0, 4, 8, 12]


def test_without_the_package_one_line_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    r = invoke("train", *ARGS, "--iters", "2", "--out", tmp_path / "run")
    assert_one_line_error(r, 2, "pip install 'textwgan[tensorboard]'")
    assert not (tmp_path / "run").exists()


def test_an_events_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert invoke("train", *ARGS, "--iters", "4", "--out", run).exit_code == 0
    import shutil

    shutil.rmtree(run / "tensorboard")
    (run / "tensorboard").write_text("not a folder")
    r = invoke("train", "--resume", run, "--iters", "8", "--tensorboard")
    assert_one_line_error(r, 2, "tensorboard: exists and is not a folder")
    (run / "tensorboard").unlink()

    def refuse(*args, **kwargs):  # what a read-only folder does (root ignores permissions)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.TemporaryFile", refuse)
    r = invoke("train", "--resume", run, "--iters", "8", "--tensorboard")
    assert_one_line_error(r, 2, "cannot write TensorBoard events here (Permission denied)")
    assert "Traceback" not in r.output and "b'" not in r.output


def test_a_resumed_run_goes_on_writing_events_without_being_told(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", *ARGS, "--iters", "4", "--out", run).exit_code == 0
    r = invoke("train", "--resume", run, "--iters", "8")  # no --tensorboard this time
    assert r.exit_code == 0 and "writing TensorBoard events, as this run did" in r.output
    assert [e.step for e in events(run).Scalars("eval/js4")] == [0, 4, 8]
    r = invoke("train", "--resume", run, "--iters", "12", "--no-tensorboard")
    assert r.exit_code == 0 and "TensorBoard" not in r.output
    assert [e.step for e in events(run).Scalars("eval/js4")] == [0, 4, 8]

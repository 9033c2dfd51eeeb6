"""What the commands print, read as a user reads it: help screens, tables in narrow terminals,
output to files and pipes, progress, and hints."""

from __future__ import annotations

import io
import json
import re

import pytest
from conftest import BUNDLED, COCO_TEST, invoke
from rich.console import Console

from textwgan import cli
from textwgan.cli import app

COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands]



@pytest.mark.parametrize("width", ["60", "100", "200"])
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_reads_cleanly(command, width):
    r = invoke(*([command] if command else []), "--help", env={"COLUMNS": width})
    assert r.exit_code == 0, r.output
    text = r.output
    # No Python internals: type names in angle brackets, argument names in braces.
    assert not re.search(r"<(bool|int|str|float|path|list\[.*?\]|Path)>", text), text
    assert not re.search(r"\{[a-z_]+\}", text), text
    if command:
        assert "Example: textwgan" in text.replace("\n", " ")
    if command == "plot":
        assert "textwgan[plot]" in text.replace(" ", "").replace("\n", "").replace("│", "")
    if command == "train" and width == "200":
        for option in ("--batch-size", "--seed", "--threads", "--time-limit"):
            line = next(x for x in text.splitlines() if option + " " in x)
            assert len(line.split(option, 1)[1].strip(" │")) > 10, line  # it has help text


@pytest.mark.parametrize("width", [80, 100])
def test_bench_table_fits_a_narrow_terminal(tmp_path, monkeypatch, width):
    lines = COCO_TEST.read_text(encoding="utf-8").splitlines()
    for name, chunk in (("a-long-name-for-the-first-samples-file.txt", lines[:100]),
                        ("b.txt", lines[100:200])):
        (tmp_path / name).write_text("\n".join(chunk) + "\n", encoding="utf-8")
    buf = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=buf, width=width, emoji=False,
                                            highlight=False, markup=False))
    r = invoke("bench", *sorted(tmp_path.glob("*.txt")), "--corpus", BUNDLED)
    assert r.exit_code == 0, r.output
    table = buf.getvalue()
    assert "…" not in table and "0.…" not in table
    # (the signature is one unwrapped line, so that it can be copied whole)
    assert all(len(x) <= width for x in table.splitlines() if "textwgan-eval|" not in x)
    assert re.search(r"real text\s.*0\.\d{4}", table)  # whole figures, e.g. JS-4 0.3116


def test_output_to_a_file_is_unwrapped_with_progress_lines(small_corpus, tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "run-with-a-long-name"
    r = invoke("train", small_corpus, "--preset", "tiny", "--iters", "10", "--out", deep,
               env={"TEXTWGAN_PROGRESS_EVERY": "0"})
    assert r.exit_code == 0, r.output
    # The command to copy is one whole line, however long the path.
    assert f"sample with: textwgan sample -n 100 --checkpoint {deep}" in r.output.splitlines()
    progress = [x for x in r.output.splitlines() if re.match(r"step \d+/10 ", x)]
    assert progress and "it/s" in progress[0] and "left" in progress[0]


def test_training_time_adds_up_across_resumes(small_corpus, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", small_corpus, "--preset", "tiny", "--iters", "4", "--eval-every",
                  "2", "--out", run).exit_code == 0
    assert invoke("train", "--resume", run, "--iters", "8").exit_code == 0
    records = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    times = [r["time"] for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [0, 2, 4, 6, 8]
    assert times == sorted(times) and times[-1] > times[2]  # no restart at 0 on resume


def test_a_collapsed_generator_gets_a_hint(small_corpus, tmp_path, monkeypatch):
    import textwgan.training as tr

    real = tr.evaluate_js

    def collapsed(*args, **kw):
        report, texts = real(*args, **kw)
        return report | {"distinct": 1 / len(texts)}, ["tttttttttt"] * len(texts)

    monkeypatch.setattr(tr, "evaluate_js", collapsed)
    r = invoke("train", small_corpus, "--preset", "tiny", "--iters", "10", "--out",
               tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert "nearly all alike" in r.output and "collapsed" in r.output


def test_every_command_errors_without_error_markup(tmp_path):
    r = invoke("eval", tmp_path / "[red]x[/].txt", "--corpus", BUNDLED)
    assert r.exit_code == 2 and "[red]x[/].txt" in r.output


@pytest.mark.parametrize("command", COMMANDS)
def test_help_examples_paste_into_a_shell(command):
    import shlex

    text = invoke(command, "--help", env={"COLUMNS": "200"}).output
    examples = [x.split("Example:", 1)[1] for x in text.splitlines() if "Example:" in x]
    assert examples
    for example in examples:
        assert "<" not in example and ">" not in example, example  # bash reads them as redirects
        assert shlex.split(example)[0] == "textwgan"


def test_the_command_list_is_not_cut_short():
    text = invoke("--help", env={"COLUMNS": "80"}).output
    listed = [x for x in text.splitlines() if x.strip().split(" ")[0] in COMMANDS]
    assert len(listed) == len(COMMANDS) and not any(x.rstrip().endswith("...") for x in listed)


def test_eval_help_says_a_corpus_or_a_reference_is_needed():
    text = " ".join(invoke("eval", "--help", env={"COLUMNS": "200"}).output.split())
    assert "One of --corpus and --reference is needed for samples" in text


def test_time_left_counts_the_time_limit():
    import time

    display = cli.TrainDisplay()
    display.iters, display.deadline = 100_000, time.monotonic() + 240
    assert 230 < display.seconds_left({"step": 10, "it_s": 1.0}) <= 240  # not 27 hours
    display.deadline = None
    assert display.seconds_left({"step": 99_990, "it_s": 1.0}) == 10


def test_bench_plot_names_runs_by_their_folder():
    from textwgan.plot import source_label

    assert source_label("runs/kjv/checkpoint.pt") == "kjv"
    assert source_label("runs/kjv/best.pt") == "kjv/best.pt"
    assert source_label("samples.txt") == "samples.txt"


def test_eval_and_bench_offer_the_same_scoring_options():
    import inspect

    def options(fn):
        return {name: p.default for name, p in inspect.signature(fn).parameters.items()
                if name in {q.name for q in cli.SCORING_OPTIONS}}

    shared = {p.name: p.default for p in cli.SCORING_OPTIONS}
    assert options(cli.eval_) == shared == options(cli.bench)
    for command in ("eval", "bench"):
        text = invoke(command, "--help").output
        for flag in ("--corpus", "--reference", "--train", "--orders", "--protocol",
                     "--lm-order", "--critic", "--threads", "--json"):
            assert flag in text, (command, flag)


def test_every_command_is_documented_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert len(COMMANDS) >= 10
    missing = [c for c in COMMANDS if f"textwgan {c} " not in readme]
    assert not missing, missing

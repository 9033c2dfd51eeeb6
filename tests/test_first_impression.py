"""What a new user meets first: prompts that say how many met and what to try, capitals
against a lowercase charset, a lowercased corpus's prompts lowercased, the default generator
found where the README trains, and corpus hints that name the user's own file."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import COCO_TEST, assert_one_line_error, invoke

import textwgan

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


def test_capitals_against_a_lowercase_charset_say_so():
    r = invoke("sample", "-n", "2", "--prefix", "A man ")
    assert_one_line_error(r, 2, "no capital letters", "lower case")


def test_a_prompt_search_says_how_many_met_and_what_to_try():
    r = invoke("sample", "-n", "3", "--prefix", "two dogs", "--search-steps", "5")
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if "samples begin with" in x)
    met = int(line.split(" of ")[0])
    assert len(r.stdout.splitlines()) == met
    if met < 3:
        assert "--restarts 8 --search-steps 10" in line
    assert_one_line_error(invoke("sample", "-n", "2", "--restarts", "4"), 2,
                          "--restarts and --search-steps shape the search for --prefix")


def test_a_lowercased_corpus_lowercases_its_prompts(tmp_path):
    lines = COCO_TEST.read_text(encoding="utf-8").splitlines()[:1500]
    (tmp_path / "t.txt").write_text("\n".join(x.capitalize() for x in lines) + "\n", "utf-8")
    run = textwgan.train(str(tmp_path / "t.txt"), lowercase=True, preset="tiny", iters=2,
                         out=tmp_path / "run", device="cpu")
    r = invoke("sample", "-n", "1", "--prefix", "A", "--search-steps", "2", "--checkpoint",
               run)
    assert r.exit_code == 0, r.output
    assert "the prompt is lowercased to 'a', as this generator's training text was" in r.output


def test_sample_with_no_checkpoint_finds_the_newest_run_under_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = textwgan.train(None, preset="tiny", iters=2, out="runs/mine", device="cpu")
    r = invoke("sample", "-n", "2")
    assert r.exit_code == 0 and f"using {run / 'checkpoint.pt'}" in r.output, r.output
    older = textwgan.train(None, preset="tiny", iters=2, out="checkpoints/old", device="cpu")
    os.utime(older / "checkpoint.pt", (1, 1))  # the older of the two
    r = invoke("sample", "-n", "2")
    assert f"using {run / 'checkpoint.pt'}" in r.output, r.output


def test_a_missing_corpus_hint_names_the_users_file(tmp_path):
    lines = COCO_TEST.read_text(encoding="utf-8").splitlines()[:1500]
    (tmp_path / "my_captions.txt").write_text("\n".join(lines) + "\n", "utf-8")
    textwgan.prepare([str(tmp_path / "my_captions.txt")], tmp_path / "corpus", lowercase=True)
    run = textwgan.train(tmp_path / "corpus", preset="tiny", iters=2, out=tmp_path / "run",
                         device="cpu")
    shutil.rmtree(tmp_path / "corpus")
    r = invoke("eval", run, "--n", "16")
    assert_one_line_error(r, 2, "textwgan prepare my_captions.txt --lowercase --out")
    assert "SOURCE" not in r.output


@pytest.mark.parametrize("args, says", [
    (("bench", "coco", "--plot", "x.png"), "leave --plot out"),
])
def test_a_missing_plot_extra_names_the_option(args, says, monkeypatch, tmp_path):
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_one_line_error(invoke(*args), 2, says)


def test_shares_in_messages_never_round_to_all_or_none():
    from textwgan.errors import share
    from textwgan.preparation import preparation_warnings

    assert [share(4987, 5000), share(5000, 5000), share(1, 5000), share(0, 5)] == \
        ["99.7%", "100%", "0.1%", "0%"]
    meta = {"seq_len": 32, "counts": {"kept": 5000, "truncated": 4987, "unk_rate": 0.0,
                                      "charset_size": 40, "distinct_chars": 38}}
    assert preparation_warnings(meta)[0].startswith("99.7% of the lines were cut")

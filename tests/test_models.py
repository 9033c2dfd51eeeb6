"""Shipped generators: `textwgan models` lists them with the figures they were shipped with,
and `sample --model NAME`, `load_generator(NAME)` and `eval NAME` use one by name. Here the
package's generators folder is replaced by one holding a tiny model, so the tests check the
plumbing, not the real models' weights."""

from __future__ import annotations

import json

import pytest
from conftest import fit, invoke

import textwgan
from textwgan.checkpoint import load_checkpoint
from textwgan.config import get_preset
from textwgan.modelfolder import model_card, write_folder

SCORED = {"js4": 0.4321, "floor_js4": 0.2987, "word_validity": 0.615,
          "floor_word_validity": 0.93, "n": 640, "seed": 0, "signature": "sig"}



@pytest.fixture(scope="module")
def shipped_root(small_corpus, tmp_path_factory):
    """A generators folder holding one tiny model, `mini`, with a shipped evaluation."""
    d = tmp_path_factory.mktemp("shipped")
    run = fit(small_corpus, get_preset("tiny").with_overrides(iters=4), d / "run")
    ckpt = load_checkpoint(run / "checkpoint.pt")
    about = {"description": "tiny captions", "evaluation": SCORED}
    write_folder(ckpt, d / "generators" / "mini", critic=True, about=about,
                 card=model_card(ckpt, ["a sample"], "mini", True, about))
    return d / "generators"


@pytest.fixture
def shipped(shipped_root, monkeypatch):
    monkeypatch.setattr("textwgan.assets.shipped_root", lambda: shipped_root)
    return shipped_root / "mini"


def test_models_lists_each_shipped_generator_with_its_figures(shipped):
    r = invoke("models", "--json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["name"] == "mini" and row["critic"] is True and row["step"] == 4
    assert row["js4"] == SCORED["js4"] and row["floor_js4"] == SCORED["floor_js4"]
    text = " ".join(invoke("models").output.split())
    assert "mini tiny captions 4" in text and "0.432 (0.299)" in text and "62% (93%)" in text


def test_sample_by_model_name_matches_the_folder(shipped):
    by_name = invoke("sample", "--model", "mini", "-n", "4", "--seed", "2")
    by_path = invoke("sample", "--checkpoint", shipped, "-n", "4", "--seed", "2")
    assert by_name.exit_code == 0, by_name.output
    assert by_name.stdout == by_path.stdout and len(by_name.stdout.splitlines()) == 4
    assert "shipped with textwgan: mini" in by_name.stderr
    gen = textwgan.load_generator("mini", device="cpu")
    assert gen.shipped == "mini" and gen.sample(4, seed=2) == by_name.stdout.splitlines()


def test_a_local_path_wins_over_a_shipped_name(shipped, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mini").mkdir()  # not a run: the local folder is what the user named
    r = invoke("sample", "--checkpoint", "mini", "-n", "1")
    assert r.exit_code == 2 and "not a run folder" in r.output


@pytest.mark.parametrize("args, message", [
    (("--model", "nope"), "no shipped model named 'nope'; textwgan ships mini"),
    (("--model", "mini", "--checkpoint", "x"), "give --checkpoint or --model, not both"),
])
def test_bad_model_choices_are_one_line(shipped, args, message):
    r = invoke("sample", "-n", "1", *args)
    assert r.exit_code == 2 and message in r.output and len(r.output.splitlines()) == 1


def test_eval_takes_a_shipped_model_by_name(shipped, small_corpus):
    by_name = invoke("eval", "mini", "--corpus", small_corpus, "--n", "32", "--json")
    by_path = invoke("eval", shipped, "--corpus", small_corpus, "--n", "32", "--json")
    assert by_name.exit_code == 0, by_name.output
    a, b = json.loads(by_name.stdout), json.loads(by_path.stdout)
    assert a["js4"] == b["js4"] and a["signature"] == b["signature"]


def test_the_card_shows_the_shipped_evaluation(shipped):
    card = (shipped / "README.md").read_text()
    assert "| JS-4 | 0.432 | 0.299 |" in card and "| real words | 61.5% | 93.0% |" in card
    assert "`sig`" in card

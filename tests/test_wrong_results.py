"""Inputs that used to give a wrong answer without a word, from the second adversarial sweep:
each is now refused in one line, or read the one right way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import BUNDLED, COCO_TEST, COCO_TRAIN, ROOT, assert_one_line_error, invoke, snapshot

import textwgan
from textwgan.errors import InputError

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


def text(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def two_corpora(tmp_path):
    # The same lines in another order: the same character counts, so the same charset, but
    # another corpus.
    lines = COCO_TRAIN.read_text(encoding="utf-8").splitlines()[:1500]
    held = text(tmp_path / "held.txt", COCO_TEST.read_text(encoding="utf-8").splitlines()[:200])
    for name, part in (("a", lines), ("b", lines[::-1])):
        r = invoke("prepare", text(tmp_path / f"{name}.txt", part), "--heldout-file", held,
                   "--out", tmp_path / f"corpus_{name}")
        assert r.exit_code == 0, r.output
    return tmp_path


def test_a_run_resumes_only_on_the_corpus_it_trained_on(two_corpora):
    d = two_corpora
    a = textwgan.Corpus(d / "corpus_a")
    b = textwgan.Corpus(d / "corpus_b")
    assert a.charset.chars == b.charset.chars  # the case that slipped through: same charset
    r = invoke("train", d / "corpus_a", "--preset", "tiny", "--iters", "2", "--out", d / "run")
    assert r.exit_code == 0, r.output
    before = snapshot(d / "run")
    r = invoke("train", "--resume", d / "run", d / "corpus_b", "--iters", "4")
    assert_one_line_error(r, 2, "was trained on another corpus")
    assert snapshot(d / "run") == before


def test_a_run_records_its_corpus_by_absolute_path(two_corpora, monkeypatch):
    monkeypatch.chdir(two_corpora)
    r = invoke("train", "corpus_a", "--preset", "tiny", "--iters", "2", "--out", "run")
    assert r.exit_code == 0, r.output
    from textwgan.checkpoint import load_checkpoint

    ckpt = load_checkpoint(two_corpora / "run" / "checkpoint.pt")
    assert ckpt["corpus"]["path"] == str(two_corpora / "corpus_a")


def test_the_held_out_file_cannot_be_a_training_source(tmp_path):
    src = text(tmp_path / "t.txt", COCO_TEST.read_text(encoding="utf-8").splitlines()[:400])
    shutil.copy(src, tmp_path / "copy.txt")
    for held in (src, tmp_path / "copy.txt"):
        r = invoke("prepare", src, "--heldout-file", held, "--out", tmp_path / "c")
        assert_one_line_error(r, 2, "also a training source")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("spec", ["", "  "])
def test_an_empty_source_name_is_refused(tmp_path, monkeypatch, spec):
    monkeypatch.chdir(tmp_path)
    text(tmp_path / "stray.txt", ["a line"])
    assert_one_line_error(invoke("prepare", spec, "--out", tmp_path / "c"), 2, "empty source")
    with pytest.raises(InputError, match="empty source"):
        textwgan.prepare([spec], tmp_path / "c")


def test_a_dataset_splits_lines_as_a_file_does(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = ["a man\u2028riding a horse", "two dogs\x0cplaying", "a cat\r\non a mat\rhere"]
    datasets.Dataset.from_dict({"text": rows}).save_to_disk(str(tmp_path / "ds"))
    text(tmp_path / "f.txt", rows)
    meta = {}
    for name, spec in (("hf", f"hf:{tmp_path / 'ds'}"), ("file", str(tmp_path / "f.txt"))):
        c = textwgan.prepare([spec], tmp_path / name, heldout_fraction=0.2)
        meta[name] = c.meta["counts"]["kept"]
    assert meta["hf"] == meta["file"] == 5


def test_python_values_are_not_coerced(tmp_path):
    with pytest.raises(InputError, match="lowercase"):
        textwgan.train(str(COCO_TEST), lowercase="no", preset="tiny", iters=1,
                       out=tmp_path / "r")
    with pytest.raises(InputError, match="lowercase"):
        textwgan.prepare([str(COCO_TEST)], tmp_path / "c", lowercase="no")
    with pytest.raises(InputError, match="source must be a path"):
        textwgan.prepare([3], tmp_path / "c")
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


def test_bench_takes_one_input_given_as_a_string(tmp_path):
    samples = text(tmp_path / "s.txt", COCO_TEST.read_text(encoding="utf-8").splitlines()[:40])
    result = textwgan.bench(str(samples), corpus=BUNDLED, n=40)
    assert [r["source"] for r in result["rows"] if r["kind"] == "samples"] == [str(samples)]


def test_a_training_file_with_a_corpus_is_refused(tmp_path):
    samples = text(tmp_path / "s.txt", ["a line"] * 10)
    r = invoke("eval", samples, "--corpus", BUNDLED, "--train", samples)
    assert_one_line_error(r, 2, "--train applies only with --reference")


def test_a_tiny_temperature_samples_like_argmax():
    gen = textwgan.load_generator()
    assert gen.sample(20, seed=3, temperature=1e-40) == gen.sample(20, seed=3)


@pytest.mark.slow
@pytest.mark.parametrize("redirect,code", [(">&-", 2), ("> /dev/full", 1)])
def test_closed_or_full_standard_output_is_one_line(redirect, code):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in ("--version", "--help"):
        r = subprocess.run(f"{sys.executable} -m textwgan {args} {redirect}", shell=True,
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == code and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error:")


@pytest.mark.parametrize("call", [
    lambda tmp: textwgan.load_generator(5),
    lambda tmp: textwgan.evaluate(5, corpus=BUNDLED),
    lambda tmp: textwgan.bench([3], corpus=BUNDLED),
    lambda tmp: textwgan.prepare([str(COCO_TEST)], 5),
    lambda tmp: textwgan.train(5, preset="tiny", iters=1, out=tmp / "r"),
    lambda tmp: textwgan.train(preset="tiny", iters=1, out=3),
    lambda tmp: textwgan.Corpus(None),
])
def test_python_calls_with_a_number_for_a_path_raise_input_error(tmp_path, call):
    with pytest.raises(InputError, match="must be a path"):
        call(tmp_path)
    assert not list(tmp_path.iterdir())

"""Every keyword of the public Python API, given a value of the wrong type, raises InputError
naming what is wrong (or works, where the value happens to be usable): never a raw TypeError,
AttributeError or ValueError from deep inside."""

from __future__ import annotations

import inspect

import pytest

import textwgan
from textwgan.assets import bundled_corpus_path

WRONG = [object(), 1.5j, b"x", [1], {"a": 1}, "32", -1, float("nan"), True]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return textwgan.train(None, out=tmp_path_factory.mktemp("api") / "run", preset="tiny",
                          iters=2, eval_every=2, save_every=2, device="cpu")


def _calls(run, tmp):
    corpus = textwgan.load_corpus(bundled_corpus_path())
    gen = textwgan.load_generator(run)
    text = str(bundled_corpus_path().parent.parent.parent.parent / "corpora" / "coco-text"
               / "test.txt")
    return {
        "prepare": (textwgan.prepare, ([text], tmp / "prep"), {}),
        "load_corpus": (textwgan.load_corpus, (bundled_corpus_path(),), {}),
        "load_generator": (textwgan.load_generator, (run,), {}),
        "evaluate": (textwgan.evaluate, (["a man riding a horse"],), {"corpus": corpus, "n": 1}),
        "bench": (textwgan.bench, ([run],), {"corpus": corpus, "n": 16}),
        "sample_baseline": (textwgan.sample_baseline, (corpus,), {"n": 4}),
        "TextGenerator.sample": (gen.sample, (4,), {}),
        "TextGenerator.complete": (gen.complete, (2,), {"prefix": "a", "steps": 2}),
        "TextGenerator.interpolate": (gen.interpolate, ((1, 2),), {"steps": 3}),
        "train": (textwgan.train, (None,), {"out": tmp / "t", "preset": "tiny", "iters": 1,
                                            "device": "cpu"}),
    }


SLOW = pytest.mark.slow  # each usable wrong value scores or trains in full


@pytest.mark.parametrize("name", [
    "prepare", "load_corpus", "load_generator", "evaluate", pytest.param("bench", marks=SLOW),
    "sample_baseline", "TextGenerator.sample", "TextGenerator.complete",
    "TextGenerator.interpolate", pytest.param("train", marks=SLOW)])
def test_a_wrong_type_anywhere_is_an_input_error(name, run, tmp_path):
    import shutil

    fn, args, kwargs = _calls(run, tmp_path)[name]
    params = list(inspect.signature(fn).parameters.values())
    raw = []
    for index, param in enumerate(params):
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            continue
        for wrong in WRONG:
            a, k = list(args), dict(kwargs)
            if index < len(a):
                a[index] = wrong
            else:
                k[param.name] = wrong
            for leftover in ("prep", "t"):
                shutil.rmtree(tmp_path / leftover, ignore_errors=True)
            try:
                fn(*a, **k)
            except textwgan.TextWGANError:
                continue
            except Exception as e:  # noqa: BLE001 (what this test looks for)
                raw.append(f"{param.name}={wrong!r}: {type(e).__name__}: {e}")
    assert not raw, "\n".join(raw)


def test_a_lone_surrogate_is_scored_as_an_unknown_character():
    corpus = textwgan.load_corpus(bundled_corpus_path())
    lone = textwgan.evaluate(["a man\udc80riding"], corpus=corpus, n=1)
    replaced = textwgan.evaluate(["a man\ufffdriding"], corpus=corpus, n=1)
    assert lone["js4"] == replaced["js4"]


def test_a_seq_len_given_as_text_is_named_as_such(tmp_path):
    with pytest.raises(textwgan.InputError, match="seq_len must be an integer.*got '32'"):
        textwgan.train(None, seq_len="32", out=tmp_path / "r", preset="tiny", iters=1)

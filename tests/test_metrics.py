"""JS-n against a plain, slow implementation; its properties; the floor; scoring files."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest
from conftest import BUNDLED, COCO_TEST, COCO_TRAIN, shared

from textwgan.corpus import Corpus
from textwgan.errors import InputError
from textwgan.evaluation import evaluate
from textwgan.metrics import js_divergences, random_rows
from textwgan.scoring import Reference
from textwgan.text import codepoints


def slow_js(a, b, n: int) -> float:
    """Textbook JS in bits between the n-gram distributions of two sets of sequences."""
    def dist(seqs):
        counts = Counter(tuple(s[i:i + n]) for s in seqs for i in range(len(s) - n + 1))
        total = sum(counts.values())
        return {k: v / total for k, v in counts.items()}

    p, q = dist([list(map(int, s)) for s in a]), dist([list(map(int, s)) for s in b])
    js = 0.0
    for k in set(p) | set(q):
        pk, qk = p.get(k, 0.0), q.get(k, 0.0)
        m = (pk + qk) / 2
        if pk:
            js += 0.5 * pk * math.log2(pk / m)
        if qk:
            js += 0.5 * qk * math.log2(qk / m)
    return js


@pytest.mark.parametrize("seed,vocab,t,na,nb", [(0, 3, 6, 20, 30), (1, 50, 32, 200, 100),
                                                 (2, 2, 4, 5, 5), (3, 1000, 10, 64, 640)])
def test_js_matches_slow_reference_on_random_sequences(seed, vocab, t, na, nb):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, vocab, (na, t))
    b = rng.integers(0, vocab, (nb, t)) if seed % 2 else rng.zipf(1.5, (nb, t)) % vocab
    orders = tuple(range(1, min(t, 6) + 1))
    fast = js_divergences(a, b, orders)
    for n in orders:
        assert fast[n] == pytest.approx(slow_js(a, b, n), abs=1e-9)


def test_js_matches_slow_reference_on_real_text():
    corpus = Corpus(BUNDLED)
    samples = random_rows(corpus.train, 300, seed=4)
    ref = np.asarray(corpus.heldout[:2000])
    fast = js_divergences(samples, ref)
    for n in (1, 2, 3, 4):
        assert fast[n] == pytest.approx(slow_js(samples, ref, n), abs=1e-9)


def test_js_on_1b_word_code_points_with_high_orders():
    lines = shared("billion_word_sample/news.en.heldout-00000-of-00050").read_text(
        encoding="utf-8").splitlines()
    a, b = codepoints(lines[:150], 32), codepoints(lines[150:400], 32)
    # Huge code points and orders up to the full length: keys must not overflow.
    a[0, :5] = [0x10FFFF, 0x10FFFE, 0x1F600, 0x4E2D, 0x00E9]
    orders = (1, 2, 4, 8, 16, 32)
    fast = js_divergences(a, b, orders)
    for n in orders:
        assert fast[n] == pytest.approx(slow_js(a, b, n), abs=1e-9)


def test_js_properties():
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 20, (100, 16)), rng.integers(0, 30, (80, 16))
    assert all(v == 0.0 for v in js_divergences(a, a).values())
    assert js_divergences(a, a[::-1]) == js_divergences(a, a)  # order of sequences is irrelevant
    ab, ba = js_divergences(a, b), js_divergences(b, a)
    assert ab == pytest.approx(ba, abs=1e-12)  # symmetric up to the order of float sums
    assert all(0 < v <= 1 for v in ab.values())
    # Disjoint supports: exactly 1 bit.
    assert js_divergences(np.zeros((3, 8), int), np.ones((5, 8), int)) == {1: 1.0, 2: 1.0,
                                                                          3: 1.0, 4: 1.0}


def test_js_rejects_bad_shapes_and_orders():
    with pytest.raises(ValueError):
        js_divergences(np.zeros((2, 4)), np.zeros((2, 5)))
    with pytest.raises(ValueError):
        js_divergences(np.zeros((2, 4)), np.zeros((2, 4)), orders=(5,))
    with pytest.raises(ValueError):
        js_divergences(np.zeros((0, 4)), np.zeros((2, 4)))


def test_report_floor_is_real_training_sequences_scored_alike():
    corpus = Corpus(BUNDLED)
    samples = random_rows(corpus.train, 640, seed=99)  # other real text than the floor's
    report = Reference(corpus, n=640, seed=5).js_scores(samples, seed=5)
    floor_rows = random_rows(corpus.train, 640, seed=5)
    assert report["floor_js4"] == pytest.approx(js_divergences(floor_rows, corpus.heldout)[4],
                                                abs=1e-12)
    assert report["n"] == 640
    assert "n:640" in report["signature"] and "ref:7952" in report["signature"]
    # Real text sits near its floor; the floor is well below 1.
    assert abs(report["js4"] - report["floor_js4"]) < 0.05 and report["floor_js4"] < 0.5


def test_evaluate_file_with_corpus_and_with_reference(tmp_path):
    lines = COCO_TEST.read_text(encoding="utf-8").splitlines()[:200]
    samples = tmp_path / "s.txt"
    samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = Corpus(BUNDLED)
    by_corpus = evaluate(samples, corpus=BUNDLED, n=None)
    direct = js_divergences(corpus.encode(lines), corpus.heldout)
    assert [by_corpus[f"js{n}"] for n in (1, 2, 3, 4)] == pytest.approx(
        [direct[n] for n in (1, 2, 3, 4)], abs=1e-12)
    assert by_corpus["n"] == 200

    by_ref = evaluate(samples, reference=COCO_TEST, train=COCO_TRAIN, n=50, orders=(1, 3))
    ref_lines = [x.strip() for x in COCO_TEST.read_text(encoding="utf-8").splitlines()]
    expect = js_divergences(codepoints(lines[:50], 32), codepoints(ref_lines, 32), (1, 3))
    assert (by_ref["js1"], by_ref["js3"]) == pytest.approx((expect[1], expect[3]), abs=1e-12)
    assert by_ref["n"] == 50 and "floor_js3" in by_ref and "js4" not in by_ref


def test_evaluate_file_bad_input(tmp_path):
    samples = tmp_path / "s.txt"
    samples.write_text("a dog\n", encoding="utf-8")
    with pytest.raises(InputError, match="exactly one"):
        evaluate(samples)
    with pytest.raises(InputError, match="holds only 1"):
        evaluate(samples, corpus=BUNDLED, n=5)
    with pytest.raises(InputError, match="no such file"):
        evaluate(tmp_path / "missing.txt", corpus=BUNDLED)
    (tmp_path / "e.txt").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        evaluate(tmp_path / "e.txt", corpus=BUNDLED, n=None)


def test_shuffled_characters_score_far_above_the_floor():
    corpus = Corpus(BUNDLED)
    rows = random_rows(corpus.train, 640, seed=1).copy()
    rnd = random.Random(0)
    for row in rows:
        k = int((row != 0).sum())
        chars = list(row[:k])
        rnd.shuffle(chars)
        row[:k] = chars
    report = Reference(corpus, n=640).js_scores(rows)
    assert report["js1"] == pytest.approx(report["floor_js1"], abs=0.01)  # same characters
    assert report["js4"] > report["floor_js4"] + 0.3  # broken words


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cached_reference_js_matches_slow_reference(seed):
    from textwgan.scoring import Reference

    rng = np.random.default_rng(seed)
    reference = rng.integers(97, 103, (300, 12))
    reference[:, 9:] = -1  # pad
    samples = rng.integers(97, 106, (80, 12))  # some characters the reference never has
    samples[rng.random(80) < 0.5, 7:] = -1
    ref = Reference.from_arrays(None, reference, pad=-1)
    from textwgan.scoring import ScoringOptions, versus_reference

    got = versus_reference(samples, ref, ScoringOptions(lm_order=3, device="cpu"))
    for n in (1, 2, 3, 4):
        assert got["js"][n] == pytest.approx(slow_js(samples, reference, n), abs=1e-9)

"""The benchmark metrics against plain, slow implementations; LM normalization; the critic
distance; `eval` and `bench` through the CLI."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import numpy as np
import pytest
from conftest import BUNDLED, COCO_TEST, COCO_TRAIN, runner, shared

from textwgan.cli import app
from textwgan.corpus import Corpus
from textwgan.critic_metric import critic_distance
from textwgan.evaluation import evaluate
from textwgan.lm import KneserNeyLM
from textwgan.metrics import (
    copy_rate,
    distinct_n,
    distinct_rate,
    random_rows,
    word_validity,
    words,
)
from textwgan.text import PAD_CP, codepoints


def text_of(row, pad):
    row = list(map(int, row))
    return row[: row.index(pad)] if pad in row else row


def slow_kn_log2(train, test, pad, vocab, order):
    """Interpolated Kneser-Ney written out with dicts, position by position."""
    bos = vocab

    def events(rows):
        for row in rows:
            toks = text_of(row, pad)
            if len(toks) < len(row):
                toks = toks + [pad]  # the end symbol
            hist = [bos] * (order - 1) + toks
            for i in range(len(toks)):
                yield tuple(hist[i:i + order])

    grams = list(events(train))
    counts = {order: Counter(grams)}
    for k in range(order - 1, 0, -1):
        longer = {g[order - k - 1:] for g in grams}  # distinct (k+1)-grams
        counts[k] = Counter(g[1:] for g in longer)
    disc, denom, types = {}, {}, {}
    for k, c in counts.items():
        n1 = sum(1 for v in c.values() if v == 1)
        n2 = sum(1 for v in c.values() if v == 2)
        disc[k] = n1 / (n1 + 2 * n2) if n1 else 0.5
        denom[k], types[k] = Counter(), Counter()
        for g, v in c.items():
            denom[k][g[:-1]] += v
            types[k][g[:-1]] += 1

    def prob(k, gram):
        if k == 0:
            return 1 / vocab
        lower = prob(k - 1, gram[1:])
        ctx = gram[:-1]
        if denom[k][ctx] == 0:
            return lower
        d = disc[k]
        return (max(counts[k][gram] - d, 0) / denom[k][ctx]
                + d * types[k][ctx] / denom[k][ctx] * lower)

    return np.array([math.log2(prob(order, g)) for g in events(test)])


@pytest.mark.parametrize("seed,vocab,order", [(0, 4, 3), (1, 7, 5), (2, 3, 2), (3, 12, 4)])
def test_kneser_ney_matches_slow_reference(seed, vocab, order):
    rng = np.random.default_rng(seed)

    def rows(n):
        r = rng.integers(1, vocab, (n, 10))
        for row in r:
            row[rng.integers(0, 11):] = 0  # pad 0 ends a row (none: cut at 10)
        return r

    train, test = rows(60), rows(15)
    fast = KneserNeyLM(train, 0, vocab, order).log2_probs(test)
    np.testing.assert_allclose(fast, slow_kn_log2(train, test, 0, vocab, order), rtol=0,
                               atol=1e-9)


def test_kneser_ney_sums_to_one_on_real_text():
    c = Corpus(BUNDLED)
    lm = KneserNeyLM(np.asarray(c.train), 0, len(c.charset), 5)
    rows = np.asarray(c.heldout[:3])
    bos = len(c.charset)

    def history(row, cut):  # the last order - 1 tokens before position `cut`
        return ([bos] * 4 + [int(x) for x in row[:cut]])[-4:]

    for row in rows:
        p = lm.next_probs([history(row, cut) for cut in (0, 1, 4, 9, 20)])  # (5, V)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
        assert (p > 0).all()
    # A sequence's score is the chain of its next-symbol probabilities.
    row = rows[0]
    n = int((row != 0).sum())
    steps = range(min(n + 1, len(row)))
    p = lm.next_probs([history(row, j) for j in steps])
    chain = [math.log2(p[i, row[j]]) for i, j in enumerate(steps)]
    np.testing.assert_allclose(lm.log2_probs(row[None]), chain, atol=1e-12)


def test_row_metrics_match_plain_python():
    rng = np.random.default_rng(4)

    def rows(n):  # symbols 1..3, then pad 0 to the end, as decoded samples are
        r = rng.integers(1, 4, (n, 6))
        for row in r:
            row[rng.integers(2, 7):] = 0
        return r

    train = rows(200)
    samples = np.concatenate([train[:30], rows(50), train[:5]])
    train_set = {tuple(r) for r in train.tolist()}
    assert copy_rate(samples, train) == pytest.approx(
        sum(tuple(r) in train_set for r in samples.tolist()) / len(samples))
    assert distinct_rate(samples) == len({tuple(r) for r in samples.tolist()}) / len(samples)
    assert copy_rate(train, train) == 1.0
    for n, value in distinct_n(samples, pad=0).items():
        grams = [tuple(t[i:i + n]) for r in samples for t in [text_of(r, 0)]
                 for i in range(len(t) - n + 1)]
        assert value == pytest.approx(len(set(grams)) / len(grams))


def test_word_validity_matches_plain_python():
    vocab = {"a", "dog", "on", "the", "grass"}
    texts = ["a dog on the gra", "a cat", "dog dog", "  "]
    # Texts of 16 characters were cut: their last word is left out.
    assert words(texts, 16) == ["a", "dog", "on", "the", "a", "cat", "dog", "dog"]
    assert word_validity(texts, vocab, 16) == pytest.approx(7 / 8)


def test_training_lines_are_all_copies_and_real_text_scores_near_its_floor():
    report = evaluate(COCO_TRAIN, corpus=BUNDLED, n=500)
    assert report["copy_rate"] == 1.0 and report["word_validity"] == 1.0
    held = evaluate(COCO_TEST, corpus=BUNDLED, n=500, seed=3)
    # Held-out captions: few copies, words mostly known, LM scores near the real-text value.
    assert held["copy_rate"] < 0.05
    assert abs(held["lm_bpc"] - held["floor_lm_bpc"]) < 0.2


def test_eval_on_1b_word_with_reference_files(tmp_path):
    train = shared("billion_word_sample/1b_benchmark.dev.tokens")
    ref = shared("billion_word_sample/news.en.heldout-00000-of-00050")
    samples = tmp_path / "s.txt"
    samples.write_text("\n".join(train.read_text(encoding="utf-8").splitlines()[:300]) + "\n",
                       encoding="utf-8")
    report = evaluate(samples, reference=ref, train=train, n=None)
    assert report["copy_rate"] == 1.0  # they are training lines
    assert 0 < report["js4"] < 0.6 and report["floor_js4"] > 0
    paper = evaluate(samples, reference=ref, train=train, protocol="paper", n=300)
    # The paper protocol holds 300 training lines back as its floor and scores against the
    # rest: nothing is compared with itself.
    assert paper["n"] == 300 and paper["reference_size"] == report["train_size"] - 300
    assert paper["train_size"] == report["train_size"] - 300
    # Only the corpus's own duplicate lines make held-back lines copies (it was 100%).
    assert paper["floor_copy_rate"] < 0.05 and paper["floor_lm_bpc"] > 1.5
    assert "protocol:paper" in paper["signature"]


def test_critic_distance_separates_shuffled_text_from_real():
    c = Corpus(BUNDLED)
    real = random_rows(c.train, 400, seed=1)
    shuffled = real.copy()
    rnd = random.Random(0)
    for row in shuffled:
        k = int((row != 0).sum())
        chars = list(row[:k])
        rnd.shuffle(chars)
        row[:k] = chars
    ref = np.asarray(c.heldout)
    w_real = critic_distance(real, ref, len(c.charset), steps=150)
    w_shuffled = critic_distance(shuffled, ref, len(c.charset), steps=150)
    assert abs(w_real) < 0.5 * w_shuffled and w_shuffled > 0.5


def test_eval_and_bench_cli(tmp_path):
    lines = COCO_TEST.read_text(encoding="utf-8").splitlines()
    good = tmp_path / "good.txt"
    good.write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
    bad = tmp_path / "noise.txt"
    rnd = random.Random(1)
    bad.write_text("\n".join("".join(rnd.choice("abcxyz ") for _ in range(30))
                             for _ in range(200)) + "\n", encoding="utf-8")
    r = runner.invoke(app, ["eval", str(good), "--corpus", str(BUNDLED), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    for key in ("js1", "js4", "floor_js4", "copy_rate", "distinct", "word_validity", "lm_bpc",
                "reverse_lm_bpc", "critic_w", "signature"):
        assert key in report
    assert report["critic_w"] is None  # not asked for
    r = runner.invoke(app, ["bench", str(bad), str(good), "--corpus", str(BUNDLED), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    assert [row["input"] for row in rows][-1] == str(bad)  # worst JS-4 last
    assert "real text" in [row["input"] for row in rows]
    assert rows == sorted(rows, key=lambda row: row["js4"])
    r = runner.invoke(app, ["bench", str(good), "--corpus", str(BUNDLED), "--markdown"])
    assert r.exit_code == 0 and r.stdout.startswith("| input |") and "textwgan-eval|" in r.stdout


def test_eval_of_a_code_point_reference_without_training_text(tmp_path):
    samples = tmp_path / "s.txt"
    samples.write_text("héllo wörld\n中文\n", encoding="utf-8")
    report = evaluate(samples, reference=COCO_TEST, seq_len=16, n=None)
    assert "floor_js4" not in report and "copy_rate" not in report
    assert report["n"] == 2 and codepoints(["中"], 2).tolist() == [[ord("中"), PAD_CP]]


def test_fast_row_decoding_matches_charset_decode():
    from textwgan.scoring import Reference

    c = Corpus(BUNDLED)
    rows = np.asarray(c.train[:500]).copy()
    rows[0, 3], rows[0, 5], rows[1, 2] = 0, 7, 1  # text after a pad; unk
    assert Reference(corpus=BUNDLED).texts(rows) == c.decode(rows)
    ref = Reference(reference=COCO_TEST)
    assert ref.texts(codepoints(["héllo 中文😀", "", "abc"], 8)) == ["héllo 中文", "", "abc"]


def test_row_metrics_on_real_1b_word_text():
    lines = shared("billion_word_sample/1b_benchmark.test.tokens").read_text(
        encoding="utf-8").splitlines()
    train = codepoints(lines[:3000], 32)
    samples = codepoints(lines[2900:3100] + lines[:50], 32)  # 150 copies, 100 new
    train_set = {tuple(r) for r in train.tolist()}
    assert copy_rate(samples, train) == pytest.approx(
        sum(tuple(r) in train_set for r in samples.tolist()) / len(samples))
    assert distinct_rate(samples) == len({tuple(r) for r in samples.tolist()}) / len(samples)
    for n, value in distinct_n(samples, pad=PAD_CP).items():
        grams = [tuple(t[i:i + n]) for r in samples for t in [text_of(r, PAD_CP)]
                 for i in range(len(t) - n + 1)]
        assert value == pytest.approx(len(set(grams)) / len(grams))

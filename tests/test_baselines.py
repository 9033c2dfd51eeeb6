"""The benchmark beside its alternatives: the Kneser–Ney baseline's sampling, temperature rows,
the likelihood bound, large charsets, signatures that name the corpus, one common n, the paper
protocol's floors, and a critic distance independent of the thread count."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from conftest import BUNDLED, COCO_TEST, invoke
from test_bench_metrics import slow_kn_log2
from test_metrics import slow_js

from textwgan.charset import PAD
from textwgan.compare import bench
from textwgan.corpus import Corpus
from textwgan.errors import InputError
from textwgan.evaluation import evaluate, sample_baseline
from textwgan.likelihood import gan_bits_per_char
from textwgan.lm import KneserNeyLM
from textwgan.metrics import js_divergences
from textwgan.scoring import Reference


def toy_lm(order: int = 2):
    rng = np.random.default_rng(0)
    rows = rng.integers(1, 4, (300, 6))
    for row in rows:
        row[rng.integers(1, 7):] = 0  # pad 0 ends a row
    return KneserNeyLM(rows, 0, 4, order), rows


def test_kn_samples_follow_the_model():
    lm, _ = toy_lm(order=2)
    out = lm.sample(20000, 6, np.random.default_rng(1), temperature=1.0)  # (N, 6)
    # The first symbol follows P(· | BOS), the second P(· | first) for each first symbol.
    p0 = lm.next_probs(np.full((1, 1), 4))[0]
    freq0 = np.bincount(out[:, 0], minlength=4) / len(out)
    np.testing.assert_allclose(freq0, p0, atol=0.015)
    for first in (1, 2, 3):
        rows = out[out[:, 0] == first]
        p1 = lm.next_probs([[first]])[0]
        freq1 = np.bincount(rows[:, 1], minlength=4) / len(rows)
        np.testing.assert_allclose(freq1, p1, atol=0.03)
    # After the end symbol every position is pad.
    ended = np.maximum.accumulate(out == 0, axis=1)
    assert (out[ended] == 0).all()


def test_kn_sampling_is_seeded_and_temperature_sharpens():
    lm, _ = toy_lm(order=3)
    a = lm.sample(500, 6, np.random.default_rng(5))
    assert np.array_equal(a, lm.sample(500, 6, np.random.default_rng(5)))
    assert not np.array_equal(a, lm.sample(500, 6, np.random.default_rng(6)))
    greedy = lm.sample(50, 6, np.random.default_rng(0), temperature=0)
    assert (greedy == greedy[0]).all()  # argmax from BOS: one sequence
    history = [4, 4]  # BOS BOS
    for t in range(6):
        if greedy[0, t] == 0:
            break
        assert greedy[0, t] == lm.next_probs([history])[0].argmax()
        history = history[1:] + [greedy[0, t]]

    def entropy(samples):
        _, counts = np.unique(samples, axis=0, return_counts=True)
        p = counts / counts.sum()
        return -(p * np.log(p)).sum()

    cold = lm.sample(4000, 6, np.random.default_rng(7), temperature=0.5)
    warm = lm.sample(4000, 6, np.random.default_rng(7), temperature=1.0)
    assert entropy(cold) < entropy(warm)


def test_baseline_command_samples_the_corpus_model(tmp_path):
    r = invoke("baseline", BUNDLED, "--order", "5", "-n", "300", "--seed", "2", "--out",
               tmp_path / "kn.txt")
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "kn.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300 and len(set(lines)) > 250
    assert lines == sample_baseline(BUNDLED, order=5, n=300, seed=2)
    # A 5-gram model of captions writes caption-like text: most of its words are real words.
    report = evaluate(tmp_path / "kn.txt", corpus=BUNDLED, n=None)
    assert report["word_validity"] > 0.6 and report["js4"] < 0.6


def test_bench_scores_models_across_temperatures_at_one_n(tmp_path, small_corpus):
    r = invoke("train", small_corpus, "--preset", "tiny", "--iters", "2", "--out",
               tmp_path / "run")
    assert r.exit_code == 0, r.output
    samples = tmp_path / "s.txt"
    samples.write_text("\n".join(COCO_TEST.read_text().splitlines()[:150]) + "\n")
    r = invoke("bench", tmp_path / "run", samples, "--corpus", BUNDLED, "--temperatures",
               "0.7,1.3", "--baseline", "kn3", "--json", "--plot", tmp_path / "qd.png")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    rows = result["rows"]
    kinds = [(row["kind"], row["temperature"]) for row in rows]
    for expected in (("generator", 0.0), ("generator", 0.7), ("generator", 1.3),
                     ("baseline", 0.7), ("baseline", 1.3), ("samples", None), ("real", None)):
        assert expected in kinds
    assert {row["n"] for row in rows} == {150} and result["n"] == 150  # the smallest file
    assert "n:150" in result["signature"]
    assert (tmp_path / "qd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # An explicit --n above a file's size is refused; below it, every row uses it.
    r = invoke("bench", samples, "--corpus", BUNDLED, "--n", "151")
    assert r.exit_code == 2 and "holds only 150" in r.output
    r = invoke("bench", samples, tmp_path / "run", "--corpus", BUNDLED, "--n", "40", "--json")
    assert {row["n"] for row in json.loads(r.stdout)["rows"]} == {40}


def test_seven_thousand_symbols_score_without_overflow(tmp_path):
    # Keys of 5-grams over 7,000 symbols need more than 64 bits: the byte keys take over, and
    # the results equal the plain implementations.
    rng = random.Random(0)
    alphabet = [chr(0x4E00 + i) for i in range(7000)]

    def line():
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 12)))

    # every symbol occurs in training, ten to a line, then random lines
    train = ["".join(alphabet[i:i + 10]) for i in range(0, 7000, 10)] + [line() for _ in
                                                                        range(300)]
    for path, lines in (("train.txt", train), ("ref.txt", [line() for _ in range(200)]),
                        ("s.txt", [line() for _ in range(50)] + train[:10])):
        (tmp_path / path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = evaluate(tmp_path / "s.txt", reference=tmp_path / "ref.txt",
                      train=tmp_path / "train.txt", n=None, seq_len=16, lm_order=5)
    ref = Reference(reference=tmp_path / "ref.txt", train=tmp_path / "train.txt", seq_len=16)
    assert ref.n_symbols > 7000
    samples = ref.code(ref.encode((tmp_path / "s.txt").read_text().splitlines()))
    slow = slow_kn_log2(ref.code(ref.train), samples, ref.pad_id, ref.n_symbols, 5)
    assert report["lm_bpc"] == pytest.approx(-slow.mean(), abs=1e-9)
    assert report["copy_rate"] == pytest.approx(10 / 60)  # the ten training lines
    for n in (1, 4):  # the figures as computed (a report may show one as n/a: see notes)
        assert report.metrics.js[n] == pytest.approx(slow_js(samples, ref.code(ref.reference),
                                                             n), abs=1e-9)
    big = np.random.default_rng(1).integers(0, 100_000, (30, 8))
    assert js_divergences(big, big[::-1].copy(), (8,)) == {8: 0.0}


def test_signature_names_the_corpus(tmp_path):
    text = "\n".join(f"Line {i} of Some Text" for i in range(300))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    (tmp_path / "h.txt").write_text("\n".join(f"Held {i}" for i in range(50)), encoding="utf-8")
    (tmp_path / "s.txt").write_text("line 1 of some text\n" * 20, encoding="utf-8")
    from textwgan.preparation import prepare

    sigs = []
    for name, lowercase in (("a", False), ("b", True)):
        prepare([str(tmp_path / "t.txt")], tmp_path / name, lowercase=lowercase,
                heldout_file=str(tmp_path / "h.txt"))
        sigs.append(evaluate(tmp_path / "s.txt", corpus=tmp_path / name, n=None)["signature"])
    assert sigs[0] != sigs[1]  # same sizes, other normalization: the numbers mean other things
    assert sigs[0].split("|corpus:")[1][:12] == Corpus(tmp_path / "a").fingerprint[:12]


def test_paper_protocol_floors_are_not_circular():
    report = evaluate(COCO_TEST, corpus=BUNDLED, protocol="paper")
    assert report["n"] == 640 and report["reference_size"] == 10_000 - 640
    ref = Reference(corpus=BUNDLED, protocol="paper", n=640, seed=0)
    assert len(ref.held_back) + len(ref.reference) == 10_000  # held back, not scored twice
    # The floor's copy rate was 100% (the floor rows were the reference). Now it is the share of
    # held-back captions whose first 32 characters another training caption shares.
    rest = {row.tobytes() for row in np.asarray(ref.reference)}
    natural = np.mean([row.tobytes() in rest for row in ref.held_back])
    assert report["floor_copy_rate"] == pytest.approx(natural) and natural < 0.1
    assert report["floor_lm_bpc"] > 1.2  # was 1.49 on text the LM had memorized


def test_critic_distance_does_not_depend_on_the_thread_count():
    from textwgan.critic_metric import critic_distance

    c = Corpus(BUNDLED)
    a, b = np.asarray(c.train[:300]), np.asarray(c.heldout[:300])
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(critic_distance(a, b, len(c.charset), steps=30))
            assert torch.get_num_threads() == threads  # and the caller's setting comes back
    finally:
        torch.set_num_threads(before)
    assert results[0] == results[1]


def constant_generator(tmp_path):
    """A generator whose output does not depend on z: its likelihood is exact at any K."""
    from textwgan.config import get_preset
    from textwgan.sample import TextGenerator

    c = Corpus(BUNDLED)
    cfg = get_preset("tiny").model
    from textwgan.models import Generator

    torch.manual_seed(3)
    g = Generator(cfg, len(c.charset))
    with torch.no_grad():
        g.fc.weight.zero_()
    return TextGenerator(g.eval(), c.charset, get_preset("tiny"), tmp_path / "g.pt", 0), c


def test_gan_likelihood_bound_is_exact_for_a_constant_generator(tmp_path):
    gen, c = constant_generator(tmp_path)
    ref = Reference(corpus=BUNDLED)
    _, rows = ref.floor_rows(40, 0)
    logp = torch.log_softmax(gen.generator.logits(torch.zeros(1, 16)).double(), -1)[0]  # (T, V)
    bits = symbols = 0
    for row in rows:
        for t, token in enumerate(row):
            bits -= logp[t, int(token)].item() / math.log(2)
            symbols += 1
            if token == PAD:
                break  # the end symbol is scored; what follows is free
    for draws in (1, 7, 300):
        got = gan_bits_per_char(gen, ref, 40, draws, seed=0, chunk=64)
        assert got == pytest.approx(bits / symbols, rel=1e-9)


def test_gan_likelihood_bound_matches_a_plain_monte_carlo(tmp_path):
    from textwgan.config import get_preset
    from textwgan.models import Generator
    from textwgan.sample import TextGenerator

    c = Corpus(BUNDLED)
    torch.manual_seed(4)
    g = Generator(get_preset("tiny").model, len(c.charset)).eval()
    gen = TextGenerator(g, c.charset, get_preset("tiny"), tmp_path / "g.pt", 0)
    ref = Reference(corpus=BUNDLED)
    _, rows = ref.floor_rows(12, 3)
    z = g.noise(50, generator=torch.Generator().manual_seed(3))  # the draws it makes, in order
    with torch.no_grad():
        probs = torch.softmax(g.logits(z).double(), -1)  # (K, T, V)
    total_bits = total_symbols = 0
    for row in rows:
        end = next((t for t, x in enumerate(row) if x == PAD), len(row) - 1)
        p = torch.ones(len(z), dtype=torch.float64)
        for t in range(end + 1):
            p = p * probs[:, t, int(row[t])]
        total_bits -= math.log2(p.mean().item())
        total_symbols += end + 1
    got = gan_bits_per_char(gen, ref, 12, 50, seed=3, chunk=64)  # one draw of all 50
    assert got == pytest.approx(total_bits / total_symbols, rel=1e-9)


def test_gan_bpc_only_for_checkpoints(tmp_path):
    with pytest.raises(InputError, match="applies to a checkpoint"):
        evaluate(COCO_TEST, corpus=BUNDLED, gan_bpc=10)
    result = bench([COCO_TEST], corpus=BUNDLED, n=50)
    assert [r["kind"] for r in result["rows"]].count("samples") == 1


def test_plane_labels_skip_points_that_would_collide():
    from textwgan.plot import spaced

    # Four points close together in the corner of a wide plot, two far apart.
    points = [(4.0, 3.40), (4.01, 3.39), (4.02, 3.41), (4.05, 3.36), (0.8, 2.7), (1.9, 2.1)]
    assert spaced(points) == [0, 4, 5]
    # Spread out, every point keeps its label; a single point too.
    assert spaced([(0, 0), (1, 1), (2, 0.5)]) == [0, 1, 2]
    assert spaced([(1.0, 1.0)]) == [0]

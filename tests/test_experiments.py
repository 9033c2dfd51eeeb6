"""benchmarks/experiments.py: its statistics against hand-worked values and a plain formula, the
rule that picks which methods get a second seed, the verdicts it writes from them, and one
smoke run of the whole command at toy size (every section and figure written)."""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import experiments as ex  # noqa: E402

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


def spearman_by_formula(x, y):
    """1 − 6 Σd² / (n(n² − 1)): exact when no value repeats."""
    n = len(x)
    rank = lambda v: {val: i + 1 for i, val in enumerate(sorted(v))}  # noqa: E731
    rx, ry = rank(x), rank(y)
    d2 = sum((rx[a] - ry[b]) ** 2 for a, b in zip(x, y, strict=True))
    return 1 - 6 * d2 / (n * (n * n - 1))


def test_ranks_share_the_mean_rank_on_ties():
    assert list(ex.ranks([10, 30, 20, 30])) == [1, 3.5, 2, 3.5]


def test_spearman_matches_the_textbook_formula_without_ties():
    rng = random.Random(3)
    for _ in range(20):
        n = rng.randint(4, 15)
        x = rng.sample(range(1000), n)
        y = rng.sample(range(1000), n)
        assert ex.spearman(x, y) == pytest.approx(spearman_by_formula(x, y))


def test_spearman_by_hand():
    # ranks (1,2,3,4) and (2,1,4,3): d² = 1+1+1+1 = 4, ρ = 1 − 24/60 = 0.6
    assert ex.spearman([1, 2, 3, 4], [20, 10, 40, 30]) == pytest.approx(0.6)
    assert ex.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert math.isnan(ex.spearman([1, 1, 1], [1, 2, 3]))  # no order to correlate


def test_the_bootstrap_interval_holds_the_estimate_and_narrows_with_more_pairs():
    rng = random.Random(0)
    few = [(i + rng.gauss(0, 3), i) for i in range(8)]
    many = [(i + rng.gauss(0, 3), i) for i in range(80)]
    for pairs in (few, many):
        lo, hi = ex.spearman_interval(pairs)
        assert lo <= ex.spearman(*zip(*pairs, strict=True)) <= hi
    assert many_width(many) < many_width(few)
    assert ex.spearman_interval(few[:3]) is None


def many_width(pairs):
    lo, hi = ex.spearman_interval(pairs)
    return hi - lo


def evals(*js4, every=100):
    return [{"step": i * every, "js4": v, "time": i * 60.0} for i, v in enumerate(js4)]


def test_a_runs_late_level_and_spread_are_its_last_evaluations():
    level, spread = ex.late(evals(1.0, 0.9, 0.60, 0.50, 0.56, 0.54))
    assert level == pytest.approx((0.60 + 0.50 + 0.56 + 0.54) / 4)
    assert spread == pytest.approx(0.10)


def test_runs_within_one_seeds_spread_are_paired_and_others_not():
    def run(late, spread):
        return {"js4_first": 1.0, "js4_late": late, "js4_spread": spread}

    r = {"a": run(0.50, 0.03),
         "b": run(0.52, 0.01),    # 0.02 from a: within a's 0.03
         "c": run(0.60, 0.02),    # 0.08 from b: apart
         "d": run(0.615, 0.0),    # 0.015 from c: within c's 0.02
         "e": run(1.0, 0.0),      # never learned
         "f": run(0.995, 0.01)}   # never learned either: no pair with e
    assert ex.close_pairs(r) == [("a", "b"), ("c", "d")]


def fig(level):
    return {"js4_late": level, "js4_spread": 0.01, "js4_best": level - 0.01,
            "minutes_to": {"0.6": 1.0, "0.52": None}}


def test_a_second_seed_separates_a_pair_only_when_the_order_holds_beyond_its_moves():
    apart = {"a": {0: fig(0.50), 1: fig(0.51)}, "b": {0: fig(0.56), 1: fig(0.58)}}
    mixed = {"a": {0: fig(0.50), 1: fig(0.55)}, "b": {0: fig(0.52), 1: fig(0.53)}}
    one = {"a": {0: fig(0.50)}, "b": {0: fig(0.51)}}
    assert "a is better on every seed" in ex.pair_verdicts([("a", "b")], apart)[0]
    assert "no difference beyond" in ex.pair_verdicts([("a", "b")], mixed)[0]
    # The same order on both seeds, but by less than a run moves between its seeds.
    small = {"a": {0: fig(0.500), 1: fig(0.520)}, "b": {0: fig(0.505), 1: fig(0.525)}}
    assert "no difference beyond" in ex.pair_verdicts([("a", "b")], small)[0]
    assert "not run on a second seed" in ex.pair_verdicts([("a", "b")], one)[0]


def test_claim_4_needs_the_cheaper_penalty_no_later_on_every_seed():
    def seed(gp, fd):
        return {"minutes_to": {"0.6": gp, "0.52": None}}, {"minutes_to": {"0.6": fd,
                                                                           "0.52": None}}
    run = {"s_per_iter": 0.1, "js4_best": 0.5, "slope_mean": 1.0}
    faster, slower = seed(3.0, 2.0), seed(3.0, 4.0)
    holds = {"gp": {0: faster[0], 1: faster[0]}, "gp-finite-difference": {0: faster[1],
                                                                         1: faster[1]}}
    fails = {"gp": {0: faster[0], 1: slower[0]}, "gp-finite-difference": {0: faster[1],
                                                                         1: slower[1]}}
    assert ex.claim_4(run, run, holds).startswith("4. Holds")
    assert ex.claim_4(run, run, fails).startswith("4. Does not hold")
    fd_never = {"gp": {0: faster[0]}, "gp-finite-difference": {0: seed(3.0, None)[1]}}
    assert "never" in ex.claim_4(run, run, fd_never)
    assert ex.claim_4(run, run, fd_never).startswith("4. Does not hold")
    never = {"gp": {0: seed(None, 2.0)[0]}, "gp-finite-difference": {0: seed(None, 2.0)[1]}}
    assert ex.claim_4(run, run, never).startswith("4. Inconclusive")


def test_the_whole_page_from_one_command_at_toy_size(tmp_path):
    env = {**os.environ, "TEXTWGAN_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1"}
    doc, out = tmp_path / "docs" / "experiments.md", tmp_path / "experiments.json"
    cmd = [sys.executable, "benchmarks/experiments.py", "--iters", "28", "--preset", "tiny",
           "--critic-steps", "5", "--runs", tmp_path / "runs", "--doc", doc, "--json", out]
    r = subprocess.run(list(map(str, cmd)), cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    page = doc.read_text(encoding="utf-8")
    for section in ("## 1.", "## 2.", "## 3.", "## 4.", "## Where one seed is not enough",
                    "## Verdicts"):
        assert section in page
    for table in markdown_tables(page):  # every row as wide as its head
        widths = {row.count("|") for row in table.strip().splitlines()}
        assert len(widths) == 1, table
    result = json.loads(out.read_text(encoding="utf-8"))
    assert set(result["runs"]) == set(ex.RUNS)
    assert [v[:2] for v in result["meta"]["verdicts"]] == ["1.", "2.", "3.", "4."]
    for png in ("clip", "curves", "time"):
        assert (doc.parent / "figures" / f"experiments-{png}.png").stat().st_size > 0
    assert all("0" in seeds for seeds in result["meta"]["seeds"].values())
    assert " seed 0: " in r.stderr  # it trained
    # A second call reuses every run: no training, the same tables.
    again = subprocess.run(list(map(str, cmd)), cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert " seed 0: " not in again.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["runs"] == result["runs"]


def test_claim_3_compares_the_w_estimate_with_a_gan_loss_that_had_quality_to_track():
    fixed = {"spearman": 0.7, "spearman_ci": [0.4, 0.9], "rows": [{}] * 12, "moved": 9,
             "spearman_moved": 0.6, "spearman_moved_ci": [0.1, 0.9]}

    def run(late, rho=None, ci=None, loss=None, loss_ci=None):
        return {"js4_first": 1.0, "js4_late": late, "spearman_w_js4": rho,
                "spearman_w_js4_ci": ci, "spearman_loss_js4": loss, "spearman_loss_js4_ci": loss_ci}

    gp = run(0.50, 0.8, [0.6, 0.95])
    flat_gan = run(1.0, loss=0.9, loss_ci=[0.8, 1.0])   # never learned: not compared
    holds = {"gp": gp, "gan": flat_gan, "gan-gp": run(0.7, loss=0.1, loss_ci=[-0.4, 0.5])}
    text = ex.claim_3(holds, fixed)
    assert text.startswith("3. Holds") and "gan-gp" in text and "it orders" in text
    # A GAN loss that tracks quality as well (here inversely) breaks the claim.
    fails = {**holds, "gan-gp": run(0.7, loss=-0.9, loss_ci=[-0.97, -0.7])}
    assert ex.claim_3(fails, fixed).startswith("3. Does not hold")
    overlap = {**holds, "gan-gp": run(0.7, loss=0.3, loss_ci=[-0.2, 0.7])}
    assert ex.claim_3(overlap, fixed).startswith("3. Inconclusive")
    # W with an interval across zero shows nothing either way, unless it runs backwards.
    unsure = {**holds, "gp": run(0.50, 0.1, [-0.6, 0.7])}
    assert ex.claim_3(unsure, fixed).startswith("3. Inconclusive")
    backwards = {**holds, "gp": run(0.50, -0.8, [-0.95, -0.5])}
    assert ex.claim_3(backwards, fixed).startswith("3. Does not hold")
    nothing = {**holds, "gan-gp": run(0.995, loss=0.1, loss_ci=[-0.4, 0.5])}
    assert "neither GAN's samples improved" in ex.claim_3(nothing, fixed)


def test_claims_1_and_2_are_decided_by_the_weights_and_layer_norms():
    def run(at_bound, *norms):
        return {"at_bound_last": at_bound,
                "layer_grad_norms": {f"l{i}.weight": v for i, v in enumerate(norms)}}

    r = {"clip-0.01": run(0.8, 2.0, 0.01, 0.02, 1.5),     # middle layers vanish: 200×
         "clip-0.1": run(0.5, 200.0, 30.0, 40.0, 150.0),  # all large: explode
         "gp": run(0.0, 3.0, 6.0, 2.0, 5.0)}              # 3× spread
    assert ex.claim_1(r).startswith("1. Holds")
    assert "gp 3×" in ex.claim_2(r) and ex.claim_2(r).startswith("2. Holds")
    assert ex.claim_1({**r, "gp": run(0.2, 3.0, 6.0, 2.0, 5.0)}).startswith("1. Does not")
    # A small spread under clipping, or clipped norms that do not explode, break claim 2.
    assert ex.claim_2({**r, "clip-0.1": run(0.5, 2.0, 3.0, 4.0, 5.0)}).startswith("2. Does not")


def markdown_tables(text):
    return re.findall(r"(?:^\|.*\|$\n?)+", text, re.M)


def test_the_second_seed_section_lists_each_seed_in_a_well_formed_table():
    r = {"a": {"js4_late": 0.50, "js4_spread": 0.03}, "b": {"js4_late": 0.51, "js4_spread": 0.02}}
    seeds = {"a": {0: fig(0.50), 1: fig(0.52)}, "b": {0: fig(0.51), 1: fig(0.50)}}
    meta = {"close_pairs": [("a", "b")], "seeds": seeds,
            "pair_verdicts": ex.pair_verdicts([("a", "b")], seeds)}
    text = "\n".join(ex.seeds_section(r, meta)) + "\n"
    tables = markdown_tables(text)
    assert len(tables) == 2
    for table in tables:
        assert len({row.count("|") for row in table.strip().splitlines()}) == 1, table
    assert "| a | 1 | 0.520 |" in tables[1] and "Within one seed's spread: a / b." in text

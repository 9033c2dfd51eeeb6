"""One scorer: a run's log, `textwgan eval` and the benchmarks score through
`scoring.Reference`, so the same checkpoint, n and seed give the same figures and the
same signature wherever they are computed."""

from __future__ import annotations

import json

from conftest import invoke

from textwgan.assets import bundled_corpus_path
from textwgan.corpus import Corpus
from textwgan.scoring import Reference


def test_a_logged_js4_is_what_eval_says_of_the_same_checkpoint(tmp_path):
    """Training evaluates on the validation split: `eval --protocol validation` repeats its
    figures to the last digit; plain `eval` scores the test split, which training never saw."""
    r = invoke("train", "--preset", "tiny", "--iters", "6", "--eval-every", "6", "--seed", "3",
               "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    records = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    last = [x for x in records if x["kind"] == "eval"][-1]
    assert last["split"] == "validation" and "protocol:validation" in last["signature"]
    r = invoke("eval", tmp_path / "run", "--n", str(last["n"]), "--seed", "3", "--json",
               "--protocol", "validation")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    for k in ("js1", "js2", "js3", "js4", "floor_js4"):
        assert report[k] == last[k], k
    assert report["signature"] == last["signature"]
    test = json.loads(invoke("eval", tmp_path / "run", "--n", str(last["n"]), "--seed", "3",
                             "--json").stdout)
    assert "protocol:heldout" in test["signature"] and test["js4"] != last["js4"]
    assert test["reference_size"] + report["reference_size"] == 10_000


def test_js_scores_are_the_full_reports_js():
    import numpy as np

    corpus = Corpus(bundled_corpus_path())
    ref = Reference(corpus, n=50, seed=1)
    rows = np.asarray(corpus.heldout[:50])
    quick = ref.js_scores(rows, seed=1)
    from textwgan.scoring import ScoringOptions, floor_metrics, score

    options = ScoringOptions(seed=1, device="cpu")
    full, floor = score(rows, ref, options), floor_metrics(ref, 50, options)
    assert [quick[f"js{k}"] for k in (1, 2, 3, 4)] == [full.js[k] for k in (1, 2, 3, 4)]
    assert quick["floor_js4"] == floor.js[4]


def test_symbols_are_read_in_blocks_with_the_same_result():
    import numpy as np

    from textwgan.scoring import _symbols_of

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 50, (1000, 8)), rng.integers(40, 90, (300, 8))
    whole = np.unique(np.append(np.concatenate([a.ravel(), b.ravel()]), 7))
    assert np.array_equal(_symbols_of([a, b], 7, rows=64), whole)

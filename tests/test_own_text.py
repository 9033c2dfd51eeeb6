"""Evaluating on your own text without hunting for paths: bundled corpora by name, a run's
own corpus, a text file as --corpus (prepared as train prepares it), and a reference file
labelled as what it is."""

from __future__ import annotations

import json

import pytest
from conftest import COCO_TRAIN, assert_one_line_error, invoke

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    d = tmp_path_factory.mktemp("own")
    lines = COCO_TRAIN.read_text(encoding="utf-8").splitlines()[:1500]
    (d / "mine.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = invoke("train", d / "mine.txt", "--preset", "tiny", "--iters", "2", "--out", d / "run")
    assert r.exit_code == 0, r.output
    (d / "samples.txt").write_text("\n".join(lines[:20]) + "\n", encoding="utf-8")
    return d


def report(*args):
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_a_run_is_scored_against_its_own_corpus_without_corpus(own):
    mine = report("eval", own / "run", "--n", "16")
    again = report("eval", own / "run", "--n", "16", "--corpus", own / "mine.txt")
    assert mine["signature"] == again["signature"]  # the same cached corpus, the same split
    assert mine["protocol"] == "heldout"


def test_the_bundled_corpus_has_a_name(own, monkeypatch):
    monkeypatch.chdir(own)  # no corpora/ folder here
    a = report("eval", own / "samples.txt", "--corpus", "coco", "--n", "8")
    b = report("eval", own / "samples.txt", "--corpus", "corpora/coco", "--n", "8")
    assert a["signature"] == b["signature"] and a["reference_size"] > 1000


def test_a_run_whose_corpus_is_gone_says_how_to_rebuild_it(own, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(own / "run", run)
    ckpt_config = json.loads((run / "config.json").read_text())
    cache = tmp_path / "elsewhere"
    shutil.move(ckpt_config["corpus"], cache)
    try:
        r = invoke("eval", run, "--n", "8")
        assert_one_line_error(r, 2, "trained on the corpus", "textwgan prepare")
    finally:
        shutil.move(cache, ckpt_config["corpus"])


def test_a_reference_file_is_labelled_a_reference_and_overlap_is_named(own):
    r = invoke("eval", own / "run", "--reference", own / "mine.txt", "--n", "16")
    assert r.exit_code == 0, r.output
    assert "reference sequences" in r.output and "held-out sequences" not in r.output
    assert "protocol:reference" in r.output
    assert "are training lines of the run" in r.output


def test_train_file_shows_what_preparing_did_with_the_option_that_changes_it(tmp_path):
    import random

    rng = random.Random(0)
    han = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜"
    lines = [" ".join(rng.choice(han) for _ in range(24)) for _ in range(1200)]
    (tmp_path / "poems.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = invoke("train", tmp_path / "poems.txt", "--preset", "tiny", "--iters", "1", "--out",
               tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert "cut to 32 chars" in r.output and "train / validation / test" in r.output
    warnings = [x for x in r.output.splitlines() if x.startswith("warning:")]
    assert any("were cut to 32 characters" in w and "--seq-len" in w for w in warnings)
    assert any("separated by spaces" in w for w in warnings)
    r = invoke("prepare", tmp_path / "poems.txt", "--out", tmp_path / "c", "--max-chars", "12")
    assert r.exit_code == 0, r.output
    assert any("became unk" in x and "--max-chars" in x for x in r.output.splitlines())
    plain = tmp_path / "plain.txt"
    plain.write_text("".join(f"a short line {i}\n" for i in range(300)), encoding="utf-8")
    r = invoke("prepare", plain, "--out", tmp_path / "p")
    assert r.exit_code == 0 and "warning:" not in r.output, r.output


def test_metrics_that_cannot_mean_anything_say_so(tmp_path):
    import random

    rng = random.Random(1)
    han = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜"
    (tmp_path / "zh.txt").write_text("\n".join("".join(rng.choice(han) for _ in range(20)) + "。"
                                               for _ in range(2000)) + "\n", encoding="utf-8")
    (tmp_path / "junk.txt").write_text("。。,,。。,,。。,,。\n" * 100, encoding="utf-8")
    r = invoke("eval", tmp_path / "junk.txt", "--corpus", tmp_path / "zh.txt", "--n", "100")
    assert r.exit_code == 0, r.output
    assert "word validity is not reported" in r.output
    assert [x for x in r.output.splitlines() if "word validity" in x and "n/a" in x]
    assert "the samples repeat themselves: distinct-4" in r.output
    data = json.loads(invoke("eval", tmp_path / "junk.txt", "--corpus", tmp_path / "zh.txt",
                             "--n", "100", "--json").stdout)
    assert "word_validity" not in data
    assert len([n for n in data["notes"] if "word validity" in n or "repeat" in n]) == 2


def test_an_lm_figure_that_flatters_far_samples_gets_a_note():
    from textwgan.evaluation import reading_notes
    from textwgan.scoring import Metrics

    class Ref:
        train = [1]

        def space_share(self):
            return 0.2

    m = Metrics(js={4: 0.9}, distinct=1.0, distinct_n={4: 0.8}, reverse_lm_bpc=5.0,
                copy_rate=0.0, word_validity=0.99, lm_bpc=2.0)
    floor = Metrics(js={4: 0.3}, distinct=1.0, distinct_n={4: 0.8}, reverse_lm_bpc=4.0,
                    copy_rate=0.0, word_validity=0.9, lm_bpc=4.0)
    notes = reading_notes(m, floor, Ref())
    assert len(notes) == 2 and "LM bits/char 2.00 beats" in notes[0]
    assert "word validity 99% beats" in notes[1]
    near = Metrics(js={4: 0.35}, distinct=1.0, distinct_n={4: 0.8}, reverse_lm_bpc=5.0,
                   copy_rate=0.0, word_validity=0.95, lm_bpc=2.0)
    assert reading_notes(near, floor, Ref()) == ()  # JS says close: nothing to flag

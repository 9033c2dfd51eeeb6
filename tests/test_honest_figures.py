"""Figures that stay honest on any text: a figure that cannot tell junk from real text on a
corpus is shown as n/a with a note saying why, samples of another length than real text get a
note on JS-n, floors say how many real lines they had, and a run scored against a corpus that
is not its own is warned about. Checked on a corpus written a character at a time (as Chinese
poems are), with and without a space between characters, and on COCO captions."""

from __future__ import annotations

import json
import random

import pytest
from conftest import BUNDLED, COCO_TEST, invoke

import textwgan

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes

FIGURES = ("js2", "js3", "js4", "word_validity")


def _poems(seed: int, count: int) -> list[str]:
    """Lines of 5 or 7 characters from 2,500 CJK characters, built of recurring 'words' of one
    to three characters: structure that random characters lack."""
    rng = random.Random(1)
    chars = [chr(0x4E00 + i) for i in range(2500)]
    weights = [1 / (i + 1) ** 1.1 for i in range(len(chars))]
    vocab = ["".join(rng.choices(chars, weights=weights, k=rng.choice([1, 2, 2, 3])))
             for _ in range(4000)]
    vweights = [1 / (i + 1) for i in range(len(vocab))]
    draw = random.Random(seed)
    lines = []
    for _ in range(count):
        n, line = draw.choice([5, 7]), ""
        while len(line) < n:
            line += draw.choices(vocab, weights=vweights)[0]
        lines.append(line[:n])
    return lines


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    d = tmp_path_factory.mktemp("poems")
    train, held = _poems(1, 2000), _poems(2, 700)
    out = {}
    for name, join in (("unspaced", "".join), ("spaced", " ".join)):
        (d / f"{name}.txt").write_text("\n".join(join(x) for x in train) + "\n", "utf-8")
        (d / f"{name}-held.txt").write_text("\n".join(join(x) for x in held) + "\n", "utf-8")
        textwgan.prepare([str(d / f"{name}.txt")], d / name,
                         heldout_file=str(d / f"{name}-held.txt"))
        out[name] = (d / name, [join(x) for x in _poems(3, 500)])
    return out


def _junk(lines: list[str], spaced: bool, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    alphabet = [chr(0x4E00 + i) for i in range(2500)]
    if spaced:
        return [" ".join(rng.choice(alphabet) for _ in line.split()) for line in lines]
    return ["".join(rng.choice(alphabet) for _ in line) for line in lines]


def _judged(report) -> dict:
    """figure -> "n/a" or (samples, real text) as the report shows them."""
    d = report.to_dict()
    return {k: "n/a" if k in report.unseparated else (d[k], d[f"floor_{k}"])
            for k in FIGURES if k in report.unseparated or d.get(k) is not None}


@pytest.mark.parametrize("layout", ["unspaced", "spaced"])
def test_junk_never_looks_as_good_as_real_text(corpora, layout):
    folder, lines = corpora[layout]
    for texts in (_junk(lines, layout == "spaced"), [x[:2] for x in lines]):
        report = textwgan.evaluate(texts, corpus=folder, n=len(texts))
        for key, shown in _judged(report).items():
            if shown == "n/a":
                assert any(key.replace("_", " ") in n or f"JS-{key[2:]}" in n
                           for n in report.notes), (key, report.notes)
                continue
            mine, real = shown
            better = mine > real if key == "word_validity" else mine < real
            assert not better, (layout, key, mine, real)


def test_word_validity_of_spaced_characters_is_na_and_says_why(corpora):
    folder, lines = corpora["spaced"]
    report = textwgan.evaluate(_junk(lines, True), corpus=folder, n=len(lines))
    assert "word_validity" in report.unseparated and report.to_dict()["word_validity"] is None
    assert any("any character is a word" in n for n in report.notes)
    (folder.parent / "junk.txt").write_text("\n".join(_junk(lines, True)) + "\n", "utf-8")
    r = invoke("eval", folder.parent / "junk.txt", "--corpus", folder)  # the table: n/a
    assert r.exit_code == 0, r.output
    row = next(x for x in r.output.splitlines() if x.strip().startswith("word validity"))
    assert "n/a" in row and "100.0%" not in row.split("n/a")[0]


def test_real_captions_keep_every_figure(tmp_path):
    lines = COCO_TEST.read_text(encoding="utf-8").splitlines()[:640]
    report = textwgan.evaluate(lines, corpus=BUNDLED, n=640)
    assert report.unseparated == {} and report.to_dict()["js4"] is not None
    junk = textwgan.evaluate(_junk_letters(lines), corpus=BUNDLED, n=640)
    assert junk.unseparated == {} and junk["js4"] > junk["floor_js4"] + 0.3


def _junk_letters(lines: list[str]) -> list[str]:
    rng = random.Random(0)
    return ["".join(" " if c == " " else rng.choice("etaoinshrdlcumwfgypbvk") for c in x)
            for x in lines]


def test_lines_cut_short_get_a_note_on_js(corpora):
    lines = COCO_TEST.read_text(encoding="utf-8").splitlines()[:640]
    report = textwgan.evaluate([x[:6] for x in lines], corpus=BUNDLED, n=640)
    assert any("measures length as much as text" in n for n in report.notes)


def test_a_floor_says_how_many_real_lines_it_had(tmp_path):
    few = COCO_TEST.read_text(encoding="utf-8").splitlines()
    (tmp_path / "t.txt").write_text("\n".join(few[:300]) + "\n", "utf-8")
    (tmp_path / "h.txt").write_text("\n".join(few[300:600]) + "\n", "utf-8")
    textwgan.prepare([str(tmp_path / "t.txt")], tmp_path / "c",
                     heldout_file=str(tmp_path / "h.txt"))
    (tmp_path / "s.txt").write_text("\n".join(few[1000:1640]) + "\n", "utf-8")
    r = invoke("eval", tmp_path / "s.txt", "--corpus", tmp_path / "c", "--n", "640")
    assert r.exit_code == 0, r.output
    assert "real text (300 lines, 640 draws)" in r.output
    assert "300 training lines, drawn 640 times with replacement" in r.output
    data = json.loads(invoke("eval", tmp_path / "s.txt", "--corpus", tmp_path / "c", "--n",
                             "640", "--json").stdout)
    assert data["floor_lines"] == 300


def test_a_run_scored_against_another_corpus_is_warned_about(corpora):
    folder, _ = corpora["unspaced"]
    r = invoke("eval", "coco", "--corpus", folder, "--n", "64")
    assert "note: " in r.output and "was trained on another corpus" in r.output
    r = invoke("eval", "coco", "--n", "64")
    assert r.exit_code == 0 and "another corpus" not in r.output

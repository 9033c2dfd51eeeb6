"""Training as a library call: a resumed run continues bit for bit, its settings and charset
are its own, the moving average of the generator, and the process settings a call hands back."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import assert_same_training_state, fit, tiny
from typer.testing import CliRunner

from textwgan.checkpoint import load_checkpoint
from textwgan.cli import app
from textwgan.corpus import Corpus
from textwgan.errors import InputError

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


def test_resume_continues_bit_identically(small_corpus, tmp_path):
    corpus = Corpus(small_corpus)
    fit(corpus, tiny(10), tmp_path / "straight")
    fit(corpus, tiny(6), tmp_path / "split")  # stops at 6 ...
    fit(corpus, tiny(10), tmp_path / "split")  # ... resumed to 10
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    assert_same_training_state(a, b)
    # The log reads as one run: every step once.
    def steps(run, kind):
        return [r["step"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())
                if r["kind"] == kind]
    assert steps(tmp_path / "split", "train") == steps(tmp_path / "straight", "train")
    assert steps(tmp_path / "split", "eval") == [0, 4, 6, 8, 10]  # 6 was the first run's last
    assert [m["step"] for m in b["metrics"]] == [0, 4, 6, 8, 10]


def test_calling_a_finished_run_again_changes_nothing_in_it(small_corpus, tmp_path):
    corpus = Corpus(small_corpus)
    fit(corpus, tiny(4), tmp_path / "r", threads=2)
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    fit(corpus, tiny(4), tmp_path / "r", threads=1)  # nothing left to train
    after = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    assert json.loads(after["config.json"])["threads"] == 2  # what it trained with
    assert after == before
    fit(corpus, tiny(0), tmp_path / "none")  # nothing to train, but a new run has its record
    assert json.loads((tmp_path / "none" / "config.json").read_text())["threads"] >= 1


def test_other_settings_in_an_existing_run_are_refused(small_corpus, tmp_path):
    corpus = Corpus(small_corpus)
    fit(corpus, tiny(2), tmp_path / "r")
    with pytest.raises(InputError, match="train.lr"):
        fit(corpus, tiny(4, lr=1e-3), tmp_path / "r")
    r = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "r"), "--lr", "0.1"])
    assert r.exit_code == 2 and "cannot change when resuming" in r.output


def test_resume_with_another_charset_is_refused(small_corpus, tmp_path):
    fit(Corpus(small_corpus), tiny(2), tmp_path / "r")
    other = tmp_path / "other.txt"
    other.write_text("\n".join(["xyz only"] * 50), encoding="utf-8")
    from textwgan.preparation import prepare

    prepare([str(other)], tmp_path / "oc", heldout_fraction=0.2)
    with pytest.raises(InputError, match="another charset"):
        fit(Corpus(tmp_path / "oc"), tiny(4), tmp_path / "r")


def test_moving_average_of_the_generator(small_corpus, tmp_path):
    from textwgan.checkpoint import export_generator
    from textwgan.sample import generator_from
    from textwgan.steps import build_state, update_ema

    config = tiny(6, ema=0.9)
    state = build_state(config, 7, torch.device("cpu"))
    start = [p.clone() for p in state.generator_ema.parameters()]
    with torch.no_grad():
        for p in state.generator.parameters():
            p.add_(1.0)
    update_ema(state, 0.9)  # n = 0: d = min(0.9, 1/10) = 0.1
    for avg, s, p in zip(state.generator_ema.parameters(), start, state.generator.parameters(),
                         strict=True):
        torch.testing.assert_close(avg, 0.1 * s + 0.9 * p)
    update_ema(state, 0.9)  # n = 1: d = 2/11
    assert state.ema_updates.item() == 2
    # Resuming keeps the average exactly; sampling and exports use it.
    corpus = Corpus(small_corpus)
    fit(corpus, config, tmp_path / "straight")
    fit(corpus, tiny(3, ema=0.9), tmp_path / "split")
    fit(corpus, config, tmp_path / "split")
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert_same_training_state(a, b)
    assert a["ema_updates"] == b["ema_updates"] == 6
    for k in a["generator_ema"]:
        assert torch.equal(a["generator_ema"][k], b["generator_ema"][k])
        assert not torch.equal(a["generator_ema"][k], a["generator"][k])
    gen = generator_from(a, tmp_path / "straight")
    for k, v in gen.generator.state_dict().items():
        assert torch.equal(v, a["generator_ema"][k])
    assert export_generator(a)["generator"] is a["generator_ema"]
    # The small preset averages; --ema 0 turns it off.
    from textwgan.config import build_config

    assert build_config("small").train.ema == 0.999
    assert build_state(build_config("tiny", ema=0), 7, torch.device("cpu")).generator_ema is None
    with pytest.raises(InputError, match="from 0 .off. to below 1"):
        build_config("tiny", ema=1.0)


def test_a_thread_count_is_used_for_the_call_and_then_given_back(small_corpus, tmp_path):
    before = torch.get_num_threads()
    other = 1 if before > 1 else 2
    events = []
    run = fit(Corpus(small_corpus), tiny(2), tmp_path / "r", threads=other,
              on_event=lambda kind, r: events.append((kind, r)))
    assert [r["threads"] for k, r in events if k == "start"] == [other]
    assert torch.get_num_threads() == before
    # Resuming with another count says the continuation is exact only up to rounding.
    events.clear()
    fit(Corpus(small_corpus), tiny(4), run, on_event=lambda kind, r: events.append((kind, r)))
    notes = [r["message"] for k, r in events if k == "note"]
    assert any(f"trained with {other} CPU threads and now uses {before}" in m for m in notes)
    r = CliRunner().invoke(app, ["sample", "--checkpoint", str(run), "-n", "2",
                                 "--threads", str(other)])
    assert r.exit_code == 0, r.output
    assert torch.get_num_threads() == before


def test_a_busy_cpu_gets_a_hint_unless_threads_were_chosen(small_corpus, tmp_path, monkeypatch):
    if torch.get_num_threads() < 2:
        pytest.skip("the hint is about several threads")
    monkeypatch.setattr(os, "getloadavg", lambda: (1.7, 1.0, 1.0))
    for threads, expected in ((None, True), (torch.get_num_threads(), False)):
        events = []
        fit(Corpus(small_corpus), tiny(1), tmp_path / f"r{threads}", threads=threads,
            on_event=lambda kind, r, events=events: events.append((kind, r)))
        notes = [r["message"] for k, r in events if k == "note"]
        assert any("load average 1.7" in m and "--threads 1" in m for m in notes) == expected
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 1.0, 1.0))
    events = []
    fit(Corpus(small_corpus), tiny(1), tmp_path / "idle", on_event=lambda k, r: events.append(r))
    assert not any("load average" in r.get("message", "") for r in events)



def test_train_hands_back_torchs_global_rng(small_corpus, tmp_path):
    """A run seeds torch's global generator for its weights; the caller's state comes back,
    as its thread count and TF32 flags do (conftest checks those for every test)."""
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    fit(Corpus(small_corpus), tiny(2), tmp_path / "r")
    assert torch.equal(torch.rand(3), expected)

"""Crash safety and exact resume: interrupted runs continue bit for bit, kills never leave an
unloadable checkpoint, signals save and exit with 128 + signum, NaN stops the run cleanly."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import fit
from typer.testing import CliRunner

from textwgan.checkpoint import VERSION, load_checkpoint, save_checkpoint
from textwgan.cli import app
from textwgan.config import get_preset
from textwgan.corpus import Corpus
from textwgan.errors import Diverged, InputError, WriteError

ROOT = Path(__file__).resolve().parent.parent


def tiny(iters: int, **kw):
    return get_preset("tiny").with_overrides(iters=iters, eval_every=4, save_every=2, **kw)


def assert_same_training_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"]
    for part in ("generator", "critic"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    for part in ("opt_generator", "opt_critic"):
        for i, st in a[part]["state"].items():
            for k, v in st.items():
                assert torch.equal(v, b[part]["state"][i][k]), (part, i, k)
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


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


def test_checkpoint_rotation_keeps_last_k_and_best(small_corpus, tmp_path):
    corpus = Corpus(small_corpus)
    run = fit(corpus, tiny(12, keep_last=2), tmp_path / "r")
    assert sorted(p.name for p in run.glob("step_*.pt")) == ["step_0000010.pt",
                                                            "step_0000012.pt"]
    best = load_checkpoint(run / "best.pt")
    js4 = {m["step"]: m["js4"] for m in load_checkpoint(run / "checkpoint.pt")["metrics"]}
    assert best["step"] == min(js4, key=js4.get)


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


def test_nan_loss_stops_with_last_good_checkpoint(small_corpus, tmp_path, monkeypatch):
    import textwgan.training as tr

    real_step = tr.generator_step
    calls = {"n": 0}

    def poisoned(state, config, device):
        calls["n"] += 1
        loss = real_step(state, config, device)
        return loss * float("nan") if calls["n"] >= 4 else loss  # from step 4 on

    monkeypatch.setattr(tr, "generator_step", poisoned)
    with pytest.raises(Diverged, match="NaN or Inf"):
        fit(Corpus(small_corpus), tiny(20).with_overrides(log_every=5), tmp_path / "r")
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert ckpt["step"] == 2  # saved before the poison; the bad steps were never saved
    assert all(torch.isfinite(v).all() for v in ckpt["generator"].values())


def test_full_disk_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"format": "textwgan.checkpoint", "version": VERSION, "step": 1}, path)
    before = path.read_bytes()

    def full_disk(obj, f, *a, **kw):
        f.write(b"partial bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(WriteError, match="No space left on device; free some space.*the "
                                         "previous file is kept"):
        save_checkpoint({"format": "textwgan.checkpoint", "version": VERSION, "step": 2}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary left


def test_newer_format_version_is_refused(tmp_path):
    save_checkpoint({"format": "textwgan.checkpoint", "version": VERSION + 1},
                    tmp_path / "c.pt")
    with pytest.raises(InputError, match="newer"):
        load_checkpoint(tmp_path / "c.pt")
    torch.save({"model": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a textwgan checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_a_version_1_checkpoint_resumes_in_todays_form(small_corpus, tmp_path):
    # Version 1 files had no training time (it came from the last evaluation) and kept every
    # GPU's RNG state in a list; loading brings them to version 2, and nothing else reads v1.
    run = fit(small_corpus, get_preset("tiny").with_overrides(iters=10), tmp_path / "r")
    path = run / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["version"] = 1
    del ckpt["elapsed"]
    ckpt["metrics"] = [{"step": 0, "time": 1.5}, {"step": 10, "time": 4.25}]
    ckpt["rng"]["cuda"] = [torch.arange(3, dtype=torch.uint8), torch.zeros(3, dtype=torch.uint8)]
    torch.save(ckpt, path)
    loaded = load_checkpoint(path)
    assert loaded["version"] == 2 and loaded["elapsed"] == 4.25
    assert torch.equal(loaded["rng"]["cuda"], torch.arange(3, dtype=torch.uint8))
    ckpt["version"] = 2  # a version 2 file must carry its own training time
    torch.save(ckpt, path)
    with pytest.raises(InputError, match="has no elapsed"):
        load_checkpoint(path)


def _start_training(run: Path, corpus: Path, save_every: int = 1000) -> subprocess.Popen:
    # The default thread count, as in this process: float sums depend on it.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "textwgan", "train", str(corpus), "--preset", "tiny",
         "--iters", "100000", "--eval-every", "100000", "--save-every", str(save_every),
         "--device", "cpu", "--seed", "2", "--out", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _wait_for_steps(run: Path, proc: subprocess.Popen, n_records: int, timeout: float = 120):
    deadline = time.monotonic() + timeout
    log = run / "log.jsonl"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if log.exists() and log.read_text().count('"kind": "train"') >= n_records:
            return
        time.sleep(0.05)
    raise AssertionError("training made no progress")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_and_resumes_exactly(small_corpus, tmp_path, sig):
    run = tmp_path / "run"
    proc = _start_training(run, small_corpus)
    _wait_for_steps(run, proc, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "resume with: textwgan train --resume" in err
    assert "Traceback" not in err
    stopped = load_checkpoint(run / "checkpoint.pt")
    n = stopped["step"]
    assert n >= 10  # at least the two logged steps' worth

    # Resuming to n + 3 gives exactly what n + 3 uninterrupted steps give.
    r = CliRunner().invoke(app, ["train", "--resume", str(run), "--iters", str(n + 3)])
    assert r.exit_code == 0, r.output
    config = get_preset("tiny").with_overrides(iters=n + 3, seed=2, eval_every=100000,
                                               save_every=1000)
    fit(Corpus(small_corpus), config, tmp_path / "straight")
    assert_same_training_state(load_checkpoint(run / "checkpoint.pt"),
                               load_checkpoint(tmp_path / "straight" / "checkpoint.pt"))


def test_kill_9_never_leaves_an_unloadable_checkpoint(small_corpus, tmp_path):
    run = tmp_path / "run"
    rnd = random.Random(0)
    last_step = 0
    for _ in range(3):
        proc = _start_training(run, small_corpus, save_every=1)  # saving all the time
        _wait_for_steps(run, proc, 1)
        time.sleep(rnd.uniform(0.0, 0.5))
        proc.kill()
        proc.communicate()
        ckpt = load_checkpoint(run / "checkpoint.pt")  # always whole
        assert ckpt["step"] >= last_step  # each restart resumed, nothing older came back
        last_step = ckpt["step"]
    assert last_step > 0


def test_stale_temporary_files_are_cleared_on_resume(small_corpus, tmp_path):
    corpus = Corpus(small_corpus)
    fit(corpus, tiny(2), tmp_path / "r")
    (tmp_path / "r" / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    fit(corpus, tiny(4), tmp_path / "r")
    assert not list((tmp_path / "r").glob(".*.tmp"))


def test_moving_average_of_the_generator(small_corpus, tmp_path):
    from textwgan.checkpoint import export_generator
    from textwgan.sample import generator_from
    from textwgan.training import build_state, update_ema

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

"""End to end through the CLI: prepare → train tiny → sample → eval; errors; repeatability."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from conftest import BUNDLED, COCO_TEST, COCO_TRAIN, invoke

from textwgan.checkpoint import FORMAT, VERSION, load_checkpoint
from textwgan.corpus import Corpus

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """prepare → train tiny: the run folder and the corpus folder."""
    d = tmp_path_factory.mktemp("e2e")
    lines = COCO_TRAIN.read_text(encoding="utf-8").splitlines()
    (d / "train.txt").write_text("\n".join(lines[:1500]), encoding="utf-8")
    (d / "held.txt").write_text("\n".join(COCO_TEST.read_text().splitlines()[:300]),
                                encoding="utf-8")
    r = invoke("prepare", d / "train.txt", "--heldout-file", d / "held.txt", "--out",
               d / "corpus")
    assert r.exit_code == 0, r.output
    split = re.search(r"1,500 / ([\d,]+) / ([\d,]+)", r.output)  # train / validation / test
    assert split and sum(int(x.replace(",", "")) for x in split.groups()) == 300, r.output
    r = invoke("train", d / "corpus", "--preset", "tiny", "--iters", "6", "--eval-every", "3",
               "--device", "cpu", "--seed", "1", "--out", d / "run")
    assert r.exit_code == 0, r.output
    return d / "run", d / "corpus"


def test_train_writes_a_complete_run(trained):
    run, _ = trained
    assert (run / "checkpoint.pt").is_file() and (run / "config.json").is_file()
    records = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [0, 3, 6]  # step 0, every 3, and the last step
    train_rows = [r for r in records if r["kind"] == "train"]
    assert train_rows and all({"w_estimate", "penalty", "critic_loss", "generator_loss", "time"}
                              <= set(r) for r in train_rows)
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_0000000.txt", "step_0000003.txt", "step_0000006.txt"]


def test_checkpoint_is_self_contained_and_weights_only(trained):
    run, corpus = trained
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["format"] == FORMAT and ckpt["version"] == VERSION and ckpt["step"] == 6
    assert {"config", "charset", "generator", "critic", "opt_generator", "opt_critic", "rng",
            "metrics"} <= set(ckpt)
    assert ckpt["config"]["preset"] == "tiny" and ckpt["config"]["train"]["seed"] == 1
    assert ckpt["charset"] == json.loads((corpus / "charset.json").read_text())["chars"]
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 6


def test_sample_then_eval(trained, tmp_path):
    run, corpus = trained
    r = invoke("sample", "-n", "50", "--checkpoint", run, "--out", tmp_path / "s.txt")
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "s.txt").read_text(encoding="utf-8").split("\n")
    assert len(lines) == 51 and lines[-1] == ""  # 50 lines, each ended by a newline
    r = invoke("eval", tmp_path / "s.txt", "--corpus", corpus, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    for k in ("js1", "js2", "js3", "js4", "floor_js1", "floor_js4", "n", "reference_size"):
        assert k in report
    test = Corpus(corpus).meta["counts"]["heldout"]  # the test split: 300 less validation
    assert report["n"] == 50 and report["reference_size"] == test < 300
    assert all(0 <= report[f"js{n}"] <= 1 for n in (1, 2, 3, 4))
    r = invoke("eval", tmp_path / "s.txt", "--corpus", corpus)
    assert r.exit_code == 0 and "JS-4" in r.output and "textwgan-eval|" in r.output


@pytest.mark.parametrize("args,message", [
    (("-n", "0"), "-n must be at least 1"),
    (("-n", "100000000"), "more than one call makes"),
    (("--temperature", "-1"), "--temperature"),
])
def test_sample_bad_values(trained, args, message):
    run, _ = trained
    r = invoke("sample", "--checkpoint", run, *args)
    assert r.exit_code == 2 and message in r.output


def test_unwritable_outputs_are_one_line_errors(trained, tmp_path):
    run, corpus = trained
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    r = invoke("sample", "-n", "2", "--checkpoint", run, "--out", blocker / "s.txt")
    assert r.exit_code == 2 and "cannot write" in r.output
    r = invoke("train", corpus, "--preset", "tiny", "--iters", "1", "--out", blocker / "run")
    assert r.exit_code == 2 and "cannot create the run folder" in r.output


def test_same_seed_same_samples_and_temperature(trained):
    run, _ = trained
    a = invoke("sample", "-n", "20", "--checkpoint", run, "--seed", "3").stdout
    b = invoke("sample", "-n", "20", "--checkpoint", run, "--seed", "3").stdout
    c = invoke("sample", "-n", "20", "--checkpoint", run, "--seed", "4").stdout
    assert a == b and a != c
    t1 = invoke("sample", "-n", "20", "--checkpoint", run, "--temperature", "1.0").stdout
    assert t1 == invoke("sample", "-n", "20", "--checkpoint", run, "--temperature", "1.0").stdout
    assert t1 != invoke("sample", "-n", "20", "--checkpoint", run).stdout


def test_same_seed_same_training(trained, tmp_path):
    run, corpus = trained
    r = invoke("train", corpus, "--preset", "tiny", "--iters", "6", "--eval-every", "3",
               "--device", "cpu", "--seed", "1", "--out", tmp_path / "again")
    assert r.exit_code == 0, r.output
    a = torch.load(run / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "again" / "checkpoint.pt", weights_only=True)
    for part in ("generator", "critic"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)


def test_sample_without_checkpoint_uses_newest_run(trained, tmp_path, monkeypatch):
    run, _ = trained
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("textwgan.checkpoint.shipped_models", lambda: {})
    r = invoke("sample", "-n", "3")
    assert r.exit_code == 2 and "no run found" in r.output
    (tmp_path / "checkpoints" / "r1").mkdir(parents=True)
    (tmp_path / "checkpoints" / "r1" / "checkpoint.pt").write_bytes(
        (run / "checkpoint.pt").read_bytes())
    r = invoke("sample", "-n", "3", "--seed", "3")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 3
    assert r.stdout == invoke("sample", "-n", "3", "--seed", "3", "--checkpoint", run).stdout


def test_train_on_a_text_file_prepares_and_caches(tmp_path):
    src = tmp_path / "mine.txt"
    src.write_text("\n".join(COCO_TRAIN.read_text().splitlines()[:400]), encoding="utf-8")
    args = ("train", src, "--preset", "tiny", "--iters", "2", "--eval-every", "2", "--device",
            "cpu")
    r = invoke(*args, "--out", tmp_path / "r1")
    assert r.exit_code == 0 and "preparing" in r.output, r.output
    r = invoke(*args, "--out", tmp_path / "r2")
    assert r.exit_code == 0 and "reusing prepared corpus" in r.output, r.output


@pytest.mark.parametrize("args,code,message", [
    (("train", "/no/such/file.txt", "--preset", "tiny"), 2, "no such file"),
    (("train", "--preset", "tiny", "--critic-norm", "batch"), 2, "batch norm"),
    (("train", "--preset", "huge"), 2, "unknown --preset 'huge'"),
    (("train", "--preset", "tiny", "--batch-size", "0"), 2,
     "--batch-size must be an integer from 1"),
    (("train", "--preset", "tiny", "--lr", "-1"), 2, "--lr must be a positive finite number"),
    (("train", "--preset", "tiny", "--iters", "-1"), 2, "--iters must be an integer from 0"),
    (("train", "--preset", "tiny", "--batch-size", "999999999"), 2, "to 1,048,576, got"),
    (("sample", "-n", "1", "--checkpoint", str(BUNDLED / "meta.json")), 2, "not a textwgan"),
    (("prepare", "/no/such.txt", "--out", "x"), 2, "no such file"),
    (("prepare", str(COCO_TRAIN), "--out", "x", "--seq-len", "0"), 2, "--seq-len"),
    (("eval", "/no/such.txt", "--corpus", str(BUNDLED)), 2, "no such file"),
])
def test_bad_input_one_line_and_exit_code(args, code, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke(*args)
    assert r.exit_code == code, r.output
    assert message in r.output
    assert "Traceback" not in r.output
    error_lines = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(error_lines) == 1


def test_checkpoint_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": FORMAT, "x": Evil()}, tmp_path / "evil.pt")
    r = invoke("sample", "--checkpoint", tmp_path / "evil.pt")
    assert r.exit_code == 2 and "refused" in r.output and "open" in r.output
    assert not marker.exists()
    # A truncated checkpoint is refused without a traceback.
    (tmp_path / "cut.pt").write_bytes((tmp_path / "evil.pt").read_bytes()[:200])
    r = invoke("sample", "--checkpoint", tmp_path / "cut.pt")
    assert r.exit_code == 2 and "not a textwgan checkpoint" in r.output


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "textwgan", "--version"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("textwgan ")


def test_shipped_generator_samples_right_after_install(tmp_path, monkeypatch):
    from textwgan.assets import shipped_generator

    SHIPPED = shipped_generator()
    monkeypatch.chdir(tmp_path)  # no checkpoints/ here: the shipped generator is used
    r = invoke("sample", "-n", "20", "--seed", "1")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 20 and sum(map(len, lines)) > 200
    from textwgan.modelfolder import load_any

    ckpt = load_any(SHIPPED)  # a model folder: safetensors, config.json, a card
    assert ckpt["export"] == "generator" and "critic" in ckpt  # it can rerank
    shipped = json.loads((SHIPPED / "config.json").read_text())
    assert shipped["evaluation"]["n"] == 640 and shipped["step"] == ckpt["step"]
    assert f"| JS-4 | {shipped['evaluation']['js4']:.3f}" in (SHIPPED / "README.md").read_text()
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) <= 25 * 2**20


def test_export_is_small_and_samples_the_same(trained, tmp_path):
    run, _ = trained
    r = invoke("export", run, "--out", tmp_path / "g.pt")
    assert r.exit_code == 0, r.output
    full, small = (run / "checkpoint.pt").stat().st_size, (tmp_path / "g.pt").stat().st_size
    assert small < full / 2
    a = invoke("sample", "-n", "5", "--checkpoint", run).stdout
    assert a == invoke("sample", "-n", "5", "--checkpoint", tmp_path / "g.pt").stdout
    r = invoke("train", "--resume", tmp_path / "g.pt")
    assert r.exit_code == 2 and "not a run folder with a checkpoint.pt" in r.output

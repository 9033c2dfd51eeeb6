"""Hostile input and faults through the real commands: one clear line, exit code 2 (1 for a
fault of the machine), no traceback, and nothing lost or half-written on disk."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BUNDLED, COCO_TEST, ROOT, assert_one_line_error, invoke, snapshot, wait_for

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_corpus):
    """A tiny finished run: 4 steps, a checkpoint at 2 and 4."""
    d = tmp_path_factory.mktemp("hard")
    r = invoke("train", small_corpus, "--preset", "tiny", "--iters", "4", "--save-every", "2",
               "--eval-every", "2", "--out", d / "run")
    assert r.exit_code == 0, r.output
    return d / "run"


def copy_run(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


# --------------------------------------------------------------------------------------------
# Data loss


def test_export_never_overwrites_a_training_checkpoint(run, tmp_path):
    r_dir = copy_run(run, tmp_path)
    before = snapshot(r_dir)
    for target in ("checkpoint.pt", "best.pt", "step_0000004.pt"):
        assert_one_line_error(invoke("export", r_dir, "--out", r_dir / target), 2,
                              "is a PyTorch checkpoint")
    assert_one_line_error(invoke("export", r_dir, "--out", r_dir / "log.jsonl"), 2,
                          "belongs to the training run")
    assert snapshot(r_dir) == before
    r = invoke("train", "--resume", r_dir, "--iters", "6")  # the run still resumes
    assert r.exit_code == 0, r.output
    # An earlier export may be replaced by a new one.
    assert invoke("export", r_dir, "--out", tmp_path / "g.pt").exit_code == 0
    assert invoke("export", r_dir, "--out", tmp_path / "g.pt").exit_code == 0


def test_outputs_never_replace_a_run_or_corpus_file(run, tmp_path):
    r_dir = copy_run(run, tmp_path)
    shutil.copytree(BUNDLED, tmp_path / "corpus")
    before = snapshot(tmp_path)
    cases = [("sample", "-n", "2", "--checkpoint", r_dir, "--out", r_dir / "checkpoint.pt"),
             ("sample", "-n", "2", "--checkpoint", r_dir, "--out", r_dir / "config.json"),
             ("sample", "-n", "2", "--checkpoint", r_dir, "--out", tmp_path / "corpus/meta.json"),
             ("baseline", tmp_path / "corpus", "-n", "2", "--out", r_dir / "best.pt"),
             ("sample", "-n", "2", "--checkpoint", r_dir, "--out", r_dir),
             ("export", r_dir, "--out", tmp_path)]
    for args in cases:
        assert_one_line_error(invoke(*args), 2)
    assert snapshot(tmp_path) == before


def test_prepare_never_deletes_what_it_did_not_make(tmp_path, run):
    src = tmp_path / "t.txt"
    src.write_text("\n".join(f"line {i}" for i in range(40)), encoding="utf-8")
    # a folder of a user's files with a meta.json; a corpus with notes; a run in a corpus folder
    (tmp_path / "theirs" / "data").mkdir(parents=True)
    (tmp_path / "theirs" / "meta.json").write_text("{}", encoding="utf-8")
    (tmp_path / "theirs" / "thesis.txt").write_text("years", encoding="utf-8")
    assert invoke("prepare", src, "--out", tmp_path / "c").exit_code == 0
    (tmp_path / "c" / "NOTES.md").write_text("mine", encoding="utf-8")
    shutil.copytree(BUNDLED, tmp_path / "c2")
    shutil.copy(run / "checkpoint.pt", tmp_path / "c2" / "checkpoint.pt")
    (tmp_path / "file").write_text("a file", encoding="utf-8")
    before = snapshot(tmp_path)
    for out in ("theirs", "c", "c2", "file"):
        assert_one_line_error(invoke("prepare", src, "--out", tmp_path / out), 2)
    assert snapshot(tmp_path) == before


def test_train_refuses_a_folder_that_is_not_a_run(tmp_path, small_corpus):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "paper.tex").write_text("x", encoding="utf-8")
    shutil.copytree(BUNDLED, tmp_path / "corpus")
    before = snapshot(tmp_path)
    for out, fragment in (("stuff", "not a textwgan run folder"),
                          ("corpus", "is a corpus folder")):
        assert_one_line_error(invoke("train", small_corpus, "--preset", "tiny", "--out",
                                     tmp_path / out), 2, fragment)
    assert snapshot(tmp_path) == before


def _train_process(run: Path, corpus: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "textwgan", "train", str(corpus), "--preset", "tiny",
         "--iters", "100000", "--eval-every", "100000", "--save-every", "5", "--device", "cpu",
         "--out", str(run), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_a_second_train_into_the_same_folder_is_refused(tmp_path, small_corpus):
    run = tmp_path / "run"
    first = _train_process(run, small_corpus)
    try:
        wait_for(run / "log.jsonl", first, '"kind": "train"')
        log_before = (run / "log.jsonl").read_text()
        for args in (("train", small_corpus, "--preset", "tiny", "--iters", "100000",
                      "--eval-every", "100000", "--save-every", "5", "--out", run),
                     ("train", "--resume", run, "--iters", "200000")):
            r = invoke(*args)
            assert_one_line_error(r, 2, "another textwgan train is using this run folder",
                                  f"pid {first.pid}")
        assert (run / "log.jsonl").read_text().startswith(log_before)  # the first one's log
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130


def _limit_file_size(max_bytes: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def test_a_full_disk_is_one_line_and_the_run_resumes(tmp_path, small_corpus):
    run = tmp_path / "run"
    ok = invoke("train", small_corpus, "--preset", "tiny", "--iters", "4", "--save-every", "2",
                "--eval-every", "2", "--out", run)
    assert ok.exit_code == 0, ok.output
    good = run.joinpath("checkpoint.pt").read_bytes()
    # Resume with a file-size limit below a checkpoint's size: its save fails (EFBIG, as a full
    # disk would), and the log is torn mid-line by the same limit.
    limit = len(good) // 2
    (run / "log.jsonl").write_text((run / "log.jsonl").read_text() + "x" * (limit + 10),
                                   encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "textwgan", "train", "--resume", str(run),
                        "--iters", "8"], capture_output=True, text=True, cwd=ROOT,
                       preexec_fn=_limit_file_size(limit), timeout=300)
    assert r.returncode in (1, 2), r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("error:") == 1, r.stderr
    assert "could not write" in r.stderr or "cannot write" in r.stderr, r.stderr
    assert run.joinpath("checkpoint.pt").read_bytes() == good  # the old one is kept
    # Without the limit the run resumes, the torn last line dropped.
    with open(run / "log.jsonl", "a", encoding="utf-8") as f:
        f.write('{"kind": "train", "step": 9, "w_est')  # a record torn mid-write
    r = invoke("train", "--resume", run, "--iters", "8")
    assert r.exit_code == 0, r.output
    records = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "eval" and records[-1]["step"] == 8
    assert not list(run.glob(".*.tmp"))


def test_interrupted_training_is_not_an_error(tmp_path, small_corpus):
    run = tmp_path / "run"
    proc = _train_process(run, small_corpus)
    wait_for(run / "log.jsonl", proc, '"kind": "train"')
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "error" not in err.lower() and "Traceback" not in err
    assert "stopped at step" in err and f"resume with: textwgan train --resume {run}" in err


def test_divergence_before_any_save_says_so(tmp_path, small_corpus, monkeypatch):
    import textwgan.steps as steps
    import textwgan.training as tr
    from textwgan.errors import Diverged

    real = steps.generator_step
    monkeypatch.setattr(steps, "generator_step",
                        lambda *a: real(*a) * float("nan"))
    with pytest.raises(Diverged, match="no checkpoint was saved yet"):
        tr.train(small_corpus, preset="tiny", iters=20, log_every=5, out=tmp_path / "r",
                 device="cpu")


# --------------------------------------------------------------------------------------------
# Options and values


@pytest.mark.parametrize("args,fragment", [
    (("sample", "--seed", "-1"), "--seed must be an integer from 0"),
    (("sample", "--seed", str(2**70)), "--seed must be an integer from 0"),
    (("sample", "--temperature", "nan"), "--temperature must be 0"),
    (("sample", "--temperature", "inf"), "--temperature must be 0"),
    (("sample", "--threads", "0"), "--threads must be an integer from 1"),
    (("train", "--preset", "tiny", "--gp-lambda", "nan"), "--gp-lambda must be a number"),
    (("train", "--preset", "tiny", "--lr", "inf"), "--lr must be a positive finite number"),
    (("train", "--preset", "tiny", "--seed", "-5"), "--seed must be an integer from 0"),
    (("train", "--preset", "tiny", "--betas", "0.5"), "--betas must be two numbers"),
    (("train", "--preset", "tiny", "--betas", "a,b"), "--betas must be comma-separated"),
    (("train", "--preset", "tiny", "--time-limit", "soon"), "--time-limit must be a duration"),
    (("train", "--preset", "tiny", "--data", "foo"), "--data must be one of"),
    (("train", "--preset", "tiny", "--device", "tpu"), "--device must be auto, cpu"),
    (("train", "--preset", "tiny", "--clip-value", "0.1"), "--clip-value applies only with"),
    (("train", "--preset", "tiny", "--seq-len", "64"), "already prepared with seq_len 32"),
    (("train", "--preset", "tiny", "--lowercase"), "already prepared with lowercase False"),
    (("eval", COCO_TEST, "--corpus", BUNDLED, "--lm-order", "0"), "--lm-order must be"),
    (("eval", COCO_TEST, "--corpus", BUNDLED, "--lm-order", "-2"), "--lm-order must be"),
    (("eval", COCO_TEST, "--corpus", BUNDLED, "--lm-order", "99"), "--lm-order must be"),
    (("eval", COCO_TEST, "--reference", COCO_TEST, "--seq-len", "99999999"), "--seq-len must"),
    (("eval", COCO_TEST, "--corpus", BUNDLED, "--seed", "-1"), "--seed must be"),
    (("eval", COCO_TEST, "--corpus", BUNDLED, "--orders", "0,2"), "--orders must be positive"),
    (("eval", COCO_TEST, "--corpus", BUNDLED, "--orders", "1,40"), "beyond the sequence"),
    (("eval", COCO_TEST, "--corpus", BUNDLED, "--n", "0"), "--n must be an integer from 1"),
    (("bench", COCO_TEST, "--corpus", BUNDLED, "--temperatures", "0.5,x"), "--temperatures"),
    (("bench", COCO_TEST, "--corpus", BUNDLED, "--baseline", "gpt"), "--baseline must be"),
    (("prepare", COCO_TEST, "--out", "c", "--seq-len", "2"), "--seq-len must be an integer"),
    (("prepare", COCO_TEST, "--out", "c", "--heldout-fraction", "nan"), "--heldout-fraction"),
    (("prepare", COCO_TEST, "--out", "c", "--seed", "-1"), "--seed must be an integer"),
    (("baseline", BUNDLED, "--order", "0"), "--order must be an integer"),
])
def test_bad_values_are_one_line_before_anything_is_written(args, fragment, tmp_path,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(invoke(*args, *(["--out", "run"] if args[0] == "train" else [])),
                          2, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no run folder, no corpus


def test_resume_below_the_current_step_says_so(run, tmp_path):
    r_dir = copy_run(run, tmp_path)
    before = snapshot(r_dir)
    assert_one_line_error(invoke("train", "--resume", r_dir, "--iters", "2"), 2,
                          "is at step 4 already", "--iters 4 or more")
    assert snapshot(r_dir) == before
    r = invoke("train", "--resume", r_dir, "--iters", "4")  # already there: nothing to do
    assert r.exit_code == 0 and "done" in r.output


# --------------------------------------------------------------------------------------------
# Damaged corpora and checkpoints


def corrupt_corpus(folder: Path, how: str) -> None:
    if how == "missing train.npy":
        (folder / "train.npy").unlink()
    elif how == "truncated heldout.npy":
        data = (folder / "heldout.npy").read_bytes()
        (folder / "heldout.npy").write_bytes(data[: len(data) // 2])
    elif how == "object array":
        np.save(folder / "train.npy", np.array([["a"] * 32] * 3, dtype=object),
                allow_pickle=True)
    elif how == "float array":
        np.save(folder / "train.npy", np.zeros((10000, 32), dtype=np.float32))
    elif how == "meta without counts":
        meta = json.loads((folder / "meta.json").read_text())
        del meta["counts"]
        (folder / "meta.json").write_text(json.dumps(meta))
    elif how == "meta disagrees":
        meta = json.loads((folder / "meta.json").read_text())
        meta["counts"]["train"] = 123
        (folder / "meta.json").write_text(json.dumps(meta))
    elif how == "meta seq_len 2":
        meta = json.loads((folder / "meta.json").read_text())
        meta["seq_len"] = 2
        (folder / "meta.json").write_text(json.dumps(meta))
    elif how == "meta not JSON":
        (folder / "meta.json").write_text("{not json")
    elif how == "charset shorter":
        cs = json.loads((folder / "charset.json").read_text())
        cs["chars"] = cs["chars"][:5]
        (folder / "charset.json").write_text(json.dumps(cs))
    elif how == "charset missing":
        (folder / "charset.json").unlink()


CORPUS_DAMAGE = ["missing train.npy", "truncated heldout.npy", "object array", "float array",
                 "meta without counts", "meta disagrees", "meta seq_len 2", "meta not JSON",
                 "charset shorter", "charset missing"]


@pytest.mark.parametrize("how", CORPUS_DAMAGE)
def test_a_damaged_corpus_folder_is_one_line_everywhere(how, tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(BUNDLED, folder)
    corrupt_corpus(folder, how)
    before = snapshot(tmp_path)
    for args in (("train", folder, "--preset", "tiny", "--iters", "1", "--out",
                  tmp_path / "run"),
                 ("eval", COCO_TEST, "--corpus", folder),
                 ("bench", COCO_TEST, "--corpus", folder),
                 ("baseline", folder, "-n", "3")):
        assert_one_line_error(invoke(*args), 2)
    assert snapshot(tmp_path) == before


def damage_checkpoint(src: Path, dst: Path, how: str) -> None:
    if how == "bit flip":
        data = bytearray(src.read_bytes())
        with zipfile.ZipFile(src) as z:
            info = next(i for i in z.infolist() if i.filename.endswith("/data/0"))
        data[info.header_offset + 200] ^= 0x04  # inside the first tensor's bytes
        dst.write_bytes(bytes(data))
        return
    ckpt = torch.load(src, weights_only=True)
    if how == "missing generator":
        del ckpt["generator"]
    elif how == "missing critic":
        del ckpt["critic"]
    elif how == "wrong shape":
        ckpt["generator"]["out.weight"] = torch.zeros(3, 3, 1)
    elif how == "charset longer than the weights":
        ckpt["charset"] = ckpt["charset"] + ["Ω"]
    elif how == "bad config":
        ckpt["config"] = {"model": {"channels": "many"}, "train": {}}
    elif how == "step negative":
        ckpt["step"] = -3
    elif how == "missing corpus":
        del ckpt["corpus"]
    elif how == "metrics not records":
        ckpt["metrics"] = [1, 2]
    elif how == "corpus a string":
        ckpt["corpus"] = "coco"
    elif how == "corpus without a path":
        del ckpt["corpus"]["path"]
    elif how == "fingerprint a number":
        ckpt["corpus"]["fingerprint"] = 5
    elif how == "optimizer a string":
        ckpt["opt_generator"] = "adam"
    elif how == "rng without torch":
        del ckpt["rng"]["torch"]
    elif how == "metric holding text":
        ckpt["metrics"][-1]["js4"] = "good"
    torch.save(ckpt, dst)


@pytest.mark.parametrize("how", ["bit flip", "missing generator", "missing critic",
                                 "wrong shape", "charset longer than the weights",
                                 "bad config", "step negative", "missing corpus",
                                 "metrics not records", "corpus a string",
                                 "corpus without a path", "fingerprint a number",
                                 "optimizer a string", "rng without torch",
                                 "metric holding text"])
def test_a_damaged_checkpoint_is_one_line_everywhere(run, tmp_path, how):
    r_dir = copy_run(run, tmp_path)
    damage_checkpoint(run / "checkpoint.pt", r_dir / "checkpoint.pt", how)
    before = snapshot(tmp_path)
    for args in (("sample", "-n", "2", "--checkpoint", r_dir),
                 ("eval", r_dir, "--corpus", BUNDLED, "--n", "5"),
                 ("export", r_dir, "--out", tmp_path / "g.pt"),
                 ("train", "--resume", r_dir, "--iters", "6")):
        assert_one_line_error(invoke(*args), 2, "checkpoint")
    assert snapshot(tmp_path) == before


def test_eval_refuses_binary_files_and_foreign_archives(tmp_path, run):
    (tmp_path / "bin.dat").write_bytes(b"\x00\x01\x02" * 100)
    torch.save({"model": torch.zeros(3)}, tmp_path / "model.pth")
    assert_one_line_error(invoke("eval", tmp_path / "bin.dat", "--corpus", BUNDLED), 2,
                          "binary")
    assert_one_line_error(invoke("eval", tmp_path / "model.pth", "--corpus", BUNDLED), 2,
                          "not a textwgan checkpoint")
    # Our own checkpoint under any name is a model: its samples are drawn and scored.
    shutil.copy(run / "checkpoint.pt", tmp_path / "mine.bin")
    r = invoke("eval", tmp_path / "mine.bin", "--corpus", BUNDLED, "--n", "20", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n"] == 20


def test_paths_print_as_they_are(tmp_path):
    odd = tmp_path / ":cat: [bold]x[/] ~"
    r = invoke("sample", "--checkpoint", odd)
    assert_one_line_error(r, 2, str(odd))
    assert "🐱" not in r.output


@pytest.mark.parametrize("content,fragment", [
    ("{not json", "not valid JSON"),
    ('["a list"]', "holds no run settings"),
])
def test_plot_refuses_a_bad_config(run, tmp_path, content, fragment):
    r_dir = copy_run(run, tmp_path)
    (r_dir / "config.json").write_text(content, encoding="utf-8")
    assert_one_line_error(invoke("plot", r_dir), 2, fragment)


@pytest.mark.parametrize("line,fragment", [
    ("[1, 2, 3]", "not a JSON object"),
    ('{"kind": "eval", "step": 3}', "without step, js4, time"),
    ("garbage that is not json", "log.jsonl:2: not a JSON object"),
])
def test_plot_refuses_a_bad_log_line(run, tmp_path, line, fragment):
    r_dir = copy_run(run, tmp_path)
    lines = (r_dir / "log.jsonl").read_text().splitlines()
    lines.insert(1, line)
    (r_dir / "log.jsonl").write_text("\n".join(lines) + "\n")
    assert_one_line_error(invoke("plot", r_dir), 2, fragment)
    # A torn last line alone (a crash mid-write) is skipped, as resuming does.
    (r_dir / "log.jsonl").write_text("\n".join(lines[:1] + lines[2:]) + '\n{"kind": "tr')
    assert invoke("plot", r_dir).exit_code == 0


def test_out_of_memory_is_one_line(monkeypatch, run):
    import textwgan.sample as smp

    def oom(*a, **k):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: "
                           "can't allocate memory: you tried to allocate 6442450944 bytes")

    monkeypatch.setattr(smp, "id_batches", oom)
    assert_one_line_error(invoke("sample", "--checkpoint", run), 2, "out of memory")


def test_sample_says_which_generator_it_used(run, tmp_path, monkeypatch):
    r = invoke("sample", "-n", "2", "--checkpoint", run)
    assert r.exit_code == 0 and f"using {run / 'checkpoint.pt'} (step 4)" in r.output
    monkeypatch.chdir(tmp_path)
    r = invoke("sample", "-n", "2")
    assert r.exit_code == 0 and "shipped with textwgan" in r.output

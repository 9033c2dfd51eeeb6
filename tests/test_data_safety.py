"""Nothing a user made is lost: the real commands against what a second adversarial sweep did
to them (an --out naming the user's own text, a corpus prepared from itself, a run that lost
its checkpoint.pt, a swap cut by a signal, a lock file deleted under a run). Each checks the
exit code, the single error line, and the files before and after."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import COCO_TRAIN, ROOT, assert_one_line_error, invoke, snapshot

import textwgan
from textwgan.corpus import Corpus
from textwgan.errors import InputError
from textwgan.fileio import aside_path, temp_prefix
from textwgan.run import RunFolder

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A user's text, a corpus prepared from it, and a tiny run trained on that."""
    d = tmp_path_factory.mktemp("safety")
    lines = COCO_TRAIN.read_text(encoding="utf-8").splitlines()[:1200]
    (d / "my_text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = invoke("prepare", d / "my_text.txt", "--out", d / "corpus")
    assert r.exit_code == 0, r.output
    r = invoke("train", d / "corpus", "--preset", "tiny", "--iters", "4", "--save-every", "2",
               "--eval-every", "2", "--out", d / "run")
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture
def here(project, tmp_path):
    """A copy of the project to damage."""
    shutil.copytree(project, tmp_path / "p")
    return tmp_path / "p"


def user_files(folder: Path) -> dict[str, bytes]:
    return snapshot(folder)


OUTPUT_COMMANDS = {
    "sample": lambda p, out: ("sample", "-n", "3", "--checkpoint", p / "run", "--out", out),
    "baseline": lambda p, out: ("baseline", p / "corpus", "-n", "3", "--order", "2", "--out",
                                out),
    "export": lambda p, out: ("export", p / "run", "--out", out),
}


@pytest.mark.parametrize("command", sorted(OUTPUT_COMMANDS))
@pytest.mark.parametrize("victim", ["source text", "notes", "empty file"])
def test_no_out_replaces_a_file_the_user_made(here, command, victim):
    target = {"source text": here / "my_text.txt", "notes": here / "notes.txt",
              "empty file": here / "empty"}[victim]
    if not target.exists():
        target.write_text("" if victim == "empty file" else "my notes\n", encoding="utf-8")
    before = user_files(here)
    r = invoke(*OUTPUT_COMMANDS[command](here, target))
    assert_one_line_error(r, 2, "already exists", "move that file away")
    assert user_files(here) == before


@pytest.mark.parametrize("command", sorted(OUTPUT_COMMANDS))
def test_an_out_textwgan_wrote_may_be_written_again_until_the_user_edits_it(here, command):
    out = here / "out.dat"
    for _ in range(2):
        r = invoke(*OUTPUT_COMMANDS[command](here, out))
        assert r.exit_code == 0, r.output
    if command == "export":
        return  # an export is recognised by its contents, edited or not it is a checkpoint
    out.write_text(out.read_text(encoding="utf-8") + "my own line\n", encoding="utf-8")
    before = user_files(here)
    assert_one_line_error(invoke(*OUTPUT_COMMANDS[command](here, out)), 2, "changed since")
    assert user_files(here) == before


def test_a_figure_out_never_replaces_a_png_the_user_made(here):
    png = here / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    before = user_files(here)
    assert_one_line_error(invoke("plot", here / "run", "--out", png), 2, "already exists")
    assert user_files(here) == before


def test_a_corpus_is_never_read_as_its_own_source(here):
    before = user_files(here)
    r = invoke("prepare", here / "corpus", "--out", here / "corpus")
    assert_one_line_error(r, 2, "is a corpus folder made by textwgan")
    r = invoke("prepare", here / "run", "--out", here / "other")
    assert_one_line_error(r, 2, "is a run folder made by textwgan")
    assert user_files(here) == before
    assert not (here / "other").exists()


def test_a_corpus_prepared_inside_its_source_folder_is_skipped_next_time(tmp_path):
    src = tmp_path / "texts"
    src.mkdir()
    lines = COCO_TRAIN.read_text(encoding="utf-8").splitlines()
    (src / "a.txt").write_text("\n".join(lines[:600]) + "\n", encoding="utf-8")
    (src / "b.txt").write_text("\n".join(lines[600:1200]) + "\n", encoding="utf-8")
    metas = []
    for _ in range(2):
        r = invoke("prepare", src, "--out", src / "corpus")
        assert r.exit_code == 0, r.output
        metas.append(json.loads((src / "corpus" / "meta.json").read_text(encoding="utf-8")))
    assert metas[0]["sources"] == metas[1]["sources"] == ["a.txt", "b.txt"]
    assert metas[0]["fingerprint"] == metas[1]["fingerprint"]


def test_a_run_that_lost_checkpoint_pt_resumes_from_its_newest_step(here):
    run = here / "run"
    (run / "checkpoint.pt").unlink()
    best, log_before = (run / "best.pt").read_bytes(), (run / "log.jsonl").read_text()
    r = invoke("train", here / "corpus", "--preset", "tiny", "--iters", "6", "--save-every",
               "2", "--eval-every", "2", "--out", run)
    assert r.exit_code == 0, r.output
    assert "checkpoint.pt is missing; resuming from step_0000004.pt" in r.output
    assert "resumed at step 4" in r.output
    records = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in records if x["kind"] == "eval"] == [0, 2, 4, 6]
    assert (run / "log.jsonl").read_text().startswith(log_before)  # nothing rewritten
    assert (run / "best.pt").read_bytes() == best or "step 6" in r.output


def test_resume_also_falls_back_and_a_run_without_any_save_says_so(here, tmp_path):
    run = here / "run"
    (run / "checkpoint.pt").unlink()
    r = invoke("train", "--resume", run, "--iters", "6")
    assert r.exit_code == 0 and "resumed at step 4" in r.output, r.output
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.json").write_text((run / "config.json").read_text(), encoding="utf-8")
    assert_one_line_error(invoke("train", "--resume", fresh), 2,
                          "stopped before its first save")
    assert_one_line_error(invoke("train", "--resume", here / "corpus"), 2,
                          "is a corpus folder, not a run")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_corpus_moved_aside_by_a_killed_swap_comes_back(here):
    # kill -9 between the two renames of a swap: the old corpus sits aside under the dead
    # process's name and nothing is at --out. The next reader puts it back.
    corpus = here / "corpus"
    name = aside_path(corpus).name.replace(temp_prefix(corpus.name),
                                           temp_prefix(corpus.name).rsplit(".", 2)[0]
                                           + f".{dead_pid()}.")
    before = user_files(corpus)
    os.replace(corpus, corpus.with_name(name))
    with pytest.raises(InputError, match="does not exist"):  # loading alone moves nothing
        Corpus(corpus)
    assert textwgan.load_corpus(corpus).path == corpus and user_files(corpus) == before
    # ... and the next prepare into it, which first puts it back, then replaces it whole.
    os.replace(corpus, corpus.with_name(name))
    r = invoke("prepare", here / "my_text.txt", "--out", corpus, "--seq-len", "24")
    assert r.exit_code == 0, r.output
    assert Corpus(corpus).seq_len == 24
    assert not [p for p in here.iterdir() if p.name.endswith(".tmp")]


def test_signals_wait_until_the_swap_is_whole(here, monkeypatch):
    import textwgan.fileio as fileio

    monkeypatch.setattr(fileio, "_exchange", lambda a, b: False)  # the two-rename path
    real = os.replace
    calls = []

    def replace(src, dst):
        real(src, dst)
        calls.append(dst)
        if len(calls) == 1:  # between the two renames
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(fileio.os, "replace", replace)
    from textwgan.preparation import prepare

    with pytest.raises(KeyboardInterrupt):
        prepare([str(here / "my_text.txt")], here / "corpus", seq_len=20)
    monkeypatch.undo()
    assert len(calls) == 2 and Corpus(here / "corpus").seq_len == 20


def test_a_deleted_lock_file_does_not_let_two_trainings_share_a_run(here):
    run = here / "run"
    with RunFolder(run):
        (run / ".lock").unlink()
        before = user_files(run)
        r = invoke("train", "--resume", run, "--iters", "8")
        assert_one_line_error(r, 2, "another textwgan train is using this run folder")
        assert user_files(run) == before


def test_a_second_process_is_refused_while_a_run_holds_its_folder(here):
    code = ("import sys, time; from textwgan.run import RunFolder\n"
            "with RunFolder(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", code, str(here / "run")], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        (here / "run" / ".lock").unlink(missing_ok=True)
        r = invoke("train", "--resume", here / "run", "--iters", "8")
        assert_one_line_error(r, 2, "another textwgan train")
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_step_checkpoints_are_ordered_by_number_and_best_counts_when_newer(here):
    import torch

    from textwgan.checkpoint import resumable_checkpoint, saved_checkpoints

    run = here / "run"
    for name in ("step_9999999.pt", "step_10000000.pt"):
        (run / name).write_bytes(b"")
    order = [p.name for p in saved_checkpoints(run)]
    assert order.index("step_10000000.pt") < order.index("step_9999999.pt")
    for name in ("step_9999999.pt", "step_10000000.pt"):
        (run / name).unlink()
    # best.pt written between saves is newer than the last step file: it wins.
    ckpt = torch.load(run / "best.pt", weights_only=True)
    ckpt["step"] = 5
    (run / "best.pt").unlink()
    torch.save(ckpt, run / "best.pt")
    (run / "checkpoint.pt").unlink()
    path, found = resumable_checkpoint(run)
    assert path.name == "best.pt" and found["step"] == 5


def test_a_file_system_that_cannot_lock_folders_locks_the_lock_file(here, monkeypatch):
    import errno
    import fcntl
    import stat as st

    real = fcntl.flock

    def nfs_like(fd, op):
        if st.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real(fd, op)

    monkeypatch.setattr(fcntl, "flock", nfs_like)
    run = here / "run"
    with RunFolder(run):
        assert (run / ".lock").read_text().startswith("pid ")
        with pytest.raises(Exception, match="another textwgan train is using"):
            RunFolder(run).__enter__()

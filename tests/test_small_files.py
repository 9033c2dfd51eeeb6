"""The small files textwgan reads back (config.json, meta.json, charset.json, log.jsonl,
outputs.json) go through one guarded reader: a FIFO or a device in their place is one line,
never a hang or a read that fills memory; JSON nested past any sense is one line too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import BUNDLED, assert_one_line_error, invoke

from textwgan.layout import NotReadable, read_json, read_log, read_small

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero"),
              pytest.mark.slow]


def test_the_reader_refuses_fifos_devices_and_oversized_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "big").write_bytes(b"x" * 101)
    (tmp_path / "deep").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "ok.json").write_text('{"a": 1}')
    for name, reason in (("fifo", "not a regular file"), ("zero", "not a regular file"),
                         ("missing", "missing")):
        with pytest.raises(NotReadable, match=reason):
            read_small(tmp_path / name)
    with pytest.raises(NotReadable, match="larger than"):
        read_small(tmp_path / "big", cap=100)
    assert read_small(tmp_path / "big", cap=101) == b"x" * 101
    with pytest.raises(NotReadable, match="not valid JSON"):
        read_json(tmp_path / "deep")
    assert read_json(tmp_path / "ok.json") == {"a": 1}


def test_a_log_with_a_torn_last_line_reads_and_strictly_refuses_a_bad_middle(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1}\nnot json\n{"step": 2}\n{"step": 3')
    assert read_log(log) == [{"step": 1}, {"step": 2}]
    with pytest.raises(NotReadable, match=":2"):
        read_log(log, strict=True)
    log.write_text('{"step": 1}\n{"step": 2')
    assert read_log(log, strict=True) == [{"step": 1}]
    assert read_log(tmp_path / "none.jsonl") == []


def _cli(*args, timeout=120, **env):
    """The installed command in a process of its own: a hang fails the test, never blocks it."""
    r = subprocess.run([sys.executable, "-m", "textwgan", *map(str, args)], capture_output=True,
                       text=True, timeout=timeout, env={**os.environ, **env})
    return r.returncode, r.stderr


def _plant(path, how):
    path.unlink(missing_ok=True)
    if how == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from textwgan.training import train

    return train(None, out=tmp_path_factory.mktemp("small") / "run", preset="tiny", iters=2,
                 eval_every=2, save_every=2, diag_every=0, device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["fifo", "zero"])
def test_a_fifo_or_device_as_a_small_file_never_hangs_a_command(how, run, tmp_path):
    model, corpus, runcopy = tmp_path / "model", tmp_path / "corpus", tmp_path / "run"
    assert invoke("export", run, "--out", model).exit_code == 0
    shutil.copytree(BUNDLED, corpus)
    shutil.copytree(run, runcopy)
    _plant(model / "config.json", how)
    _plant(corpus / "meta.json", how)
    _plant(runcopy / "config.json", how)
    cases = [("sample", "-n", "2", "--checkpoint", model),
             ("train", "--preset", "tiny", "--iters", "2", "--out", model),
             ("prepare", "corpora/coco-text/test.txt", "--out", corpus),
             ("eval", "coco", "--n", "16", "--corpus", corpus),
             ("train", corpus, "--preset", "tiny", "--iters", "2", "--out", tmp_path / "new")]
    for args in cases:
        code, stderr = _cli(*args)
        assert code == 2 and stderr.count("error:") == 1, (args, stderr)
        assert "Traceback" not in stderr
    # A run folder with a planted config.json still holds its checkpoint: it samples.
    code, stderr = _cli("sample", "-n", "2", "--checkpoint", runcopy)
    assert code == 0, stderr


@pytest.mark.slow
def test_a_fifo_in_the_hub_cache_never_hangs(run, tmp_path):
    from test_modelfolder import hub_cache

    model = tmp_path / "model"
    assert invoke("export", run, "--out", model).exit_code == 0
    snap = hub_cache(tmp_path / "hub", "someone/fifo", model)
    _plant(snap / "config.json", "fifo")
    code, stderr = _cli("sample", "-n", "2", "--checkpoint", "hf:someone/fifo",
                        HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub"))
    assert code == 2 and stderr.count("error:") == 1, stderr


def test_config_nested_past_any_sense_is_one_line(run, tmp_path):
    model = tmp_path / "model"
    assert invoke("export", run, "--out", model).exit_code == 0
    (model / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_one_line_error(invoke("sample", "-n", "2", "--checkpoint", model), 2,
                          "not valid JSON")


def test_a_bad_fifo_wait_troubles_only_a_command_that_reads_a_fifo(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTWGAN_FIFO_WAIT", "abc")
    (tmp_path / "a.txt").write_text("one line\nanother line\n" * 20)
    r = invoke("prepare", tmp_path / "a.txt", "--out", tmp_path / "c")
    assert r.exit_code == 0, r.output
    os.mkfifo(tmp_path / "pipe")
    assert_one_line_error(invoke("prepare", tmp_path / "pipe", "--out", tmp_path / "d"), 2,
                          "TEXTWGAN_FIFO_WAIT must be a number")
    assert json.loads((tmp_path / "c" / "meta.json").read_text())["counts"]["kept"] == 40


def test_resuming_with_a_log_that_is_a_folder_names_it(run, tmp_path):
    runcopy = tmp_path / "run"
    shutil.copytree(run, runcopy)
    (runcopy / "log.jsonl").unlink()
    (runcopy / "log.jsonl").mkdir()
    r = invoke("train", "--resume", runcopy, "--iters", "4")
    assert_one_line_error(r, 2, "log.jsonl: is not a regular file", "move it away")


def test_a_source_whose_name_is_not_utf8_prepares(tmp_path):
    name = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.txt")
    with open(name, "w", encoding="utf-8") as f:
        f.write("a man riding a horse\nthe cat sat on the mat\n" * 20)
    r = invoke("prepare", name, "--out", tmp_path / "c")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "c" / "meta.json").read_text())["counts"]["kept"] == 40

"""prepare's worker processes end with their parent: on Ctrl-C (quietly, with no temporary
folder left), on kill -9 of the parent, and a script that calls `textwgan.prepare` the way
docs/api.md shows, without an `if __name__ == "__main__":` guard, finishes. Time-bounded:
a hang fails the test instead of stalling the suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import COCO_TRAIN, ROOT

pytestmark = pytest.mark.slow
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def big_text(tmp_path_factory) -> Path:
    """About 60 MB of captions: seconds of work for two workers."""
    path = tmp_path_factory.mktemp("big") / "big.txt"
    block = COCO_TRAIN.read_text(encoding="utf-8")
    with open(path, "w", encoding="utf-8") as f:
        while f.tell() < 60 << 20:
            f.write(block)
    return path


def children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("pgrep is not installed")
    return [int(x) for x in out.stdout.split()]


def start_prepare(source: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "textwgan", "prepare", str(source),
                             "--workers", "2", "--out", str(out)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for_workers(proc: subprocess.Popen, n: int = 2, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # spawn's resource tracker is a child too: the workers are the rest
        kids = children(proc.pid)
        if len(kids) >= n + 1 or proc.poll() is not None:
            return kids
        time.sleep(0.05)
    raise AssertionError("the workers never started")


def gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_stops_prepare_and_its_workers_quietly(big_text, tmp_path, attempt):
    proc = start_prepare(big_text, tmp_path / "corpus")
    kids = wait_for_workers(proc)
    time.sleep(0.2 * attempt)  # land the signal at different moments
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("prepare hung after Ctrl-C") from None
    assert "Traceback" not in err, err
    assert proc.returncode != 0 or (tmp_path / "corpus" / "meta.json").exists()
    assert gone(kids, 15), "worker processes outlived their parent"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_workers_end_when_their_parent_is_killed(big_text, tmp_path):
    proc = start_prepare(big_text, tmp_path / "corpus")
    kids = wait_for_workers(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert gone(kids, 15), "worker processes outlived their parent"


def test_a_script_without_a_main_guard_prepares_once(tmp_path):
    src = tmp_path / "text.txt"
    src.write_text("\n".join(COCO_TRAIN.read_text(encoding="utf-8").splitlines()[:3000]),
                   encoding="utf-8")
    script = tmp_path / "script.py"
    script.write_text("import textwgan\n"
                      f"c = textwgan.prepare([{str(src)!r}], {str(tmp_path / 'c')!r}, "
                      "workers=2)\n"
                      "print('prepared', len(c.train))\n", encoding="utf-8")
    r = subprocess.run([sys.executable, str(script)], env=ENV, capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("prepared") == 1 and "Traceback" not in r.stderr

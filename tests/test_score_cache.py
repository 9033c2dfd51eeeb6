"""The reference tables kept on disk per corpus (scorecache.py): a report read from the cache
is the report computed afresh, to the last digit; two processes filling one cache at once
both get it right; a damaged entry is built again, never trusted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import BUNDLED, COCO_TEST

import textwgan


def _report(samples, cache, monkeypatch) -> dict:
    monkeypatch.setenv("TEXTWGAN_CACHE", str(cache))
    return textwgan.evaluate(samples, corpus=BUNDLED, n=300, seed=3).to_dict()


def test_a_cached_report_is_the_fresh_report(tmp_path, monkeypatch):
    samples = COCO_TEST.read_text(encoding="utf-8").splitlines()[:300]
    fresh = _report(samples, tmp_path / "a", monkeypatch)
    entries = sorted(p.name for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert any(n.startswith("lm-5") for n in entries) and any(
        n.startswith("floor-n300-s3") for n in entries), entries
    assert _report(samples, tmp_path / "a", monkeypatch) == fresh  # read back
    # a torn entry is built again, and the figures do not move
    lm = next(p for p in (tmp_path / "a").rglob("lm-5.npz"))
    lm.write_bytes(lm.read_bytes()[:100])
    assert _report(samples, tmp_path / "a", monkeypatch) == fresh
    # the cache keys on the split: validation figures are another entry
    monkeypatch.setenv("TEXTWGAN_CACHE", str(tmp_path / "a"))
    val = textwgan.evaluate(samples, corpus=BUNDLED, n=300, seed=3, protocol="validation")
    assert val["js4"] != fresh["js4"]


@pytest.mark.slow
def test_two_processes_filling_one_cache_agree(tmp_path):
    samples = tmp_path / "s.txt"
    samples.write_text("\n".join(COCO_TEST.read_text(encoding="utf-8").splitlines()[:400]))
    env = {"TEXTWGAN_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "textwgan", "eval", str(samples), "--corpus", str(BUNDLED),
           "--json"]
    import os

    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **env}) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    first, second = (json.loads(o[0]) for o in outs)
    third = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True,
                                      env={**os.environ, **env}).stdout)
    assert first == second == third
    assert not list((tmp_path / "cache").rglob("*.tmp"))

"""benchmarks/gpu_check.py works before a GPU is at hand: --smoke runs every stage at toy sizes
on the CPU and writes what the real run writes, within its limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_gpu_check_smoke_writes_every_result(tmp_path):
    out, state = tmp_path / "out", tmp_path / "state"
    env = {**os.environ, "TEXTWGAN_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--out", str(out),
                        "--state", str(state), "--smoke"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert 3 <= len(files) <= 8 and all(p.stat().st_size < 16 * 2**20 for p in files)
    result = json.loads((out / "gpu_check.json").read_text())
    assert result["environment"]["device"] == "cpu" and "torch" in result["environment"]
    c = result["correctness"]
    assert c["passed"] > 0 and c["failed"] == 0
    s = result["speed"]
    assert {"plain", "eager", "fast"} <= set(s["rows"]) and s["rows"]["fast"]["ms_per_iter"] > 0
    assert "profile" in s and s["targets"]["ms_per_iter_at_most"] == 20.0
    q = result["quality"]
    assert q["complete"] and len(q["curve"]) >= 2
    assert all(0 <= p["js4_640"] <= 1 and p["floor_js4_640"] < 1 for p in q["curve"])
    minutes = [p["minutes"] for p in q["curve"]]
    assert minutes == sorted(minutes)
    exported = [out / name for name in q["export"]["files"]]
    assert all(p.exists() for p in exported)
    for png in ("speed.png", "quality.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The bf16 export samples like any generator.
    from textwgan.sample import load_generator

    assert len(load_generator(exported[0]).sample(3)) == 3

"""benchmarks/gpu_check.py works before a GPU is at hand: --smoke runs every stage at toy sizes
on the CPU and writes what the real run writes, within its limits; a run spread over calls
(the device machine's per-call limit) merges into one result."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes

STAGES = ("preflight", "correctness", "speed", "quality", "coco")


def gpu_check(*args, tmp_path, timeout=900):
    env = {**os.environ, "TEXTWGAN_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "benchmarks/gpu_check.py", *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def check_limits(folder):
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert 3 <= len(files) <= 8 and all(p.stat().st_size < 16 * 2**20 for p in files), files
    assert not [p for p in files if p.name.endswith(".tmp")]


def test_gpu_check_smoke_over_two_calls_then_merged(tmp_path):
    state, first, second, merged = (tmp_path / n for n in ("state", "one", "two", "merged"))
    # The 15-minute plan's two calls, as a GPU session runs them.
    r = gpu_check("--out", first, "--state", state, "--smoke", "--plan", "15min", "--call", "1",
                  tmp_path=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # The second call on a fresh machine: its state is new, the first call's speed figures
    # come along as a file.
    r = gpu_check("--out", second, "--state", tmp_path / "state2", "--smoke", "--plan", "15min",
                  "--call", "2", "--speed-from", first / "gpu_check.json", tmp_path=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    check_limits(first)
    check_limits(second)
    r = gpu_check("--merge", first, second, "--out", merged, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    check_limits(merged)

    result = json.loads((merged / "gpu_check.json").read_text())
    assert set(STAGES) <= set(result)
    for stage in STAGES:  # each stage says where it ran
        env = result[stage]["environment"]
        assert env["device"] == "cpu" and "torch" in env
    p = result["preflight"]
    assert p["ok"] and {"rng_restore", "graphs_clip_resume", "same_samples"} <= set(p["checks"])
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
    # The COCO stage measures the shipped generator by the figure the README quotes for it.
    k = result["coco"]
    shipped, trained = k["scores"]["shipped"], k["scores"]["trained"]
    from textwgan.assets import shipped_generator

    shipped_step = json.loads((shipped_generator() / "config.json").read_text())["step"]
    assert shipped["step"] == shipped_step and trained["step"] == k["step"] > 0
    assert k["beats_shipped"] == (trained["js4_640"] < shipped["js4_640"]
                                  and trained["js4_6400"] < shipped["js4_6400"])
    for png in ("speed.png", "quality.png"):
        assert (merged / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (merged / "summary.md").read_text()
    assert all(f"### {stage} (" in text for stage in STAGES)
    assert f"| shipped | {shipped_step:,} | {shipped['js4_640']:.3f}" in text

    # The exports sample like any generator.
    from textwgan.sample import load_generator

    for name in (*q["export"]["files"], k["export"]["file"]):
        assert len(load_generator(merged / name).sample(3)) == 3


def test_gpu_check_refuses_bad_arguments_in_one_line(tmp_path):
    for args, says in ((["--stages", "speed,qualty"], "unknown stage qualty"),
                       (["--stages", "quality", "--corpus-dir", tmp_path / "none"],
                        "the 1B-Word sample"),
                       (["--merge", tmp_path / "none"], "no gpu_check.json"),
                       (["--plan", "15min"], "--plan and --call go together"),
                       (["--plan", "15min", "--call", "3"], "has calls 1, 2"),
                       (["--smoke", "--speed-from", tmp_path / "none.json"], "cannot read")):
        r = gpu_check("--out", tmp_path / "out", "--state", tmp_path / "state", *args,
                      tmp_path=tmp_path, timeout=120)
        assert r.returncode != 0 and says in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_the_15_minute_plan_fits_two_calls_of_six_minutes():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_check

    for call, stages in ((1, "preflight,correctness,speed"), (2, "quality,coco")):
        args = gpu_check.apply_plan(_namespace(plan="15min", call=call), gpu_check.PLANS,
                                    gpu_check.DEFAULTS)
        assert args.stages == stages
        worst = sum(gpu_check.stage_estimate(s, args) for s in stages.split(",")
                    if s != "coco")  # coco runs only when the budget still allows it
        assert worst <= args.budget_seconds <= 6 * 60


def _namespace(**given):
    import argparse

    keys = ("stages", "quality_minutes", "quality_slice", "quality_every", "coco_minutes",
            "speed_iters", "preflight_timeout", "test_timeout", "speed_timeout",
            "budget_seconds")
    return argparse.Namespace(**{k: None for k in keys}, **given)

"""Prove the CUDA path on one GPU: correctness, speed, and quality per minute, in one command.

    python benchmarks/gpu_check.py --out results/                # everything, about 25 minutes
    python benchmarks/gpu_check.py --out results/ --stages correctness,speed
    python benchmarks/gpu_check.py --out results/ --stages quality --quality-slice 8
    python benchmarks/gpu_check.py --out /tmp/smoke --smoke      # every stage, toy sizes, CPU

Stages, in order of value, each written to the results as soon as it ends (a run cut off
still leaves what it finished):

1. correctness (about 3 min): the CUDA-marked tests (`pytest -m cuda`): train → sample → eval
   on the GPU, resume, the fast path against eager fp32, the gradient penalty against the
   linear-critic reference in fp32 and under autocast, CUDA graphs, single-rank torchrun.
2. speed (about 5 min): benchmarks/train_speed.py on the `paper` configuration (batch 64, 512
   channels, 10 critic steps): ms per generator iteration of the plain eager port and of each
   of textwgan's speed switches, one row each; TFLOP/s against a bf16 matmul peak measured in
   the same run; peak memory; a torch.profiler summary of the fastest row.
3. quality (about 15 min): the `default` preset on the 1B-Word sample (train = the two .tokens
   files, reference = the held-out shard), a checkpoint about every minute of training; then
   JS-4 of 640 and of 6,400 argmax samples at each, beside their floors, against minutes; the
   best generator exported in bf16 (split into parts under 16 MiB if it must be).

The quality stage's run lives in --state and resumes, so it can be spread over several calls
(--quality-slice minutes each) until --quality-minutes of training are done.

Files written to --out (at most 8, each under 16 MiB): gpu_check.json, speed.png, quality.png,
generator_bf16.pt (or generator_bf16.pt.part0, .part1: `cat` them together).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "corpora" / "billion_word_sample"
PART_BYTES = 15 * 2**20  # under the 16 MiB a result file may have
PUBLISHED = "gan_language.py reached JS-4 0.38 after about 17 hours on one 2017 GPU"


def environment(device: torch.device) -> dict:
    env = {"torch": torch.__version__, "python": platform.python_version(),
           "machine": platform.machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
           "device": str(device)}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   gpu_memory_gib=p.total_memory / 2**30, multiprocessors=p.multi_processor_count)
    return env


class Results:
    """gpu_check.json, kept in --state across calls and copied to --out after every stage."""

    def __init__(self, state: Path, out: Path):
        self.state, self.out = state, out
        self.path = state / "gpu_check.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def save(self, **stage) -> None:
        self.data.update(stage)
        self.path.write_text(json.dumps(self.data, indent=1) + "\n")
        self.out.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.path, self.out / "gpu_check.json")


def correctness(args) -> dict:
    report = args.state / "cuda-tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "tests/test_cuda.py",
           "-p", "no:cacheprovider", f"--junitxml={report}"]
    if args.smoke:  # no GPU here: the CUDA tests skip, the CPU suite's GP tests stand in
        cmd = [sys.executable, "-m", "pytest", "-q", "tests/test_losses.py", "-k", "penalty",
               "-p", "no:cacheprovider", f"--junitxml={report}"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.test_timeout,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    cases = []
    for case in suite.iter("testcase"):
        failed = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        cases.append({"test": f"{case.get('classname')}::{case.get('name')}",
                      "seconds": float(case.get("time", 0)),
                      "outcome": "failed" if failed is not None else
                      "skipped" if skipped is not None else "passed",
                      "message": (failed.get("message") or "")[:500] if failed is not None
                      else (skipped.get("message") or "")[:200] if skipped is not None
                      else None})
    return {"command": " ".join(cmd[2:]), "returncode": r.returncode,
            "seconds": time.perf_counter() - t0,
            "passed": sum(c["outcome"] == "passed" for c in cases),
            "failed": sum(c["outcome"] == "failed" for c in cases),
            "skipped": sum(c["outcome"] == "skipped" for c in cases), "tests": cases,
            "output_tail": r.stdout[-3000:]}


def speed(args, device: torch.device) -> dict:
    out = args.state / "speed.json"
    preset, iters = ("small", 3) if args.smoke else ("paper", 20)
    cmd = [sys.executable, "benchmarks/train_speed.py", "--preset", preset, "--device",
           str(device), "--iters", str(iters), "--warmup", "3", "--profile", "--json", str(out)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.speed_timeout,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    if r.returncode != 0:
        return {"error": r.stderr[-3000:], "command": " ".join(cmd[1:])}
    result = json.loads(out.read_text())
    best = result["rows"][result["best"]]
    result["targets"] = {"ms_per_iter_at_most": 20.0, "speedup_at_least": 10.0,
                         "ms_per_iter": best["ms_per_iter"], "speedup": result["speedup"],
                         "met": best["ms_per_iter"] <= 20.0 and result["speedup"] >= 10.0}
    result["command"] = " ".join(cmd[1:])
    plot_speed(result, args.out / "speed.png")
    return result


def plot_speed(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    names = list(rows)
    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    ax.barh(names, [rows[n]["ms_per_iter"] for n in names], color="C0")
    for i, n in enumerate(names):
        ax.text(rows[n]["ms_per_iter"], i, f" {rows[n]['ms_per_iter']:.1f} ms "
                f"({rows[n]['speedup_vs_plain']:.1f}×)", va="center", fontsize=8)
    if result["device"].startswith("cuda"):
        ax.axvline(20, color="k", ls="--", lw=1, label="target: 20 ms")
        ax.legend(fontsize=8)
    ax.set(xscale="log", xlabel="ms per generator iteration (log scale)",
           title=f"{result['preset']} preset, {result.get('gpu', result['device'])}")
    ax.invert_yaxis()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def one_b_word(state: Path, smoke: bool):
    from textwgan.corpus import Corpus, bundled_corpus_path
    from textwgan.preparation import prepare

    if smoke:
        return Corpus(bundled_corpus_path())
    folder = state / "corpus-1b"
    if (folder / "meta.json").exists():
        return Corpus(folder)
    return prepare([str(SHARED / "1b_benchmark.dev.tokens"),
                    str(SHARED / "1b_benchmark.test.tokens")], folder,
                   heldout_file=str(SHARED / "news.en.heldout-00000-of-00050"))


def quality(args, device: torch.device, results: Results) -> dict:
    from textwgan.checkpoint import CHECKPOINT_NAME, elapsed_of, load_checkpoint
    from textwgan.training import train

    corpus = one_b_word(args.state, args.smoke)
    run = args.state / "quality-run"
    speed_rows = results.data.get("speed", {}).get("rows", {})
    best = results.data.get("speed", {}).get("best")
    graphs = best == "graphs" and results.data["speed"].get("graphs_captured", False)
    ms = speed_rows[best]["ms_per_iter"] if best in speed_rows else None
    total = args.quality_minutes * 60
    done = elapsed_of(load_checkpoint(run / CHECKPOINT_NAME)) if (run / CHECKPOINT_NAME).exists() \
        else 0.0
    if done < total - 1:
        budget = min(total - done, args.quality_slice * 60)
        # A checkpoint about every minute (from the speed stage's figure; 2,000 steps else).
        every = max(1, int(60_000 / ms)) if ms else 2000
        if args.smoke:
            every = 20
        kwargs = dict(out=run, device=str(device), time_limit=budget, keep_last=100_000,
                      diag_every=0, cuda_graphs=graphs)
        if (run / CHECKPOINT_NAME).exists():
            train(corpus, resume=run, **kwargs)
        else:
            train(corpus, preset="tiny" if args.smoke else "default", save_every=every,
                  eval_every=10**9, iters=10**9, **kwargs)
        done = elapsed_of(load_checkpoint(run / CHECKPOINT_NAME))
    curve = curve_of(run, corpus, device, args.smoke)
    best_point = min(curve, key=lambda p: p["js4_640"]) if curve else None
    result = {"corpus": "1B-Word sample" if not args.smoke else "bundled COCO (smoke)",
              "preset": "default" if not args.smoke else "tiny", "cuda_graphs": graphs,
              "trained_minutes": done / 60, "target_minutes": total / 60,
              "complete": done >= total - 1, "curve": curve, "best": best_point,
              "published": PUBLISHED}
    if curve:
        plot_quality(result, args.out / "quality.png")
    if best_point is not None and result["complete"]:
        result["export"] = export_bf16(Path(best_point["checkpoint"]), args.out)
    return result


def curve_of(run: Path, corpus, device: torch.device, smoke: bool) -> list[dict]:
    """JS-4 of 640 and 6,400 argmax samples at every step checkpoint, beside their floors."""
    from textwgan.checkpoint import elapsed_of, load_checkpoint
    from textwgan.metrics import NgramCounts, js_report
    from textwgan.sample import generator_from

    vocab = len(corpus.charset)
    reference = NgramCounts(np.asarray(corpus.heldout), vocab, (1, 2, 3, 4))
    counts = (64, 256) if smoke else (640, 6400)
    points = []
    for path in sorted(run.glob("step_*.pt")):
        ckpt = load_checkpoint(path, map_location="cpu")
        gen = generator_from(ckpt, path, device)
        point = {"step": ckpt["step"], "minutes": elapsed_of(ckpt) / 60,
                 "checkpoint": str(path)}
        for n, key in zip(counts, ("640", "6400"), strict=True):
            report = js_report(gen.sample_ids(n, seed=0), corpus.heldout, corpus.train,
                               seed=0, vocab_size=vocab, reference_counts=reference)
            point[f"js4_{key}"], point[f"floor_js4_{key}"] = report["js4"], report["floor_js4"]
        point["examples"] = gen.sample(5, seed=0)
        points.append(point)
    return points


def plot_quality(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["curve"]
    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    for key, color in (("640", "C0"), ("6400", "C1")):
        ax.plot([p["minutes"] for p in curve], [p[f"js4_{key}"] for p in curve], "o-",
                color=color, label=f"JS-4, {key} samples")
        ax.axhline(curve[-1][f"floor_js4_{key}"], color=color, ls="--", lw=1,
                   label=f"floor, {key} real sequences")
    ax.set(xlabel="training minutes", ylabel="JS-4 against the held-out shard",
           title=f"{result['preset']} preset on the {result['corpus']}")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def export_bf16(checkpoint: Path, out: Path) -> dict:
    """The generator of `checkpoint` in bf16 (sampling casts it back), in parts if needed."""
    import io

    from textwgan.checkpoint import export_generator, load_checkpoint

    ckpt = export_generator(load_checkpoint(checkpoint))
    ckpt["generator"] = {k: v.to(torch.bfloat16) if v.is_floating_point() else v
                         for k, v in ckpt["generator"].items()}
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    data = buf.getvalue()
    if len(data) <= PART_BYTES:
        (out / "generator_bf16.pt").write_bytes(data)
        return {"files": ["generator_bf16.pt"], "bytes": len(data), "step": ckpt["step"]}
    names = []
    for i, start in enumerate(range(0, len(data), PART_BYTES)):
        names.append(f"generator_bf16.pt.part{i}")
        (out / names[-1]).write_bytes(data[start:start + PART_BYTES])
    return {"files": names, "bytes": len(data), "step": ckpt["step"],
            "join": f"cat {' '.join(names)} > generator_bf16.pt"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the result files")
    ap.add_argument("--stages", default="correctness,speed,quality")
    ap.add_argument("--state", type=Path, default=ROOT / "benchmarks" / "runs" / "gpu",
                    help="where runs and results persist between calls")
    ap.add_argument("--quality-minutes", type=float, default=14.0,
                    help="training minutes of the quality run, in all")
    ap.add_argument("--quality-slice", type=float, default=14.0,
                    help="training minutes in this call (spread the run over calls)")
    ap.add_argument("--test-timeout", type=float, default=420)
    ap.add_argument("--speed-timeout", type=float, default=420)
    ap.add_argument("--smoke", action="store_true",
                    help="toy sizes on whatever device there is: checks the script itself")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not args.smoke:
        raise SystemExit("no CUDA GPU is visible to PyTorch: this check needs one "
                         "(--smoke runs it at toy sizes on the CPU)")
    if args.smoke:
        args.quality_minutes = min(args.quality_minutes, 0.25)
        args.quality_slice = min(args.quality_slice, 0.25)
    args.state.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = Results(args.state, args.out)
    results.save(environment=environment(device))
    stages = args.stages.split(",")
    for stage in ("correctness", "speed", "quality"):
        if stage not in stages:
            continue
        t0 = time.perf_counter()
        print(f"== {stage}", flush=True)
        if stage == "correctness":
            value = correctness(args)
            print(f"{value['passed']} passed, {value['failed']} failed, "
                  f"{value['skipped']} skipped", flush=True)
        elif stage == "speed":
            value = speed(args, device)
            if "error" not in value:
                for name, row in value["rows"].items():
                    print(f"{name:>7}: {row['ms_per_iter']:9.2f} ms/iter  "
                          f"{row['speedup_vs_plain']:6.2f}×", flush=True)
        else:
            value = quality(args, device, results)
            if value["best"]:
                b = value["best"]
                print(f"best JS-4 {b['js4_640']:.3f} (floor {b['floor_js4_640']:.3f}) at "
                      f"{b['minutes']:.1f} min; 6,400 samples: {b['js4_6400']:.3f} "
                      f"(floor {b['floor_js4_6400']:.3f})", flush=True)
        value["stage_seconds"] = time.perf_counter() - t0
        results.save(**{stage: value})
    print(f"results in {args.out}")


if __name__ == "__main__":
    main()

"""Lines per second and peak memory of `textwgan prepare` as the input grows.

    python benchmarks/prepare_scale.py                    # 1 M and 4 M lines
    python benchmarks/prepare_scale.py --lines 250000 1000000 --workers 1 2

Inputs are made from the One Billion Word sample (../shared/corpora) by repeating its lines
with perturbations (words swapped, replaced, recased), so the text looks like news and the
charset stays realistic. Each prepare runs in a fresh process, which reports its own peak
RSS (VmHWM, which includes the ~225 MB of importing torch) and the peak sum of its worker
processes' resident sets; a streaming prepare keeps both flat as the input grows.
Writes benchmarks/results/prepare_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "corpora" / "billion_word_sample"

CHILD = """
import json, os, sys, threading, time
from textwgan.preparation import prepare

def kib(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

def children(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
        except OSError:
            pass
    return out

# getrusage's ru_maxrss is useless for spawned workers (Linux carries the parent's high-water
# mark across fork + exec), so the workers' resident sets are sampled from /proc.
peak_workers, done = [0], threading.Event()
def watch():
    while not done.wait(0.1):
        peak_workers[0] = max(peak_workers[0],
                              sum(kib(c, "VmRSS") for c in children(os.getpid())))
threading.Thread(target=watch, daemon=True).start()
t0 = time.perf_counter()
meta = prepare([sys.argv[1]], sys.argv[2], workers=int(sys.argv[3])).meta
dt = time.perf_counter() - t0
done.set()
print(json.dumps({"seconds": dt, "lines": meta["counts"]["lines_read"],
                  "train": meta["counts"]["train"], "heldout": meta["counts"]["heldout"],
                  "rss_main_mb": kib("self", "VmHWM") / 1024,
                  "rss_workers_mb": peak_workers[0] / 1024}))
"""


def make_input(path: Path, n_lines: int, seed: int = 0) -> None:
    """`n_lines` of perturbed 1B-Word lines, written as a stream."""
    lines = []
    for name in ("1b_benchmark.dev.tokens", "1b_benchmark.test.tokens"):
        lines += (SAMPLE / name).read_text(encoding="utf-8").splitlines()
    words = sorted({w for line in lines[:5000] for w in line.split()})
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n_lines):
            toks = rng.choice(lines).split()
            if len(toks) > 2:
                i, j = rng.randrange(len(toks)), rng.randrange(len(toks))
                toks[i], toks[j] = toks[j], toks[i]
                toks[rng.randrange(len(toks))] = rng.choice(words)
            if rng.random() < 0.1:
                toks = [t.upper() for t in toks]
            f.write(" ".join(toks) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--workers", type=int, nargs="+", default=[0],
                    help="encoding processes (0: as many as CPUs)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" /
                    "prepare_scale.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.lines:
            src = Path(tmp) / f"lines_{n}.txt"
            t0 = time.perf_counter()
            make_input(src, n)
            size = src.stat().st_size
            print(f"made {n:,} lines ({size / 2**20:.0f} MiB) in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
            for workers in args.workers:
                out = Path(tmp) / f"corpus_{n}_{workers}"
                r = subprocess.run([sys.executable, "-c", CHILD, str(src), str(out),
                                    str(workers)], capture_output=True, text=True, check=True)
                row = json.loads(r.stdout.strip().splitlines()[-1])
                row |= {"input_lines": n, "input_mib": size / 2**20, "workers": workers,
                        "lines_per_s": row["lines"] / row["seconds"]}
                rows.append(row)
                print(f"{n:>10,} lines  workers {workers}  {row['seconds']:7.1f} s  "
                      f"{row['lines_per_s']:>9,.0f} lines/s  peak RSS main "
                      f"{row['rss_main_mb']:.0f} MB, workers (all) {row['rss_workers_mb']:.0f} MB",
                      flush=True)
                subprocess.run(["rm", "-rf", str(out)], check=True)
            src.unlink()
    result = {"rows": rows, "cpus": os.cpu_count(), "machine": platform.machine(),
              "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

"""CPU training speed against thread count and OpenMP wait policy, alone and beside a
competing CPU-heavy process: the figures behind the CPU thread default.

    python benchmarks/cpu_threads.py                       # small preset, 20 s per cell
    python benchmarks/cpu_threads.py --seconds 30 --json benchmarks/results/cpu_threads.json

Each cell runs textwgan's own training step (critic steps + generator step) in a fresh child
process, because OpenMP reads its wait policy once, when the runtime starts. A cell counts the
generator steps finished in `--seconds` after a warm-up. "busy N" cells start N competing
processes first: a pure-Python busy loop (one core), as any other program on a laptop would be.
Ratios are taken within the run, against the fastest idle cell.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

# The child imports torch before textwgan, so textwgan's own spin default stays out of the way
# and "default" is libgomp's.
CHILD = r"""
import os, sys, time, json
import torch
threads, seconds, warmup = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
preset = sys.argv[4]
torch.set_num_threads(threads)
from textwgan.config import get_preset
from textwgan.assets import bundled_corpus_path
from textwgan.corpus import Corpus
from textwgan.data import DeviceData
from textwgan.steps import Iteration, build_state
corpus = Corpus(bundled_corpus_path())
config = get_preset(preset).with_overrides(seq_len=corpus.seq_len)
cpu = torch.device("cpu")
state = build_state(config, len(corpus.charset), cpu)
one = Iteration(state, DeviceData(corpus, cpu), config, cpu)
t_end = time.perf_counter() + warmup
while time.perf_counter() < t_end:
    one()
steps, t0 = 0, time.perf_counter()
c0 = time.process_time()
while time.perf_counter() - t0 < seconds:
    one(); steps += 1
wall = time.perf_counter() - t0
print(json.dumps({"steps": steps, "wall": wall, "it_s": steps / wall,
                  "cpu_share": (time.process_time() - c0) / wall}))
"""

BUSY = "while True:\n    pass\n"


def run_cell(threads: int, policy: str | None, busy: int, seconds: float, warmup: float,
             preset: str) -> dict:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("GOMP_SPINCOUNT", None)
    if policy is not None and policy.startswith("spin:"):
        # libgomp spins this many times at a barrier before it sleeps (default 300,000, cut
        # 1000-fold when it sees more threads than CPUs)
        env["GOMP_SPINCOUNT"] = policy[len("spin:"):]
    elif policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    competitors = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
    try:
        if competitors:
            time.sleep(1.0)  # let the competitors get going
        out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(seconds),
                              str(warmup), preset], env=env, capture_output=True, text=True,
                             check=True)
    finally:
        for c in competitors:
            c.kill()
            c.wait()
    row = json.loads(out.stdout.strip().splitlines()[-1])
    return {"threads": threads, "wait_policy": policy or "default", "busy": busy, **row}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="small")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--policies", default="default,PASSIVE",
                   help="comma-separated: default, PASSIVE, ACTIVE, or spin:N (GOMP_SPINCOUNT)")
    p.add_argument("--busy", default="0,1",
                   help="comma-separated numbers of competing busy processes per cell group")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    rows = []
    for busy in [int(x) for x in args.busy.split(",")]:
        for threads in [int(x) for x in args.threads.split(",")]:
            for policy in args.policies.split(","):
                pol = None if policy == "default" else policy
                if threads == 1 and pol is not None:
                    continue  # one thread never waits at a barrier: the policy cannot matter
                row = run_cell(threads, pol, busy, args.seconds, args.warmup, args.preset)
                rows.append(row)
                print(f"busy {busy}  threads {threads}  wait {row['wait_policy']:8s}"
                      f"  {row['it_s']:6.2f} it/s  cpu {row['cpu_share']:.0%}", flush=True)
    best_idle = max((r["it_s"] for r in rows if not r["busy"]), default=None) or max(
        r["it_s"] for r in rows)
    for r in rows:
        r["ratio_to_best_idle"] = r["it_s"] / best_idle
    print("\nratios to the fastest idle cell:")
    for r in rows:
        print(f"  busy {r['busy']}  threads {r['threads']}  "
              f"wait {r['wait_policy']:8s}  {r['ratio_to_best_idle']:.2f}")
    if args.json:
        import torch

        meta = {"torch": torch.__version__, "cpus": os.cpu_count(), "preset": args.preset,
                "seconds": args.seconds, "machine": platform.machine(),
                "date": time.strftime("%Y-%m-%d")}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "results": rows}, f, indent=1)


if __name__ == "__main__":
    main()

"""Wall time and peak memory of `textwgan eval` (no --critic) for 10k samples against 100k
and 1M reference sequences, with a training split of the same size.

    python benchmarks/eval_speed.py                   # 100k and 1M
    python benchmarks/eval_speed.py --sizes 100000    # one size

The sequences are 1B-Word sample lines (../shared/corpora), repeated and perturbed (one
random character changed per copy) so the n-gram tables grow as real, larger corpora would.
Each size runs in a fresh subprocess so its peak RSS is its own. Prints a table; --json
writes the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BW = ROOT.parent / "shared" / "corpora" / "billion_word_sample"


def make_rows(n: int, seed: int) -> np.ndarray:
    """n sequences of 32 code points from the 1B-Word sample, each copy perturbed once."""
    from textwgan.scoring import reference_lines
    from textwgan.text import PAD_CP, codepoints

    base = codepoints(reference_lines(BW / "1b_benchmark.dev.tokens")
                      + reference_lines(BW / "1b_benchmark.test.tokens"), 32)
    rng = np.random.default_rng(seed)
    rows = base[rng.integers(0, len(base), n)]  # (n, 32)
    lengths = (rows != PAD_CP).sum(1)
    pos = (rng.random(n) * lengths).astype(int)
    rows[np.arange(n), pos] = rng.integers(ord("a"), ord("z") + 1, n)
    return rows


def one_case(size: int, n_samples: int) -> dict:
    """Runs inside the subprocess: build the arrays, then time the evaluation only."""
    from textwgan.metrics import random_rows
    from textwgan.scoring import Reference, versus_reference, versus_train

    train, reference = make_rows(size, 1), make_rows(size, 2)
    samples = make_rows(n_samples, 3)
    t0 = time.perf_counter()
    ref = Reference.from_arrays(train, reference)  # indexing the reference is timed too
    report = versus_reference(samples, ref, (1, 2, 3, 4), 5, 0, False, "cpu")
    report.update(versus_train(samples, ref, 5))
    real_train, real_ref = random_rows(train, n_samples, 0), random_rows(reference, n_samples, 0)
    versus_reference(real_train, ref, (1, 2, 3, 4), 5, 0, False, "cpu")
    versus_train(real_ref, ref, 5)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"reference": size, "train": size, "samples": n_samples, "seconds": seconds,
            "peak_rss_mb": peak_mb, "js4": report["js"][4]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--json", default=None)
    p.add_argument("--case", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case is not None:
        print(json.dumps(one_case(args.case, args.samples)))
        return
    results = []
    for size in map(int, args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--case", str(size), "--samples",
                              str(args.samples)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['samples']:>7,} samples vs {r['reference']:>9,} reference "
              f"(+ {r['train']:,} train): {r['seconds']:6.2f} s, peak RSS "
              f"{r['peak_rss_mb']:,.0f} MB (all metrics but --critic, with floors)", flush=True)
    if len(results) > 1:
        a, b = results[0], results[-1]
        print(f"time ratio {b['seconds'] / a['seconds']:.1f}x for "
              f"{b['reference'] / a['reference']:.0f}x the sequences")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Time per generator iteration (critic steps + generator step) for each preset.

    python benchmarks/iter_time.py                      # tiny and small, on the best device
    python benchmarks/iter_time.py --presets default --iters 2 --warmup 1
    python benchmarks/iter_time.py --device cuda --presets paper --json benchmarks/results/x.json

Uses textwgan's own training step on the bundled corpus, so the figure is what
`textwgan train` pays per iteration, minus logging and evaluation. Prints a table; --json
also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from common import environment

from textwgan.assets import bundled_corpus_path
from textwgan.config import get_preset
from textwgan.corpus import Corpus
from textwgan.data import DeviceData
from textwgan.device import resolve_device, speed_for
from textwgan.models import count_parameters
from textwgan.steps import Iteration, build_state


def time_preset(name: str, corpus: Corpus, device: torch.device, iters: int, warmup: int):
    config = get_preset(name).with_overrides(seq_len=corpus.seq_len)
    speed = speed_for(True, device)  # the default fast path: what `textwgan train` pays
    speed.apply_process_settings()
    state = build_state(config, len(corpus.charset), device, speed)
    data = DeviceData(corpus, device)

    iteration = Iteration(state, data, config, device)

    def one_iteration():
        iteration()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        one_iteration()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        one_iteration()
        times.append(time.perf_counter() - t0)
    return {
        "preset": name,
        "device": str(device),
        "seconds_per_iter_median": statistics.median(times),
        "seconds_per_iter_min": min(times),
        "iters_timed": iters,
        "critic_iters": config.train.critic_iters,
        "batch_size": config.train.batch_size,
        "generator_params": count_parameters(state.generator),
        "critic_params": count_parameters(state.critic),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="tiny,small")
    p.add_argument("--device", default="auto")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    device = resolve_device(args.device)
    corpus = Corpus(bundled_corpus_path())
    rows = []
    for name in args.presets.split(","):
        row = time_preset(name, corpus, device, args.iters, args.warmup)
        rows.append(row)
        print(f"{name:8s} {device}  {row['seconds_per_iter_median'] * 1e3:10.1f} ms/iter "
              f"(median of {args.iters}; min {row['seconds_per_iter_min'] * 1e3:.1f})  "
              f"G {row['generator_params'] / 1e6:.2f}M  C {row['critic_params'] / 1e6:.2f}M",
              flush=True)
    if args.json:
        meta = {"environment": environment(device)}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "results": rows}, f, indent=1)


if __name__ == "__main__":
    main()

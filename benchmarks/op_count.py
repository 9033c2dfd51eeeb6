"""ATen operations per training iteration, by preset: on a GPU each one is a kernel launch, so
this count is what an eager step pays in host time (and what CUDA graphs save). Counted on
the CPU with a dispatch-mode counter; the count does not depend on the width, so narrow nets
stand in for the real ones.

    python benchmarks/op_count.py                  # paper, default, small; bf16 fast path
    python benchmarks/op_count.py --json benchmarks/results/op_count.json

A change that adds operations to a step shows here as a higher count.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import environment  # noqa: E402

from textwgan.assets import bundled_corpus_path  # noqa: E402
from textwgan.config import get_preset  # noqa: E402
from textwgan.corpus import Corpus  # noqa: E402
from textwgan.data import DeviceData  # noqa: E402
from textwgan.device import EAGER, Speed  # noqa: E402
from textwgan.steps import build_state, critic_step, generator_step  # noqa: E402

# Views and metadata calls launch no kernel.
FREE = {"view", "_unsafe_view", "reshape", "expand", "permute", "transpose", "t", "unsqueeze",
        "squeeze", "select", "slice", "alias", "detach", "as_strided", "unbind", "split",
        "_reshape_alias", "lift_fresh", "empty", "empty_like", "empty_strided", "size",
        "stride", "is_same_size", "_has_compatible_shallow_copy_type"}


class OpCount(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._overloadpacket.__name__
        if name not in FREE:
            self.ops[name] += 1
        return func(*args, **(kwargs or {}))


def counts(preset: str, speed: Speed) -> dict:
    corpus = Corpus(bundled_corpus_path())
    config = get_preset(preset).with_overrides(seq_len=corpus.seq_len, channels=16,
                                               critic_channels=None, batch_size=8)
    device = torch.device("cpu")
    state = build_state(config, len(corpus.charset), device, speed)
    data = DeviceData(corpus, device)
    for _ in range(2):  # optimizer state and lazy buffers exist before counting
        critic_step(state, data, config)
        generator_step(state, config, device)
    with OpCount() as c:
        critic_step(state, data, config)
    with OpCount() as g:
        generator_step(state, config, device)
    per_critic, per_gen = sum(c.ops.values()), sum(g.ops.values())
    return {"critic_step": per_critic, "generator_step": per_gen,
            "critic_iters": config.train.critic_iters,
            "per_iteration": per_critic * config.train.critic_iters + per_gen,
            "critic_top": dict(c.ops.most_common(8))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="paper,default,small")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    speeds = {"fast (bf16 autocast, fused Adam)": Speed(autocast=torch.bfloat16,
                                                        fused_adam=True),
              "eager fp32": EAGER}
    result = {"environment": environment(), "presets": {}}
    print(f"{'preset':>8} {'path':>34} {'critic step':>12} {'gen step':>9} {'iteration':>10}")
    for preset in args.presets.split(","):
        result["presets"][preset] = {}
        for label, speed in speeds.items():
            row = counts(preset, speed)
            result["presets"][preset][label] = row
            print(f"{preset:>8} {label:>34} {row['critic_step']:12,} "
                  f"{row['generator_step']:9,} {row['per_iteration']:10,}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

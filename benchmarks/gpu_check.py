"""Prove the CUDA path on one GPU: correctness, speed, and quality per minute.

A lent GPU gives 15 minutes of device time in all, so the default way is the plan's two calls
of under 6 minutes each (each stage's time is capped; a stage that would not fit the call's
budget is skipped and says so):

    python benchmarks/gpu_check.py --plan 15min --call 1 --out r1/   # preflight, tests, speed
    python benchmarks/gpu_check.py --plan 15min --call 2 --out r2/ --speed-from r1/gpu_check.json
    python benchmarks/gpu_check.py --merge r1/ r2/ --out benchmarks/results/gpu
    python benchmarks/gpu_check.py --out /tmp/smoke --smoke --plan 15min --call 1  # on a CPU

Stages, in order of value, each written to the results as soon as it ends (a run cut off
still leaves what it finished; a child that hangs is killed with its whole process group):

0. preflight (under a minute): benchmarks/gpu_preflight.py, the CUDA paths an audit doubted,
   each tried for a few steps: RNG restore, train and resume (eager, CUDA graphs, graphs with
   weight clipping), the same samples on the GPU and the CPU, TF32 handed back.
1. correctness: the CUDA-marked tests (`pytest -m cuda`): train → sample → eval on the GPU,
   resume, the fast path against eager fp32, the gradient penalty against the linear-critic
   reference in fp32 and under autocast, CUDA graphs (Adam and RMSprop), single-rank torchrun
   with NCCL and DDP.
2. speed: benchmarks/train_speed.py on the `paper` configuration (batch 64, 512 channels, 10
   critic steps): ms per generator iteration of the plain eager port and of each of textwgan's
   speed switches, one row each, written as each finishes; TFLOP/s against a bf16 matmul peak
   measured in the same run; peak memory; then a torch.profiler summary of the eager fast path.
3. quality: the `default` preset on the 1B-Word sample (train = the two .tokens files,
   reference = the held-out shard), a checkpoint every --quality-every minutes of training (by
   the clock); then JS-4 of 640 and of 6,400 argmax samples at each, beside their floors,
   against minutes; the best generator exported in bf16 (split into parts under 16 MiB if it
   must be).
4. coco: the `small` preset trained on the bundled COCO captions on the GPU, then its JS-4
   against the held-out captions beside the generator that ships in the package, by the same
   measure; its export is written, and `beats_shipped` says whether it should replace it.

The 1B-Word sample is read from --corpus-dir (default: ../shared/corpora/billion_word_sample
beside the checkout, or shared/corpora/billion_word_sample inside it). A training stage's run
lives in --state and resumes, so it can be spread over several calls (--quality-slice minutes
each) while that folder survives; each call writes its own --out, and --merge joins them.

Files written to --out (at most 8, each under 16 MiB): gpu_check.json, summary.md (the tables
for the README), speed.png, quality.png, generator_bf16.pt (or generator_bf16.pt.part0, .part1:
`cat` them together), coco_generator.pt.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from calls import Results, apply_plan, merge  # noqa: E402
from common import environment  # noqa: E402
from gpu_stages import (  # noqa: E402
    ONE_B_FILES,
    ONE_B_PLACES,
    coco,
    coco_lines,
    correctness,
    correctness_lines,
    one_b_word_dir,
    preflight,
    preflight_lines,
    quality,
    quality_lines,
    speed,
    speed_lines,
)

STAGES = ("preflight", "correctness", "speed", "quality", "coco")
# A lent GPU gives 15 minutes of device time in all, starts and transfers included: two calls
# of at most 6 minutes each, with time to re-run one. Call 1 learns in its first minute
# whether the rest is worth it (preflight), then proves correctness and speed; call 2 trains.
PLANS = {
    "15min": {
        1: dict(stages="preflight,correctness,speed", preflight_timeout=60, test_timeout=120,
                speed_timeout=150, speed_iters=10, budget_seconds=330),
        2: dict(stages="quality,coco", quality_minutes=4.5, quality_slice=4.5,
                quality_every=0.5, coco_minutes=1.0, budget_seconds=330),
    },
}


def summary(data: dict) -> str:
    """The measured figures as Markdown tables (what the README's GPU section shows)."""
    lines = []
    for stage in STAGES:
        if stage not in data:
            continue
        value, env = data[stage], data[stage]["environment"]
        where = (f"{env.get('gpu', env.get('device', '?'))}, torch {env.get('torch', '?')}, "
                 f"{env.get('date', '?')}")
        lines += [f"### {stage} ({where})", ""]
        if "error" in value:
            lines += ["failed: " + (value["error"].strip().splitlines() or ["?"])[-1], ""]
            continue
        lines += STAGE_TABLE[stage].lines(value) + [""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the result files")
    ap.add_argument("--plan", choices=sorted(PLANS), default=None,
                    help="a budget's calls: --plan 15min --call 1 (preflight, correctness, "
                         "speed), then --call 2 (quality, coco); each under 6 minutes")
    ap.add_argument("--call", type=int, default=None, help="which call of --plan")
    ap.add_argument("--stages", default=None,
                    help=f"comma-separated, of: {', '.join(STAGES)} (default: preflight, "
                         "correctness, speed, quality)")
    ap.add_argument("--state", type=Path, default=ROOT / "benchmarks" / "runs" / "gpu",
                    help="where runs and results persist between calls")
    ap.add_argument("--corpus-dir", type=Path, default=None,
                    help="the folder of the 1B-Word sample (default: ../shared/corpora/"
                         "billion_word_sample or shared/corpora/billion_word_sample)")
    ap.add_argument("--quality-minutes", type=float, default=None,
                    help="training minutes of the quality run, in all (default 14)")
    ap.add_argument("--quality-slice", type=float, default=None,
                    help="training minutes in this call (spread the run over calls)")
    ap.add_argument("--quality-every", type=float, default=None,
                    help="training minutes between the quality run's checkpoints, each scored "
                         "(default 1)")
    ap.add_argument("--coco-preset", default="small",
                    help="the preset of the COCO run (small: the shipped generator's size)")
    ap.add_argument("--coco-minutes", type=float, default=None,
                    help="training minutes of the COCO run (default 4)")
    ap.add_argument("--speed-from", type=Path, default=None, metavar="JSON",
                    help="an earlier call's gpu_check.json: its speed stage sets the training "
                         "stages' CUDA graphs when this --state has none")
    ap.add_argument("--speed-iters", type=int, default=None,
                    help="timed iterations per speed row (default 20)")
    ap.add_argument("--preflight-timeout", type=float, default=None, help="default 120 s")
    ap.add_argument("--test-timeout", type=float, default=None, help="default 200 s")
    ap.add_argument("--speed-timeout", type=float, default=None, help="default 200 s")
    ap.add_argument("--budget-seconds", type=float, default=None,
                    help="skip a stage that would not finish within this many seconds of the "
                         "start (its estimate is shown); default: no limit")
    ap.add_argument("--smoke", action="store_true",
                    help="toy sizes on whatever device there is: checks the script itself")
    ap.add_argument("--merge", type=Path, nargs="+", default=None, metavar="FOLDER",
                    help="join the --out folders of earlier calls into --out; runs nothing")
    args = apply_plan(ap.parse_args(), PLANS, DEFAULTS)
    if args.merge:
        missing = [str(f) for f in args.merge if not (f / "gpu_check.json").is_file()]
        if missing:
            raise SystemExit(f"no gpu_check.json in {', '.join(missing)}: --merge takes the "
                             "--out folders of earlier calls")
        merge(args.merge, args.out, STAGES, lambda stage, v: STAGE_TABLE[stage].files(v),
              summary)
        print(f"merged {len(args.merge)} folders into {args.out}")
        return
    args.speed_hint = {}
    if args.speed_from:
        try:
            args.speed_hint = json.loads(args.speed_from.read_text()).get("speed", {})
        except (OSError, ValueError) as e:
            raise SystemExit(f"--speed-from {args.speed_from}: cannot read it ({e})") from None
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise SystemExit(f"unknown stage {', '.join(unknown)}: --stages takes "
                         f"{', '.join(STAGES)}")
    if ("quality" in stages and not args.smoke and not (args.state / "corpus-1b").exists()
            and one_b_word_dir(args.corpus_dir) is None):
        where = args.corpus_dir or " or ".join(str(p) for p in ONE_B_PLACES)
        raise SystemExit(f"the 1B-Word sample ({', '.join(ONE_B_FILES)}) is not in {where}: "
                         "copy ../shared/corpora/billion_word_sample where this runs and pass "
                         "--corpus-dir")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not args.smoke:
        raise SystemExit("no CUDA GPU is visible to PyTorch: this check needs one "
                         "(--smoke runs it at toy sizes on the CPU)")
    if args.smoke:  # toy sizes on a CPU that may be busy: the plan's timeouts fit a GPU
        for key in ("preflight_timeout", "test_timeout", "speed_timeout"):
            setattr(args, key, max(getattr(args, key), 600))
        args.budget_seconds = None
        args.quality_minutes = min(args.quality_minutes, 0.25)
        args.quality_slice = min(args.quality_slice, 0.25)
        args.coco_minutes = min(args.coco_minutes, 0.25)
    args.state.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = Results(args.state, args.out, summary)
    env = environment(device)
    results.save(environment=env)
    started = time.perf_counter()
    for stage in (s for s in STAGES if s in stages):
        t0 = time.perf_counter()
        left = None if args.budget_seconds is None else args.budget_seconds - (t0 - started)
        if left is not None and stage_estimate(stage, args) > left:
            print(f"== {stage}: skipped, it needs up to {stage_estimate(stage, args):.0f} s "
                  f"and {left:.0f} s of the budget are left", flush=True)
            continue
        print(f"== {stage}", flush=True)
        value = STAGE_TABLE[stage].run(args, device, results)
        value["stage_seconds"] = time.perf_counter() - t0
        value["environment"] = env
        results.save(**{stage: value})
        print("\n".join(STAGE_TABLE[stage].lines(value)) if "error" not in value
              else f"{stage} failed: {value['error']}", flush=True)
    print(f"results in {args.out}")


DEFAULTS = dict(stages="preflight,correctness,speed,quality", quality_minutes=14.0,
                quality_every=1.0, coco_minutes=4.0, speed_iters=20, preflight_timeout=120,
                test_timeout=200,
                speed_timeout=200, budget_seconds=None)


@dataclass(frozen=True)
class Stage:
    """One stage of the check: what runs it, the most seconds it needs beyond its training
    (what --budget-seconds checks), its summary lines, and the files it leaves in --out."""

    run: Callable  # (args, device, results) -> dict
    estimate: Callable  # (args) -> seconds
    lines: Callable  # (value) -> Markdown lines
    files: Callable = lambda value: []  # (value) -> names


STAGE_TABLE = {
    "preflight": Stage(lambda a, d, r: preflight(a, d), lambda a: a.preflight_timeout,
                       preflight_lines),
    "correctness": Stage(lambda a, d, r: correctness(a), lambda a: a.test_timeout,
                         correctness_lines),
    "speed": Stage(lambda a, d, r: speed(a, d), lambda a: a.speed_timeout, speed_lines,
                   lambda v: ["speed.png"]),
    "quality": Stage(quality, lambda a: a.quality_slice * 60 + 60, quality_lines,
                     lambda v: ["quality.png", *v.get("export", {}).get("files", [])]),
    "coco": Stage(coco, lambda a: a.coco_minutes * 60 + 40, coco_lines,
                  lambda v: [v["export"]["file"]] if "export" in v else []),
}
assert tuple(STAGE_TABLE) == STAGES


def stage_estimate(stage: str, args) -> float:
    return STAGE_TABLE[stage].estimate(args)


if __name__ == "__main__":
    main()

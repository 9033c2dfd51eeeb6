"""Quality per minute of CPU: candidate training recipes, each trained for the same wall-clock
budget on the same corpus with several seeds, then scored.

    python benchmarks/quality_per_minute.py --budget 2m30s                      # screen all
    python benchmarks/quality_per_minute.py --budget 13m --candidates small,ttur --tag confirm
    python benchmarks/quality_per_minute.py --budget 13m --candidates ttur --corpus 1b --seeds 0

Every run is the real command a user types (`python -m textwgan train ... --time-limit B`) in
its own process, one run at a time, so a run has the machine to itself (other load shows as a
lower it/s in the results: check it). Each run evaluates JS-4 (640 argmax samples against the
held-out split) every `--eval-every` steps; the curve is JS-4 against training minutes. After
training, each run's last checkpoint gets the full report (`textwgan.evaluate`): JS-4 beside
its floor, word validity and the Kneser–Ney LM bits/char of the samples.

Writes `benchmarks/results/quality_<tag>.json` and `docs/figures/quality_<tag>.png` (JS-4
against minutes, the mean of the seeds in bold, each seed thin, the floor dashed). Runs are
kept under `benchmarks/runs/quality/`; a run already finished is scored again, not retrained.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's textwgan (a frozen worktree's, when run from one)
SHARED = ROOT.parent / "shared" / "corpora"

# Every candidate starts from the `small` preset as it was before this study (128 channels,
# 2 blocks, batch 32, 2 critic steps, lr 5e-4, a full-width critic, no weight average),
# spelled out so that candidates stay "old small + flags" whatever the preset becomes; the
# flags change one thing or a few.
BASE = ["--preset", "small", "--channels", "128", "--blocks", "2", "--batch-size", "32",
        "--critic-iters", "2", "--lr", "5e-4", "--critic-channels", "128", "--ema", "0"]
CANDIDATES: dict[str, list[str]] = {
    "small": [],  # the old preset, as the reference
    "lr1e-3": ["--lr", "1e-3"],
    "batch64": ["--batch-size", "64"],
    "batch16": ["--batch-size", "16"],
    "critic1": ["--critic-iters", "1"],
    # two timescales (TTUR): one critic step with a critic three times as fast
    "ttur": ["--critic-iters", "1", "--lr", "1e-4", "--critic-lr", "3e-4"],
    "ttur-fast": ["--critic-iters", "1", "--lr", "3e-4", "--critic-lr", "1e-3"],
    "gen256": ["--channels", "256", "--critic-channels", "128"],
    "critic64": ["--critic-channels", "64"],
    "gen4blocks": ["--blocks", "4", "--critic-blocks", "2"],
    "critic1block": ["--critic-blocks", "1"],
    "no-norm": ["--critic-norm", "none"],
    "residual1": ["--residual-scale", "1.0"],
    "betas0": ["--betas", "0.0,0.9"],
    "betas.99": ["--betas", "0.5,0.99"],
    "fd-penalty": ["--lipschitz", "gp-finite-difference"],
    # Round 2: the screen's winners (a lighter critic, smaller batches) combined, and a moving
    # average of the generator's weights for sampling.
    "c64-b16": ["--critic-channels", "64", "--batch-size", "16"],
    "c32": ["--critic-channels", "32"],
    "c64-1block": ["--critic-channels", "64", "--critic-blocks", "1"],
    "c64-ema": ["--critic-channels", "64", "--ema", "0.999"],
    "c32-b16": ["--critic-channels", "32", "--batch-size", "16"],
    "c64-b16-ema": ["--critic-channels", "64", "--batch-size", "16", "--ema", "0.999"],
    # Round 3, for a budget of hours (`--tag long --budget 30m --threads 1`): candidates that
    # could win once steps are plentiful, each from today's `small` (a 64-wide critic and a
    # weight average), changing capacity or the optimizer's timescales.
    "long-small": ["--critic-channels", "64", "--ema", "0.999"],
    "long-gen256": ["--channels", "256", "--critic-channels", "64", "--ema", "0.999"],
    "long-critic128": ["--critic-channels", "128", "--ema", "0.999"],
    "long-critic4blocks": ["--critic-channels", "64", "--critic-blocks", "4", "--ema", "0.999"],
    "long-gen4blocks": ["--blocks", "4", "--critic-channels", "64", "--critic-blocks", "2",
                        "--ema", "0.999"],
    "long-ttur": ["--critic-channels", "64", "--critic-iters", "1", "--lr", "2e-4",
                  "--critic-lr", "6e-4", "--ema", "0.999"],
}
# Round 4, against the plateau (`--tag plateau --steps 12000 --threads 1 --save-every 2000`):
# the shipped `coco` recipe, and one remedy each, against a critic that memorises its training
# lines (augmentation, consistency) or against a capacity limit (depth, dilation, attention,
# a wider batch). docs/quality.md has the measurement that motivates them.
PLATEAU_BASE = CANDIDATES["long-gen4blocks"]
CANDIDATES |= {
    "plateau-base": PLATEAU_BASE,
    "plateau-shift": [*PLATEAU_BASE, "--augment", "shift"],
    "plateau-drop": [*PLATEAU_BASE, "--augment", "drop"],
    "plateau-shiftdrop": [*PLATEAU_BASE, "--augment", "shift,drop"],
    "plateau-cr": [*PLATEAU_BASE, "--consistency", "10"],
    "plateau-critic4": [*PLATEAU_BASE[:-4], "--critic-blocks", "4", "--ema", "0.999"],
    "plateau-dilated": [*PLATEAU_BASE, "--dilation", "2"],
    "plateau-attention": [*PLATEAU_BASE, "--attention", "1"],
    "plateau-batch64": [*PLATEAU_BASE, "--batch-size", "64"],
}


def corpus_arg(name: str, runs: Path) -> str:
    """A corpus folder for `name`: the bundled captions, or the 1B-Word sample prepared once."""
    if name == "coco":
        from textwgan.assets import bundled_corpus_path

        return str(bundled_corpus_path())
    if name == "1b":
        folder = runs / "corpus-1b"
        if not (folder / "meta.json").exists():
            bw = SHARED / "billion_word_sample"
            subprocess.run([sys.executable, "-m", "textwgan", "prepare",
                            str(bw / "1b_benchmark.dev.tokens"),
                            str(bw / "1b_benchmark.test.tokens"), "--heldout-file",
                            str(bw / "news.en.heldout-00000-of-00050"), "--out", str(folder)],
                           check=True, cwd=ROOT)
        return str(folder)
    return name  # a corpus folder


def train_one(flags: list[str], corpus: str, run: Path, budget: str, seed: int,
              eval_every: int, threads: int | None = None, save_every: int = 0,
              steps: int | None = None) -> float:
    """Train one run to its time limit (or, with `steps`, to that many generator steps,
    whatever the time: a budget that other work on the machine cannot shrink); returns the
    wall seconds of the whole command. `save_every`: keep a step checkpoint that often
    (benchmarks/plateau.py reads them). A run stopped early resumes."""
    keep = ["--save-every", str(save_every), "--keep-last", "1000"] if save_every else \
        ["--save-every", "10000000", "--keep-last", "0"]
    until = ["--iters", str(steps), "--time-limit", "1000h"] if steps else \
        ["--iters", "10000000", "--time-limit", budget]
    cmd = [sys.executable, "-m", "textwgan", "train", corpus, *BASE, *flags,
           "--seed", str(seed), *until,
           "--eval-every", str(eval_every), *keep,
           "--diag-every", "0", "--device", "cpu", "--out", str(run),
           *(["--threads", str(threads)] if threads else [])]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"{run}: training failed:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def _finished(run: Path, steps: int | None) -> bool:
    """A run trained already: any saved run for a time budget, its step count for --steps."""
    if not (run / "checkpoint.pt").exists():
        return False
    if steps is None:
        return True
    import torch

    return torch.load(run / "checkpoint.pt", weights_only=True)["step"] >= steps


def score(run: Path, corpus: str, seed: int) -> dict:
    import textwgan

    report = textwgan.evaluate(run, corpus=corpus, n=640, seed=seed)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    evals = [r for r in log if r["kind"] == "eval"]
    trains = [r for r in log if r["kind"] == "train"]
    steps = evals[-1]["step"]
    return {"steps": steps, "train_seconds": evals[-1]["time"],
            "it_s": steps / max(evals[-1]["time"], 1e-9),
            "curve": [[r["time"] / 60, r["js4"]] for r in evals],
            "js4": report["js4"], "floor_js4": report["floor_js4"],
            "word_validity": report["word_validity"],
            "floor_word_validity": report["floor_word_validity"],
            "lm_bpc": report["lm_bpc"], "floor_lm_bpc": report["floor_lm_bpc"],
            "distinct": report["distinct"],
            "last_w_estimate": trains[-1]["w_estimate"] if trains else None,
            "samples": textwgan.load_generator(run).sample(12, seed=0)}


def summarize(rows: list[dict]) -> dict:
    def mean(key):
        return statistics.fmean(r[key] for r in rows)

    return {k: mean(k) for k in ("js4", "word_validity", "lm_bpc", "it_s", "steps")} | {
        "js4_seeds": [r["js4"] for r in rows], "floor_js4": rows[0]["floor_js4"],
        "floor_word_validity": rows[0]["floor_word_validity"],
        "floor_lm_bpc": rows[0]["floor_lm_bpc"]}


def plot(results: dict, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6), constrained_layout=True)
    ranked = sorted(results["candidates"].items(), key=lambda kv: kv[1]["summary"]["js4"])
    palette = plt.get_cmap("tab20").colors  # 20 distinct colours: a screen has up to 16
    for i, (name, res) in enumerate(ranked):
        color = palette[(2 * i) % 20 + (i // 10) % 2]
        curves = [r["curve"] for r in res["runs"].values()]
        for c in curves:
            ax.plot([x for x, _ in c], [y for _, y in c], color=color, lw=0.6, alpha=0.5)
        # the seeds' mean, on the first seed's evaluation times (each seed's nearest point)
        base = curves[0]
        mean = [statistics.fmean(min(c, key=lambda p: abs(p[0] - x))[1] for c in curves)
                for x, _ in base]
        ax.plot([x for x, _ in base], mean, color=color, lw=2,
                label=f"{name}: {res['summary']['js4']:.3f}")
    floor = next(iter(results["candidates"].values()))["summary"]["floor_js4"]
    ax.axhline(floor, color="k", ls="--", lw=1, label=f"floor (real text) {floor:.3f}")
    ax.set(xlabel="training minutes (2-core CPU)", ylabel="JS-4 (640 argmax samples, held-out)",
           title=title, ylim=(max(0.0, floor - 0.05), 1.01))
    ax.legend(fontsize=7, ncol=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", default="2m30s", help="training time per run (a duration)")
    p.add_argument("--candidates", default=",".join(list(CANDIDATES)[:16]))
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--corpus", default="coco", help="coco, 1b, or a corpus folder")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--tag", default="screen")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per run (1: leave the other core free)")
    p.add_argument("--runs", type=Path, default=ROOT / "benchmarks" / "runs" / "quality")
    p.add_argument("--steps", type=int, default=None,
                   help="train each run to this many steps instead of --budget")
    p.add_argument("--save-every", type=int, default=0,
                   help="keep a step checkpoint this often (0: only the last)")
    args = p.parse_args()

    names = args.candidates.split(",")
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    args.runs.mkdir(parents=True, exist_ok=True)
    corpus = corpus_arg(args.corpus, args.runs)
    out_json = ROOT / "benchmarks" / "results" / f"quality_{args.tag}.json"
    results = json.loads(out_json.read_text()) if out_json.exists() else {"candidates": {}}
    import torch

    results["meta"] = {"budget": args.budget, "corpus": args.corpus, "seeds": seeds,
                       "base": BASE, "eval_every": args.eval_every, "cpus": os.cpu_count(),
                       "threads": args.threads or torch.get_num_threads(),
                       "torch": torch.__version__,
                       "machine": platform.machine(), "date": time.strftime("%Y-%m-%d")}
    for name in names:
        res = results["candidates"].setdefault(name, {"flags": CANDIDATES[name], "runs": {}})
        for seed in seeds:
            run = args.runs / f"{args.tag}-{args.corpus}-{name}-s{seed}"
            if str(seed) not in res["runs"]:
                if not _finished(run, args.steps):
                    wall = train_one(CANDIDATES[name], corpus, run, args.budget, seed,
                                     args.eval_every, args.threads, args.save_every,
                                     args.steps)
                else:
                    wall = None
                row = score(run, corpus, seed)
                row["command_seconds"] = wall
                res["runs"][str(seed)] = row
                print(f"{name} seed {seed}: {row['steps']} steps ({row['it_s']:.2f} it/s), "
                      f"JS-4 {row['js4']:.3f} (floor {row['floor_js4']:.3f}), words "
                      f"{row['word_validity']:.1%}, LM {row['lm_bpc']:.3f}", flush=True)
                out_json.parent.mkdir(parents=True, exist_ok=True)
                out_json.write_text(json.dumps(results, indent=1))
        res["summary"] = summarize(list(res["runs"].values()))
    out_json.write_text(json.dumps(results, indent=1))
    ranked = sorted(results["candidates"].items(), key=lambda kv: kv[1]["summary"]["js4"])
    print(f"\n{'candidate':14s} {'JS-4':>7s} {'seeds':>15s} {'words':>7s} {'LM':>6s} "
          f"{'it/s':>6s} {'steps':>7s}")
    for name, res in ranked:
        s = res["summary"]
        print(f"{name:14s} {s['js4']:7.3f} {' '.join(f'{x:.3f}' for x in s['js4_seeds']):>15s} "
              f"{s['word_validity']:7.1%} {s['lm_bpc']:6.3f} {s['it_s']:6.2f} "
              f"{s['steps']:7.0f}")
    plot(results, ROOT / "docs" / "figures" / f"quality_{args.tag}.png",
         f"JS-4 against training time, {args.corpus}, budget {args.budget} "
         f"(seeds {args.seeds})")


if __name__ == "__main__":
    main()

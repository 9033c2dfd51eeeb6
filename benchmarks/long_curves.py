"""JS-4 against hours of training for the generators that ship, beside the quick start's
12-minute curve on the same corpus.

    python benchmarks/long_curves.py --run coco=RUN --run news=RUN \
        --also "news=4-block generator, stopped=RUN"

Reads each run's log.jsonl (the evaluation records: 640 argmax samples against the held-out
split, time in training seconds across resumes) and the short curves already measured
(`quality_confirm.json`: the `small` recipe at 11 minutes on COCO, seed 0; `quality_1b.json`:
the same recipe at 11 minutes on the 1B-Word sample). Writes benchmarks/results/
quality_hours.json and docs/figures/quality_hours.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import RESULTS, ROOT, write_result

SHORT = {"coco": ("quality_confirm.json", "c64-ema", "0"),
         "news": ("quality_1b.json", "c64-ema", "0")}
TITLES = {"coco": "COCO captions", "news": "1B-Word news"}


def run_curve(run: Path) -> dict:
    """[(hours, step, JS-4)], the floor, from a run's log (evaluation records only)."""
    evals = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x.strip()]
    evals = [r for r in evals if r.get("kind") == "eval"]
    return {"points": [[r["time"] / 3600, r["step"], r["js4"]] for r in evals],
            "floor_js4": evals[-1]["floor_js4"], "run": run.name}


def short_curve(name: str) -> dict | None:
    file, candidate, seed = SHORT[name]
    path = RESULTS / file
    if not path.exists():
        return None
    run = json.loads(path.read_text())["candidates"][candidate]["runs"][seed]
    return {"points": [[m / 60, None, js] for m, js in run["curve"]],
            "floor_js4": run["floor_js4"], "steps": run["steps"]}


def plot(curves: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(6.5 * len(curves), 4.6),
                             constrained_layout=True, squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items(), strict=True):
        long = c["long"]["points"]
        ax.plot([p[0] for p in long], [p[2] for p in long], "o-", ms=3,
                label=f"shipped run ({long[-1][1]:,} steps; 1 thread, shared CPU)")
        for label, other in c.get("also", {}).items():
            pts = other["points"]
            ax.plot([p[0] for p in pts], [p[2] for p in pts], "^--", ms=3,
                    label=f"{label} ({pts[-1][1]:,} steps)")
        if c.get("short"):
            short = c["short"]["points"]
            ax.plot([p[0] for p in short], [p[2] for p in short], "s-", ms=3,
                    label=f"small recipe, 11 minutes ({c['short']['steps']:,} steps; 2 threads)")
        ax.axhline(c["long"]["floor_js4"], color="k", ls=":", label="real text (floor)")
        ax.set(title=TITLES.get(name, name), xlabel="hours of training (one CPU core)",
               ylabel="JS-4, 640 argmax samples", ylim=(0.2, 1.0))
        ax.legend(fontsize=8)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, metavar="NAME=RUN")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=LABEL=RUN",
                    help="another run on the same corpus, drawn beside the shipped one")
    args = ap.parse_args()
    curves = {}
    for spec in args.run:
        name, _, run = spec.partition("=")
        curves[name] = {"long": run_curve(Path(run)), "short": short_curve(name), "also": {}}
    for spec in args.also:
        name, label, run = spec.split("=", 2)
        curves[name]["also"][label] = run_curve(Path(run))
    out = write_result("quality_hours.json", {"curves": curves})
    png = ROOT / "docs" / "figures" / "quality_hours.png"
    plot(curves, png)
    for name, c in curves.items():
        last = c["long"]["points"][-1]
        print(f"{name}: {last[1]:,} steps in {last[0]:.2f} h, JS-4 {last[2]:.3f} "
              f"(floor {c['long']['floor_js4']:.3f})")
    print(f"wrote {out} and {png}")


if __name__ == "__main__":
    main()

"""A generator beside the Kneser–Ney baseline across sampling temperatures, and the generator's
likelihood bound at several numbers of noise draws: the figures of docs/benchmark.md.

    python benchmarks/baseline_comparison.py --generator textwgan/assets/generators/coco \
        --corpus corpora/coco --tag coco
    python benchmarks/baseline_comparison.py --generator RUN --corpus lm1b --tag 1b

Writes benchmarks/results/baselines_<tag>.json (the bench rows, their signature, the bound at
each K with its time) and docs/figures/baselines_<tag>.png (the quality–diversity plane and
JS-4 against temperature), and prints the bench as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import ROOT, write_figure

METRICS = [("js4", "JS-4", ".3f"), ("copy_rate", "copies", ".1%"), ("distinct", "distinct", ".1%"),
           ("word_validity", "words", ".1%"), ("lm_bpc", "LM bits/char", ".3f"),
           ("reverse_lm_bpc", "reverse LM bits/char", ".3f")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", required=True, help="a checkpoint, export or run folder")
    p.add_argument("--corpus", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--temperatures", default="0.5,0.7,1.0,1.3")
    p.add_argument("--baseline", default="kn5")
    p.add_argument("--n", type=int, default=640)
    p.add_argument("--draws", default="1000,10000,100000", help="K values of the bound")
    args = p.parse_args()

    import textwgan
    from textwgan.plot import plot_bench

    t0 = time.perf_counter()
    result = textwgan.bench([args.generator], corpus=args.corpus, n=args.n,
                            temperatures=args.temperatures, baseline=args.baseline)
    result["seconds"] = time.perf_counter() - t0
    bounds = []
    for k in (int(x) for x in args.draws.split(",")):
        t0 = time.perf_counter()
        report = textwgan.evaluate(args.generator, corpus=args.corpus, n=args.n, gan_bpc=k)
        bounds.append({"draws": k, "gan_bpc": report.gan_bpc, "seconds": time.perf_counter() - t0,
                       "kn_bpc_same_sequences": report.floor.lm_bpc})
        print(f"K = {k:,}: bound {report.gan_bpc:.3f} bits/char (Kneser-Ney on the same "
              f"held-out sequences: {report.floor.lm_bpc:.3f}), {bounds[-1]['seconds']:.0f} s",
              flush=True)
    out = {"generator": args.generator, "corpus": args.corpus, "bench": result,
           "bound": bounds, "date": time.strftime("%Y-%m-%d")}
    (ROOT / "benchmarks" / "results" / f"baselines_{args.tag}.json").write_text(
        json.dumps(out, indent=1) + "\n")
    write_figure(ROOT / "docs" / "figures" / f"baselines_{args.tag}.png",
                 lambda out: plot_bench(result, out))
    print("\n| input | " + " | ".join(label for _, label, _ in METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for row in result["rows"]:
        name = "real text (floor)" if row["kind"] == "real" else (
            Path(row["source"]).name + row["input"][len(row["source"]):]
            if row["kind"] == "generator" else row["input"])
        print(f"| {name} | " + " | ".join(format(row[k], spec) if row.get(k) is not None else "-"
                                         for k, _, spec in METRICS) + " |")
    print(f"\n`{result['signature']}`")


if __name__ == "__main__":
    main()

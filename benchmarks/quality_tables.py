"""Markdown tables from benchmarks/results/quality_<tag>.json (written by quality_per_minute.py),
for docs/quality.md: one row per candidate, best first, every figure as measured.

    python benchmarks/quality_tables.py screen round2 confirm 1b
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def table(tag: str) -> str:
    data = json.loads((RESULTS / f"quality_{tag}.json").read_text())
    meta = data["meta"]
    rows = sorted(data["candidates"].items(), key=lambda kv: kv[1]["summary"]["js4"])
    first = rows[0][1]["summary"]
    lines = [f"**{tag}**: corpus {meta['corpus']}, {meta['budget']} of training per run, seeds "
             f"{', '.join(map(str, meta['seeds']))}, {meta['date']}; floors: JS-4 "
             f"{first['floor_js4']:.3f}, words {first['floor_word_validity']:.1%}, LM "
             f"{first['floor_lm_bpc']:.3f} bits/char.", "",
             "| candidate | flags (on top of the old `small`) | JS-4 (mean) | JS-4 per seed | "
             "words | LM bits/char | it/s | steps |", "|---|---|---|---|---|---|---|---|"]
    for name, res in rows:
        s = res["summary"]
        flags = " ".join(res["flags"]) or "(none)"
        lines.append(f"| {name} | `{flags}` | {s['js4']:.3f} | "
                     f"{' / '.join(f'{x:.3f}' for x in s['js4_seeds'])} | "
                     f"{s['word_validity']:.1%} | {s['lm_bpc']:.3f} | {s['it_s']:.2f} | "
                     f"{s['steps']:,.0f} |")
    return "\n".join(lines)


def samples(tag: str, candidate: str, seed: str = "0") -> str:
    data = json.loads((RESULTS / f"quality_{tag}.json").read_text())
    return "\n".join(data["candidates"][candidate]["runs"][seed]["samples"])


if __name__ == "__main__":
    for tag in sys.argv[1:]:
        print(table(tag), end="\n\n")

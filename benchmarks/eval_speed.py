"""How long `textwgan eval` takes for 10,000 samples against about 100,000 held-out sequences
of the 1B-Word sample (no --critic): the whole command a user waits for, and its stages, on a
first call (an empty cache) and a second one (the corpus's tables read from
`$TEXTWGAN_CACHE/scores/`).

    python benchmarks/eval_speed.py                  # builds its corpus once, then measures
    python benchmarks/eval_speed.py --repeats 3      # the median of three of each call

The corpus: training split = the sample's two training files (24,321 lines); held-out = 100,000
lines drawn from the held-out shard, one character of each copy changed, so the tables grow as a
larger held-out text's would (all of it the test split: --validation-fraction 0). Samples:
10,000 training lines, perturbed the same way. Targets: first call ≤ 5 s, second ≤ 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, write_result

BW = ROOT.parent / "shared" / "corpora" / "billion_word_sample"
WORK = ROOT / "benchmarks" / "runs" / "eval_speed"

STAGES = """
import json, sys, time
t0 = time.perf_counter()
from textwgan.cli import app  # what the command imports before it scores
from textwgan.corpus import Corpus
from textwgan.scoring import (Reference, ScoringOptions, cached_floor, training_lm,
                              versus_reference)
from textwgan.metrics import distinct_n, word_validity
from textwgan.sources import read_lines
times = {"imports": time.perf_counter() - t0}
def stage(name, fn):
    t = time.perf_counter(); out = fn(); times[name] = time.perf_counter() - t; return out
corpus = stage("read corpus", lambda: Corpus(sys.argv[1]))
lines = stage("read samples", lambda: read_lines(sys.argv[2]))
ref = stage("reference", lambda: Reference(corpus, n=len(lines)))
rows = stage("encode samples", lambda: ref.encode(lines))
stage("n-gram counts (JS-1..4)", lambda: ref.js(rows, (1, 2, 3, 4)))
options = ScoringOptions(device="cpu")
stage("Kneser-Ney LMs", lambda: (training_lm(ref, 5).bits_per_char(ref.code(rows)),
                                 versus_reference(rows, ref, options)))
stage("distinct-n", lambda: distinct_n(rows, ref.pad, (1, 2, 3, 4)))
stage("word validity", lambda: word_validity(ref.texts(rows), ref.vocabulary(), ref.seq_len))
stage("floors and junk control", lambda: cached_floor(ref, len(rows), options))
print(json.dumps(times))
"""


def build(work: Path) -> tuple[Path, Path]:
    """The corpus folder and the samples file (made once, kept under benchmarks/runs/)."""
    corpus, samples = work / "corpus", work / "samples.txt"
    if (corpus / "meta.json").exists() and samples.exists():
        return corpus, samples
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)

    def perturbed(line: str) -> str:
        i = rng.randrange(min(len(line), 32))
        return line[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + line[i + 1:]

    def lines(path: Path) -> list[str]:
        return [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]

    held = lines(BW / "news.en.heldout-00000-of-00050")
    train = lines(BW / "1b_benchmark.dev.tokens") + lines(BW / "1b_benchmark.test.tokens")
    (work / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (work / "heldout.txt").write_text("\n".join(perturbed(rng.choice(held))
                                                for _ in range(100_000)) + "\n", "utf-8")
    samples.write_text("\n".join(perturbed(rng.choice(train)) for _ in range(10_000)) + "\n",
                       encoding="utf-8")
    subprocess.run([sys.executable, "-m", "textwgan", "prepare", str(work / "train.txt"),
                    "--heldout-file", str(work / "heldout.txt"), "--validation-fraction", "0",
                    "--out", str(corpus)], check=True, capture_output=True)
    return corpus, samples


def command_seconds(corpus: Path, samples: Path, cache: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "textwgan", "eval", str(samples), "--corpus",
                        str(corpus), "--json"], capture_output=True, text=True, check=True,
                       env={**os.environ, "TEXTWGAN_CACHE": str(cache)})
    return time.perf_counter() - t0, r.stdout


def stage_seconds(corpus: Path, samples: Path, cache: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", STAGES, str(corpus), str(samples)],
                       capture_output=True, text=True, check=True,
                       env={**os.environ, "TEXTWGAN_CACHE": str(cache)})
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", default="eval_speed.json")
    args = ap.parse_args()
    corpus, samples = build(WORK)
    calls: dict[str, list] = {"first": [], "second": []}
    stages: dict[str, list] = {"first": [], "second": []}
    reports = set()
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            for call in ("first", "second"):
                seconds, report = command_seconds(corpus, samples, Path(cache))
                calls[call].append(seconds)
                reports.add(report)
        with tempfile.TemporaryDirectory() as cache:
            for call in ("first", "second"):
                stages[call].append(stage_seconds(corpus, samples, Path(cache)))
    summary = {call: {"command_seconds": statistics.median(calls[call]),
                      "stages": {k: statistics.median(s[k] for s in stages[call])
                                 for k in stages[call][0]}} for call in calls}
    for call, s in summary.items():
        print(f"{call} call: textwgan eval takes {s['command_seconds']:.2f} s "
              f"(target {5 if call == 'first' else 2} s)")
        for name, seconds in s["stages"].items():
            print(f"    {name:<26} {seconds:6.2f} s")
    print("the first and second calls' reports are identical" if len(reports) == 1 else
          "THE REPORTS DIFFER between calls")
    write_result(args.json, {"samples": 10_000, "reference": 100_000, "train": 24_321,
                             "repeats": args.repeats, "identical_reports": len(reports) == 1,
                             **summary})


if __name__ == "__main__":
    main()

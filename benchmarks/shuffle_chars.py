"""A control input for `textwgan bench`: real lines with the characters of each line's first
`--seq-len` positions shuffled. Character frequencies stay exactly those of real text, and
nothing else does, so every metric above unigrams should rank it last.

    python benchmarks/shuffle_chars.py corpus.txt -n 640 --out shuffled_chars.txt
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="a text file, one example per line")
    p.add_argument("-n", type=int, default=640, help="lines to write (the first n non-blank)")
    p.add_argument("--seq-len", type=int, default=32, help="characters kept per line")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    rnd = random.Random(args.seed)
    lines = [x.strip() for x in args.source.read_text(encoding="utf-8").splitlines()]
    out = []
    for line in (x for x in lines if x):
        chars = list(line[: args.seq_len])
        rnd.shuffle(chars)
        out.append("".join(chars))
        if len(out) == args.n:
            break
    args.out.write_text("".join(x + "\n" for x in out), encoding="utf-8")
    print(f"wrote {len(out)} shuffled lines to {args.out}")


if __name__ == "__main__":
    main()

"""Peak memory of `textwgan sample -n N --out FILE` as N grows: samples are made and written a
batch at a time, so the peak should stay flat (within 20%) from 10^4 to 10^6 samples.

    python benchmarks/sample_memory.py                 # a tiny run, trained here in seconds
    python benchmarks/sample_memory.py --checkpoint coco --sizes 10000,100000

Each size runs in a process of its own, which reports its own peak RSS (VmHWM, Linux); a prompt
search (`--prefix`) is measured the same way at smaller sizes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_result

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forking parent.
PROBE = """
import sys
from textwgan.cli import app
code = 0
try:
    app(sys.argv[1:])
except SystemExit as e:
    code = e.code
hwm = next(x for x in open("/proc/self/status") if x.startswith("VmHWM"))
print("MAXRSS", hwm.split()[1], code, file=sys.stderr)
"""


def peak_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one `textwgan` command in a fresh process."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    line = next((x for x in r.stderr.splitlines() if x.startswith("MAXRSS")), None)
    if line is None or line.split()[2] not in ("0", "None"):
        raise SystemExit(f"textwgan {' '.join(args)} failed:\n{r.stderr}")
    return int(line.split()[1]) / 1024, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="a run, model folder or shipped model (default: a "
                                         "tiny run trained here)")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--prefix-sizes", default="64,640,6400")
    ap.add_argument("--json", default="sample_memory.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from textwgan import train

            checkpoint = str(train(None, out=Path(tmp) / "run", preset="tiny", iters=20,
                                   device="cpu"))
        rows = []
        for n in (int(x) for x in args.sizes.split(",")):
            mb, s = peak_mb(["sample", "-n", str(n), "--checkpoint", checkpoint, "--out",
                             str(Path(tmp) / f"s{n}.txt")])
            rows.append({"what": "sample", "n": n, "peak_mb": round(mb, 1), "seconds": round(s, 1)})
            print(f"sample -n {n:>9,}: peak RSS {mb:7.1f} MB  ({s:.1f} s)")
        for n in (int(x) for x in args.prefix_sizes.split(",")):
            mb, s = peak_mb(["sample", "-n", str(n), "--checkpoint", checkpoint, "--prefix",
                             "a", "--out", str(Path(tmp) / f"p{n}.txt")])
            rows.append({"what": "prefix", "n": n, "peak_mb": round(mb, 1),
                         "seconds": round(s, 1)})
            print(f"sample --prefix a -n {n:>7,}: peak RSS {mb:7.1f} MB  ({s:.1f} s)")
    for what in ("sample", "prefix"):
        peaks = [r["peak_mb"] for r in rows if r["what"] == what]
        if len(peaks) > 1:
            growth = max(peaks) / min(peaks) - 1
            print(f"{what}: the peak grows {growth:.0%} from the smallest n to the largest "
                  f"({'flat within 20%' if growth <= 0.2 else 'NOT flat within 20%'})")
    print(json.dumps(rows))
    write_result(args.json, {"checkpoint": args.checkpoint or "tiny run", "rows": rows})


if __name__ == "__main__":
    main()

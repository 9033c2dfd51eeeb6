"""Spreading one check over several calls of a machine that is lent a few minutes at a time:
results kept between calls, a plan that names what each call runs, and the merge of the
calls' output folders into one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path


class Results:
    """<state>/gpu_check.json, kept across calls and written (with its summary.md) to --out
    after every stage."""

    def __init__(self, state: Path, out: Path, summarize: Callable[[dict], str]):
        self.state, self.out, self.summarize = state, out, summarize
        self.path = state / "gpu_check.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def save(self, **stage) -> None:
        from textwgan.fileio import atomic_write_text

        self.data.update(stage)
        text = json.dumps(self.data, indent=1) + "\n"
        for folder in {self.state, self.out}:  # one folder when merging
            atomic_write_text(folder / "gpu_check.json", text)
        atomic_write_text(self.out / "summary.md", self.summarize(self.data))


def apply_plan(args, plans: dict, defaults: dict):
    """Fill the options a plan's call sets (options given on the command line win), then the
    defaults."""
    if (args.plan is None) != (args.call is None):
        raise SystemExit("--plan and --call go together (for example --plan 15min --call 1)")
    chosen = {}
    if args.plan is not None:
        calls = plans[args.plan]
        if args.call not in calls:
            raise SystemExit(f"--plan {args.plan} has calls {', '.join(map(str, calls))}")
        chosen = calls[args.call]
    for key, default in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, chosen.get(key, default))
    if args.quality_slice is None:
        args.quality_slice = chosen.get("quality_slice", args.quality_minutes)
    return args


def merge(folders: list[Path], out: Path, stages, files_of: Callable[[str, dict], list[str]],
          summarize: Callable[[dict], str]) -> None:
    """Join the --out folders of several calls: each stage from the last folder that has it,
    with the files that came with it."""
    data: dict = {}
    for folder in folders:
        part = json.loads((folder / "gpu_check.json").read_text())
        for stage in stages:
            if stage in part:
                data[stage] = part[stage]
                for name in files_of(stage, part[stage]):
                    if (folder / name).exists():
                        out.mkdir(parents=True, exist_ok=True)
                        shutil.copy(folder / name, out / name)
    results = Results(out, out, summarize)
    results.data = data
    results.save()

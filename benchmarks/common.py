"""What every benchmark needs and none should write again: the environment a figure was
measured in, timing that waits for the device, and where results and figures go.

    from common import RESULTS, environment, time_it, write_figure, write_result
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:  # run from a clone without installing
    sys.path.insert(0, str(ROOT))


def environment(device: torch.device | str = "cpu") -> dict:
    """The machine, library versions, threads, date and (on a GPU) the GPU a figure is from."""
    device = torch.device(device)
    env = {"torch": torch.__version__, "python": platform.python_version(),
           "machine": platform.machine(), "processor": platform.processor(),
           "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
           "date": time.strftime("%Y-%m-%d %H:%M"), "device": str(device)}
    try:
        env["load_average"] = round(os.getloadavg()[0], 2)  # > 0 with other work running
    except (AttributeError, OSError):
        pass
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   gpu_memory_gib=p.total_memory / 2**30, multiprocessors=p.multi_processor_count)
    return env


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_it(fn, device: torch.device | str, iters: int, warmup: int) -> list[float]:
    """Seconds per call, each call synchronized with the device (asynchronous GPU work would
    otherwise be timed as it is queued, not as it runs)."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def write_result(path: str | Path, data: dict, device: torch.device | str = "cpu") -> Path:
    """A result file (under benchmarks/results/ unless `path` is absolute), its environment
    included, written whole."""
    path = Path(path)
    path = path if path.is_absolute() else RESULTS / path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**data, "environment": data.get("environment") or environment(device)}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_figure(path: str | Path, draw: Callable[[Path], object]) -> Path:
    """A figure of the docs, drawn by `draw(path)` at a fresh name beside it and then moved over
    the committed one. textwgan's plots refuse to overwrite a file they did not write, which
    guards users' files; a benchmark's figure in docs/figures is its own output, kept in git."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.stem}.new{path.suffix}")
    fresh.unlink(missing_ok=True)
    draw(fresh)
    os.replace(fresh, path)
    return path

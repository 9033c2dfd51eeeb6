"""A one-minute check that a GPU session's remaining minutes are worth spending: the CUDA paths
that a line-by-line audit (shared/notes/cuda-audit.md) predicted would break, each tried for a
few steps, each reported on its own, so one failure does not hide the others.

    python benchmarks/gpu_preflight.py --json preflight.json          # on the GPU
    python benchmarks/gpu_preflight.py --json /tmp/p.json --device cpu   # the script itself

Checks: the RNG state of a checkpoint mapped onto the GPU restores; a tiny run trains, saves
and resumes on the device (eager, CUDA graphs, CUDA graphs under weight clipping); the same
seed samples the same texts on the device and on the CPU; TF32 is handed back after a run.
`gpu_check.py --stages preflight` runs it first in its own process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TINY = dict(preset="tiny", iters=6, eval_every=3, save_every=3, log_every=3, diag_every=0)


def rng_restores(device: torch.device, work: Path) -> str:
    from textwgan.checkpoint import rng_state, set_rng_state

    state = rng_state(device)
    mapped = {k: v.to(device) for k, v in state.items()}
    set_rng_state(mapped, device)
    return f"restored from tensors on {device}"


def trains_and_resumes(device: torch.device, work: Path, **overrides) -> str:
    from textwgan.checkpoint import load_checkpoint
    from textwgan.training import train

    run = work / f"run-{len(list(work.iterdir()))}"
    notes = []
    on_event = lambda kind, r: notes.append(r["message"]) if kind == "note" else None  # noqa: E731
    train(None, out=run, device=str(device), on_event=on_event, **(TINY | overrides))
    train(resume=run, iters=9, device=str(device), on_event=on_event,
          cuda_graphs=overrides.get("cuda_graphs", False))
    ckpt = load_checkpoint(run / "checkpoint.pt")
    if ckpt["step"] != 9:
        raise AssertionError(f"resumed run ended at step {ckpt['step']}, not 9")
    bad = [k for k, v in ckpt["critic"].items() if not torch.isfinite(v).all()]
    if bad:
        raise AssertionError(f"non-finite critic weights: {bad[:3]}")
    off = [n for n in notes if "CUDA graphs are off" in n]
    if overrides.get("cuda_graphs") and device.type == "cuda" and off:
        raise AssertionError(off[0])
    graph_notes = [n for n in notes if "CUDA graphs" in n]
    return f"step 9 after a resume{('; ' + graph_notes[0]) if graph_notes else ''}"


def same_samples_on_cpu(device: torch.device, work: Path) -> str:
    from textwgan.sample import load_generator
    from textwgan.training import train

    run = train(None, out=work / "sampling", device=str(device), **TINY)
    here = load_generator(run, device=str(device)).sample(200, seed=0)
    cpu = load_generator(run, device="cpu").sample(200, seed=0)
    differ = sum(a != b for a, b in zip(here, cpu, strict=True))
    if differ:
        raise AssertionError(f"{differ} of 200 samples differ between {device} and cpu")
    return "200 of 200 samples equal"


def tf32_handed_back(device: torch.device, work: Path) -> str:
    from textwgan.device import tf32_flags
    from textwgan.training import train

    before = tf32_flags()
    train(None, out=work / "tf32", device=str(device), **TINY)
    if tf32_flags() != before:
        raise AssertionError(f"flags {before} became {tf32_flags()}")
    return f"flags {before} kept"


CHECKS = {
    "rng_restore": rng_restores,
    "train_resume": trains_and_resumes,
    "graphs_resume": lambda d, w: trains_and_resumes(d, w, cuda_graphs=True),
    "graphs_clip_resume": lambda d, w: trains_and_resumes(d, w, cuda_graphs=True,
                                                         lipschitz="clip"),
    "same_samples": same_samples_on_cpu,
    "tf32_handed_back": tf32_handed_back,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    from textwgan.device import resolve_device

    device = resolve_device(args.device)
    result = {"device": str(device), "torch": torch.__version__, "checks": {}}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    with tempfile.TemporaryDirectory() as tmp:
        for name, check in CHECKS.items():
            work = Path(tmp) / name
            work.mkdir()
            t0 = time.perf_counter()
            try:
                row = {"ok": True, "detail": check(device, work)}
            except Exception as e:  # each check on its own: report, go on
                row = {"ok": False, "detail": f"{type(e).__name__}: {e}",
                       "traceback": traceback.format_exc()[-2000:]}
            row["seconds"] = time.perf_counter() - t0
            result["checks"][name] = row
            print(f"{name:>20}: {'ok' if row['ok'] else 'FAILED'} ({row['seconds']:.1f} s) "
                  f"{row['detail']}", flush=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    result["ok"] = all(r["ok"] for r in result["checks"].values())
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()

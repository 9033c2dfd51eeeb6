"""The stages of benchmarks/gpu_check.py: what each runs on the lent GPU, the Markdown lines
it adds to the summary, its figure, and the bf16 export. gpu_check.py keeps the plan (the
lent machine's limits) and the order; this file keeps the work.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from calls import Results  # noqa: E402

ONE_B_FILES = ("1b_benchmark.dev.tokens", "1b_benchmark.test.tokens",
               "news.en.heldout-00000-of-00050")
ONE_B_PLACES = (ROOT.parent / "shared" / "corpora" / "billion_word_sample",
                ROOT / "shared" / "corpora" / "billion_word_sample")
PART_BYTES = 15 * 2**20  # under the 16 MiB a result file may have
PUBLISHED = "gan_language.py reached JS-4 0.38 after about 17 hours on one 2017 GPU"


def preflight_lines(p: dict) -> list[str]:
    lines = ["| check | result | seconds |", "|---|---|---|"]
    for name, c in p["checks"].items():
        detail = c["detail"].replace("|", "/")[:160]
        lines.append(f"| {name} | {'ok' if c['ok'] else 'FAILED'}: {detail} | "
                     f"{c['seconds']:.1f} |")
    return lines


def correctness_lines(c: dict) -> list[str]:
    lines = [f"`{c['command']}`: {c['passed']} passed, {c['failed']} failed, "
             f"{c['skipped']} skipped in {c['seconds']:.0f} s", ""]
    failed = [t for t in c["tests"] if t["outcome"] != "passed"]
    lines += [f"- {t['outcome']}: `{t['test']}`: {t['message']}" for t in failed]
    return lines


def speed_lines(s: dict) -> list[str]:
    lines = [f"`{s['preset']}` preset, {s['tflop_per_iter']:.2f} TFLOP per generator "
             f"iteration, {s['matmul_peak_kind']} matmul peak {s['matmul_peak_tflop_s']:.0f} "
             f"TFLOP/s (same run); median of {s['iters']} iterations.", "",
             "| row | ms per iteration | × plain | TFLOP/s | share of peak | peak memory |",
             "|---|---|---|---|---|---|"]
    for name, r in s["rows"].items():
        memory = f"{r['peak_memory_gib']:.1f} GiB" if "peak_memory_gib" in r else "–"
        lines.append(f"| {name} | {r['ms_per_iter']:.1f} | {r['speedup_vs_plain']:.1f}× | "
                     f"{r['tflop_s']:.1f} | {r['share_of_peak']:.1%} | {memory} |")
    t = s["targets"]
    lines += ["", f"Targets (≤ {t['ms_per_iter_at_most']:.0f} ms, ≥ "
              f"{t['speedup_at_least']:.0f}× plain): {'met' if t['met'] else 'not met'} "
              f"(best row `{s['best']}`: {t['ms_per_iter']:.1f} ms, {t['speedup']:.1f}×)."]
    if s.get("profile", {}).get("device_kernels_per_iter"):
        lines.append(f"Kernels per iteration on the eager fast path: "
                     f"{s['profile']['device_kernels_per_iter']:.0f}"
                     + (f"; with CUDA graphs, {s['graph_launches_per_iter']} graph launches."
                        if s.get("graph_launches_per_iter") else "."))
    if s.get("failed"):
        lines.append("Rows that failed: " + "; ".join(f"`{k}`: {v}"
                                                      for k, v in s["failed"].items()))
    return lines


def quality_lines(q: dict) -> list[str]:
    lines = [f"`{q['preset']}` preset on the {q['corpus']}, {q['trained_minutes']:.1f} of "
             f"{q['target_minutes']:.1f} training minutes"
             f"{', CUDA graphs' if q['cuda_graphs'] else ''}.", "",
             "| minutes | step | JS-4, 640 (floor) | JS-4, 6,400 (floor) |", "|---|---|---|---|"]
    for p in q["curve"]:
        lines.append(f"| {p['minutes']:.1f} | {p['step']:,} | {p['js4_640']:.3f} "
                     f"({p['floor_js4_640']:.3f}) | {p['js4_6400']:.3f} "
                     f"({p['floor_js4_6400']:.3f}) |")
    if q["best"]:
        b = q["best"]
        lines += ["", f"Best JS-4 {b['js4_640']:.3f} at {b['minutes']:.1f} min (floor "
                  f"{b['floor_js4_640']:.3f}); published: {q['published']}."]
    return lines


def coco_lines(c: dict) -> list[str]:
    lines = [f"`{c['preset']}` preset on the {c['corpus']}, {c['trained_minutes']:.1f} "
             f"training minutes, {c['step']:,} steps.", "",
             "| generator | step | JS-4, 640 (floor) | JS-4, 6,400 (floor) |",
             "|---|---|---|---|"]
    for name, r in c["scores"].items():
        lines.append(f"| {name} | {r['step']:,} | {r['js4_640']:.3f} ({r['floor_js4_640']:.3f})"
                     f" | {r['js4_6400']:.3f} ({r['floor_js4_6400']:.3f}) |")
    lines += ["", "The trained generator " + ("beats" if c["beats_shipped"] else
                                               "does not beat") + " the shipped one."]
    return lines


def run_child(cmd: list[str], timeout: float) -> dict:
    """Run a child in its own process group; on timeout kill the whole group (torchrun's
    workers too, which would otherwise keep the GPU) and say so instead of raising."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        out, err = proc.communicate(timeout=timeout)
        return {"returncode": proc.returncode, "stdout": out, "stderr": err, "timeout": False}
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return {"returncode": None, "stdout": out, "stderr": err, "timeout": True}


def preflight(args, device: torch.device) -> dict:
    """benchmarks/gpu_preflight.py in its own process: a minute that says whether the CUDA
    paths the audit doubted work at all."""
    out = args.state / "preflight.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "benchmarks/gpu_preflight.py", "--json", str(out), "--device",
           str(device)]
    r = run_child(cmd, args.preflight_timeout)
    result = json.loads(out.read_text()) if out.exists() else {}
    if r["timeout"] or not result.get("checks"):
        why = "timeout" if r["timeout"] else f"exit {r['returncode']}"
        return {"error": f"{why}\n{(r['stdout'] + r['stderr'])[-3000:]}", "partial": result}
    result["ok"] = r["returncode"] == 0 and all(c["ok"] for c in result["checks"].values())
    return result


def correctness(args) -> dict:
    report = args.state / "cuda-tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "tests/test_cuda.py",
           "-p", "no:cacheprovider", f"--junitxml={report}"]
    if args.smoke:  # no GPU here: the CUDA tests skip, the CPU suite's GP tests stand in
        cmd = [sys.executable, "-m", "pytest", "-q", "tests/test_losses.py", "-k", "penalty",
               "-p", "no:cacheprovider", f"--junitxml={report}"]
    report.unlink(missing_ok=True)  # an earlier call's report must not stand in for this one
    t0 = time.perf_counter()
    r = run_child(cmd, args.test_timeout)
    if r["timeout"]:
        return {"error": f"timeout: the tests ran past {args.test_timeout:.0f} s and were "
                         f"killed\n{(r['stdout'] + r['stderr'])[-2000:]}",
                "command": " ".join(cmd[2:])}
    if not report.exists():  # pytest stopped before it ran a test (a collection error)
        return {"error": (r["stdout"] + r["stderr"])[-3000:], "command": " ".join(cmd[2:]),
                "returncode": r["returncode"]}
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    cases = []
    for case in suite.iter("testcase"):
        failed = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        cases.append({"test": f"{case.get('classname')}::{case.get('name')}",
                      "seconds": float(case.get("time", 0)),
                      "outcome": "failed" if failed is not None else
                      "skipped" if skipped is not None else "passed",
                      "message": (failed.get("message") or "")[:500] if failed is not None
                      else (skipped.get("message") or "")[:200] if skipped is not None
                      else None})
    return {"command": " ".join(cmd[2:]), "returncode": r["returncode"],
            "seconds": time.perf_counter() - t0,
            "passed": sum(c["outcome"] == "passed" for c in cases),
            "failed": sum(c["outcome"] == "failed" for c in cases),
            "skipped": sum(c["outcome"] == "skipped" for c in cases), "tests": cases,
            "output_tail": r["stdout"][-3000:]}


def speed(args, device: torch.device) -> dict:
    out = args.state / "speed.json"
    preset, iters = ("small", 3) if args.smoke else ("paper", args.speed_iters)
    cmd = [sys.executable, "benchmarks/train_speed.py", "--preset", preset, "--device",
           str(device), "--iters", str(iters), "--warmup", "3", "--profile", "--json", str(out)]
    out.unlink(missing_ok=True)
    r = run_child(cmd, args.speed_timeout)
    # train_speed writes its JSON after every row: a timeout or a late failure keeps the rows
    # that finished.
    result = json.loads(out.read_text()) if out.exists() else {}
    if r["returncode"] != 0 and not result.get("best"):
        why = (f"timeout after {args.speed_timeout:.0f} s" if r["timeout"]
               else f"exit {r['returncode']}")
        return {"error": f"{why}\n{r['stderr'][-3000:]}", "command": " ".join(cmd[1:]),
                "partial": result}
    if r["returncode"] != 0:
        result["warning"] = ("timeout" if r["timeout"] else f"exit {r['returncode']}") + \
            ": " + (r["stderr"].strip().splitlines() or ["?"])[-1]
    best = result["rows"][result["best"]]
    result["targets"] = {"ms_per_iter_at_most": 20.0, "speedup_at_least": 10.0,
                         "ms_per_iter": best["ms_per_iter"], "speedup": result["speedup"],
                         "met": best["ms_per_iter"] <= 20.0 and result["speedup"] >= 10.0}
    result["command"] = " ".join(cmd[1:])
    plot_speed(result, args.out / "speed.png")
    return result


def plot_speed(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    names = list(rows)
    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    ax.barh(names, [rows[n]["ms_per_iter"] for n in names], color="C0")
    for i, n in enumerate(names):
        ax.text(rows[n]["ms_per_iter"], i, f" {rows[n]['ms_per_iter']:.1f} ms "
                f"({rows[n]['speedup_vs_plain']:.1f}×)", va="center", fontsize=8)
    if result["device"].startswith("cuda"):
        ax.axvline(20, color="k", ls="--", lw=1, label="target: 20 ms")
        ax.legend(fontsize=8)
    ax.set(xscale="log", xlabel="ms per generator iteration (log scale)",
           title=f"{result['preset']} preset, {result.get('gpu', result['device'])}")
    ax.invert_yaxis()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def one_b_word_dir(given: Path | None) -> Path | None:
    """The folder holding the 1B-Word sample's three files, or None."""
    for folder in ([given] if given else ONE_B_PLACES):
        if all((folder / name).is_file() for name in ONE_B_FILES):
            return folder
    return None


def one_b_word(args):
    from textwgan.assets import bundled_corpus_path
    from textwgan.corpus import Corpus
    from textwgan.preparation import prepare

    if args.smoke:
        return Corpus(bundled_corpus_path())
    folder = args.state / "corpus-1b"
    if (folder / "meta.json").exists():
        return Corpus(folder)
    source = one_b_word_dir(args.corpus_dir)
    return prepare([str(source / ONE_B_FILES[0]), str(source / ONE_B_FILES[1])], folder,
                   heldout_file=str(source / ONE_B_FILES[2]))


def fastest(args, results: Results) -> tuple[bool, float | None]:
    """Whether the speed stage found CUDA graphs fastest (and captured), and its ms/iter: from
    this state's speed stage, else from the --speed-from file of an earlier call."""
    speed = results.data.get("speed") or args.speed_hint
    rows, best = speed.get("rows", {}), speed.get("best")
    graphs = best == "graphs" and speed.get("graphs_captured", False)
    return graphs, rows[best]["ms_per_iter"] if best in rows else None


def train_for(run: Path, corpus, preset: str, minutes: float, slice_minutes: float,
              save_minutes: float | None, device: torch.device, graphs: bool) -> float:
    """Train `run` (new, or resumed from its checkpoint) until it has `minutes` of training in
    all, at most `slice_minutes` of them in this call, saving a step checkpoint every
    `save_minutes` of training (None: at the end only): by wall-clock time, whatever the
    preset's speed. Returns its training seconds."""
    from textwgan.checkpoint import CHECKPOINT_NAME, load_checkpoint
    from textwgan.training import train

    ckpt = run / CHECKPOINT_NAME
    done = load_checkpoint(ckpt)["elapsed"] if ckpt.exists() else 0.0
    until = min(minutes * 60, done + slice_minutes * 60)
    while done < until - 1:
        # Each piece ends with an evaluation and a save at its last step (train's time limit).
        piece = min(until - done, save_minutes * 60 if save_minutes else until - done)
        kwargs = dict(out=run, device=str(device), time_limit=piece, keep_last=100_000,
                      diag_every=0, cuda_graphs=graphs)
        if ckpt.exists():
            train(corpus, resume=run, **kwargs)
        else:
            train(corpus, preset=preset, save_every=10**9, eval_every=10**9, iters=10**9,
                  **kwargs)
        done = load_checkpoint(ckpt)["elapsed"]
    return done


def quality(args, device: torch.device, results: Results) -> dict:
    corpus = one_b_word(args)
    run = args.state / "quality-run"
    graphs, _ = fastest(args, results)
    preset = "tiny" if args.smoke else "default"
    every = args.quality_minutes / 3 if args.smoke else args.quality_every
    done = train_for(run, corpus, preset, args.quality_minutes, args.quality_slice, every,
                     device, graphs)
    total = args.quality_minutes * 60
    curve = curve_of(run, corpus, device, args.smoke)
    best_point = min(curve, key=lambda p: p["js4_640"]) if curve else None
    result = {"corpus": "1B-Word sample" if not args.smoke else "bundled COCO (smoke)",
              "preset": preset, "cuda_graphs": graphs,
              "trained_minutes": done / 60, "target_minutes": total / 60,
              "complete": done >= total - 1, "curve": curve, "best": best_point,
              "published": PUBLISHED}
    if curve:
        plot_quality(result, args.out / "quality.png")
    if best_point is not None and result["complete"]:
        result["export"] = export_bf16(Path(best_point["checkpoint"]), args.out)
    return result


def coco(args, device: torch.device, results: Results) -> dict:
    """A generator trained on the bundled COCO captions on this GPU, against the shipped one:
    JS-4 of the same numbers of argmax samples (same seed) against the same held-out split."""
    from textwgan.assets import bundled_corpus_path, shipped_generator
    from textwgan.checkpoint import (
        CHECKPOINT_NAME,
        export_generator,
        load_checkpoint,
        save_checkpoint,
    )
    from textwgan.corpus import Corpus
    from textwgan.sample import generator_from, load_generator

    corpus = Corpus(bundled_corpus_path())
    run = args.state / "coco-run"
    graphs, _ = fastest(args, results)
    preset = "tiny" if args.smoke else args.coco_preset
    done = train_for(run, corpus, preset, args.coco_minutes, args.coco_minutes, None, device,
                     graphs)
    ckpt = load_checkpoint(run / CHECKPOINT_NAME)
    exported = export_generator(ckpt)
    counts, reference = sample_counts(args.smoke), heldout_reference(corpus)
    scores = {}
    for name, gen in (("shipped", load_generator(shipped_generator(), device=str(device))),
                      ("trained", generator_from(ckpt, run / CHECKPOINT_NAME, device))):
        scores[name] = js_of(gen, corpus, counts, reference) | {
            "step": gen.step, "examples": gen.sample(8, seed=0)}
    path = save_checkpoint(exported, args.out / "coco_generator.pt")
    # Better at both sample counts: the 640-sample figure alone moves by about 0.01 by chance.
    beats = all(scores["trained"][f"js4_{k}"] < scores["shipped"][f"js4_{k}"] for k in counts)
    return {"corpus": "bundled COCO captions", "preset": preset, "cuda_graphs": graphs,
            "trained_minutes": done / 60, "step": ckpt["step"], "scores": scores,
            "beats_shipped": beats, "export": {"file": path.name,
                                               "bytes": path.stat().st_size},
            "ship": "python benchmarks/ship_models.py coco_generator.pt --name coco --corpus coco "
                    "--description 'MS-COCO captions'" if beats else None}


def sample_counts(smoke: bool) -> dict[str, int]:
    """The numbers of samples JS-4 is measured on, by name (toy numbers in a smoke run)."""
    return {"640": 64, "6400": 256} if smoke else {"640": 640, "6400": 6400}


def heldout_reference(corpus):
    """The scorer of `textwgan eval` for the held-out split, its tables built once for every
    generator scored against it."""
    from textwgan.scoring import Reference

    return Reference(corpus)


def js_of(gen, corpus, counts: dict[str, int], reference) -> dict:
    """JS-4 of each number of argmax samples (seed 0) against the held-out split, beside the
    floor of as many real sequences: the figures `textwgan eval --n N` prints."""
    out = {}
    for key, n in counts.items():
        report = reference.js_scores(gen.sample_ids(n, seed=0), seed=0)
        out[f"js4_{key}"], out[f"floor_js4_{key}"] = report["js4"], report["floor_js4"]
    return out


def curve_of(run: Path, corpus, device: torch.device, smoke: bool) -> list[dict]:
    """JS-4 of 640 and 6,400 argmax samples at every step checkpoint, beside their floors."""
    from textwgan.checkpoint import load_checkpoint
    from textwgan.sample import generator_from

    reference = heldout_reference(corpus)
    points = []
    for path in sorted(run.glob("step_*.pt")):
        ckpt = load_checkpoint(path, map_location="cpu")
        gen = generator_from(ckpt, path, device)
        points.append({"step": ckpt["step"], "minutes": ckpt["elapsed"] / 60,
                       "checkpoint": str(path),
                       **js_of(gen, corpus, sample_counts(smoke), reference),
                       "examples": gen.sample(5, seed=0)})
    return points


def plot_quality(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["curve"]
    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    for key, color in (("640", "C0"), ("6400", "C1")):
        ax.plot([p["minutes"] for p in curve], [p[f"js4_{key}"] for p in curve], "o-",
                color=color, label=f"JS-4, {key} samples")
        ax.axhline(curve[-1][f"floor_js4_{key}"], color=color, ls="--", lw=1,
                   label=f"floor, {key} real sequences")
    ax.set(xlabel="training minutes", ylabel="JS-4 against the held-out shard",
           title=f"{result['preset']} preset on the {result['corpus']}")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def export_bf16(checkpoint: Path, out: Path) -> dict:
    """The generator of `checkpoint` in bf16 (sampling casts it back), in parts if needed."""
    import io

    from textwgan.checkpoint import export_generator, load_checkpoint
    from textwgan.fileio import atomic_write

    ckpt = export_generator(load_checkpoint(checkpoint))
    ckpt["generator"] = {k: v.to(torch.bfloat16) if v.is_floating_point() else v
                         for k, v in ckpt["generator"].items()}
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    data = buf.getvalue()
    if len(data) <= PART_BYTES:
        atomic_write(out / "generator_bf16.pt", lambda f: f.write(data))
        return {"files": ["generator_bf16.pt"], "bytes": len(data), "step": ckpt["step"]}
    names = []
    for i, start in enumerate(range(0, len(data), PART_BYTES)):
        names.append(f"generator_bf16.pt.part{i}")
        atomic_write(out / names[-1], lambda f, a=start: f.write(data[a:a + PART_BYTES]))
    return {"files": names, "bytes": len(data), "step": ckpt["step"],
            "join": f"cat {' '.join(names)} > generator_bf16.pt"}

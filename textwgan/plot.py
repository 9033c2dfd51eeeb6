"""Figures and terminal summaries of training runs, read from their log.jsonl.

`plot_runs` draws one PNG with the runs side by side (matplotlib, an optional extra);
`run_summaries` gives the series a terminal sparkline needs, with no extra dependency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import HIST_BINS
from .errors import InputError
from .fileio import atomic_write

SPARK = "▁▂▃▄▅▆▇█"


@dataclass
class RunLog:
    """The records of one run's log.jsonl, split by kind."""

    path: Path
    label: str
    config: dict = field(default_factory=dict)
    train: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    diags: list[dict] = field(default_factory=list)


def read_run(run: str | Path) -> RunLog:
    run = Path(run)
    log = run / "log.jsonl" if run.is_dir() else run
    if not log.is_file():
        raise InputError(f"{run}: no log.jsonl; give a run folder written by `textwgan train`")
    config = {}
    if (log.parent / "config.json").is_file():
        config = json.loads((log.parent / "config.json").read_text(encoding="utf-8"))["config"]
    out = RunLog(log.parent, log.parent.name, config)
    for n, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{log}:{n}: not a JSON line; is this a textwgan log?") from None
        {"train": out.train, "eval": out.evals, "diag": out.diags}.get(
            record.get("kind"), []).append(record)
    if not (out.train or out.evals):
        raise InputError(f"{log}: holds no training or evaluation records yet")
    return out


def describe(run: RunLog) -> str:
    """`label (loss, lipschitz[, c])` from the run's config."""
    t = run.config.get("train", {})
    parts = [t.get("loss", "wgan"), t.get("lipschitz", "gp")]
    if t.get("lipschitz") == "clip":
        parts.append(f"c={t.get('clip_value')}")
    return f"{run.label} ({', '.join(parts)})"


def sparkline(values: list[float], width: int = 40) -> str:
    """Unicode block characters, one per value (resampled to at most `width`)."""
    vals = [v for v in values if v == v]  # drop NaN
    if not vals:
        return ""
    if len(vals) > width:
        vals = [vals[int(i * len(vals) / width)] for i in range(width)]
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * len(SPARK)))] for v in vals)


def run_summaries(runs: list[RunLog]) -> list[dict]:
    """Per run: the W-estimate and JS-4 series (for sparklines) and the last diagnostics."""
    rows = []
    for r in runs:
        w = [x["w_estimate"] for x in r.train]
        js = [x["js4"] for x in r.evals]
        last = r.diags[-1] if r.diags else {}
        rows.append({
            "run": describe(r), "steps": max([x["step"] for x in r.train + r.evals] or [0]),
            "w": w, "js4": js, "w_last": w[-1] if w else None,
            "js4_best": min(js) if js else None, "js4_last": js[-1] if js else None,
            "slope_mean": last.get("slope_mean"),
            "at_bound": last.get("weights", {}).get("at_bound"),
        })
    return rows


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InputError("plotting to a PNG needs matplotlib: pip install 'textwgan[plot]' "
                         "(or leave out --out for a terminal summary)") from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_runs(runs: list[RunLog], out: str | Path) -> Path:
    """One PNG, six panels, the runs overlaid: W estimate and JS-4 against step, JS-4 against
    wall time, the last critic weight histogram, per-layer gradient norms, and slopes."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise InputError(f"{out}: --out must name a .png file")
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(16, 9), constrained_layout=True)
    (ax_w, ax_js, ax_time), (ax_hist, ax_layers, ax_slope) = axes
    for i, r in enumerate(runs):
        color, label = f"C{i % 10}", describe(r)
        if r.train:
            ax_w.plot([x["step"] for x in r.train], [x["w_estimate"] for x in r.train],
                      color=color, label=label, lw=1)
        if r.evals:
            ax_js.plot([x["step"] for x in r.evals], [x["js4"] for x in r.evals], "o-",
                       color=color, label=label, ms=3)
            ax_time.plot([x["time"] / 60 for x in r.evals], [x["js4"] for x in r.evals], "o-",
                         color=color, label=label, ms=3)
            floor = r.evals[-1].get("floor_js4")
            if floor is not None:
                ax_js.axhline(floor, color=color, ls=":", lw=1)
        if r.diags:
            last = r.diags[-1]
            hist = last["weights"]["hist"]
            edges = [-1 + 2 * k / HIST_BINS for k in range(HIST_BINS + 1)]
            ax_hist.stairs([max(h, 1e-7) for h in hist], edges, color=color,
                           label=f"{label}, bound {last['weights']['bound']:.3g}")
            names = list(last["layer_grad_norms"])
            ax_layers.plot(range(len(names)), [max(last["layer_grad_norms"][n], 1e-12)
                                               for n in names], "o-", color=color, label=label)
            ax_layers.set_xticks(range(len(names)), [n.removesuffix(".weight") for n in names],
                                 rotation=45, ha="right", fontsize=7)
            steps = [d["step"] for d in r.diags]
            mean = [d["slope_mean"] for d in r.diags]
            std = [d["slope_std"] for d in r.diags]
            ax_slope.plot(steps, mean, color=color, label=label)
            low = [m - s for m, s in zip(mean, std, strict=True)]
            high = [m + s for m, s in zip(mean, std, strict=True)]
            ax_slope.fill_between(steps, low, high, color=color, alpha=0.2)
    ax_w.set(title="critic's W estimate", xlabel="generator step",
             ylabel="mean D(real) − D(fake)")
    ax_js.set(title="JS-4 vs held-out (dotted: real-text floor)", xlabel="generator step",
              ylabel="JS-4")
    ax_time.set(title="JS-4 against wall time", xlabel="minutes", ylabel="JS-4")
    ax_hist.set(title="critic weights at the last diagnostic", yscale="log",
                xlabel="weight / bound (c under clipping, else max |w|)", ylabel="share")
    ax_layers.set(title="‖∂L/∂W‖ per critic layer, input → output", yscale="log")
    ax_slope.set(title="‖∇D‖ at interpolates (mean ± std)", xlabel="generator step")
    ax_slope.axhline(1.0, color="grey", ls=":", lw=1)
    for ax in axes.flat:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    try:
        atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110))
    finally:
        plt.close(fig)
    return out

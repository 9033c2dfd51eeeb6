"""Figures and terminal summaries of training runs, read from their log.jsonl.

`plot_runs` draws one PNG with the runs side by side (matplotlib, an optional extra);
`run_summaries` gives the series a terminal sparkline needs, with no extra dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import HIST_BINS
from .errors import InputError, setting
from .fileio import atomic_write, check_output_file
from .layout import (
    BEST_NAME,
    CHECKPOINT_NAME,
    CONFIG_NAME,
    LOG_NAME,
    NotReadable,
    read_json,
    read_log,
)

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
    """A run's records. A torn last line (a crash mid-write) is skipped; any other line that is
    not a JSON object, or a record without its figures, is refused with one line."""
    run = Path(run)
    log = run / LOG_NAME if run.is_dir() else run
    if not log.is_file():
        raise InputError(f"{run}: no log.jsonl; give a run folder written by `textwgan train`")
    out = RunLog(log.parent, log.parent.name, _read_config(log.parent / CONFIG_NAME))
    try:
        records = read_log(log, strict=True)
    except NotReadable as e:
        raise InputError(f"{e.path}: {e.reason}") from None
    for record in records:
        kind = record.get("kind")
        need = _FIELDS.get(kind, ())
        missing = list(need) if any(not _is_number(record.get(k)) for k in need) else []
        if kind == "diag":
            missing += _diag_gaps(record)
        if missing:
            raise InputError(f"{log}: a {kind} record without {', '.join(missing)} (at step "
                             f"{record.get('step')!r}); is this a textwgan log?")
        {"train": out.train, "eval": out.evals, "diag": out.diags}.get(kind, []).append(record)
    if not (out.train or out.evals):
        raise InputError(f"{log}: holds no training or evaluation records yet")
    return out


_FIELDS = {"train": ("step", "w_estimate"), "eval": ("step", "js4", "time"),
           "diag": ("step", "slope_mean", "slope_std")}


def source_label(source: str) -> str:
    """A short name for an input: a run's folder name for its checkpoint.pt or best.pt, else
    the file's name."""
    path = Path(source)
    if path.name in (CHECKPOINT_NAME, BEST_NAME) or path.name.startswith("step_"):
        return f"{path.parent.name}" + ("" if path.name == CHECKPOINT_NAME else f"/{path.name}")
    return path.name


def _diag_gaps(record: dict) -> list[str]:
    """The diagnostics a figure draws that a diag record lacks or holds malformed."""
    norms, weights = record.get("layer_grad_norms"), record.get("weights")
    gaps = []
    if not isinstance(norms, dict) or not all(_is_number(v) for v in norms.values()):
        gaps.append("layer_grad_norms")
    hist = weights.get("hist") if isinstance(weights, dict) else None
    if not isinstance(weights, dict) or not _is_number(weights.get("bound")) \
            or not isinstance(hist, list) or not all(_is_number(v) for v in hist):
        gaps.append("weights")
    return gaps


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _read_config(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        d = read_json(path)
    except NotReadable as e:
        raise InputError(f"{e.path}: {e.reason}; is this a textwgan run folder?") from None
    config = d.get("config") if isinstance(d, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("train", {}), dict):
        raise InputError(f"{path}: holds no run settings; is this a textwgan run folder?")
    return config


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


def _pyplot(option: str = "out"):
    """matplotlib's pyplot, or one line naming the option that asked for a figure."""
    try:
        import matplotlib
    except ImportError:
        instead = "for a terminal summary" if option == "out" else "to print the table only"
        raise InputError("plotting to a PNG needs matplotlib: pip install 'textwgan[plot]' "
                         f"(or leave {setting(option)} out {instead})") from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def check_png_output(out: str | Path, option: str = "out") -> Path:
    """A .png path that may be written (checked before any work); `option` names the setting
    that gave it (plot's out, bench's plot_file)."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise InputError(f"{out}: {setting(option)} must name a .png file")
    check_output_file(out, "figure")
    _pyplot(option)
    return out


def plot_runs(runs: list[RunLog], out: str | Path) -> Path:
    """One PNG, six panels, the runs overlaid: W estimate and JS-4 against step, JS-4 against
    training time (summed over resumes), the last critic weight histogram, per-layer gradient
    norms, and slopes."""
    out = check_png_output(out)
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
    ax_time.set(title="JS-4 against training time", xlabel="minutes (summed over resumes)",
                ylabel="JS-4")
    ax_hist.set(title="critic weights at the last diagnostic", yscale="log",
                xlabel="weight / bound (c under clipping, else max |w|)", ylabel="share")
    ax_layers.set(title="‖∂L/∂W‖ per critic layer, input → output", yscale="log")
    ax_slope.set(title="‖∇D‖ at interpolates (mean ± std)", xlabel="generator step")
    ax_slope.axhline(1.0, color="grey", ls=":", lw=1)
    for ax in axes.flat:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    try:
        atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110), "figure")
    finally:
        plt.close(fig)
    return out


def _knob_series(members: list[dict]) -> dict[str, tuple[str, list[dict]]]:
    """A model's bench rows as one series per knob, each through plain argmax: temperature
    (solid), critic reranking K (dashed), truncation ψ (dotted)."""
    plain = [r for r in members if r.get("rerank", 1) == 1 and r.get("truncation", 1.0) == 1]
    series = {"temperature": ("o-", sorted(plain, key=lambda r: r["temperature"] or 0.0))}
    argmax = [r for r in plain if r["temperature"] == 0]
    reranked = [r for r in members if r.get("rerank", 1) > 1]
    truncated = [r for r in members if r.get("truncation", 1.0) < 1]
    if reranked:
        series["rerank K"] = ("s--", argmax + sorted(reranked, key=lambda r: r["rerank"]))
    if truncated:
        series["truncation ψ"] = ("^:", argmax + sorted(truncated, key=lambda r: -r["truncation"]))
    return series


def _point_label(r: dict, knob: str) -> str:
    if knob == "rerank K":
        return "" if r.get("rerank", 1) == 1 else f"K={r['rerank']}"
    if knob == "truncation ψ":
        return "" if r.get("truncation", 1.0) == 1 else f"ψ={r['truncation']:g}"
    return "argmax" if r["temperature"] == 0 else f"T={r['temperature']:g}"


def plot_bench(result: dict, out: str | Path) -> Path:
    """Two panels from a bench result: the quality–diversity plane (LM bits/char of the samples
    under a model of the training text, against the bits/char a model of the samples gives
    held-out text; lower is better on both), one curve per model and knob (temperature,
    reranking K, truncation ψ) with the real-text point marked; and JS-4 against temperature
    (argmax drawn at 0)."""
    out = check_png_output(out)
    plt = _pyplot()
    rows = result["rows"]
    fig, (ax_qd, ax_js) = plt.subplots(1, 2, figsize=(13, 5.5), constrained_layout=True)
    labels: list[tuple[str, float, float]] = []  # (text, x, y) for the plane, placed at the end
    sources = list(dict.fromkeys(r["source"] for r in rows if r["kind"] != "real"))
    for i, source in enumerate(sources):
        color = f"C{i % 10}"
        members = [r for r in rows if r["source"] == source]
        name = source_label(source) if members[0]["kind"] != "baseline" else source
        for knob, (style, series) in _knob_series(members).items():
            xs = [r["lm_bpc"] for r in series]
            ys = [r["reverse_lm_bpc"] for r in series]
            if None in xs or None in ys:
                continue
            label = name if knob == "temperature" else f"{name}, {knob}"
            ax_qd.plot(xs, ys, style, color=color, label=label, ms=4)
            labels += [(_point_label(r, knob), x, y)
                       for r, x, y in zip(series, xs, ys, strict=True)
                       if r["temperature"] is not None]
        temps = [r for r in _knob_series(members)["temperature"][1]
                 if r["temperature"] is not None]
        if temps:
            ax_js.plot([r["temperature"] for r in temps], [r["js4"] for r in temps], "o-",
                       color=color, label=name, ms=4)
        else:
            ax_js.axhline(members[0]["js4"], color=color, ls="--", lw=1, label=name)
    real = next((r for r in rows if r["kind"] == "real"), None)
    if real is not None and real.get("lm_bpc") is not None:
        ax_qd.plot([real["lm_bpc"]], [real["reverse_lm_bpc"]], "k*", ms=12, label="real text")
        ax_js.axhline(real["js4"], color="k", ls=":", lw=1, label="real text (floor)")
    labels = [x for x in labels if x[0]]
    if labels:
        points = [(x, y) for _, x, y in labels]
        for i in spaced(points):
            ax_qd.annotate(labels[i][0], points[i], fontsize=7, xytext=(3, 3),
                           textcoords="offset points")
    ax_qd.set(title="quality–diversity (lower is better on both axes)",
              xlabel="LM bits/char of the samples (quality)",
              ylabel="reverse LM bits/char of held-out text (diversity)")
    ax_js.set(title="JS-4 against sampling temperature (0: argmax)",
              xlabel="temperature", ylabel="JS-4")
    for ax in (ax_qd, ax_js):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(result["signature"], fontsize=6)
    try:
        atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110), "figure")
    finally:
        plt.close(fig)
    return out


def spaced(points: list[tuple[float, float]], gap: float = 0.04) -> list[int]:
    """Indices of the points to label so that no two labels collide: a point is skipped when
    it lies within `gap` of the plot's span (on both axes) of a point already labelled."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    kept: list[int] = []
    for i, (x, y) in enumerate(points):
        if all(abs(x - points[j][0]) > gap * span_x or abs(y - points[j][1]) > gap * span_y
               for j in kept):
            kept.append(i)
    return kept

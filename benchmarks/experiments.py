"""Test the WGAN and WGAN-GP articles' claims in runs where the methods learn: the `small`
preset's networks, the quick start's 7,000 generator steps, the bundled COCO captions.

    python benchmarks/experiments.py                         # 2 cores: about 2 hours
    python benchmarks/experiments.py --threads 1 --only gp,gp-finite-difference,clip-0.01,gan-gp &
    python benchmarks/experiments.py --threads 1 --only gp-one-sided,clip-0.1,gan
    python benchmarks/experiments.py --threads 1             # the same, two at a time: once
                                                             # both are done, this trains the
                                                             # second seeds and writes the page
    python benchmarks/experiments.py --seeds 0,1,2 --only gp,gp-finite-difference
    python benchmarks/experiments.py --iters 60 --preset tiny --runs /tmp/x \
        --doc /tmp/x.md --json /tmp/x.json                   # a smoke run of the plumbing

Seed 0 of every run fills the tables; then every run whose late JS-4 one seed cannot tell from
another's (the difference is within either run's own spread over its last evaluations) gets
seed 1, and the page says whether the order holds on both. Every run shares the model, corpus,
batch and schedule (and within a table, the seed); only the Lipschitz method, the loss, and the
optimizer (with its learning rate) each method prescribes differ: Adam for the penalties and
the GANs (the preset's), RMSProp at 5e-5 for clipping (the WGAN paper's Algorithm 1). Runs
are kept in --runs, so a rerun resumes or reuses them, and the work can be spread over
sittings. Writes docs/experiments.md (every figure and table, with what was run),
docs/figures/experiments-*.png and benchmarks/results/experiments.json.

The claims:
1. weight clipping drives critic weights to ±c; the gradient penalty does not;
2. under clipping, per-layer gradient norms vanish (small c) or explode (large c) across
   layers; under the gradient penalty they do not;
3. the critic's Wasserstein estimate tracks sample quality (JS-4), a standard GAN's loss does
   not: Spearman ρ over each run's evaluations with a bootstrap interval, and whether one
   fresh critic's W estimate orders early, middle and late checkpoints of several runs;
4. the finite-difference penalty, which needs no second derivative, pays for itself: JS-4
   against wall time, not against steps.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import ROOT, environment, write_figure, write_result

from textwgan.assets import bundled_corpus_path
from textwgan.config import Config, get_preset
from textwgan.corpus import Corpus
from textwgan.plot import plot_runs, read_run
from textwgan.training import train

# name → settings. Clip runs use RMSProp ("auto" picks it under clipping) at the WGAN paper's
# 5e-5; every other run keeps the preset's Adam.
RUNS = {
    "gp": {},
    "gp-one-sided": {"lipschitz": "gp-one-sided"},
    "gp-finite-difference": {"lipschitz": "gp-finite-difference"},
    "clip-0.01": {"lipschitz": "clip", "clip_value": 0.01, "lr": 5e-5},
    "clip-0.1": {"lipschitz": "clip", "clip_value": 0.1, "lr": 5e-5},
    "gan": {"loss": "gan", "lipschitz": "none"},
    "gan-gp": {"loss": "gan", "lipschitz": "gp"},
}
CLIPS = ("clip-0.01", "clip-0.1", "gp")
BOOTSTRAP = 2000
LATE = 4  # evaluations that make a run's late level and its spread
TARGETS = (0.60, 0.52)  # JS-4 levels whose wall time claim 4 compares
# Claim 3's table: each run's critic figure beside JS-4 (run, figure, key in the summary).
TRACKED = (("gp", "W estimate", "w"), ("gp-one-sided", "W estimate", "w"),
           ("clip-0.01", "W estimate", "w"), ("gan", "critic loss (BCE)", "loss"),
           ("gan", "D(real) − D(fake) of the logits", "w"), ("gan-gp", "critic loss (BCE)", "loss"))
LEARNED_BY = 0.02  # JS-4 below its untrained level by more than this: the samples moved
# The runs whose kept checkpoints one fresh critic scores (claim 3): three that learned to
# different levels and one that never did.
FIXED_RUNS = ("gp", "gp-finite-difference", "gan-gp", "clip-0.01")


def base_config(preset: str, iters: int) -> Config:
    """The preset's networks and recipe, with a schedule that gives ≥ 14 evaluations, 28
    diagnostics and four kept checkpoints (the fixed-critic view scores them)."""
    return get_preset(preset).with_overrides(
        iters=iters, eval_every=max(iters // 14, 1), save_every=max(iters // 4, 1),
        keep_last=4, diag_every=max(iters // 28, 1), log_every=10)


def ranks(x: list[float]) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank."""
    a = np.asarray(x, dtype=np.float64)
    order = a.argsort(kind="stable")
    r = np.empty(len(a))
    r[order] = np.arange(1, len(a) + 1)
    for v in np.unique(a):
        tie = a == v
        r[tie] = r[tie].mean()
    return r


def spearman(x: list[float], y: list[float]) -> float:
    """Pearson correlation of the ranks."""
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def rho(pairs: list[tuple[float, float]]) -> float | None:
    """Spearman's ρ over (x, y) pairs; None for fewer than three."""
    return spearman(*zip(*pairs, strict=True)) if len(pairs) > 2 else None


def windowed(train_rows: list[dict], evals: list[dict], key: str) -> list[tuple[float, float]]:
    """(mean of `key` over the train records since the previous evaluation, JS-4) per
    evaluation after step 0: a smoothed critic figure beside the quality it should track."""
    pairs, prev = [], 0
    for e in evals:
        if e["step"] == 0:
            prev = 0
            continue
        window = [r[key] for r in train_rows if prev < r["step"] <= e["step"]]
        if window:
            pairs.append((statistics.fmean(window), e["js4"]))
        prev = e["step"]
    return pairs


def layer_spread(norms: dict[str, float]) -> float:
    """Largest over smallest per-layer gradient norm."""
    return max(norms.values()) / max(min(norms.values()), 1e-30)


def late(evals: list[dict]) -> tuple[float, float]:
    """A run's late level (mean JS-4 of its last LATE evaluations) and its spread there (max −
    min): how far one run's figure moves late in training, its noise and remaining trend
    together."""
    js = [e["js4"] for e in evals[-LATE:]]
    return statistics.fmean(js), max(js) - min(js)


def moved(js4: float, untrained: float) -> bool:
    """Whether samples of JS-4 `js4` have left where their run started (JS-4 `untrained`)."""
    return js4 < untrained - LEARNED_BY


def learned(x: dict) -> bool:
    """Whether a run's late samples moved from where they started (JS-4 at step 0)."""
    return moved(x["js4_late"], x["js4_first"])


def close_pairs(r: dict[str, dict]) -> list[tuple[str, str]]:
    """Pairs of runs whose late levels differ by no more than the larger of their spreads:
    one seed cannot tell them apart, so they get a second. Two runs that both never learned
    are not a difference to settle."""
    names = list(r)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
            if (learned(r[a]) or learned(r[b])) and
            abs(r[a]["js4_late"] - r[b]["js4_late"]) <= max(r[a]["js4_spread"],
                                                            r[b]["js4_spread"])]


def second_half(diags: list[dict]) -> list[dict]:
    return diags[len(diags) // 2:] or diags


def layer_norms(diags: list[dict]) -> dict[str, float]:
    """Geometric mean of each layer's gradient norm over the second half of the run."""
    rows = second_half(diags)
    return {name: math.exp(statistics.fmean(math.log(max(d["layer_grad_norms"][name], 1e-30))
                                            for d in rows))
            for name in rows[-1]["layer_grad_norms"]}


def spearman_interval(pairs: list[tuple[float, float]], seed: int = 0) -> list[float] | None:
    """A 95% percentile bootstrap interval of Spearman's ρ, resampling the pairs."""
    if len(pairs) < 4:
        return None
    rng = np.random.default_rng(seed)
    x, y = np.array(pairs).T
    draws = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(x), len(x))
        rho = spearman(list(x[i]), list(y[i]))
        if not math.isnan(rho):
            draws.append(rho)
    return [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))] if draws \
        else None


def summarize(name: str, run: Path) -> dict:
    """Every figure the page quotes for one run, from its log."""
    log = read_run(run)
    diags, evals = log.diags, log.evals
    its = [r["it_s"] for r in log.train[1:]]
    w_pairs = windowed(log.train, evals, "w_estimate")
    loss_pairs = windowed(log.train, evals, "critic_loss")
    last_w = diags[-1]["weights"]
    return {
        "name": name,
        "config": log.config["train"] | {"model": log.config["model"]},
        **js4_figures(evals),
        "js4_range": max(e["js4"] for e in evals[1:]) - min(e["js4"] for e in evals[1:]),
        "floor_js4": evals[-1]["floor_js4"],
        "js4_by_time": [[e["time"], e["js4"]] for e in evals],
        "s_per_iter": 1 / statistics.median(its) if its else None,
        "at_bound_last": last_w["at_bound"],
        "bound_last": last_w["bound"],
        "weight_std_last": last_w["weight_std"],
        "layer_grad_norms": layer_norms(diags),
        "slope_mean": statistics.fmean(d["slope_mean"] for d in second_half(diags)),
        "spearman_w_js4": rho(w_pairs),
        "spearman_w_js4_ci": spearman_interval(w_pairs),
        "spearman_loss_js4": rho(loss_pairs),
        "spearman_loss_js4_ci": spearman_interval(loss_pairs),
        "eval_points": len(w_pairs),
        "w_by_eval": [w for w, _ in w_pairs],
        "loss_by_eval": [x for x, _ in loss_pairs],
        "js4_by_eval": [js for _, js in w_pairs],
    }


def checkpoints_of(run: Path) -> list[Path]:
    """A run's kept step checkpoints, first to last (early, middle, late)."""
    return sorted(run.glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1]))


def fixed_critic_view(runs: dict[str, Path], corpus: Corpus, n: int, steps: int,
                      seed: int = 0) -> dict:
    """One fresh critic, trained to tell held-out text from the pooled samples of every kept
    checkpoint of `runs`, then its W estimate for each checkpoint on samples it did not train
    on, beside that checkpoint's JS-4: does one critic order different generators by quality?"""
    import torch.nn.functional as F

    import textwgan
    from textwgan.config import ModelConfig
    from textwgan.losses import critic_loss
    from textwgan.models import Critic

    rows, fit, test = [], [], {}
    for name, run in runs.items():
        untrained = read_run(run).evals[0]["js4"]
        for path in checkpoints_of(run):
            gen = textwgan.load_generator(path, device="cpu")
            ids = torch.as_tensor(gen.sample_ids(2 * n, seed=seed), dtype=torch.long)
            fit.append(ids[:n])
            key = f"{name}@{gen.step}"
            test[key] = ids[n:]
            js4 = textwgan.evaluate(gen.charset.decode_many(ids[n:].numpy()), corpus=corpus,
                                    n=n, seed=seed).to_dict()["js4"]
            rows.append({"generator": key, "run": name, "step": gen.step, "js4": js4,
                         "learned": moved(js4, untrained)})
    real = torch.as_tensor(np.asarray(corpus.heldout[: 2 * n], dtype=np.int64))
    real_fit, real_test = real[:n], real[n:]
    fake_fit = torch.cat(fit)
    vocab = len(corpus.charset)
    torch.manual_seed(seed)
    critic = Critic(ModelConfig(seq_len=corpus.seq_len, channels=64, n_blocks=2), vocab)
    opt = torch.optim.Adam(critic.parameters(), lr=3e-4, betas=(0.5, 0.9))
    gen = torch.Generator().manual_seed(seed)

    def one_hot(x):
        return F.one_hot(x, vocab).float()  # (B, T, V)

    for _ in range(steps):
        r = real_fit[torch.randint(len(real_fit), (64,), generator=gen)]
        f = fake_fit[torch.randint(len(fake_fit), (64,), generator=gen)]
        loss, _ = critic_loss(critic, one_hot(r), one_hot(f), 10.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        d_real = critic(one_hot(real_test)).mean().item()
        for row in rows:
            row["w"] = d_real - critic(one_hot(test[row["generator"]])).mean().item()
    pairs = [(r["w"], r["js4"]) for r in rows]
    learners = [(r["w"], r["js4"]) for r in rows if r["learned"]]
    return {"rows": rows, "critic_steps": steps, "n": n,
            "spearman": rho(pairs), "spearman_ci": spearman_interval(pairs),
            "moved": len(learners), "spearman_moved": rho(learners),
            "spearman_moved_ci": spearman_interval(learners)}


def time_to(points: list[list[float]], target: float) -> float | None:
    """Training seconds until JS-4 first reached `target` (None: never)."""
    return next((t for t, js in points if js <= target), None)


def minutes_to(points: list[list[float]]) -> dict[str, float | None]:
    """Training minutes until JS-4 first reached each of claim 4's targets (None: never)."""
    return {str(t): (None if (x := time_to(points, t)) is None else x / 60) for t in TARGETS}


def fmt(v, spec=".3f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def interval(ci) -> str:
    return "–" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def plot_time(results: dict[str, dict], names: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for name in names:
        pts = results[name]["js4_by_time"]
        ax.plot([t / 60 for t, _ in pts], [js for _, js in pts], "o-", ms=3, label=name)
    ax.axhline(results[names[0]]["floor_js4"], color="k", ls=":", label="real text (floor)")
    ax.set(xlabel="training minutes", ylabel="JS-4, 640 argmax samples",
           title="JS-4 against wall time")
    ax.legend(fontsize=8)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def write_doc(path: Path, r: dict[str, dict], meta: dict, figures: dict[str, str],
              fixed: dict) -> None:
    layers = list(r["gp"]["layer_grad_norms"])
    spread, _ = layer_figures(r)
    lines = [
        "# Experiments: the articles' claims, in runs where the methods learn", "",
        f"Written by `python benchmarks/experiments.py` on {meta['date']}; every number below "
        "comes from that one command, also saved in `benchmarks/results/experiments.json`.", "",
        f"**What was run:** {meta['ran']}. The runs differ only in the Lipschitz method, the "
        "loss, and the optimizer each method prescribes: Adam (the preset's) for the "
        "penalties and the GANs, RMSProp at 5e-5 for clipping (the WGAN paper's Algorithm "
        f"1). Seeds: {meta['seeds_note']}", "",
        f"The real-text floor of JS-4 at 640 samples is {fmt(r['gp']['floor_js4'])}.", "",
        "## 1. Weight clipping drives critic weights to ±c", "",
        f"![weights and gradients]({figures['clip']})", "",
        "Share of the critic's weight entries within 1% of the bound at the end (the bound is "
        "c under clipping; for the penalty, which has none, the largest |w|):", "",
        "| run | bound | share at ±bound | weight std |", "|---|---|---|---|"]
    lines += [f"| {n} | {r[n]['bound_last']:.3g} | {r[n]['at_bound_last']:.1%} | "
              f"{r[n]['weight_std_last']:.3g} |" for n in CLIPS]
    lines += ["", "## 2. Per-layer gradient norms of the critic", "",
              "‖∂L/∂W‖ of the critic's adversarial loss (penalty excluded) for each weight "
              "matrix, input to output; geometric mean over the second half of each run.", "",
              "| layer | " + " | ".join(CLIPS) + " |", "|---" * (len(CLIPS) + 1) + "|"]
    lines += [f"| {layer.removesuffix('.weight')} | " + " | ".join(
        f"{r[n]['layer_grad_norms'][layer]:.2e}" for n in CLIPS) + " |" for layer in layers]
    lines += ["", "Largest over smallest layer norm: " + ", ".join(
        f"{n} {spread[n]:.3g}×" for n in CLIPS) + ".", "",
        "## 3. Does the critic's figure track sample quality?", "",
        f"![curves]({figures['curves']})", "",
        "Spearman ρ over each run's evaluations (step 0 left out) between the critic's figure "
        "(averaged over the log records since the previous evaluation) and JS-4, with a 95% "
        f"bootstrap interval ({BOOTSTRAP:,} resamples of the evaluations). A figure that tracks "
        "quality correlates strongly and positively: both fall as samples improve.", "",
        "| run | figure | ρ with JS-4 | 95% interval | evaluations |", "|---|---|---|---|---|"]
    for name, figure, key in TRACKED:
        lines.append(f"| {name} | {figure} | {fmt(r[name][f'spearman_{key}_js4'])} | "
                     f"{interval(r[name][f'spearman_{key}_js4_ci'])} | "
                     f"{r[name]['eval_points']} |")
    if any(math.isnan(r[n][f"spearman_{k}_js4"] if r[n][f"spearman_{k}_js4"] is not None
                      else math.nan) for n, _, k in TRACKED):
        lines += ["", "–: that run's JS-4 or figure did not move over its evaluations, so there "
                  "is no order to correlate."]
    gan = gan_compared(r) or "gan"
    lines += ["", f"Evaluation by evaluation, for WGAN-GP and for {gan} (the GAN claim 3 "
              "compares: the plain one if its samples moved at all):", "",
              f"| evaluation | gp JS-4 | gp W estimate | {gan} JS-4 | {gan} critic loss |",
              "|---|---|---|---|---|"]
    lines += [f"| {i} | {a:.3f} | {b:.2f} | {c:.3f} | {d:.3f} |" for i, (a, b, c, d) in enumerate(
        zip(r["gp"]["js4_by_eval"], r["gp"]["w_by_eval"], r[gan]["js4_by_eval"],
            r[gan]["loss_by_eval"], strict=False), 1)]
    lines += ["", "**One fresh critic across runs and checkpoints.** A critic trained from "
              f"scratch ({fixed['critic_steps']:,} steps) to tell held-out text from the pooled "
              "samples of every kept checkpoint below, then its W estimate for each on "
              f"{fixed['n']:,} samples it did not train on:", "",
              "| generator | JS-4 | W estimate |", "|---|---|---|"]
    lines += [f"| {x['generator']} | {x['js4']:.3f} | {x['w']:.3f} |"
              for x in sorted(fixed["rows"], key=lambda x: x["js4"])]
    lines += ["", f"Spearman ρ(W, JS-4) over these {len(fixed['rows'])} generators: "
              f"{fmt(fixed['spearman'])} (95% interval {interval(fixed['spearman_ci'])}); over "
              f"the {fixed['moved']} that learned something (JS-4 more than {LEARNED_BY} "
              "below their run's untrained level): "
              f"{fmt(fixed['spearman_moved'])} ({interval(fixed['spearman_moved_ci'])}).", "",
              "## 4. Does the finite-difference penalty pay for itself in wall time?", "",
              f"![time]({figures['time']})", "",
              "| run | s / generator step | best JS-4 | last JS-4 | " + " | ".join(
                  f"minutes to JS-4 ≤ {t}" for t in TARGETS) +
              " | mean ‖∇D‖ at interpolates, second half |",
              "|---" * (5 + len(TARGETS)) + "|"]
    for name in RUNS:
        x = r[name]
        lines.append(f"| {name} | {fmt(x['s_per_iter'])} | {fmt(x['js4_best'])} | "
                     f"{fmt(x['js4_last'])} | " + " | ".join(
                         fmt(x["minutes_to"][str(t)], ".1f") for t in TARGETS) +
                     f" | {fmt(x['slope_mean'])} |")
    lines += ["", *seeds_section(r, meta)]
    lines += ["", "## Verdicts", "", *meta["verdicts"], "",
              "## Earlier: 400 generator steps (2026-11-22)", "",
              "The first version of this page ran 400 generator steps of an older, deeper "
              "configuration, where no method learned much (best JS-4 0.863; the GAN never left "
              "1.000). Claims 1 and 2 held there; claim 3 was inconclusive and claim 4 did not "
              "hold. Its numbers: `benchmarks/results/experiments_400steps.json`.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def seeds_section(r: dict[str, dict], meta: dict) -> list[str]:
    """Which methods one seed could not tell apart, and what a second seed says."""
    lines = ["## Where one seed is not enough", "",
             f"A run's late level is its mean JS-4 over the last {LATE} evaluations; its spread "
             "there (max − min) is how far one run's figure moves late in training, with no "
             "change of method (its noise and its remaining trend together). "
             "Two runs whose late levels differ by no more than the larger spread get a "
             "second seed.", "",
             "| run | late JS-4 (seed 0) | spread |", "|---|---|---|"]
    lines += [f"| {n} | {x['js4_late']:.3f} | {x['js4_spread']:.3f} |" for n, x in r.items()]
    pairs = meta["close_pairs"]
    lines += ["", "Within one seed's spread: " + (", ".join(f"{a} / {b}" for a, b in pairs)
                                                  if pairs else "no pair") + "."]
    seeds = {n: v for n, v in meta["seeds"].items() if len(v) > 1}
    if seeds:
        lines += ["", "| run | seed | late JS-4 | spread | best JS-4 | " + " | ".join(
            f"minutes to ≤ {t}" for t in TARGETS) + " |", "|---" * (5 + len(TARGETS)) + "|"]
        for name, by_seed in seeds.items():
            for seed, x in sorted(by_seed.items()):
                lines.append(f"| {name} | {seed} | {x['js4_late']:.3f} | {x['js4_spread']:.3f} "
                             f"| {x['js4_best']:.3f} | " + " | ".join(
                                 fmt(x["minutes_to"][str(t)], ".1f") for t in TARGETS) + " |")
    if meta["pair_verdicts"]:
        lines += ["", *meta["pair_verdicts"]]
    return lines


def verdicts(r: dict[str, dict], fixed: dict, seeds: dict[str, dict[int, dict]]) -> list[str]:
    """One line per claim, decided by the numbers (and saying so when a claim fails)."""
    return [claim_1(r), claim_2(r), claim_3(r, fixed),
            claim_4(r["gp-finite-difference"], r["gp"], seeds)]


def claim_1(r: dict[str, dict]) -> str:
    """Whether most clipped weights sit at ±c while almost none of the penalized critic's sit
    at its largest |w|."""
    clip, gp = r["clip-0.01"]["at_bound_last"], r["gp"]["at_bound_last"]
    ok = clip > 0.5 and gp < 0.05
    return (f"1. {'Holds' if ok else 'Does not hold'} at this scale: {clip:.1%} of the "
            f"clipped critic's weights (c = 0.01) sit at ±c; {gp:.1%} of the penalized "
            "critic's sit at its largest |w|.")


def layer_figures(r: dict[str, dict]) -> tuple[dict[str, float], dict[str, float]]:
    """Claim 2's figures for each of CLIPS: largest over smallest layer gradient norm, and the
    median layer norm."""
    return ({n: layer_spread(r[n]["layer_grad_norms"]) for n in CLIPS},
            {n: statistics.median(r[n]["layer_grad_norms"].values()) for n in CLIPS})


def claim_2(r: dict[str, dict]) -> str:
    """Whether the penalty's layer gradient norms spread least, and clipping's vanish at the
    small c and explode at the large one."""
    spread, median = layer_figures(r)
    ok = (spread["gp"] < min(spread["clip-0.01"], spread["clip-0.1"])
          and median["clip-0.01"] < median["gp"] < median["clip-0.1"])
    return (f"2. {'Holds' if ok else 'Does not hold'} at this scale: largest over smallest "
            "layer gradient norm " + ", ".join(f"{n} {spread[n]:.3g}×" for n in CLIPS) +
            "; median layer norm " + ", ".join(f"{n} {median[n]:.2e}" for n in CLIPS) +
            ". The claim needs the penalty to have the smallest spread, and clipping's norms "
            "to vanish at small c and explode at large c (medians below and above the "
            "penalty's).")


def claim_3(r: dict[str, dict], fixed: dict) -> str:
    """Whether WGAN-GP's W estimate tracks JS-4 over its run while a GAN's loss does not."""
    sw, ci = r["gp"]["spearman_w_js4"], r["gp"]["spearman_w_js4_ci"]
    gan = gan_compared(r)
    across = (f"Across runs and checkpoints, one fresh critic's W gives ρ = "
              f"{fmt(fixed['spearman'])} {interval(fixed['spearman_ci'])} with JS-4 over "
              f"{len(fixed['rows'])} generators, {fmt(fixed['spearman_moved'])} "
              f"{interval(fixed['spearman_moved_ci'])} over the {fixed['moved']} that learned: "
              f"it {'orders' if tracks(fixed['spearman_moved_ci']) else 'does not clearly order'}"
              " the generators that learned by quality.")
    if gan is None:
        return (f"3. Inconclusive: ρ(W, JS-4) = {fmt(sw)} {interval(ci)} for WGAN-GP, but "
                "neither GAN's samples improved (late JS-4 " + ", ".join(
                    f"{n} {r[n]['js4_late']:.3f}" for n in ("gan", "gan-gp")) +
                "), so no GAN loss had quality to track. " + across)
    sl, cl = r[gan]["spearman_loss_js4"], r[gan]["spearman_loss_js4_ci"]
    gan_bound = None if cl is None else max(abs(cl[0]), abs(cl[1]))
    wrong_way = ci is not None and ci[1] < 0
    if wrong_way or (tracks(cl, either_sign=True) and abs(sl) >= (sw or 0)):
        word = "Does not hold"
    elif tracks(ci) and gan_bound is not None and ci[0] > gan_bound:
        word = "Holds"
    else:
        word = "Inconclusive"
    why = ("" if gan == "gan" else f"The plain GAN's samples never improved (late JS-4 "
           f"{r['gan']['js4_late']:.3f}), so the GAN compared is the one with a penalty. ")
    return (f"3. {word} within a run at this scale: ρ(W estimate, JS-4) = {fmt(sw)} "
            f"{interval(ci)} for WGAN-GP; ρ(critic loss, JS-4) = {fmt(sl)} {interval(cl)} for "
            f"{gan} (the claim needs the first interval above zero and above the second's "
            "largest |ρ|; it fails if the GAN's loss tracks quality at least as well, either "
            "way round, or W runs against it). " + why + across)


def gan_compared(r: dict[str, dict]) -> str | None:
    """The GAN run claim 3 compares: the plain GAN if its samples moved at all, else the one
    with a penalty, else none (a loss beside samples that never moved has nothing to track)."""
    return next((n for n in ("gan", "gan-gp") if learned(r[n])), None)


def tracks(ci: list[float] | None, either_sign: bool = False) -> bool:
    """Whether a 95% interval of ρ excludes zero (on the positive side unless either_sign)."""
    if ci is None:
        return False
    return ci[0] > 0 or (either_sign and ci[1] < 0)


def claim_4(fd: dict, dd: dict, seeds: dict[str, dict[int, dict]]) -> str:
    """Whether the finite-difference penalty reached each JS-4 target no later in wall time
    than the double-backward one, on every seed both ran."""
    both = sorted(set(seeds["gp"]) & set(seeds["gp-finite-difference"]))
    minutes = {s: {n: seeds[n][s]["minutes_to"] for n in ("gp", "gp-finite-difference")}
               for s in both}
    targets = [t for t in TARGETS if all(minutes[s]["gp"][str(t)] is not None for s in both)]
    if not targets:
        return (f"4. Inconclusive: the double-backward penalty did not reach JS-4 {TARGETS[0]} "
                f"on every seed, so there is no time to compare (best {fmt(dd['js4_best'])}; "
                f"finite difference {fmt(fd['js4_best'])}).")
    ok = all((minutes[s]["gp-finite-difference"][str(t)] or math.inf)
             <= minutes[s]["gp"][str(t)] for s in both for t in targets)
    def when(m):
        return "never" if m is None else f"{m:.1f} min"

    seen = "; ".join(f"seed {s}: " + ", ".join(
        f"≤ {t} {when(minutes[s]['gp-finite-difference'][str(t)])} against "
        f"{when(minutes[s]['gp'][str(t)])}" for t in targets) for s in both)
    return (f"4. {'Holds' if ok else 'Does not hold'} at this scale: the finite-difference "
            f"penalty takes {fmt(fd['s_per_iter'])} s per generator step against "
            f"{fmt(dd['s_per_iter'])} ({fd['s_per_iter'] / dd['s_per_iter']:.2f}×), and "
            "reached each JS-4 target "
            f"{'no later' if ok else 'later, or never, on some seed'} in wall time ({seen}; "
            f"best {fmt(fd['js4_best'])} against {fmt(dd['js4_best'])}). ‖∇D‖ at interpolates "
            f"averaged {fmt(fd['slope_mean'])} over the second half under it, "
            f"{fmt(dd['slope_mean'])} under the double-backward penalty.")


def js4_figures(evals: list[dict]) -> dict:
    """A run's JS-4 as the tables and the second-seed comparison quote it: where it started,
    its late level and spread, last and best, and the wall time to each of claim 4's
    targets."""
    level, spread = late(evals)
    return {"js4_first": evals[0]["js4"], "js4_late": level, "js4_spread": spread,
            "js4_last": evals[-1]["js4"], "js4_best": min(e["js4"] for e in evals),
            "minutes_to": minutes_to([[e["time"], e["js4"]] for e in evals])}


def pair_verdicts(pairs: list[tuple[str, str]], seeds: dict[str, dict[int, dict]]) -> list[str]:
    """For each pair one seed could not separate: does the order hold on every seed, by more
    than the seeds move each run?"""
    out = []
    for a, b in pairs:
        common = sorted(set(seeds.get(a, {})) & set(seeds.get(b, {})))
        if len(common) < 2:
            out.append(f"- {a} / {b}: within one seed's spread, and not run on a second seed.")
            continue
        diffs = [seeds[a][s]["js4_late"] - seeds[b][s]["js4_late"] for s in common]
        moves = [max(v["js4_late"] for v in seeds[n].values()) -
                 min(v["js4_late"] for v in seeds[n].values()) for n in (a, b)]
        same_sign = all(d < 0 for d in diffs) or all(d > 0 for d in diffs)
        gap = statistics.fmean(diffs)
        better = a if gap < 0 else b
        text = ", ".join(f"{d:+.3f}" for d in diffs)
        if same_sign and abs(gap) > max(moves):
            out.append(f"- {a} / {b}: {better} is better on every seed (late JS-4 {a} − {b}: "
                       f"{text}), by more than either run moves between seeds "
                       f"({max(moves):.3f}).")
        else:
            out.append(f"- {a} / {b}: no difference beyond the seeds' own spread (late JS-4 "
                       f"{a} − {b}: {text} on seeds {', '.join(map(str, common))}; between "
                       f"seeds {a} moves {moves[0]:.3f}, {b} {moves[1]:.3f}).")
    return out


def run_dir(runs: Path, name: str, iters: int, seed: int) -> Path:
    return runs / f"{name}-{iters}-s{seed}"


def threads_of(runs) -> str:
    """The CPU threads the runs trained with, as their folders recorded them."""
    seen = sorted({json.loads((run / "config.json").read_text(encoding="utf-8")).get("threads")
                   for run in runs} - {None})
    return " or ".join(map(str, seen)) or "unrecorded"


def done(run: Path, iters: int) -> bool:
    """Whether a run folder holds a run trained to the end (a stopped one resumes)."""
    if not (run / "log.jsonl").exists():
        return False
    evals = read_run(run).evals
    return bool(evals) and evals[-1]["step"] >= iters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=7000, help="the quick start's 7,000")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seeds", default="auto",
                    help="auto: seed 0 for every run, then seed 1 for each run that one seed "
                         "could not tell from another; or a list such as 0,1,2 for the --only "
                         "runs (seed 0 fills the tables)")
    ap.add_argument("--only", default=None, help="comma-separated subset of the runs")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads per run (default: all cores); with --threads 1 two "
                         "commands with different --only share a 2-core machine")
    ap.add_argument("--critic-steps", type=int, default=1000,
                    help="training steps of the one fresh critic of claim 3")
    ap.add_argument("--runs", type=Path, default=ROOT / "benchmarks" / "runs" / "experiments")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "experiments.md")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" /
                    "experiments.json")
    args = ap.parse_args()

    corpus = Corpus(bundled_corpus_path())
    config = base_config(args.preset, args.iters)
    names = args.only.split(",") if args.only else list(RUNS)
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        ap.error(f"--only: no run named {', '.join(unknown)}; the runs are {', '.join(RUNS)}")

    def run(name: str, seed: int) -> Path:
        t0, out = time.perf_counter(), run_dir(args.runs, name, args.iters, seed)
        finished = done(out, args.iters)
        # Called on a finished run too: train refuses one made with other settings, and
        # leaves a matching one as it is.
        train(corpus, config=config.with_overrides(**RUNS[name], seed=seed), out=out,
              device=args.device, threads=args.threads)
        if not finished:
            print(f"{name} seed {seed}: {time.perf_counter() - t0:.0f} s → {out}",
                  file=sys.stderr, flush=True)
        return out

    def seeds_of(name: str) -> list[int]:
        """The seeds of `name` trained to the end in --runs, whichever command trained them."""
        found = (p.name.rsplit("-s", 1)[1] for p in args.runs.glob(f"{name}-{args.iters}-s*"))
        return sorted(int(x) for x in found if x.isdigit() and
                      done(run_dir(args.runs, name, args.iters, int(x)), args.iters))

    auto = args.seeds == "auto"
    extra = [1] if auto else [int(x) for x in args.seeds.split(",") if x.strip() != "0"]
    for seed in [0] if auto else [0, *extra]:
        for name in names:
            run(name, seed)
    if not all(done(run_dir(args.runs, n, args.iters, 0), args.iters) for n in RUNS):
        print("not every run of seed 0 is there yet: the page waits for all of them",
              file=sys.stderr)
        return
    runs = {n: run_dir(args.runs, n, args.iters, 0) for n in RUNS}
    results = {n: summarize(n, runs[n]) for n in RUNS}
    pairs = close_pairs(results)
    second = sorted({n for pair in pairs for n in pair}) if auto else names if extra else []
    for name in (n for n in RUNS if auto and n in second and n in names):
        run(name, 1)
    seeds = {n: {s: js4_figures(read_run(run_dir(args.runs, n, args.iters, s)).evals)
                 for s in seeds_of(n)} for n in RUNS}
    if any(not set([0, *extra]) <= set(seeds[n]) for n in second):
        print("the second seeds are not all there yet: the page waits for them", file=sys.stderr)
        return
    fixed = fixed_critic_view({n: runs[n] for n in FIXED_RUNS},
                              corpus, n=min(640, len(corpus.heldout) // 2),
                              steps=args.critic_steps)
    t = config.train
    meta = {"iters": args.iters, "preset": args.preset,
            "ran": f"the `{args.preset}` preset's networks and recipe, {args.iters:,} generator "
                   f"steps, batch {t.batch_size}, {t.critic_iters} critic steps per generator "
                   f"step, evaluations every {t.eval_every} steps (640 argmax samples against "
                   f"the held-out captions), bundled COCO captions, {args.device} "
                   f"(threads per run: {threads_of(runs.values())}), torch {torch.__version__}",
            "seeds_note": "seed 0 fills every table but one; " + (
                "every run that one seed could not tell from another has a second" if auto
                else f"seeds {args.seeds} were asked for {', '.join(names)}") +
                " (section \"Where one seed is not enough\").",
            "date": time.strftime("%Y-%m-%d"),
            "close_pairs": pairs, "seeds": seeds, "pair_verdicts": pair_verdicts(pairs, seeds)}
    meta["verdicts"] = verdicts(results, fixed, seeds)
    fig_dir = args.doc.parent / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = {}
    for key, group in (("clip", ["gp", "clip-0.01", "clip-0.1"]),
                       ("curves", ["gp", "gp-one-sided", "gp-finite-difference",
                                   gan_compared(results) or "gan"])):
        png = write_figure(fig_dir / f"experiments-{key}.png",
                           lambda out, g=group: plot_runs([read_run(runs[n]) for n in g], out))
        figures[key] = str(png.relative_to(args.doc.parent))
    png = write_figure(fig_dir / "experiments-time.png", lambda out: plot_time(
        results, ["gp", "gp-finite-difference", "gp-one-sided", "clip-0.01"], out))
    figures["time"] = str(png.relative_to(args.doc.parent))
    write_doc(args.doc, results, meta, figures, fixed)
    write_result(args.json, {"meta": meta, "runs": results, "fixed_critic": fixed,
                             "environment": environment(args.device)})
    print("\n".join(meta["verdicts"]))
    print(f"wrote {args.doc}, {args.json}")


if __name__ == "__main__":
    main()

"""`bench`: several inputs (samples files, runs at several temperatures, the Kneser–Ney
baseline) scored side by side at one common n, beside a real-text row."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from .errors import InputError, check_temperature, parse_numbers, setting
from .evaluation import (
    Texts,
    baseline_order,
    baseline_texts,
    check_n,
    file_size,
    is_model,
    is_model_input,
    load_texts,
    report_for,
)
from .scoring import (
    PAPER_N,
    Reference,
    ScoringOptions,
    checked_orders,
    floor_metrics,
    run_corpus,
)


def parse_values(text, name: str, kind: type, check, example: str) -> list:
    """A list option (`0.5,0.7,1.0`, or a sequence from Python), each value checked, sorted,
    without repeats."""
    if text is None:
        return []
    values = parse_numbers(text, name, kind, example)
    for v in values:
        check(v)
    if not values:
        raise InputError(f"{setting(name)} names no value; give e.g. {example}")
    return sorted(set(values))


def parse_temperatures(text: str | Sequence[float] | None) -> list[float]:
    def positive(t):
        check_temperature(t, "temperatures")
        if t == 0:
            raise InputError(f"{setting('temperatures')} must be positive numbers (argmax is "
                             "always scored as its own row)")

    return parse_values(text, "temperatures", float, positive, "0.5,0.7,1.0")


def row_label(loaded: Texts) -> str:
    """`run @ argmax`, `run @ T=0.7`, `run @ argmax K=5`, `run @ argmax ψ=0.7`."""
    if loaded.kind == "samples":
        return loaded.label
    how = loaded.spec.label if loaded.spec is not None else f"T={loaded.temperature:g}"
    return f"{loaded.label} @ {how}"


def row_specs(temperatures, reranks, truncations) -> list:
    """How a model's rows are drawn (SamplingSpecs): argmax, each temperature, each rerank
    factor K (argmax) and each truncation ψ (argmax); K = 1 and ψ = 1 are plain argmax."""
    from .errors import check_rerank, check_truncation
    from .spec import SamplingSpec

    ks = parse_values(reranks, "reranks", int, lambda k: check_rerank(k, "reranks"), "2,5,10")
    psis = parse_values(truncations, "truncations", float,
                        lambda p: check_truncation(p, "truncations"), "0.5,0.7,0.9")
    return [SamplingSpec(), *(SamplingSpec(temperature=t) for t in temperatures),
            *(SamplingSpec(rerank=k) for k in ks if k > 1),
            *(SamplingSpec(truncation=p) for p in psis if p < 1)]


def _check_critics(inputs: Sequence, device: str) -> None:
    from .sample import load_generator

    for source in (i for i in inputs if is_model_input(i)):
        load_generator(source, device=device).check_can_rerank("reranks")


def common_n(inputs: Sequence) -> int:
    """The n every row shares: the smallest samples file, else 640 (the paper's)."""
    sizes = [s for s in (file_size(i) for i in inputs) if s is not None]
    return min(sizes) if sizes else PAPER_N


def input_list(inputs) -> list:
    """bench's inputs as a list: one path is one input, not its characters."""
    if isinstance(inputs, (str, os.PathLike)):
        return [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise InputError(f"{setting('inputs')} must be a path, or a list of samples files, "
                         f"checkpoints, run or model folders (str or pathlib.Path), got "
                         f"{type(inputs).__name__} {inputs!r}")
    return list(inputs)


def bench(inputs: Sequence, scoring: ScoringOptions | None = None, *, n: int | None = None,
          temperatures: Sequence[float] | str | None = None,
          reranks: Sequence[int] | str | None = None,
          truncations: Sequence[float] | str | None = None, baseline: str | None = None,
          **keywords) -> dict:
    """Rows of metrics side by side, every input at one common n (`n`, else the smallest file,
    else 640), plus a "real text" row: models at argmax, at each temperature, resampled by
    their density ratio at each factor K of `reranks` and truncated at each ψ of
    `truncations` (argmax both), the Kneser–Ney `baseline` (e.g. "kn5") at each temperature
    (1.0 when none is given), sorted by JS-4 (the highest order when 4 is not asked for).
    `scoring`: how to score (a ScoringOptions), or its fields as keywords (`corpus`,
    `reference`, `train`, `protocol`, `seq_len`, `seed`, `orders`, `lm_order`, `critic`,
    `device`). Returns {"rows", "n", "signature"}."""
    scoring = ScoringOptions.of(scoring, **keywords)
    inputs = input_list(inputs)
    if not inputs and baseline is None:
        raise InputError("give at least one samples file, checkpoint or run folder")
    specs = row_specs(parse_temperatures(temperatures), reranks, truncations)
    if any(s.rerank > 1 for s in specs):  # before any scoring: a missing critic fails at once
        _check_critics(inputs, scoring.device)
    order = baseline_order(baseline) if baseline is not None else None
    check_n(n)
    n = common_n(inputs) if n is None else n
    if scoring.corpus is None and scoring.reference is None:
        models = [i for i in inputs if is_model(i)]
        if models:
            scoring = replace(scoring, corpus=run_corpus(models[0]))
    ref = scoring.reference_for(n)
    checked_orders(scoring.orders, ref.seq_len)
    rows = [row for source in inputs for row in _rows(source, specs, ref, scoring, n)]
    if order is not None:
        rows += [_row(baseline_texts(ref, order, n, t, scoring.seed), ref, scoring)
                 for t in parse_temperatures(temperatures) or [1.0]]
    real = floor_metrics(ref, n, scoring)
    if real is not None:
        rows.append({"input": "real text", "source": "real text", "kind": "real",
                     "temperature": None, "n": n, **real.flat()})
    key = f"js{4 if 4 in scoring.orders else max(scoring.orders)}"
    rows.sort(key=lambda r: r[key])
    return {"rows": rows, "n": n, "signature": ref.signature(
        n, scoring.orders, scoring.lm_order, scoring.seed, scoring.critic)}


def _rows(source, specs: list, ref: Reference, scoring: ScoringOptions, n: int) -> list[dict]:
    """One row per way of drawing a model's texts (a model is loaded once: its density ratio
    is fitted once), or one row of a samples file."""
    if not is_model_input(source):
        return [_row(load_texts(source, n, scoring.seed), ref, scoring)]
    from .sample import load_generator

    gen = load_generator(source, device=scoring.device)
    return [_row(load_texts(gen, n, scoring.seed, spec), ref, scoring) for spec in specs]


def _row(loaded: Texts, ref: Reference, scoring: ScoringOptions) -> dict:
    r = report_for(loaded, ref, scoring, floors=False)
    spec = loaded.spec
    return {"input": row_label(loaded), "source": loaded.label, "kind": loaded.kind,
            "temperature": loaded.temperature,
            "rerank": spec.rerank if spec else 1, "rule": spec.rule if spec else None,
            "truncation": spec.truncation if spec else 1.0, "n": r.n, **r.metrics.flat()}

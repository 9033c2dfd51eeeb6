"""`bench`: several inputs (samples files, runs at several temperatures, the Kneser–Ney
baseline) scored side by side at one common n, beside a real-text row."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .corpus import Corpus
from .errors import InputError, check_temperature, setting
from .evaluation import (
    Texts,
    baseline_order,
    baseline_texts,
    check_common,
    file_size,
    is_model,
    is_model_input,
    load_texts,
    report_for,
)
from .metrics import (
    DEFAULT_ORDERS,
)
from .scoring import DEFAULT_LM_ORDER, PAPER_N, Reference, floor_metrics, run_corpus


def parse_temperatures(text: str | Sequence[float] | None) -> list[float]:
    if text is None:
        return []
    try:
        values = [float(x) for x in (text.split(",") if isinstance(text, str) else text)
                  if str(x).strip()]
    except ValueError:
        raise InputError(f"{setting('temperatures')} must be comma-separated numbers, e.g. "
                         f"0.5,0.7,1.0, got {text!r}") from None
    for t in values:
        check_temperature(t, "temperatures")
    if not values or any(t == 0 for t in values):
        raise InputError(f"{setting('temperatures')} must be positive numbers (argmax is always "
                         "scored as its own row)")
    return sorted(set(values))


def bench(inputs: Sequence, *, corpus: str | Path | Corpus | None = None,
          reference: str | Path | None = None, train: str | Path | None = None,
          n: int | None = None, seed: int = 0, orders: Sequence[int] = DEFAULT_ORDERS,
          protocol: str = "heldout", lm_order: int = DEFAULT_LM_ORDER, critic: bool = False,
          temperatures: Sequence[float] | str | None = None, baseline: str | None = None,
          seq_len: int | None = None, device: str = "auto") -> dict:
    """Rows of metrics side by side, every input at one common n (`n`, else the smallest file,
    else 640), plus a "real text" row: models at argmax and at each temperature, the
    Kneser–Ney `baseline` (e.g. "kn5") at each temperature (1.0 when none is given), sorted by
    JS-4 (the highest order when 4 is not asked for). Returns {"rows", "n", "signature"}."""
    if isinstance(inputs, (str, os.PathLike)):  # one input, not its characters
        inputs = [inputs]
    if not inputs and baseline is None:
        raise InputError("give at least one samples file, checkpoint or run folder")
    temps = parse_temperatures(temperatures)
    order = baseline_order(baseline) if baseline is not None else None
    orders = check_common(n=n, seed=seed, orders=orders, lm_order=lm_order)
    if n is None:
        sizes = [s for s in (file_size(i) for i in inputs) if s is not None]
        n = min(sizes) if sizes else PAPER_N
        if protocol == "paper" and not sizes:
            n = PAPER_N
    if corpus is None and reference is None:
        models = [i for i in inputs if is_model(i)]
        if models:
            corpus = run_corpus(models[0])
    ref = Reference(corpus, reference, train, protocol, seq_len, n=n, seed=seed)
    check_common(orders=orders, seq_len=ref.seq_len)

    def scored(loaded: Texts, kind_label: str | None = None) -> dict:
        r = report_for(loaded, ref, orders, lm_order, seed, critic, device, floors=False)
        label = kind_label or loaded.label
        if loaded.kind != "samples":
            label += " @ " + ("argmax" if loaded.temperature == 0 else f"T={loaded.temperature:g}")
        return {"input": label, "source": loaded.label, "kind": loaded.kind,
                "temperature": loaded.temperature, "n": r.n, **r.metrics.flat()}

    rows = []
    for source in inputs:
        if is_model_input(source):
            for t in [0.0, *temps]:
                rows.append(scored(load_texts(source, n, seed, t, device)))
        else:
            rows.append(scored(load_texts(source, n, seed)))
    if order is not None:
        for t in temps or [1.0]:
            rows.append(scored(baseline_texts(ref, order, n, t, seed)))
    real = floor_metrics(ref, n, orders, lm_order, seed, critic, device)
    if real is not None:
        rows.append({"input": "real text", "source": "real text", "kind": "real",
                     "temperature": None, "n": n, **real.flat()})
    key = f"js{4 if 4 in orders else max(orders)}"
    rows.sort(key=lambda r: r[key])
    return {"rows": rows, "n": n,
            "signature": ref.signature(n, orders, lm_order, seed, critic)}


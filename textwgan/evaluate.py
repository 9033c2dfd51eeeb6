"""Scoring a file of samples: JS-1..4 against a corpus's held-out split (or a reference file),
beside the floor of as many real training sequences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .corpus import Corpus
from .errors import InputError
from .fileio import read_lines
from .metrics import DEFAULT_ORDERS, js_report

PAD_CODE = -1  # code-point coding: no character has a negative code point


def codepoints(lines: Sequence[str], seq_len: int) -> np.ndarray:
    """Lines → (N, T) code points, cut to T and right-padded with PAD_CODE."""
    out = np.full((len(lines), seq_len), PAD_CODE, dtype=np.int64)
    for row, line in enumerate(lines):
        cut = line[:seq_len]
        out[row, : len(cut)] = [ord(c) for c in cut]
    return out


def reference_lines(path: str | Path) -> list[str]:
    """A reference or training text file read as `prepare` reads it: stripped, blanks dropped."""
    lines = [line.strip() for line in read_lines(path)]
    lines = [line for line in lines if line]
    if not lines:
        raise InputError(f"{path}: no non-empty lines")
    return lines


def evaluate_file(samples: str | Path, corpus: str | Path | None = None,
                  reference: str | Path | None = None, train: str | Path | None = None,
                  n: int | None = None, seed: int = 0,
                  orders: Sequence[int] = DEFAULT_ORDERS, seq_len: int = 32) -> dict:
    """JS report of a samples file (one sample per line).

    With `corpus`: samples are normalized and encoded with the corpus's charset and scored
    against its held-out split; the floor comes from its training split. With `reference`:
    raw code points against that file, and a floor only when `train` is given.
    """
    if (corpus is None) == (reference is None):
        raise InputError("give exactly one of --corpus DIR or --reference FILE")
    lines = read_lines(samples)
    if n is not None:
        if n < 1:
            raise InputError(f"--n must be at least 1, got {n}")
        if n > len(lines):
            raise InputError(f"--n {n}: {samples} holds only {len(lines)} samples")
        lines = lines[:n]
    if not lines:
        raise InputError(f"{samples}: no samples (the file is empty)")
    if corpus is not None:
        c = Corpus(corpus)
        report = js_report(c.encode(lines), c.heldout, c.train, orders, seed)
        report["corpus"] = str(c.path)
    else:
        if seq_len < 1:
            raise InputError(f"--seq-len must be at least 1, got {seq_len}")
        ref = codepoints(reference_lines(reference), seq_len)
        tr = codepoints(reference_lines(train), seq_len) if train is not None else None
        report = js_report(codepoints(lines, seq_len), ref, tr, orders, seed)
        report["reference"] = str(reference)
    return report

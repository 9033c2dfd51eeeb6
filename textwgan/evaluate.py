"""Scoring samples of character-level text against a held-out reference, each metric beside
the value real text reaches (the floor): JS-1..n, copy rate, distinct rates, word validity,
Kneser–Ney LM scores and, on request, the critic distance.

Samples come from a file (one per line), a checkpoint, or a run folder (then N are drawn).
With a corpus folder, text is normalized and encoded with the corpus's charset; with plain
reference/training files, characters are raw code points.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import __version__
from .checkpoint import find_checkpoint, load_checkpoint
from .corpus import Corpus
from .errors import InputError
from .fileio import read_lines
from .lm import KneserNeyLM, gram_counts
from .metrics import (
    DEFAULT_ORDERS,
    NgramCounts,
    copy_rate,
    distinct_n,
    distinct_rate,
    js_divergences,
    random_rows,
    word_validity,
    words,
)

PAD_CODE = -1  # code-point coding: no character has a negative code point
PROTOCOLS = ("heldout", "paper")
PAPER_N = 640  # gan_language.py scores 640 samples against the training set


def codepoints(lines: Sequence[str], seq_len: int) -> np.ndarray:
    """Lines → (N, T) code points, cut to T and right-padded with PAD_CODE."""
    out = np.full((len(lines), seq_len), PAD_CODE, dtype=np.int64)
    for row, line in enumerate(lines):
        cut = line[:seq_len]
        out[row, : len(cut)] = [ord(c) for c in cut]
    return out


def rows_to_text(rows: np.ndarray, pad: int) -> list[str]:
    """(N, T) code points → N strings, pad dropped; one decode call for the whole array."""
    rows = np.asarray(rows)
    if len(rows) == 0:
        return []
    t = rows.shape[1]
    flat = np.where(rows == pad, 0, rows).astype("<u4")
    text = flat.tobytes().decode("utf-32-le")
    return [text[i * t:(i + 1) * t].rstrip("\0") for i in range(len(rows))]


def reference_lines(path: str | Path) -> list[str]:
    """A reference or training text file read as `prepare` reads it: stripped, blanks dropped."""
    lines = [line.strip() for line in read_lines(path)]
    lines = [line for line in lines if line]
    if not lines:
        raise InputError(f"{path}: no non-empty lines")
    return lines


def load_samples(source: str | Path, n: int | None, seed: int) -> tuple[list[str], str]:
    """Sample texts from a file, or drawn from a checkpoint / run folder; and what they are."""
    path = Path(source)
    if path.is_dir() or path.suffix == ".pt":
        from .sample import generate_ids, load_generator

        ckpt_path = find_checkpoint(path)
        generator, charset, _ = load_generator(load_checkpoint(ckpt_path))
        ids = generate_ids(generator, n or PAPER_N, seed=seed)
        return [charset.decode(row) for row in ids], str(ckpt_path)
    lines = read_lines(path)
    if n is not None:
        if n > len(lines):
            raise InputError(f"--n {n}: {source} holds only {len(lines)} samples")
        lines = lines[:n]
    if not lines:
        raise InputError(f"{source}: no samples (the file is empty)")
    return lines, str(source)


class Reference:
    """What samples are scored against: reference rows, training rows, and their coding."""

    def __init__(self, corpus: str | Path | None = None, reference: str | Path | None = None,
                 train: str | Path | None = None, protocol: str = "heldout",
                 seq_len: int = 32):
        if (corpus is None) == (reference is None):
            raise InputError("give exactly one of --corpus DIR or --reference FILE")
        if protocol not in PROTOCOLS:
            raise InputError(f"--protocol must be one of {', '.join(PROTOCOLS)}, "
                             f"got {protocol!r}")
        self.protocol = protocol
        if corpus is not None:
            c = Corpus(corpus)
            self.corpus, self.seq_len, self.pad = c, c.seq_len, 0
            self.train = np.asarray(c.train)
            self.reference = self.train if protocol == "paper" else np.asarray(c.heldout)
        else:
            if seq_len < 1:
                raise InputError(f"--seq-len must be at least 1, got {seq_len}")
            self.corpus, self.seq_len, self.pad = None, seq_len, PAD_CODE
            self.train = codepoints(reference_lines(train), seq_len) if train else None
            if protocol == "paper":
                if self.train is None:
                    raise InputError("--protocol paper scores against the training text: "
                                     "give --train FILE")
                self.reference = self.train
            else:
                self.reference = codepoints(reference_lines(reference), seq_len)
        self._index()

    @classmethod
    def from_arrays(cls, train: np.ndarray | None, reference: np.ndarray, pad: int = PAD_CODE,
                    protocol: str = "heldout") -> Reference:
        """A code-point reference from arrays already encoded (benchmarks, tests)."""
        ref = cls.__new__(cls)
        ref.corpus, ref.seq_len, ref.pad, ref.protocol = None, reference.shape[1], pad, protocol
        ref.train, ref.reference = train, reference
        ref._index()
        return ref

    def _index(self) -> None:
        # One token coding for everything scored against this reference: the symbols of the
        # reference and training text, the pad, and one id for any other character. Fixed, so
        # the reference's n-gram tables are built once and reused for every input.
        fixed = [self.reference] + ([self.train] if self.train is not None else [])
        self._symbols = np.unique(np.append(np.concatenate([a.ravel() for a in fixed]),
                                            self.pad))
        self.n_symbols = len(self._symbols) + 1
        self.pad_id = int(np.searchsorted(self._symbols, self.pad))
        self._cache: dict = {}

    def code(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the fixed dense coding (other characters share the last id)."""
        idx = np.minimum(np.searchsorted(self._symbols, rows), len(self._symbols) - 1)
        return np.where(self._symbols[idx] == rows, idx, len(self._symbols))

    def cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.corpus is not None:
            return self.corpus.encode(texts)
        return codepoints(texts, self.seq_len)

    def texts(self, rows: np.ndarray) -> list[str]:
        """Rows back to text (after normalization and cutting), for word-level metrics."""
        if self.corpus is not None:
            # index → code point table; pad and unk as NUL and U+FFFD
            table = np.array([0, 0xFFFD] + [ord(c) for c in self.corpus.charset.chars])
            rows = np.where(np.asarray(rows) < len(table), table[np.minimum(rows, len(table)
                                                                              - 1)], 0xFFFD)
            rows = np.where(np.maximum.accumulate(np.asarray(rows) == 0, axis=1), 0, rows)
        return rows_to_text(rows, self.pad if self.corpus is None else 0)

    def vocabulary(self) -> set[str]:
        return self.cached("vocabulary",
                           lambda: set(words(self.texts(self.train), self.seq_len)))

    def signature(self, n: int, orders: Sequence[int], lm_order: int, seed: int,
                  critic: bool) -> str:
        train = len(self.train) if self.train is not None else 0
        return (f"textwgan-eval|protocol:{self.protocol}|n:{n}|ref:{len(self.reference)}"
                f"|train:{train}|orders:{','.join(map(str, orders))}|lm:{lm_order}"
                f"|critic:{'yes' if critic else 'no'}|T:{self.seq_len}|pad:counted|unit:bits"
                f"|seed:{seed}|version:{__version__}")


def versus_reference(samples: np.ndarray, ref: Reference, orders: Sequence[int],
                     lm_order: int, seed: int, critic: bool, device: str) -> dict:
    """Metrics that compare samples with the reference: JS-n, distinct rates, reverse LM
    score (an LM of the samples reading the reference), critic distance."""
    sa = ref.code(samples)
    v = ref.n_symbols
    if v ** max(orders) < 2 ** 62:
        ref_counts = ref.cached(("ngrams", tuple(orders)),
                                lambda: NgramCounts(ref.code(ref.reference), v, orders))
        js = NgramCounts(sa, v, orders).js(ref_counts)
    else:
        js = js_divergences(samples, ref.reference, orders)
    out: dict = {f"js{k}": js[k] for k in orders}
    out["distinct"] = distinct_rate(samples)
    out.update({f"distinct_{k}": v for k, v in distinct_n(samples, ref.pad, orders).items()})
    grams, counts = ref.cached(("lm_grams", lm_order), lambda: gram_counts(
        ref.code(ref.reference), ref.pad_id, lm_order, v))
    out["reverse_lm_bpc"] = KneserNeyLM(sa, ref.pad_id, v, lm_order).bits_per_char_of_counts(
        grams, counts)
    out["critic_w"] = None  # asked for with --critic; the key is always there
    if critic:
        from .critic_metric import critic_distance
        from .train import resolve_device

        out["critic_w"] = critic_distance(sa, ref.code(ref.reference), v, seed=seed,
                                          device=resolve_device(device))
    return out


def versus_train(samples: np.ndarray, ref: Reference, lm_order: int) -> dict:
    """Metrics that compare samples with the training text: copy rate, word validity, and
    the bits per character an LM of the training text gives them."""
    lm = ref.cached(("lm", lm_order), lambda: KneserNeyLM(
        ref.code(ref.train), ref.pad_id, ref.n_symbols, lm_order))
    return {"copy_rate": copy_rate(samples, ref.train),
            "word_validity": word_validity(ref.texts(samples), ref.vocabulary(), ref.seq_len),
            "lm_bpc": lm.bits_per_char(ref.code(samples))}


def evaluate(source: str | Path, corpus: str | Path | None = None,
             reference: str | Path | None = None, train: str | Path | None = None,
             n: int | None = None, seed: int = 0, orders: Sequence[int] = DEFAULT_ORDERS,
             protocol: str = "heldout", lm_order: int = 5, critic: bool = False,
             seq_len: int = 32, device: str = "auto", ref: Reference | None = None,
             floors: bool = True) -> dict:
    """The full report for one samples file, checkpoint or run folder. Keys: js1.., floor_js1..,
    distinct, distinct_1.., copy_rate, word_validity, lm_bpc, reverse_lm_bpc, critic_w (each
    with a floor_ twin: the same for as many real training sequences), n, reference_size,
    signature."""
    if n is not None and n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    if protocol == "paper" and n is None:
        n = PAPER_N
    ref = ref or Reference(corpus, reference, train, protocol, seq_len)
    orders = tuple(orders)
    if max(orders) > ref.seq_len:
        raise InputError(f"--orders go up to {max(orders)}, beyond the sequence length "
                         f"{ref.seq_len}")
    texts, what = load_samples(source, n, seed)
    samples = ref.encode(texts)
    report: dict = {"input": what, "n": len(samples), "reference_size": len(ref.reference),
                    "train_size": len(ref.train) if ref.train is not None else None,
                    "protocol": protocol, "orders": list(orders), "lm_order": lm_order,
                    "seed": seed}
    report.update(versus_reference(samples, ref, orders, lm_order, seed, critic, device))
    if ref.train is not None:
        report.update(versus_train(samples, ref, lm_order))
    if ref.train is not None and floors:
        # Real text scored the same way. Against the reference: N training sequences (the
        # floor of DESIGN.md). Against the training text: N reference sequences, since
        # training sequences would trivially be copies of themselves.
        real_train = random_rows(ref.train, len(samples), seed)
        real_ref = random_rows(ref.reference, len(samples), seed)
        floor = versus_reference(real_train, ref, orders, lm_order, seed, critic, device)
        floor.update(versus_train(real_ref, ref, lm_order))
        report.update({f"floor_{k}": v for k, v in floor.items()})
    report["signature"] = ref.signature(len(samples), orders, lm_order, seed, critic)
    return report


def bench_rows(sources: Sequence[str], corpus: str | Path | None = None,
               reference: str | Path | None = None, train: str | Path | None = None,
               n: int | None = None, seed: int = 0, orders: Sequence[int] = DEFAULT_ORDERS,
               protocol: str = "heldout", lm_order: int = 5, critic: bool = False,
               device: str = "auto") -> dict:
    """One row of metrics per input, plus a "real text" row (the floors of the first input),
    sorted by JS-4 (by the highest order when 4 is not asked for)."""
    if not sources:
        raise InputError("give at least one samples file, checkpoint or run folder")
    ref = Reference(corpus, reference, train, protocol)
    rows, signature = [], None
    for source in sources:
        report = evaluate(source, n=n, seed=seed, orders=orders, protocol=protocol,
                          lm_order=lm_order, critic=critic, device=device, ref=ref,
                          floors=not rows)  # the real-text row needs them once
        signature = signature or report["signature"]
        rows.append({"input": report["input"], "n": report["n"],
                     **{k: v for k, v in report.items() if _is_metric(k)}})
        if len(rows) == 1 and ref.train is not None:
            real = {"input": "real text", "n": report["n"],
                    **{k[len("floor_"):]: v for k, v in report.items()
                       if k.startswith("floor_")}}
    if ref.train is not None:
        rows.append(real)
    key = f"js{4 if 4 in orders else max(orders)}"
    rows.sort(key=lambda r: r[key])
    return {"rows": rows, "signature": signature}


def _is_metric(key: str) -> bool:
    return key.startswith(("js", "distinct", "copy_rate", "word_validity", "lm_bpc",
                           "reverse_lm_bpc", "critic_w"))

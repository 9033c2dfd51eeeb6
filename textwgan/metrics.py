"""Character-level language-quality metrics: n-gram Jensen–Shannon divergence and its floor.

Protocol (DESIGN.md): tokens are characters after the corpus's normalization; n-grams are
counted inside each sequence padded to the sequence length (the pad marks where text ends, so
it is part of the distribution); JS is in bits, 0 for identical distributions, at most 1.
Sequences are integer arrays (N, T); any integer coding works (charset indices, code points).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import __version__

DEFAULT_ORDERS = (1, 2, 3, 4)


def _ngram_ids(seqs: np.ndarray, orders: Sequence[int]) -> dict[int, tuple[np.ndarray, int]]:
    """For each order n: (ids of every n-gram window, shape (N, T−n+1); number of distinct ids).

    Keys grow one token at a time, key_n = rank(key_{n−1})·V + token, and are re-ranked after
    each order, so they stay below (distinct n-grams)·V whatever n is: no overflow.
    """
    tokens = np.unique(seqs, return_inverse=True)[1].reshape(seqs.shape)  # dense 0..V-1
    vocab = int(tokens.max()) + 1 if tokens.size else 1
    out: dict[int, tuple[np.ndarray, int]] = {}
    keys = tokens.astype(np.int64)  # (N, T): 1-gram keys
    n_ids = vocab
    for n in range(1, max(orders) + 1):
        if n > 1:
            keys = keys[:, :-1] * vocab + tokens[:, n - 1:]  # (N, T-n+1)
            uniq, inv = np.unique(keys, return_inverse=True)
            keys, n_ids = inv.reshape(keys.shape), len(uniq)
        if n in orders:
            out[n] = (keys, n_ids)
    return out


def js_from_counts(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """JS divergence in bits between two count vectors over the same outcomes."""
    p = p_counts / p_counts.sum()
    q = q_counts / q_counts.sum()
    m = 0.5 * (p + q)
    kl_pm = np.sum(p[p > 0] * np.log2(p[p > 0] / m[p > 0]))
    kl_qm = np.sum(q[q > 0] * np.log2(q[q > 0] / m[q > 0]))
    return float(0.5 * kl_pm + 0.5 * kl_qm)


def js_divergences(samples: np.ndarray, reference: np.ndarray,
                   orders: Sequence[int] = DEFAULT_ORDERS) -> dict[int, float]:
    """JS-n between the n-gram distributions of two sets of padded sequences, per order n."""
    samples, reference = np.asarray(samples), np.asarray(reference)
    if samples.ndim != 2 or reference.ndim != 2 or samples.shape[1] != reference.shape[1]:
        raise ValueError(f"need two (N, T) arrays with the same T, got {samples.shape} and "
                         f"{reference.shape}")
    if len(samples) == 0 or len(reference) == 0:
        raise ValueError("cannot score an empty set of sequences")
    seq_len = samples.shape[1]
    if max(orders) > seq_len or min(orders) < 1:
        raise ValueError(f"orders must lie in 1..{seq_len} (the sequence length), got {orders}")
    both = np.concatenate([samples, reference]).astype(np.int64)  # (Ns+Nr, T)
    result = {}
    for n, (ids, n_ids) in _ngram_ids(both, orders).items():
        p = np.bincount(ids[: len(samples)].ravel(), minlength=n_ids)
        q = np.bincount(ids[len(samples):].ravel(), minlength=n_ids)
        result[n] = js_from_counts(p, q)
    return result


class NgramCounts:
    """The n-gram counts of one set of sequences (dense ids < vocab_size), kept sorted so other
    sets can be scored against it without sorting it again: for a large reference, once."""

    def __init__(self, seqs: np.ndarray, vocab_size: int, orders: Sequence[int]):
        seqs = np.asarray(seqs, dtype=np.int64)
        if vocab_size ** max(orders) >= 2 ** 62:
            raise ValueError("orders too high for explicit n-gram keys; use js_divergences")
        self.vocab_size, self.tables = vocab_size, {}
        key = np.zeros((len(seqs), seqs.shape[1]), dtype=np.int64)
        for n in range(1, max(orders) + 1):
            key = key[:, :-1] * vocab_size + seqs[:, n - 1:] if n > 1 else seqs.copy()
            if n in orders:
                self.tables[n] = np.unique(key, return_counts=True)

    def js(self, other: NgramCounts) -> dict[int, float]:
        """JS-n between this set and `other` (same coding), per order both hold.

        Outcomes only one side has add ½·(its probability) each, so the union of the two key
        sets is never built: the sum over other-only outcomes is ½·(1 − Σ q over shared)."""
        out = {}
        for n, (keys, counts) in self.tables.items():
            ref_keys, ref_counts = other.tables[n]
            p_all = counts / counts.sum()
            idx = np.minimum(np.searchsorted(ref_keys, keys), len(ref_keys) - 1)
            shared = ref_keys[idx] == keys
            p = p_all[shared]
            q = ref_counts[idx[shared]] / ref_counts.sum()
            m = 0.5 * (p + q)
            both = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
            only_self = 0.5 * p_all[~shared].sum()
            only_other = 0.5 * max(0.0, 1.0 - q.sum())
            out[n] = float(both + only_self + only_other)
        return out


def random_rows(array: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n rows drawn without replacement (with replacement only if n exceeds the rows)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(array), size=n, replace=n > len(array))
    return np.asarray(array[np.sort(idx)])


def signature(protocol: str, n: int, reference_size: int, orders: Sequence[int], seed: int,
              seq_len: int) -> str:
    """What a score means: two scores compare only when their signatures are equal."""
    return (f"textwgan-js|protocol:{protocol}|n:{n}|ref:{reference_size}"
            f"|orders:{','.join(map(str, orders))}|T:{seq_len}|pad:counted|unit:bits"
            f"|seed:{seed}|version:{__version__}")


def js_report(samples: np.ndarray, reference: np.ndarray, train: np.ndarray | None,
              orders: Sequence[int] = DEFAULT_ORDERS, seed: int = 0,
              protocol: str = "heldout") -> dict:
    """JS-n of samples vs reference, beside the floor: the same for as many real training
    sequences (drawn with `seed`). Keys: js1.., floor_js1.., n, reference_size, signature."""
    report: dict = {"n": len(samples), "reference_size": len(reference)}
    js = js_divergences(samples, reference, orders)
    report.update({f"js{k}": v for k, v in js.items()})
    if train is not None:
        floor = js_divergences(random_rows(train, len(samples), seed), reference, orders)
        report.update({f"floor_js{k}": v for k, v in floor.items()})
    report["orders"] = list(orders)
    report["seed"] = seed
    report["signature"] = signature(protocol, len(samples), len(reference), orders, seed,
                                    samples.shape[1])
    return report


def _row_keys(*arrays: np.ndarray) -> list[np.ndarray]:
    """One comparable scalar per row (the row's bytes), for set operations on whole rows."""
    t = arrays[0].shape[1]
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=np.int64)
        out.append(a.view(np.dtype((np.void, 8 * t))).ravel())
    return out


def copy_rate(samples: np.ndarray, train: np.ndarray) -> float:
    """Share of samples that are verbatim training sequences (as cut and padded)."""
    s, t = _row_keys(samples, train)
    return float(np.isin(s, t).mean())


def distinct_rate(samples: np.ndarray) -> float:
    """Share of distinct samples: 1 when all differ, 1/N under total mode collapse."""
    (s,) = _row_keys(samples)
    return len(np.unique(s)) / len(s)


def distinct_n(samples: np.ndarray, pad: int, orders: Sequence[int] = DEFAULT_ORDERS,
               ) -> dict[int, float]:
    """Distinct character n-grams / all n-grams, over windows inside the text (no pad)."""
    samples = np.asarray(samples, dtype=np.int64)
    text = samples != pad
    out = {}
    for n, (ids, _) in _ngram_ids(samples, [k for k in orders if k <= samples.shape[1]]).items():
        inside = np.ones_like(ids, dtype=bool)
        for i in range(n):
            inside &= text[:, i:i + ids.shape[1]]
        kept = ids[inside]
        out[n] = len(np.unique(kept)) / len(kept) if len(kept) else 0.0
    return out


def words(texts: Sequence[str], seq_len: int) -> list[str]:
    """Whitespace-split words; a text that fills all seq_len characters was cut, so its last
    word may be a fragment and is left out."""
    out: list[str] = []
    for text in texts:
        ws = text.split()
        if len(text) >= seq_len and ws and not text[-1].isspace():
            ws = ws[:-1]
        out.extend(ws)
    return out


def word_validity(sample_texts: Sequence[str], vocabulary: set[str], seq_len: int) -> float:
    """Share of the samples' words (cut-off last words aside) that are training words."""
    ws = words(sample_texts, seq_len)
    return sum(w in vocabulary for w in ws) / len(ws) if ws else 0.0

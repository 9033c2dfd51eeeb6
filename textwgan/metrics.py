"""Character-level language-quality metrics: n-gram Jensen–Shannon divergence, copy rate,
distinct rates, word validity, and the signature that says what a score means.

Protocol (DESIGN.md): tokens are characters after the corpus's normalization; n-grams are
counted inside each sequence padded to the sequence length (the pad marks where text ends, so
it is part of the distribution); JS is in bits, 0 for identical distributions, at most 1.
Sequences are integer arrays (N, T); any integer coding works (charset indices, code points).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import __version__
from .ngrams import dense, window_keys
from .text import text_mask

DEFAULT_ORDERS = (1, 2, 3, 4)


class NgramCounts:
    """The n-gram counts of one set of sequences (dense tokens < vocab_size), kept sorted so
    other sets are scored against it without sorting it again: for a large reference, once."""

    def __init__(self, seqs: np.ndarray, vocab_size: int, orders: Sequence[int]):
        seqs = np.asarray(seqs, dtype=np.int64)
        self.tables = {n: np.unique(window_keys(seqs, n, vocab_size), return_counts=True)
                       for n in orders}

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f"{part}{n}": a for n, (keys, counts) in self.tables.items()
                for part, a in (("keys", keys), ("counts", counts))}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> NgramCounts:
        counts = cls.__new__(cls)
        orders = sorted(int(k[4:]) for k in arrays if k.startswith("keys"))
        counts.tables = {n: (arrays[f"keys{n}"], arrays[f"counts{n}"]) for n in orders}
        return counts

    def js(self, other: NgramCounts) -> dict[int, float]:
        """JS-n in bits between this set and `other` (same coding), per order this set holds.

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


def js_divergences(samples: np.ndarray, reference: np.ndarray,
                   orders: Sequence[int] = DEFAULT_ORDERS) -> dict[int, float]:
    """JS-n between the n-gram distributions of two sets of padded sequences, per order n."""
    samples, reference = np.asarray(samples), np.asarray(reference)
    if samples.ndim != 2 or reference.ndim != 2 or samples.shape[1] != reference.shape[1]:
        raise ValueError(f"need two (N, T) arrays with the same T, got {samples.shape} and "
                         f"{reference.shape}")
    if len(samples) == 0 or len(reference) == 0:
        raise ValueError("cannot score an empty set of sequences")
    if max(orders) > samples.shape[1] or min(orders) < 1:
        raise ValueError(f"orders must lie in 1..{samples.shape[1]} (the sequence length), "
                         f"got {orders}")
    (s, r), vocab = dense(samples, reference)
    return NgramCounts(s, vocab, orders).js(NgramCounts(r, vocab, orders))


def random_rows(array: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n rows drawn without replacement (with replacement only if n exceeds the rows)."""
    return np.asarray(array[random_indices(len(array), n, seed)])


def random_indices(size: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(size, size=n, replace=n > size))


def signature(fields: dict) -> str:
    """What a score means: two scores compare only when their signatures are equal. `fields`,
    in order: protocol, n, reference and training sizes, corpus (its fingerprint, or a hash
    of the reference), orders, LM order, critic, sequence length, seed, and the temperature
    where texts were drawn from a model."""
    f = fields
    parts = [f"protocol:{f['protocol']}", f"n:{f['n']}", f"ref:{f['reference_size']}",
             f"train:{f.get('train_size') or 0}", f"corpus:{f['corpus'][:12] or '-'}",
             f"orders:{','.join(map(str, f['orders']))}", f"lm:{f.get('lm_order') or '-'}",
             f"critic:{'yes' if f.get('critic') else 'no'}", f"T:{f['seq_len']}",
             "pad:counted", "unit:bits", f"seed:{f['seed']}"]
    t = f.get("temperature")
    if t is not None:
        parts.append(f"temperature:{'argmax' if t == 0 else format(t, 'g')}")
    return "textwgan-eval|" + "|".join(parts) + f"|version:{__version__}"


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
    samples = np.asarray(samples)
    inside_text = text_mask(samples, pad)  # (N, T)
    (tokens,), vocab = dense(samples)
    out = {}
    for n in (k for k in orders if k <= samples.shape[1]):
        keys = window_keys(tokens, n, vocab)  # (N, T-n+1)
        kept = keys[inside_text[:, n - 1:]]  # a window is inside when its last token is
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

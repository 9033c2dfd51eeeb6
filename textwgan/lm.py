"""An interpolated Kneser–Ney character n-gram language model, vectorized with numpy.

Sequences are (N, T) arrays of dense token ids in [0, V), right-padded with `pad`. The first
pad of a sequence is its end symbol and is predicted like a character (a sequence that fills
all T positions has none). Contexts at the start are filled with a BOS symbol (id V), which
is never predicted, so probabilities sum to 1 over the V symbols for every context.

Counts: the highest order uses raw counts; each lower order uses continuation counts (the
number of distinct symbols seen before the n-gram), with one absolute discount per order,
D = n1 / (n1 + 2·n2) (Chen & Goodman). Unseen contexts back off entirely; order 0 is
uniform over the V symbols.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sequence_lengths(seqs: np.ndarray, pad: int) -> np.ndarray:
    """Characters before the first pad in each row (T where a row has none)."""
    is_pad = seqs == pad
    return np.where(is_pad.any(1), is_pad.argmax(1), seqs.shape[1])


def position_keys(seqs: np.ndarray, pad: int, order: int, vocab_size: int) -> list[np.ndarray]:
    """keys[k-1] = int64 key of the k-gram ending at each scored position, k = 1..order.

    A k-gram (t1..tk) has key Σ tᵢ·base^(k−i), base = V + 1, so its context (prefix) is
    key // base and its suffix (k−1)-gram is key % base^(k−1)."""
    n, t = seqs.shape
    base, bos = vocab_size + 1, vocab_size
    ext = np.full((n, order - 1 + t), bos, dtype=np.int64)  # (N, order-1+T)
    ext[:, order - 1:] = seqs
    valid = np.arange(t)[None, :] <= sequence_lengths(seqs, pad)[:, None]  # text + end symbol
    valid &= np.arange(t)[None, :] < t
    keys, key = [], np.zeros((n, t), dtype=np.int64)
    for k in range(1, order + 1):
        key = key + ext[:, order - k: order - k + t] * base ** (k - 1)  # (N, T)
        keys.append(key[valid])
    return keys


@dataclass
class _Order:
    grams: np.ndarray  # sorted unique k-gram keys
    counts: np.ndarray  # their (continuation) counts
    contexts: np.ndarray  # sorted unique context keys
    denom: np.ndarray  # Σ counts per context
    types: np.ndarray  # number of distinct k-grams per context
    discount: float


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[i] where sorted_keys[i] == query, else 0."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=values.dtype)
    idx = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return np.where(sorted_keys[idx] == queries, values[idx], 0)


def _lookup2(sorted_keys: np.ndarray, v1: np.ndarray, v2: np.ndarray, queries: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray]:
    """Two value arrays looked up with one search."""
    if len(sorted_keys) == 0:
        zero = np.zeros(len(queries))
        return zero, zero
    idx = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    hit = sorted_keys[idx] == queries
    return np.where(hit, v1[idx], 0), np.where(hit, v2[idx], 0)


def gram_counts(seqs: np.ndarray, pad: int, order: int, vocab_size: int,
                ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct highest-order n-grams of the scored positions of `seqs`, and how often
    each occurs: enough to score a large text once per distinct n-gram, not per position."""
    return np.unique(position_keys(seqs, pad, order, vocab_size)[-1], return_counts=True)


class KneserNeyLM:
    """Interpolated Kneser–Ney LM of a given order over V symbols, trained on padded rows."""

    def __init__(self, seqs: np.ndarray, pad: int, vocab_size: int, order: int = 5):
        if order < 1:
            raise ValueError(f"LM order must be at least 1, got {order}")
        if (vocab_size + 1) ** order >= 2 ** 62:
            raise ValueError(f"LM order {order} is too high for {vocab_size} symbols "
                             "(n-gram keys would overflow 64 bits)")
        self.order, self.vocab_size, self.pad = order, vocab_size, pad
        base = vocab_size + 1
        keys = position_keys(np.asarray(seqs), pad, order, vocab_size)
        self.orders: list[_Order] = []
        for k in range(1, order + 1):
            if k == order:
                grams, counts = np.unique(keys[k - 1], return_counts=True)
            else:  # continuation count: distinct (k+1)-grams that end in this k-gram
                grams, counts = np.unique(np.unique(keys[k]) % base ** k, return_counts=True)
            contexts, inv = np.unique(grams // base, return_inverse=True)
            n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
            discount = n1 / (n1 + 2 * n2) if n1 else 0.5
            self.orders.append(_Order(grams, counts.astype(np.float64), contexts,
                                      np.bincount(inv, weights=counts).astype(np.float64),
                                      np.bincount(inv).astype(np.float64), discount))

    def _interpolated(self, keys: list[np.ndarray]) -> np.ndarray:
        """P of each k-gram key set (keys[k-1] = the k-grams ending at each query)."""
        base = self.vocab_size + 1
        p = np.full(len(keys[0]), 1.0 / self.vocab_size)
        for k, table in enumerate(self.orders, start=1):
            g = keys[k - 1]
            count = _lookup(table.grams, table.counts, g)
            denom, types = _lookup2(table.contexts, table.denom, table.types, g // base)
            seen = denom > 0
            safe = np.where(seen, denom, 1.0)
            d = table.discount
            p = np.where(seen, np.maximum(count - d, 0.0) / safe + d * types / safe * p, p)
        return p

    def log2_probs(self, seqs: np.ndarray) -> np.ndarray:
        """log₂ P of every scored position (characters and end symbols) of `seqs`, flattened."""
        return np.log2(self._interpolated(
            position_keys(np.asarray(seqs), self.pad, self.order, self.vocab_size)))

    def next_probs(self, context) -> np.ndarray:
        """(V,) P(w | context) for every symbol w, after a sequence that began with `context`."""
        base, bos = self.vocab_size + 1, self.vocab_size
        history = [bos] * (self.order - 1) + [int(x) for x in context]
        w = np.arange(self.vocab_size, dtype=np.int64)
        keys = []
        for k in range(1, self.order + 1):
            prefix = 0
            for tok in history[len(history) - (k - 1):] if k > 1 else []:
                prefix = prefix * base + tok
            keys.append(prefix * base + w)
        return self._interpolated(keys)

    def bits_per_char_of_counts(self, grams: np.ndarray, counts: np.ndarray) -> float:
        """bits_per_char of a text given as gram_counts(...) of it (same order and symbols)."""
        base = self.vocab_size + 1
        p = self._interpolated([grams % base ** k for k in range(1, self.order + 1)])
        return float(-(counts * np.log2(p)).sum() / counts.sum())

    def bits_per_char(self, seqs: np.ndarray) -> float:
        """Mean −log₂ P per scored symbol (each character, plus the end of each sequence)."""
        return float(-self.log2_probs(seqs).mean())

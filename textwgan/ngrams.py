"""n-gram keys: one sortable scalar per window of tokens, for any vocabulary size.

A window of k tokens in [0, base) packs into the int64 Σ tᵢ·base^(k−i) when base^k fits in 63
bits (fast); otherwise into the window's bytes (a numpy void scalar), which sort, compare and
binary-search the same way. Both sides of a comparison pack with the same (k, base), so they
always agree on the form. The JS metrics and the Kneser–Ney LM share this.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def fits_int64(base: int, k: int) -> bool:
    return base ** k < 2 ** 63


def pack(windows: np.ndarray, base: int) -> np.ndarray:
    """(M, k) tokens in [0, base) → (M,) keys, equal exactly when the windows are equal."""
    windows = np.asarray(windows)
    m, k = windows.shape
    if k == 0:
        return np.zeros(m, dtype=np.int64)
    if fits_int64(base, k):
        key = np.zeros(m, dtype=np.int64)
        for i in range(k):
            key = key * base + windows[:, i]
        return key
    rows = np.ascontiguousarray(windows, dtype=">u4")  # big-endian: byte order = numeric order
    return rows.view(np.dtype((np.void, 4 * k))).ravel()


def windows(seqs: np.ndarray, n: int) -> np.ndarray:
    """(N, T) → (N, T−n+1, n): every window of n consecutive tokens of each row (a view)."""
    return sliding_window_view(np.asarray(seqs), n, axis=1)


def window_keys(seqs: np.ndarray, n: int, base: int) -> np.ndarray:
    """(N, T) tokens in [0, base) → (N, T−n+1) keys of their n-gram windows."""
    seqs = np.asarray(seqs)
    w = windows(seqs, n)  # (N, T-n+1, n)
    return pack(w.reshape(-1, n), base).reshape(w.shape[:2])


def dense(*arrays: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Arrays of any integer coding → the same arrays in one dense coding 0..V−1, and V."""
    flat = np.concatenate([np.asarray(a).ravel() for a in arrays])
    symbols, inverse = np.unique(flat, return_inverse=True)
    out, start = [], 0
    for a in arrays:
        size = np.asarray(a).size
        out.append(inverse[start:start + size].reshape(np.shape(a)).astype(np.int64))
        start += size
    return out, max(len(symbols), 1)


def lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[i] where sorted_keys[i] == query, else 0."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=values.dtype)
    idx = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return np.where(sorted_keys[idx] == queries, values[idx], 0)

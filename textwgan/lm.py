"""An interpolated Kneser–Ney character n-gram language model, vectorized with numpy.

Sequences are (N, T) arrays of dense token ids in [0, V), right-padded with `pad`. The first
pad of a sequence is its end symbol and is predicted like a character (a sequence that fills
all T positions has none). Contexts at the start are filled with a BOS symbol (id V), which
is never predicted, so probabilities sum to 1 over the V symbols for every context.

Counts: the highest order uses raw counts; each lower order uses continuation counts (the
number of distinct symbols seen before the n-gram), with one absolute discount per order,
D = n1 / (n1 + 2·n2) (Chen & Goodman). Unseen contexts back off entirely; order 0 is
uniform over the V symbols.

Every scored position is a window of `order` tokens (its context and itself); n-grams are the
windows' last k tokens, packed into keys by ngrams.pack, so any vocabulary size works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ngrams import lookup, pack, windows
from .text import text_lengths

MAX_ORDER = 12  # beyond this, contexts are almost all unique and the tables only grow


def position_windows(seqs: np.ndarray, pad: int, order: int, vocab_size: int) -> np.ndarray:
    """(M, order) windows: for each scored position (each character and the end symbol), the
    order − 1 tokens before it (BOS before the start) and the token itself."""
    seqs = np.asarray(seqs, dtype=np.int64)
    n, t = seqs.shape
    ext = np.full((n, order - 1 + t), vocab_size, dtype=np.int64)  # (N, order-1+T), BOS = V
    ext[:, order - 1:] = seqs
    scored = np.arange(t)[None, :] <= text_lengths(seqs, pad)[:, None]  # text + end symbol
    return windows(ext, order)[scored]  # (M, order)


@dataclass
class _Order:
    grams: np.ndarray  # sorted unique k-gram keys
    counts: np.ndarray  # their (continuation) counts
    contexts: np.ndarray  # sorted unique context keys
    denom: np.ndarray  # Σ counts per context
    types: np.ndarray  # number of distinct k-grams per context
    discount: float


def _unique_rows(rows: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of a (M, k) window array: their keys (sorted), one row each, counts."""
    keys, first, counts = np.unique(pack(rows, base), return_index=True, return_counts=True)
    return keys, rows[first], counts


def window_counts(seqs: np.ndarray, pad: int, order: int, vocab_size: int,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct scored windows of `seqs` and how often each occurs: enough to score a large
    text once per distinct window, not once per position."""
    _, rows, counts = _unique_rows(position_windows(seqs, pad, order, vocab_size),
                                   vocab_size + 1)
    return rows, counts


class KneserNeyLM:
    """Interpolated Kneser–Ney LM of a given order over V symbols, trained on padded rows."""

    def __init__(self, seqs: np.ndarray, pad: int, vocab_size: int, order: int = 5):
        if not 1 <= order <= MAX_ORDER:
            raise ValueError(f"LM order must lie in 1..{MAX_ORDER}, got {order}")
        self.order, self.vocab_size, self.pad = order, vocab_size, pad
        base = vocab_size + 1
        win = position_windows(seqs, pad, order, vocab_size)  # (M, order)
        self.orders: list[_Order] = []
        for k in range(1, order + 1):
            if k == order:
                grams, rows, counts = _unique_rows(win[:, -k:], base)
            else:  # continuation count: distinct (k+1)-grams that end in this k-gram
                _, longer, _ = _unique_rows(win[:, -(k + 1):], base)
                grams, rows, counts = _unique_rows(longer[:, 1:], base)
            contexts, inv = np.unique(pack(rows[:, :-1], base), return_inverse=True)
            n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
            discount = n1 / (n1 + 2 * n2) if n1 else 0.5
            self.orders.append(_Order(grams, counts.astype(np.float64), contexts,
                                      np.bincount(inv, weights=counts).astype(np.float64),
                                      np.bincount(inv).astype(np.float64), discount))

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"meta": np.array([self.order, self.vocab_size, self.pad], dtype=np.int64)}
        for k, t in enumerate(self.orders, start=1):
            out |= {f"{name}{k}": getattr(t, name) for name in ("grams", "counts", "contexts",
                                                                 "denom", "types")}
            out[f"discount{k}"] = np.array(t.discount)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> KneserNeyLM:
        lm = cls.__new__(cls)
        lm.order, lm.vocab_size, lm.pad = (int(x) for x in arrays["meta"])
        lm.orders = [_Order(*(arrays[f"{name}{k}"] for name in ("grams", "counts", "contexts",
                                                                "denom", "types")),
                            float(arrays[f"discount{k}"])) for k in range(1, lm.order + 1)]
        return lm

    def probs(self, win: np.ndarray) -> np.ndarray:
        """P(last token | the tokens before it) for each (M, order) window."""
        base = self.vocab_size + 1
        p = np.full(len(win), 1.0 / self.vocab_size)
        for k, table in enumerate(self.orders, start=1):
            count = lookup(table.grams, table.counts, pack(win[:, -k:], base))
            context = pack(win[:, -k:-1], base)
            denom = lookup(table.contexts, table.denom, context)
            types = lookup(table.contexts, table.types, context)
            seen = denom > 0
            safe = np.where(seen, denom, 1.0)
            d = table.discount
            p = np.where(seen, np.maximum(count - d, 0.0) / safe + d * types / safe * p, p)
        return p

    def log2_probs(self, seqs: np.ndarray) -> np.ndarray:
        """log₂ P of every scored position (characters and end symbols) of `seqs`, flattened."""
        return np.log2(self.probs(position_windows(seqs, self.pad, self.order,
                                                   self.vocab_size)))

    def bits_per_char(self, seqs: np.ndarray) -> float:
        """Mean −log₂ P per scored symbol (each character, plus the end of each sequence)."""
        return float(-self.log2_probs(seqs).mean())

    def bits_per_char_of_counts(self, rows: np.ndarray, counts: np.ndarray) -> float:
        """bits_per_char of a text given as window_counts(...) of it (same order, symbols)."""
        return float(-(counts * np.log2(self.probs(rows))).sum() / counts.sum())

    def next_probs(self, history: np.ndarray) -> np.ndarray:
        """(B, V): P(w | the last order − 1 tokens) for every symbol w, for B histories given as
        a (B, order − 1) array of the latest tokens (BOS = V before a sequence's start)."""
        history = np.asarray(history, dtype=np.int64).reshape(len(history), self.order - 1)
        b, v = len(history), self.vocab_size
        win = np.empty((b, v, self.order), dtype=np.int64)  # (B, V, order)
        win[:, :, :-1] = history[:, None, :]
        win[:, :, -1] = np.arange(v)[None, :]
        return self.probs(win.reshape(b * v, self.order)).reshape(b, v)

    def sample(self, n: int, seq_len: int, rng: np.random.Generator, temperature: float = 1.0,
               batch_size: int = 4096) -> np.ndarray:
        """(n, seq_len) sequences drawn position by position, all n at once: the next token from
        P^(1/temperature) renormalized (argmax at 0); after the end symbol, pad."""
        out = np.full((n, seq_len), self.pad, dtype=np.int64)
        for start in range(0, n, batch_size):
            rows = min(batch_size, n - start)
            history = np.full((rows, self.order - 1), self.vocab_size, dtype=np.int64)
            alive = np.ones(rows, dtype=bool)
            uniform = rng.random((seq_len, rows))  # one draw per position, drawn up front
            for t in range(seq_len):
                p = self.next_probs(history)  # (rows, V)
                if temperature == 0:
                    token = p.argmax(axis=1)
                else:
                    logp = np.log(np.maximum(p, 1e-300)) / temperature
                    q = np.exp(logp - logp.max(axis=1, keepdims=True))
                    cdf = np.cumsum(q, axis=1)
                    u = uniform[t][:, None] * cdf[:, -1:]
                    token = np.minimum((cdf < u).sum(axis=1), self.vocab_size - 1)
                token = np.where(alive, token, self.pad)
                out[start:start + rows, t] = token
                alive &= token != self.pad
                if self.order > 1:
                    history = np.concatenate([history[:, 1:], token[:, None]], axis=1)
        return out

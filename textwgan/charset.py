"""Charset: the model's vocabulary of characters, with pad and unk.

Index 0 is the pad symbol (it marks where text ends and is part of the modelled distribution),
index 1 is unk (any character outside the charset), then characters by falling frequency.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from .errors import InputError, setting
from .text import PAD_CP, codepoints, rows_to_text

PAD, UNK = 0, 1
UNK_CHAR = "\ufffd"  # what an unknown character decodes to


class Charset:
    """Characters ↔ indices. `chars[i]` is the character of index i + 2."""

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if not all(isinstance(c, str) and len(c) == 1 and c != "\n" for c in chars):
            raise InputError("charset entries must be single characters other than newline")
        if len(set(chars)) != len(chars):
            raise InputError("charset has repeated characters")
        self.chars = chars
        self.index = {c: i + 2 for i, c in enumerate(chars)}
        self._table: np.ndarray | None = None
        self._codes: np.ndarray | None = None

    @classmethod
    def from_counts(cls, counts: Counter | dict[str, int], max_size: int = 2048) -> Charset:
        """The most frequent characters, so that with pad and unk there are at most `max_size`."""
        if max_size < 3:
            raise InputError(f"{setting('max_chars')} must be at least 3 (pad, unk and one "
                             f"character), got {max_size}")
        # Ties broken by code point so the same counts always give the same charset.
        ranked = sorted((c for c in counts if c != "\n"), key=lambda c: (-counts[c], c))
        return cls(ranked[: max_size - 2])

    def __len__(self) -> int:
        return len(self.chars) + 2

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Charset) and self.chars == other.chars

    def encode(self, text: str, seq_len: int) -> np.ndarray:
        """One line → (seq_len,) indices, cut to seq_len and right-padded with PAD."""
        return self.encode_many([text], seq_len)[0]

    def encode_many(self, lines: Iterable[str], seq_len: int) -> np.ndarray:
        """Lines → (N, seq_len) indices; characters outside the charset become UNK."""
        return self.lookup(codepoints(list(lines), seq_len))

    def lookup(self, cps: np.ndarray) -> np.ndarray:
        """(N, T) code points, PAD_CP marking the end → (N, T) indices (unknown: UNK)."""
        pad = cps == PAD_CP
        ids = self._lookup_table()[np.where(pad, 0, cps)]  # (N, T)
        ids[pad] = PAD
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Indices → text, ended at the first PAD."""
        return self.decode_many(np.asarray(list(ids)).reshape(1, -1))[0]

    def decode_many(self, ids: np.ndarray) -> list[str]:
        """(N, T) indices → N texts, each ended at its first PAD; unknown indices as U+FFFD."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 2:
            raise ValueError(f"need an (N, T) array of indices, got shape {ids.shape}")
        codes = self._code_table()
        known = (ids >= 0) & (ids < len(codes))
        cps = np.where(known, codes[np.clip(ids, 0, len(codes) - 1)], ord(UNK_CHAR))  # (N, T)
        cps = np.where(ids == PAD, PAD_CP, cps)
        return rows_to_text(cps)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16 if len(self) <= 65536 else np.int32)

    def _lookup_table(self) -> np.ndarray:
        """A code point → index table over all of Unicode (2 MiB), for vectorized encoding."""
        if self._table is None:
            table = np.full(0x110000, UNK, dtype=self.dtype)
            for c, i in self.index.items():
                table[ord(c)] = i
            self._table = table
        return self._table

    def _code_table(self) -> np.ndarray:
        """index → code point (pad's entry is never read; unk is U+FFFD)."""
        if self._codes is None:
            self._codes = np.array([0, ord(UNK_CHAR)] + [ord(c) for c in self.chars],
                                   dtype=np.int64)
        return self._codes

    def to_json(self) -> str:
        return json.dumps({"format": "textwgan.charset", "version": 1, "pad": PAD, "unk": UNK,
                           "chars": self.chars}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Charset:
        try:
            d = json.loads(text)
            if (not isinstance(d, dict) or d.get("format") != "textwgan.charset"
                    or d.get("version") != 1 or not isinstance(d.get("chars"), list)):
                raise ValueError
        except ValueError:
            raise InputError("not a textwgan charset file") from None
        return cls(d["chars"])

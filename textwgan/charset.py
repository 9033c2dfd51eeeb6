"""Charset: the model's vocabulary of characters, with pad and unk.

Index 0 is the pad symbol (it marks where text ends and is part of the modelled distribution),
index 1 is unk (any character outside the charset), then characters by falling frequency.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from .encoding import PAD_CP, codepoints
from .errors import InputError

PAD, UNK = 0, 1
# Stand-ins used only when a decoded sample must show an unknown character.
UNK_CHAR = "\ufffd"


class Charset:
    """Characters ↔ indices. `chars[i]` is the character of index i for i ≥ 2."""

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if len(set(chars)) != len(chars):
            raise InputError("charset has repeated characters")
        if any(len(c) != 1 or c == "\n" for c in chars):
            raise InputError("charset entries must be single characters other than newline")
        self.chars = chars
        self.index = {c: i + 2 for i, c in enumerate(chars)}
        self._table: np.ndarray | None = None

    @classmethod
    def from_counts(cls, counts: Counter | dict[str, int], max_size: int = 2048) -> Charset:
        """The most frequent characters, so that with pad and unk there are at most `max_size`."""
        if max_size < 3:
            raise InputError(f"--max-chars must be at least 3 (pad, unk and one character), "
                             f"got {max_size}")
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
        """Indices → text. Everything from the first PAD on is dropped: the pad marks the end."""
        out = []
        for i in ids:
            i = int(i)
            if i == PAD:
                break
            out.append(UNK_CHAR if i == UNK or i >= len(self) else self.chars[i - 2])
        return "".join(out)

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

    def to_json(self) -> str:
        return json.dumps({"format": "textwgan.charset", "version": 1, "pad": PAD, "unk": UNK,
                           "chars": self.chars}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Charset:
        try:
            d = json.loads(text)
            assert d["format"] == "textwgan.charset" and d["version"] == 1
            return cls(d["chars"])
        except (ValueError, KeyError, TypeError, AssertionError) as e:
            raise InputError(f"not a textwgan charset file ({e.__class__.__name__})") from None

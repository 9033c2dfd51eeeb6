"""Text ↔ integer rows: normalization, code points, and the one pad rule.

A sequence is a row of T integers. Text fills it from the left and the pad symbol fills the
rest: **the first pad ends the text**, and everything after it is pad too. Rows come in two
codings: code points (uint32, `PAD_CP` as the pad) and charset indices (`charset.PAD`). Every
module that needs to know where text ends asks this one (`text_mask`, `text_lengths`,
`cut_at_pad`).

No torch here: `prepare` and its worker processes import this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

DEFAULT_SEQ_LEN = 32  # the paper's window: long enough for words, short enough to train fast
MAX_SEQ_LEN = 4096  # beyond this a character GAN makes no sense, and arrays get huge
MIN_SEQ_LEN = 4  # the benchmark's JS-4 needs windows of 4 characters
PAD_CP = np.uint32(0xFFFFFFFF)  # beyond Unicode: never a character


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """`text` with every lone surrogate (a str from Python can hold one; UTF-8 cannot) as
    U+FFFD, as `prepare` reads invalid bytes."""
    return _SURROGATE.sub("\ufffd", text)


def make_normalizer(lowercase: bool):
    """NFKC (and lowercasing, if asked): the normalization of every corpus."""
    from tokenizers import normalizers

    steps = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def normalize_lines(lines: Sequence[str], normalizer, strip: bool = True) -> list[str]:
    """Normalize lines in one Rust call (and strip surrounding whitespace). Joining with
    newlines is safe: NFKC and lowercasing never create or remove a newline."""
    if not lines:
        return []
    text = normalizer.normalize_str("\n".join(line.replace("\n", " ") for line in lines))
    out = text.split("\n")
    return [s.strip() for s in out] if strip else out


def codepoints(lines: Sequence[str], seq_len: int) -> np.ndarray:
    """Lines cut to seq_len → (N, seq_len) uint32 code points, PAD_CP after each line's end.
    A lone surrogate (from a lenient decoder) keeps its own code rather than failing."""
    out = np.full((len(lines), seq_len), PAD_CP, dtype=np.uint32)
    for row, line in enumerate(lines):
        cps = np.frombuffer(line[:seq_len].encode("utf-32-le", "surrogatepass"), np.uint32)
        out[row, : len(cps)] = cps
    return out


def text_mask(rows: np.ndarray, pad: int) -> np.ndarray:
    """(N, T) bool: True at the positions before each row's first pad (its text)."""
    rows = np.asarray(rows)
    return ~np.maximum.accumulate(rows == pad, axis=1)


def text_lengths(rows: np.ndarray, pad: int) -> np.ndarray:
    """(N,) characters before each row's first pad (T where a row has none)."""
    return text_mask(rows, pad).sum(axis=1)


def cut_at_pad(rows: np.ndarray, pad: int) -> np.ndarray:
    """A copy in which everything from a row's first pad on is pad."""
    rows = np.array(rows, copy=True)
    rows[~text_mask(rows, pad)] = pad
    return rows


def rows_to_text(rows: np.ndarray, pad: int = int(PAD_CP)) -> list[str]:
    """(N, T) code points → N strings, each ended at its first pad; one decode for all rows."""
    rows = np.asarray(rows)
    if len(rows) == 0:
        return []
    n, t = rows.shape
    mask = text_mask(rows, pad)
    flat = np.where(mask, rows, 0).astype("<u4")
    text = flat.tobytes().decode("utf-32-le", "surrogatepass")
    lengths = mask.sum(axis=1)
    return [text[i * t: i * t + int(lengths[i])] for i in range(n)]

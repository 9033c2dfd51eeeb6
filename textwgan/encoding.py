"""Text → code points, chunk by chunk: the work `prepare` spreads over processes.

Kept free of torch so that a worker process starts in a fraction of a second and a few tens
of MB. Each chunk of raw lines is normalized (NFKC, optional lowercase, stripped), its
non-empty lines cut to seq_len and written as a (n, seq_len) uint32 matrix of code points
padded with PAD_CP, with the counts the charset and the report need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_CP = np.uint32(0xFFFFFFFF)  # beyond Unicode: never a character


def make_normalizer(lowercase: bool):
    from tokenizers import normalizers

    steps = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def normalize_chunk(lines: list[str], normalizer) -> list[str]:
    """Normalize lines in one Rust call and strip surrounding whitespace. Joining with newlines
    is safe: NFKC and lowercasing never create or remove a newline."""
    text = normalizer.normalize_str("\n".join(line.replace("\n", " ") for line in lines))
    return [s.strip() for s in text.split("\n")]


@dataclass
class Chunk:
    """One chunk's kept lines as code points, and what was counted on the way."""

    codepoints: np.ndarray  # (n_kept, seq_len) uint32, PAD_CP after each line's end
    lines_read: int
    empty: int
    truncated: int
    chars: np.ndarray  # distinct code points among the kept (cut) characters
    char_counts: np.ndarray  # how often each occurs


def codepoints(lines: list[str], seq_len: int, errors: str = "strict") -> np.ndarray:
    """Lines cut to seq_len → (N, seq_len) uint32 code points, PAD_CP after each line's end.
    `errors` is the UTF-32 encoder's: "surrogatepass" keeps a lone surrogate as its code."""
    out = np.full((len(lines), seq_len), PAD_CP, dtype=np.uint32)
    for row, line in enumerate(lines):
        cps = np.frombuffer(line[:seq_len].encode("utf-32-le", errors), np.uint32)
        out[row, : len(cps)] = cps
    return out


def encode_chunk(lines: list[str], normalizer, seq_len: int) -> Chunk:
    kept = [s for s in normalize_chunk(lines, normalizer) if s]
    out = codepoints(kept, seq_len, "surrogatepass")
    truncated = sum(len(line) > seq_len for line in kept)
    chars, counts = np.unique(out[out != PAD_CP], return_counts=True)
    return Chunk(out, len(lines), len(lines) - len(kept), truncated, chars, counts)


# Worker-process side: the normalizer is built once per process, not sent with every chunk.
_worker: dict = {}


def init_worker(lowercase: bool, seq_len: int) -> None:
    _worker["normalizer"] = make_normalizer(lowercase)
    _worker["seq_len"] = seq_len


def encode_in_worker(lines: list[str]) -> Chunk:
    return encode_chunk(lines, _worker["normalizer"], _worker["seq_len"])

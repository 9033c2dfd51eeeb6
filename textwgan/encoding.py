"""Text → code points, chunk by chunk: the work `prepare` spreads over processes.

Kept free of torch so that a worker process starts in a fraction of a second and a few tens
of MB. Each chunk of raw lines is normalized (NFKC, optional lowercase, stripped), and its
non-empty lines are cut to seq_len and written as a (n, seq_len) uint32 matrix of code points
padded with PAD_CP, with the counts the report needs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np

from .text import codepoints, make_normalizer, normalize_lines


@dataclass
class Chunk:
    """One chunk's kept lines as code points, and what was counted on the way."""

    codepoints: np.ndarray  # (n_kept, seq_len) uint32, PAD_CP after each line's end
    lines_read: int
    empty: int
    truncated: int


def encode_chunk(lines: list[str], normalizer, seq_len: int) -> Chunk:
    kept = [s for s in normalize_lines(lines, normalizer) if s]
    truncated = sum(len(line) > seq_len for line in kept)
    return Chunk(codepoints(kept, seq_len), len(lines), len(lines) - len(kept), truncated)


# Worker-process side: the normalizer is built once per process, not sent with every chunk.
_worker: dict = {}


def init_worker(lowercase: bool, seq_len: int, parent: int | None = None) -> None:
    # Ctrl-C reaches every process of the terminal's group: the parent decides to stop, and a
    # worker finishes its chunk quietly instead of printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        threading.Thread(target=_exit_without, args=(parent,), daemon=True).start()
    _worker["normalizer"] = make_normalizer(lowercase)
    _worker["seq_len"] = seq_len


def _exit_without(parent: int) -> None:
    """End this worker once its parent is gone (killed with -9, say): a worker blocked on
    its task queue would otherwise wait forever."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def encode_in_worker(lines: list[str]) -> Chunk:
    return encode_chunk(lines, _worker["normalizer"], _worker["seq_len"])

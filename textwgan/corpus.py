"""Corpus: a prepared corpus folder, loaded and checked. No torch here.

A corpus folder holds everything later steps need:

    meta.json      fingerprint of the sources and options, normalization, counts
    charset.json   the charset (pad, unk, characters by frequency)
    train.npy      (N_train, seq_len) charset indices, memory-mappable
    heldout.npy    (N_heldout, seq_len) charset indices: the test split, what `eval` and
                   model cards score against
    validation.npy (N_validation, seq_len): held-out lines set apart for training's own
                   evaluations and its choice of best.pt (corpora prepared before it existed
                   have none: training then evaluates on the test split)

Loading checks that the four files exist, parse, and agree with each other (shapes, counts,
indices inside the charset), so a damaged folder fails here with one clear line rather than
later inside training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .charset import Charset
from .errors import InputError, as_path
from .fileio import clean_stale
from .layout import (
    CHARSET_NAME,
    CORPUS_FORMAT,
    HELDOUT_NAME,
    META_NAME,
    TRAIN_NAME,
    VALIDATION_NAME,
    NotReadable,
    check_format,
    read_json,
    read_small,
)
from .text import MAX_SEQ_LEN, MIN_SEQ_LEN, make_normalizer

FORMAT, VERSION = CORPUS_FORMAT, 1
_SCAN_ROWS = 1 << 20  # rows checked per numpy call when validating indices
_PREPARE_AGAIN = "prepare the corpus again with `textwgan prepare`"


class Corpus:
    """A prepared corpus folder: metadata, charset, and the memory-mapped train/held-out arrays."""

    def __init__(self, path: str | Path):
        self.path = as_path(path, "corpus")
        if not self.path.is_dir():
            what = "is not a folder" if self.path.exists() else "does not exist"
            raise InputError(f"{self.path}: {what}; give a corpus folder made by "
                             "`textwgan prepare SOURCE --out DIR`")
        self.meta = _read_meta(self.path)
        self.seq_len: int = self.meta["seq_len"]
        try:
            text = read_small(self.path / CHARSET_NAME).decode("utf-8")
        except (NotReadable, UnicodeDecodeError):
            raise InputError(f"{self.path}: charset.json is missing or unreadable; "
                             f"{_PREPARE_AGAIN}") from None
        try:
            self.charset = Charset.from_json(text)
        except InputError as e:
            raise InputError(f"{self.path / 'charset.json'}: {e.message}; {_PREPARE_AGAIN}"
                             ) from None
        counts = self.meta["counts"]
        self.train = self._array(TRAIN_NAME, counts["train"])  # (N_train, T)
        self.heldout = self._array(HELDOUT_NAME, counts["heldout"])  # (N_test, T)
        self.validation = (self._array(VALIDATION_NAME, counts["validation"])  # (N_val, T)
                           if counts.get("validation") else None)
        self._normalizer = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def fingerprint(self) -> str:
        return str(self.meta.get("fingerprint") or "")

    @property
    def lowercase(self) -> bool:
        return bool(self.meta["normalization"]["lowercase"])

    def _array(self, name: str, rows: int) -> np.ndarray:
        path = self.path / name
        if path.exists() and not path.is_file():  # a FIFO would block np.load forever
            raise InputError(f"{path}: is not a regular file; {_PREPARE_AGAIN}")
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise InputError(f"{path}: missing; {_PREPARE_AGAIN}") from None
        except (OSError, ValueError, EOFError) as e:
            raise InputError(f"{path}: not a readable array (truncated or damaged: "
                             f"{str(e).splitlines()[0] if str(e) else e.__class__.__name__}); "
                             f"{_PREPARE_AGAIN}") from None
        if array.ndim != 2 or array.dtype.kind not in "ui":
            raise InputError(f"{path}: holds a {array.dtype} array of shape {array.shape}, not "
                             f"rows of charset indices; {_PREPARE_AGAIN}")
        if array.shape != (rows, self.seq_len):
            raise InputError(f"{path}: has shape {array.shape}, but meta.json says "
                             f"({rows}, {self.seq_len}); {_PREPARE_AGAIN}")
        if rows == 0:
            raise InputError(f"{path}: holds no sequences; {_PREPARE_AGAIN}")
        for start in range(0, rows, _SCAN_ROWS):
            block = np.asarray(array[start:start + _SCAN_ROWS])
            if block.min() < 0 or block.max() >= len(self.charset):
                raise InputError(f"{path}: holds indices outside the charset of "
                                 f"{len(self.charset)} symbols (charset.json and the arrays "
                                 f"disagree); {_PREPARE_AGAIN}")
        return array

    def normalize(self, lines: Sequence[str]) -> list[str]:
        """Apply this corpus's normalization to outside text (samples to score), no stripping."""
        if self._normalizer is None:
            self._normalizer = make_normalizer(self.lowercase)
        return [self._normalizer.normalize_str(line) for line in lines]

    def encode(self, lines: Sequence[str]) -> np.ndarray:
        """Outside text → (N, T) charset indices with this corpus's normalization."""
        return self.charset.encode_many(self.normalize(lines), self.seq_len)

    def decode(self, ids: np.ndarray) -> list[str]:
        return self.charset.decode_many(ids)

    def __repr__(self) -> str:
        return (f"Corpus({str(self.path)!r}: {len(self.train):,} training and "
                f"{len(self.heldout):,} held-out sequences of {self.seq_len}, "
                f"{len(self.charset)} symbols)")


def _read_meta(folder: Path) -> dict:
    path = folder / META_NAME
    try:
        meta = read_json(path)
    except NotReadable as e:
        if e.reason == "missing":
            raise InputError(f"{folder}: not a corpus folder (no meta.json); make one with "
                             "`textwgan prepare SOURCE --out DIR`") from None
        raise InputError(f"{path}: {e.reason}; {_PREPARE_AGAIN}") from None
    check_format(meta, FORMAT, "version", VERSION, folder, "corpus folder", _PREPARE_AGAIN)
    seq_len = meta.get("seq_len")
    counts = meta.get("counts")
    norm = meta.get("normalization")
    problems = []
    if not _is_int(seq_len) or not MIN_SEQ_LEN <= seq_len <= MAX_SEQ_LEN:
        problems.append(f"seq_len must be an integer from {MIN_SEQ_LEN} to {MAX_SEQ_LEN}, "
                        f"got {seq_len!r}")
    if not isinstance(counts, dict) or not all(_is_int(counts.get(k)) and counts[k] >= 0
                                               for k in ("train", "heldout")) \
            or not (_is_int(counts.get("validation", 0)) and counts.get("validation", 0) >= 0):
        problems.append("counts.train, counts.heldout and counts.validation must be sequence "
                        "counts")
    if not isinstance(norm, dict) or not isinstance(norm.get("lowercase"), bool):
        problems.append("normalization.lowercase must be true or false")
    if problems:
        raise InputError(f"{path}: {problems[0]}; {_PREPARE_AGAIN}")
    return meta


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def load_corpus(path: str | Path) -> Corpus:
    """A prepared corpus folder, checked; one that a prepare killed in the middle of
    replacing it left moved aside is put back first (loading a `Corpus` itself never moves
    anything)."""
    recover(as_path(path, "corpus"))
    return Corpus(path)


def recover(path: Path) -> None:
    """Where nothing is at `path` but a prepare killed mid-swap left the old folder aside
    under a temporary name, move it back (fileio.clean_stale): what every command that reads
    a corpus by its path does first."""
    if not path.exists():
        clean_stale(path.parent, path.name)

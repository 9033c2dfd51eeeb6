"""`prepare`: text sources → a corpus folder, streamed, in two passes, written atomically.

Pass 1 normalizes and cuts every line (in worker processes for large inputs), appends the
kept lines' code points to a scratch file, and counts the characters of the training lines.
Pass 2 maps code points to charset indices and appends them to the `.npy` arrays. No pass holds
more than a few chunks, so memory stays flat however large the input is. No torch here.

The folder appears whole or not at all, and `prepare` replaces only a folder that provably
holds nothing but a corpus it made: anything else at `out` is refused, never deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import types
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from . import __version__
from .assets import bundled_by_name, bundled_corpus_path
from .charset import UNK, Charset
from .corpus import FORMAT, VERSION, Corpus, recover
from .encoding import encode_chunk, encode_in_worker, init_worker
from .errors import MAX_SEED, InputError, TextWGANError, as_path, check_int, setting, share
from .fileio import (
    clean_stale,
    default_cache_dir,
    refuse_broken_link,
    replace_folder,
    temp_prefix,
    umask,
    write_failure,
)
from .layout import (
    CHARSET_NAME,
    CORPUS_FILES,
    HELDOUT_NAME,
    META_NAME,
    TRAIN_NAME,
    VALIDATION_NAME,
    corpus_shaped,
    is_corpus,
    json_text,
)
from .sources import HF_PREFIX, InvalidBytes, Source, open_sources
from .text import DEFAULT_SEQ_LEN, MAX_SEQ_LEN, MIN_SEQ_LEN, PAD_CP, make_normalizer

# Lines normalized per call into the Rust normalizer. It keeps ~40 bytes of alignment data per
# character, so 65,536 news lines cost 400 MB of peak memory; 4,096 cost 25 MB, as fast.
CHUNK_LINES = 4096
ENCODE_ROWS = 1 << 16  # rows mapped from code points to indices per numpy call
# Below this much input, `workers=0` encodes in-process: starting processes costs more.
PARALLEL_MIN_BYTES = 16 << 20
MAX_CHARS = 0x110000 + 2  # all of Unicode, pad and unk
# Changes what prepare writes for the same sources and options: part of the fingerprint, so
# corpora cached by an older textwgan are prepared again. r2: the charset comes from training
# lines only, also when the held-out lines are drawn by fraction.
PIPELINE_REVISION = 3  # r3: a validation split apart from the test split


@dataclass(frozen=True)
class PrepareOptions:
    seq_len: int = DEFAULT_SEQ_LEN
    heldout_fraction: float = 0.1
    heldout_file: str | None = None
    lowercase: bool = False
    max_chars: int = 2048  # gan_language.py's cap, pad and unk included
    seed: int = 0  # draws the held-out lines when splitting by fraction
    # Of the held-out lines, the share set apart as the validation split: training evaluates
    # on it and keeps best.pt by it, so the test split (eval, model cards) stays unseen by
    # checkpoint choice. Drawn with `seed`.
    validation_fraction: float = 0.2
    # Processes that normalize and encode (0: one per CPU, at most 8, for inputs over 16 MiB).
    # The output does not depend on it, so it is not part of the fingerprint.
    workers: int = 0

    def validate(self) -> PrepareOptions:
        check_int("seq_len", self.seq_len, MIN_SEQ_LEN, MAX_SEQ_LEN,
                f"(the JS-{MIN_SEQ_LEN} benchmark needs {MIN_SEQ_LEN} characters; a character "
                "GAN gains nothing from more than a few hundred)")
        if self.heldout_file is None:
            f = self.heldout_fraction
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
                raise InputError(f"{setting('heldout_fraction')} must lie strictly between 0 "
                                 f"and 1, got {f}")
        v = self.validation_fraction
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise InputError(f"{setting('validation_fraction')} must be at least 0 (no "
                             f"validation split) and below 1, got {v!r}")
        check_int("max_chars", self.max_chars, 3, MAX_CHARS, "(pad, unk and one character)")
        check_int("seed", self.seed, 0, MAX_SEED)
        check_int("workers", self.workers, 0, 256, "(0: one per CPU)")
        if not isinstance(self.lowercase, bool):
            raise InputError(f"{setting('lowercase')} must be true or false, "
                             f"got {self.lowercase!r}")
        return self

    def as_meta(self) -> dict:
        return {"seq_len": self.seq_len, "lowercase": self.lowercase, "max_chars": self.max_chars,
                "heldout": ({"file": Path(self.heldout_file).name} if self.heldout_file else
                            {"fraction": self.heldout_fraction, "seed": self.seed}),
                "validation": {"fraction": self.validation_fraction, "seed": self.seed}}


def fingerprint(sources: Sequence[Source], heldout: Sequence[Source], opts: PrepareOptions) -> str:
    """Hash of the sources' contents and every option that changes the output."""
    h = hashlib.sha256(f"{FORMAT}/{VERSION}/r{PIPELINE_REVISION}".encode())
    h.update(json.dumps(opts.as_meta(), sort_keys=True).encode())
    for group, srcs in (("train", sources), ("heldout", heldout)):
        for s in srcs:
            h.update(f"{group}:{s.fingerprint()}".encode())
    return h.hexdigest()


@dataclass
class _Scan:
    lines_read: int = 0
    empty: int = 0
    kept: int = 0
    truncated: int = 0
    invalid_bytes: int = 0
    held: int = 0  # kept lines drawn into the held-out split (fraction mode)

    def __add__(self, other: _Scan) -> _Scan:
        return _Scan(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class _Split:
    """Which kept lines are held out, in order: the i-th line is held out when the i-th
    uniform draw of `seed` falls below the fraction. Drawn chunk by chunk, the draws are those
    of one call for all lines, so both passes see the same split without an n-sized array."""

    def __init__(self, opts: PrepareOptions):
        self.rng = np.random.default_rng(opts.seed)
        self.fraction = opts.heldout_fraction

    def next(self, rows: int) -> np.ndarray:
        return self.rng.random(rows) < self.fraction


def _keep_chars(seq_len: int) -> int:
    """Characters of a raw line worth reading: enough that normalizing, stripping and cutting
    to seq_len give what the whole line would (NFKC changes length only a little)."""
    return 4 * seq_len + 256


def _raw_chunks(sources: Sequence[Source], seq_len: int,
                invalid: InvalidBytes) -> Iterator[list[str]]:
    chunk: list[str] = []
    for source in sources:
        for line in source.raw_lines(_keep_chars(seq_len), invalid):
            chunk.append(line)
            if len(chunk) == CHUNK_LINES:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _bounded_map(pool: ProcessPoolExecutor, fn, items: Iterator, window: int) -> Iterator:
    """`pool.map(fn, items)` in order, reading at most `window` items ahead (map reads its
    input as fast as it can, which would pull a whole corpus into memory). A worker that dies
    (killed, out of memory) fails every pending result at once: nothing waits on it."""
    pending: deque = deque()
    try:
        for item in items:
            with _sigint_blocked():  # a worker may start here: it inherits the blocked mask
                pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:
        raise TextWGANError("a prepare worker process ended unexpectedly (killed, or out of "
                            "memory); run prepare again, with --workers 1 to use no worker "
                            "processes") from None


@contextlib.contextmanager
def _encoder(opts: PrepareOptions, input_bytes: float):
    """A function from raw-line chunks to encoded `Chunk`s, in order: in this process, or
    spread over worker processes (spawned: they import no torch, start fast and stay small).

    Workers ignore SIGINT (Ctrl-C reaches the whole process group; the parent alone stops,
    and lets them finish their chunk), and end by themselves when the parent is gone, even
    after kill -9."""
    workers = opts.workers
    if workers == 0:
        workers = min(os.cpu_count() or 1, 8) if input_bytes >= PARALLEL_MIN_BYTES else 1
    if workers <= 1:
        normalizer = make_normalizer(opts.lowercase)
        yield lambda chunks: (encode_chunk(c, normalizer, opts.seq_len) for c in chunks)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker,
                               initargs=(opts.lowercase, opts.seq_len, os.getpid()))
    try:
        with _main_not_imported_by_workers():
            yield lambda chunks: _bounded_map(pool, encode_in_worker, chunks, 2 * workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _sigint_blocked():
    """SIGINT blocked in this thread for the block: a process started here keeps it blocked
    (masks survive fork and exec), so a Ctrl-C while a worker's interpreter starts cannot kill
    it with a traceback. The parent still gets it, through another thread or at the end."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


@contextlib.contextmanager
def _main_not_imported_by_workers():
    """A spawned worker imports the parent's main script before it runs anything; a script
    that calls `textwgan.prepare` without an `if __name__ == "__main__":` guard would then
    prepare again in every worker, which spawns workers in turn. The workers need nothing from
    that script (their code lives in textwgan.encoding), so while they start, the main module
    they would import is a bare one."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _count_chars(rows: np.ndarray, counts: Counter) -> None:
    cps, n = np.unique(rows[rows != PAD_CP], return_counts=True)
    counts.update(dict(zip(map(chr, cps.tolist()), n.tolist(), strict=True)))


def _scan_to_file(sources: Sequence[Source], encode, seq_len: int, path: Path,
                  counts: Counter | None, split: _Split | None) -> _Scan:
    """Pass 1: normalize and cut every line, append the kept ones' code points to `path`
    (uint32, seq_len per line), count lines, and count the characters of the lines that will
    be training lines (all of them, or those `split` does not hold out) into `counts`."""
    scan = _Scan()
    invalid = InvalidBytes()
    with open(path, "wb") as f:
        for chunk in encode(_raw_chunks(sources, seq_len, invalid)):
            rows = chunk.codepoints  # (n, T)
            f.write(rows.tobytes())
            scan.lines_read += chunk.lines_read
            scan.empty += chunk.empty
            scan.kept += len(rows)
            scan.truncated += chunk.truncated
            if split is not None:
                held = split.next(len(rows))
                scan.held += int(held.sum())
                rows = rows[~held]
            if counts is not None:
                _count_chars(rows, counts)
    scan.invalid_bytes = invalid.count
    return scan


class _NpyWriter:
    """Appends rows to a .npy file of known shape with plain writes: unlike a writable memory
    map, written pages do not stay in the process's memory."""

    def __init__(self, path: Path, dtype: np.dtype, shape: tuple[int, int]):
        self.f = open(path, "wb")
        np.lib.format.write_array_header_1_0(self.f, {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
            "shape": shape})
        self.rows, self.expected = 0, shape[0]

    def write(self, rows: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(rows).tobytes())
        self.rows += len(rows)

    def close(self) -> None:
        self.f.close()
        if self.rows != self.expected:
            raise RuntimeError(f"wrote {self.rows} rows, expected {self.expected}")


def _encode_file(path: Path, seq_len: int, charset: Charset, split: _Split | None,
                 train: _NpyWriter, held: _NpyWriter | None) -> tuple[int, int]:
    """Pass 2: code points → charset indices, block by block, into `train` (or split by
    `split` into train and held). Returns the characters and unknown characters written."""
    chars = unk = 0
    with open(path, "rb") as f:
        while True:
            block = np.fromfile(f, dtype=np.uint32, count=ENCODE_ROWS * seq_len)
            if not block.size:
                break
            block = block.reshape(-1, seq_len)  # (R, T)
            ids = charset.lookup(block)  # (R, T)
            chars += int((block != PAD_CP).sum())
            unk += int((ids == UNK).sum())
            if split is None:
                train.write(ids)
            else:
                mask = split.next(len(ids))
                train.write(ids[~mask])
                held.write(ids[mask])
    return chars, unk


def _real(out: Path) -> Path:
    """A symlink to a folder is replaced where it points (the link stays a link)."""
    refuse_broken_link(out)
    return out.resolve() if out.is_symlink() else out


def prepare_command(meta: dict, out) -> str:
    """The `textwgan prepare` command that makes this corpus folder again from its sources
    (named as meta.json records them) with its options: what a hint can say when the
    corpus is gone."""
    import shlex

    defaults = PrepareOptions()
    parts = ["textwgan prepare", *map(shlex.quote, meta.get("sources") or ["SOURCE"])]
    held = meta.get("heldout") or {}
    if held.get("file"):
        parts += ["--heldout-file", shlex.quote(held["file"])]
    elif held.get("fraction", defaults.heldout_fraction) != defaults.heldout_fraction:
        parts += ["--heldout-fraction", f"{held['fraction']:g}"]
    for flag, value, default in (
            ("--seed", held.get("seed", 0), defaults.seed),
            ("--seq-len", meta.get("seq_len"), defaults.seq_len),
            ("--max-chars", meta.get("max_chars"), defaults.max_chars),
            ("--validation-fraction", (meta.get("validation") or {}).get("fraction"),
             defaults.validation_fraction)):
        if value is not None and value != default:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if meta.get("lowercase"):
        parts.append("--lowercase")
    return " ".join([*parts, "--out", shlex.quote(str(out))])


def check_out_folder(out: Path) -> None:
    """Refuse an `out` that prepare must not replace: a file, or a folder that is not a corpus
    prepare made, or one that also holds other files (a user's notes, a run)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; give {setting('out')} the name "
                         "of a corpus folder to create")
    entries = sorted(e.name for e in os.scandir(out))
    if not entries:
        return
    if not is_corpus(out):
        shown = ", ".join(entries[:4]) + (", …" if len(entries) > 4 else "")
        raise InputError(f"{out}: exists and is not a corpus folder made by textwgan (it holds "
                         f"{shown}); choose another {setting('out')}: prepare replaces only "
                         "its own corpus folders")
    foreign = [e for e in entries if e not in CORPUS_FILES]
    if foreign:
        shown = ", ".join(foreign[:4]) + (", …" if len(foreign) > 4 else "")
        raise InputError(f"{out}: is a corpus folder that also holds other files ({shown}); "
                         "prepare replaces only folders that hold nothing else: move them "
                         f"out, or choose another {setting('out')}")


def prepare(sources: Sequence[str] | str, out: str | Path, *,
            options: PrepareOptions | None = None, **settings) -> Corpus:
    """Prepare text sources (files, folders, `-` for standard input, `hf:NAME`) into the
    corpus folder `out`, atomically, and return it loaded. Settings are those of
    `PrepareOptions` (seq_len, heldout_fraction, heldout_file, lowercase, max_chars, seed,
    workers), given as keywords or as `options`."""
    if isinstance(sources, (str, os.PathLike)) and not isinstance(sources, bytes):
        sources = [str(sources)]
    if not isinstance(sources, (list, tuple)):
        raise InputError(f"{setting('sources')} must be a path or a list of paths (str or "
                         f"pathlib.Path), got {type(sources).__name__} {sources!r}")
    opts = _options(options, settings)
    out = _real(as_path(out, "out"))
    check_out_folder(out)
    held_out = open_sources([opts.heldout_file]) if opts.heldout_file else \
        contextlib.nullcontext([])
    with open_sources(list(sources)) as srcs, held_out as held:
        prepare_sources(srcs, held, out, opts)
    return Corpus(out)


def _options(options: PrepareOptions | None, settings: dict) -> PrepareOptions:
    names = {f.name for f in fields(PrepareOptions)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise InputError(f"unknown prepare setting {unknown[0]!r}; known: {', '.join(names)}")
    if options is not None and not isinstance(options, PrepareOptions):
        raise InputError(f"{setting('options')} must be a PrepareOptions, got "
                         f"{type(options).__name__}")
    opts = options or PrepareOptions()
    if settings:
        opts = PrepareOptions(**{f.name: getattr(opts, f.name) for f in fields(opts)} | settings)
    return opts.validate()


def prepare_sources(srcs: Sequence[Source], held_srcs: Sequence[Source], out: Path,
                    opts: PrepareOptions, fp: str | None = None) -> dict:
    """The pipeline on sources already opened; returns the metadata written."""
    _check_heldout_apart(srcs, held_srcs)
    out = _real(out)
    fp = fp or fingerprint(srcs, held_srcs, opts)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out.parent, out.name)  # what a killed prepare left here
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), suffix=".tmp",
                                    dir=out.parent))
    except OSError as e:
        raise InputError(f"{out}: cannot write the corpus folder here ({e.strerror})") from None
    try:
        tmp.chmod(0o777 & ~umask())  # mkdtemp makes 0700; a corpus is as shareable as a file
        meta = _build(srcs, held_srcs, tmp, opts, fp)
        _replace_dir(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise write_failure(out, e, kept=out.exists()) from None
        raise
    return meta


def _check_heldout_apart(srcs: Sequence[Source], held_srcs: Sequence[Source]) -> None:
    """A held-out file that is one of the training sources (or a copy of one) would score
    generators against their own training text: JS 0 for copying."""
    for held in held_srcs:
        for src in srcs:
            if held.path is None or src.path is None:
                continue
            same = os.path.samefile(held.path, src.path) or (
                held.size() == src.size() and held.fingerprint() == src.fingerprint())
            if same:
                raise InputError(f"{held.spec}: the held-out file is also a training source "
                                 f"({src.spec}); scores against it would reward copying: give "
                                 "text kept apart from training, or leave "
                                 f"{setting('heldout_file')} out to hold out a fraction")


UNK_WARN = 0.01  # a share of characters turned into unk worth a warning
CUT_WARN = 0.5  # a share of lines cut to seq_len worth a warning
SPACED_WARN = 0.4  # a share of spaces only text with a space between characters reaches


def preparation_warnings(meta: dict) -> list[str]:
    """What preparing did that may not be what the user wants, one line each, with the
    option that changes it. `prepare` and `train FILE` print the same."""
    c, out = meta["counts"], []
    if c["kept"] and c["truncated"] / c["kept"] > CUT_WARN:
        out.append(f"{share(c['truncated'], c['kept'])} of the lines were cut to "
                   f"{meta['seq_len']} characters; a larger {setting('seq_len')} keeps more of "
                   "each line (training then costs more per step)")
    if c["unk_rate"] > UNK_WARN:
        out.append(f"{c['unk_rate']:.1%} of the characters became unk: the charset keeps the "
                   f"{c['charset_size'] - 2:,} most frequent of {c['distinct_chars']:,}; a "
                   f"larger {setting('max_chars')} keeps more")
    if c.get("space_share", 0) > SPACED_WARN:
        out.append(f"{c['space_share']:.0%} of the characters are spaces: the text looks like "
                   "characters separated by spaces, so only half as many fit in "
                   f"{meta['seq_len']} positions; remove the spaces first, or give a larger "
                   f"{setting('seq_len')}")
    return out


def _build(srcs: Sequence[Source], held_srcs: Sequence[Source], tmp: Path,
           opts: PrepareOptions, fp: str) -> dict:
    counts: Counter = Counter()
    split = None if held_srcs else _Split(opts)
    with _encoder(opts, sum(s.size() for s in [*srcs, *held_srcs])) as encode:
        scan = _scan_to_file(srcs, encode, opts.seq_len, tmp / "train.u32", counts, split)
        # The charset comes from training lines only: the model cannot produce what it never
        # saw, and the held-out text must stay unseen.
        held_scan = (_scan_to_file(held_srcs, encode, opts.seq_len, tmp / "heldout.u32",
                                   None, None) if held_srcs else None)
    _check_scans(srcs, scan, held_scan, opts)
    charset = Charset.from_counts(counts, opts.max_chars)
    n_held = held_scan.kept if held_scan is not None else scan.held
    n_train = scan.kept - (0 if held_scan is not None else scan.held)

    train = _NpyWriter(tmp / TRAIN_NAME, charset.dtype, (n_train, opts.seq_len))
    held = _NpyWriter(tmp / HELDOUT_NAME, charset.dtype, (n_held, opts.seq_len))
    if held_scan is None:
        n_chars, n_unk = _encode_file(tmp / "train.u32", opts.seq_len, charset, _Split(opts),
                                      train, held)
    else:
        n_chars, n_unk = _encode_file(tmp / "train.u32", opts.seq_len, charset, None, train,
                                      None)
        h_chars, h_unk = _encode_file(tmp / "heldout.u32", opts.seq_len, charset, None, held,
                                      None)
        n_chars, n_unk = n_chars + h_chars, n_unk + h_unk
    train.close()
    held.close()
    for scratch in tmp.glob("*.u32"):
        scratch.unlink()
    n_val = _set_validation_apart(tmp, opts, charset.dtype)
    meta = _meta(srcs, held_srcs, opts, fp, scan + (held_scan or _Scan()), counts, charset,
                 (n_train, n_held - n_val, n_chars, n_unk))
    meta["counts"]["validation"] = n_val
    (tmp / CHARSET_NAME).write_text(charset.to_json(), encoding="utf-8")
    (tmp / META_NAME).write_text(json_text(meta), encoding="utf-8")
    return meta


MIN_VALIDATION_HELD = 20  # below this many held-out lines, all of them are the test split


def _set_validation_apart(tmp: Path, opts: PrepareOptions, dtype) -> int:
    """Split the held-out rows into validation.npy (a `validation_fraction` of them, drawn
    with the seed) and the test split left in heldout.npy, a block at a time; the number of
    validation rows (0: too few held-out lines, or none asked for)."""
    held = np.load(tmp / HELDOUT_NAME, mmap_mode="r")
    rows, seq_len = held.shape
    if not opts.validation_fraction or rows < MIN_VALIDATION_HELD:
        return 0
    rng = np.random.default_rng([opts.seed, 1])  # apart from the held-out draw of `seed`
    chosen = rng.random(rows) < opts.validation_fraction
    chosen[0] = chosen[0] or not chosen.any()  # at least one line on each side
    chosen[-1] = chosen[-1] and not chosen.all()
    n_val = int(chosen.sum())
    val = _NpyWriter(tmp / VALIDATION_NAME, dtype, (n_val, seq_len))
    test = _NpyWriter(tmp / "test.npy.part", dtype, (rows - n_val, seq_len))
    for start in range(0, rows, ENCODE_ROWS):
        block, mask = np.asarray(held[start:start + ENCODE_ROWS]), chosen[start:start + ENCODE_ROWS]
        val.write(block[mask])
        test.write(block[~mask])
    val.close()
    test.close()
    del held
    (tmp / "test.npy.part").rename(tmp / HELDOUT_NAME)  # inside the unpublished folder
    return n_val


def _check_scans(srcs: Sequence[Source], scan: _Scan, held_scan: _Scan | None,
                 opts: PrepareOptions) -> None:
    """Lines enough to learn from and to score against, or one line on what is missing."""
    names = ", ".join(s.spec for s in srcs)
    if scan.kept == 0:
        raise InputError(f"{names}: no non-empty lines to learn from ({scan.lines_read:,} lines "
                         "read, all blank)")
    if held_scan is not None and held_scan.kept == 0:
        raise InputError(f"{opts.heldout_file}: held-out file has no non-empty lines")
    if held_scan is None and scan.held in (0, scan.kept):
        raise InputError(f"{setting('heldout_fraction')} {opts.heldout_fraction} leaves "
                         f"{'no held-out' if scan.held == 0 else 'no training'} lines out of "
                         f"{scan.kept:,}; change the fraction or give a held-out file "
                         f"({setting('heldout_file')})")


def _meta(srcs: Sequence[Source], held_srcs: Sequence[Source], opts: PrepareOptions, fp: str,
          total: _Scan, counts: Counter, charset: Charset, sizes: tuple[int, int, int, int],
          ) -> dict:
    """meta.json: where the corpus came from, how it was made, and what preparing counted."""
    n_train, n_held, n_chars, n_unk = sizes
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_by": f"textwgan {__version__}",
        "fingerprint": fp,
        "sources": [s.name for s in srcs],
        "heldout_sources": [s.name for s in held_srcs],
        "normalization": {"unicode": "NFKC", "lowercase": opts.lowercase, "strip": True},
        "line_policy": "each non-empty line (after normalization and stripping) is one "
                       "example, cut to seq_len characters and right-padded with pad",
        "charset_source": "training lines",
        **opts.as_meta(),
        "counts": {
            "lines_read": total.lines_read,
            "empty": total.empty,
            "kept": total.kept,
            "truncated": total.truncated,
            "invalid_utf8_bytes": total.invalid_bytes,
            "train": n_train,
            "heldout": n_held,
            "charset_size": len(charset),
            "distinct_chars": len(counts),
            "chars": n_chars,
            "unk_chars": n_unk,
            "unk_rate": n_unk / max(n_chars, 1),
            # spaces among the training lines' characters: text that puts a space between
            # every character (some Chinese corpora) fits half as much in seq_len
            "space_share": counts.get(" ", 0) / max(sum(counts.values()), 1),
        },
    }


def _replace_dir(new: Path, out: Path) -> None:
    """Put folder `new` at `out`: readers see the old corpus or the new one, never a mixture
    and never none. `out` is checked again here: it may have changed while the corpus was
    being built."""
    check_out_folder(out)
    replace_folder(new, out)


def resolve_corpus(spec: str | Path | Corpus | None, *, seq_len: int | None = None,
                   lowercase: bool | None = None, log=lambda message: None) -> Corpus:
    """A corpus from what `train` was given: nothing (the bundled corpus), a Corpus, a corpus
    folder, or text (file, folder, `-`, hf:) prepared into a cached folder that is reused while
    the sources' fingerprint matches. `seq_len` and `lowercase` (None: not asked for) shape
    text being prepared; a corpus already prepared with other values is refused."""
    if spec is not None and not isinstance(spec, (Corpus, str, os.PathLike)) \
            or isinstance(spec, bytes):
        raise InputError(f"{setting('corpus')} must be a corpus folder, a text file or a "
                         f"bundled corpus's name (a str or a pathlib.Path) or a Corpus, got "
                         f"{type(spec).__name__} {spec!r}")
    if isinstance(spec, (str, os.PathLike)):
        recover(Path(spec))  # a corpus a killed prepare left moved aside comes back first
    if isinstance(spec, Corpus):
        corpus = spec
    elif bundled_by_name(spec) is not None:
        corpus = Corpus(bundled_by_name(spec))
    elif spec is None:
        path = bundled_corpus_path()
        if not corpus_shaped(path):
            raise TextWGANError(f"the bundled corpus is missing at {path}; reinstall textwgan")
        corpus = Corpus(path)
    elif corpus_shaped(spec):
        corpus = Corpus(spec)
    else:
        return _cached_corpus(str(spec), PrepareOptions(
            seq_len=DEFAULT_SEQ_LEN if seq_len is None else seq_len,
            lowercase=False if lowercase is None else lowercase).validate(), log)
    check_prepared(corpus, seq_len=seq_len, lowercase=lowercase)
    return corpus


def check_prepared(corpus: Corpus, *, seq_len: int | None = None,
                   lowercase: bool | None = None) -> None:
    """Refuse settings that only preparing could honour, when the corpus is already prepared."""
    for name, asked, has in (("seq_len", seq_len, corpus.seq_len),
                             ("lowercase", lowercase, corpus.lowercase)):
        if asked is not None and asked != has:
            raise InputError(f"{corpus.path}: is already prepared with {name} {has}, so "
                             f"{setting(name)} {asked} cannot apply; leave it out, or prepare "
                             f"the text again with `textwgan prepare`")


def _cached_corpus(spec: str, opts: PrepareOptions, log) -> Corpus:
    with open_sources([spec]) as srcs:
        fp = fingerprint(srcs, [], opts)
        stem = "stdin" if spec == "-" else (
            Path(spec.removeprefix(HF_PREFIX)).name.replace(":", "_") or "corpus")
        cached = default_cache_dir() / "corpora" / f"{stem}-{fp[:12]}"
        if corpus_shaped(cached):
            try:
                corpus = Corpus(cached)
            except InputError:
                corpus = None  # damaged: prepared again below
            if corpus is not None and corpus.fingerprint == fp:
                log(f"reusing prepared corpus {cached}")
                return corpus
        log(f"preparing {spec} into {cached}")
        prepare_sources(srcs, [], cached, opts, fp)
    return Corpus(cached)

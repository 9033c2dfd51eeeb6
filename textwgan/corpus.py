"""Corpora: prepare sources into a corpus folder, load one, and draw training batches.

A corpus folder holds everything later steps need:

    meta.json      fingerprint of the sources and options, normalization, counts
    charset.json   the charset (pad, unk, characters by frequency)
    train.npy      (N_train, seq_len) charset indices, memory-mappable
    heldout.npy    (N_heldout, seq_len) charset indices: the evaluation reference

Preparation streams its sources twice (count characters, then encode), so only the encoded
arrays, never the text, are held whole.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .charset import UNK, Charset
from .distributed import SINGLE, Shard
from .encoding import (
    PAD_CP,
    encode_chunk,
    encode_in_worker,
    init_worker,
    make_normalizer,
)
from .errors import InputError, TextWGANError
from .fileio import umask

FORMAT, VERSION = "textwgan.corpus", 1
# Lines normalized per call into the Rust normalizer. It keeps ~40 bytes of alignment data per
# character, so 65,536 news lines cost 400 MB of peak memory; 4,096 cost 25 MB, as fast.
CHUNK_LINES = 4096
BUNDLED = Path(__file__).resolve().parent.parent / "corpora" / "coco"
HF_PREFIX = "hf:"


# ---------------------------------------------------------------------------------------------
# Sources


@dataclass(frozen=True)
class Source:
    """One input: a text file, or a Hugging Face dataset (`hf:NAME[:CONFIG[:SPLIT]]`)."""

    spec: str
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else self.spec

    def raw_lines(self, keep_chars: int = 1 << 30) -> Iterator[str]:
        """Lines without their ends, each cut to at most `keep_chars` characters after its
        leading whitespace, so one endless line never has to fit in memory."""
        if self.path is not None:
            yield from _file_lines(self.path, keep_chars)
        else:
            for line in _hf_lines(self.spec):
                yield line.lstrip()[:keep_chars]

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        if self.path is not None:
            with open(self.path, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
        else:
            h.update(_hf_dataset(self.spec)._fingerprint.encode())
        return h.hexdigest()


class _InvalidBytes:
    """Counts bytes that are not UTF-8; each one is read as U+FFFD rather than stopping."""

    count = 0

    @classmethod
    def handler(cls, err: UnicodeDecodeError) -> tuple[str, int]:
        cls.count += err.end - err.start
        return "\ufffd" * (err.end - err.start), err.end


codecs.register_error("textwgan.count", _InvalidBytes.handler)
READ_BLOCK = 1 << 20


def _file_lines(path: Path, keep_chars: int) -> Iterator[str]:
    """Stream a file's lines: UTF-8 (bad bytes counted and replaced), a leading BOM dropped,
    \n, \r\n and a lone \r all ending a line. Reads fixed-size blocks, never a whole line."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="textwgan.count")
    partial, carry, first = "", "", True
    with open(path, "rb") as f:
        while True:
            block = f.read(READ_BLOCK)
            text = carry + decoder.decode(block, final=not block)
            carry = ""
            if first:
                text, first = text.removeprefix("\ufeff"), False
            if block and text.endswith("\r"):  # maybe half of a \r\n: wait for the next block
                text, carry = text[:-1], "\r"
            pieces = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            for piece in pieces[:-1]:
                yield (partial + piece).lstrip()[:keep_chars]
                partial = ""
            # The unfinished line: leading whitespace is dropped (strip would drop it later)
            # and only what can matter after cutting is kept.
            partial = (partial + pieces[-1]).lstrip()[:keep_chars]
            if not block:
                break
    if partial:
        yield partial


def resolve_sources(specs: Sequence[str]) -> list[Source]:
    """Expand files, folders (every non-hidden text file below, sorted) and hf: specs."""
    if not specs:
        raise InputError("no source given: name a text file, a folder of text files or hf:NAME")
    sources: list[Source] = []
    for spec in specs:
        if spec.startswith(HF_PREFIX):
            sources.append(Source(spec))
            continue
        path = Path(spec)
        if not path.exists():
            raise InputError(f"{spec}: no such file or folder")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts)
                           and not _looks_binary(p))
            if not files:
                raise InputError(f"{spec}: folder holds no text files")
            sources.extend(Source(str(p), p) for p in files)
        else:
            if _looks_binary(path):
                raise InputError(f"{spec}: looks like a binary file (it has NUL bytes), "
                                 "not text; give a UTF-8 text file, one example per line")
            sources.append(Source(spec, path))
    return sources


def _looks_binary(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return b"\0" in f.read(8192)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None


def _parse_hf(spec: str) -> tuple[str, str | None, str]:
    parts = spec[len(HF_PREFIX):].split(":")
    if not parts[0] or len(parts) > 3:
        raise InputError(f"{spec}: expected hf:NAME, hf:NAME:CONFIG or hf:NAME:CONFIG:SPLIT")
    name = parts[0]
    config = parts[1] if len(parts) > 1 and parts[1] else None
    split = parts[2] if len(parts) > 2 and parts[2] else "train"
    return name, config, split


def _hf_dataset(spec: str):
    """Load a dataset split with Hugging Face `datasets` (a hub name or a local folder)."""
    name, config, split = _parse_hf(spec)
    import datasets  # a required dependency, imported late: it takes seconds

    try:
        saved = Path(name)
        if (saved / "state.json").exists() or (saved / "dataset_dict.json").exists():
            ds = datasets.load_from_disk(name)
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[split]
        else:
            ds = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # datasets raises many types: network, missing split, bad config
        raise InputError(f"{spec}: could not load the dataset ({e.__class__.__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    return ds


def _hf_lines(spec: str) -> Iterator[str]:
    ds = _hf_dataset(spec)
    column = _text_column(spec, ds.features)
    for batch in ds.iter(batch_size=CHUNK_LINES):
        for text in batch[column]:
            # A record may hold several lines; each non-empty line is one example, as for files.
            yield from (text or "").splitlines()


def _text_column(spec: str, features) -> str:
    if "text" in features:
        return "text"
    strings = [k for k, v in features.items() if getattr(v, "dtype", None) in ("string",
                                                                               "large_string")]
    if len(strings) == 1:
        return strings[0]
    raise InputError(f"{spec}: no 'text' column and {len(strings)} string columns "
                     f"({', '.join(strings) or 'none'}); rename the text column to 'text'")


# ---------------------------------------------------------------------------------------------
# Normalization


# ---------------------------------------------------------------------------------------------
# Prepare


@dataclass(frozen=True)
class PrepareOptions:
    seq_len: int = 32
    heldout_fraction: float = 0.1
    heldout_file: str | None = None
    lowercase: bool = False
    max_chars: int = 2048
    seed: int = 0  # draws the held-out lines when splitting by fraction
    # Processes that normalize and encode (0: one per CPU, at most 8, for inputs over 16 MiB).
    # The output does not depend on it, so it is not part of the fingerprint.
    workers: int = 0

    def validate(self) -> PrepareOptions:
        if self.seq_len < 1:
            raise InputError(f"--seq-len must be at least 1, got {self.seq_len}")
        if self.seq_len > 4096:
            raise InputError(f"--seq-len {self.seq_len} is absurd for a character GAN; "
                             "use at most 4096")
        if self.heldout_file is None and not 0 < self.heldout_fraction < 1:
            raise InputError(f"--heldout-fraction must lie strictly between 0 and 1, "
                             f"got {self.heldout_fraction}")
        if self.max_chars < 3:
            raise InputError(f"--max-chars must be at least 3, got {self.max_chars}")
        if self.workers < 0:
            raise InputError(f"--workers must be 0 (one per CPU) or more, got {self.workers}")
        return self

    def as_meta(self) -> dict:
        return {"seq_len": self.seq_len, "lowercase": self.lowercase, "max_chars": self.max_chars,
                "heldout": ({"file": Path(self.heldout_file).name} if self.heldout_file else
                            {"fraction": self.heldout_fraction, "seed": self.seed})}


def fingerprint(sources: Sequence[Source], heldout: Sequence[Source], opts: PrepareOptions) -> str:
    """Hash of the sources' contents and every option that changes the output."""
    h = hashlib.sha256(f"{FORMAT}/{VERSION}".encode())
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

    def __add__(self, other: _Scan) -> _Scan:
        return _Scan(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def _keep_chars(seq_len: int) -> int:
    """Characters of a raw line worth reading: enough that normalizing, stripping and cutting
    to seq_len give what the whole line would (NFKC changes length only a little)."""
    return 4 * seq_len + 256


def _raw_chunks(sources: Sequence[Source], seq_len: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for source in sources:
        for line in source.raw_lines(_keep_chars(seq_len)):
            chunk.append(line)
            if len(chunk) == CHUNK_LINES:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _bounded_map(pool, fn, items: Iterator, window: int) -> Iterator:
    """`pool.imap(fn, items)` that reads at most `window` items ahead (imap reads its input
    as fast as it can, which would pull a whole corpus into memory)."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.apply_async(fn, (item,)))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


# Below this much input, `workers=0` encodes in-process: starting processes costs more.
PARALLEL_MIN_BYTES = 16 << 20


def _input_bytes(sources: Sequence[Source]) -> float:
    return sum(s.path.stat().st_size if s.path is not None else float("inf") for s in sources)


@contextlib.contextmanager
def _encoder(opts: PrepareOptions, input_bytes: float):
    """A function from raw-line chunks to encoded `Chunk`s, in order: in this process, or
    spread over worker processes (spawned: they import no torch, start fast and stay small)."""
    workers = opts.workers
    if workers == 0:
        workers = min(os.cpu_count() or 1, 8) if input_bytes >= PARALLEL_MIN_BYTES else 1
    if workers <= 1:
        normalizer = make_normalizer(opts.lowercase)
        yield lambda chunks: (encode_chunk(c, normalizer, opts.seq_len) for c in chunks)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=init_worker,
                  initargs=(opts.lowercase, opts.seq_len)) as pool:
        yield lambda chunks: _bounded_map(pool, encode_in_worker, chunks, 2 * workers)


def _scan_to_file(sources: Sequence[Source], encode, seq_len: int, path: Path,
                  counts: Counter) -> _Scan:
    """Pass 1: normalize and cut every line, append the kept ones' code points to `path`
    (uint32, seq_len per line), and count lines and characters."""
    scan = _Scan()
    before = _InvalidBytes.count
    with open(path, "wb") as f:
        for chunk in encode(_raw_chunks(sources, seq_len)):
            f.write(chunk.codepoints.tobytes())
            scan.lines_read += chunk.lines_read
            scan.empty += chunk.empty
            scan.kept += len(chunk.codepoints)
            scan.truncated += chunk.truncated
            counts.update(dict(zip(map(chr, chunk.chars.tolist()), chunk.char_counts.tolist(),
                                   strict=True)))
    scan.invalid_bytes = _InvalidBytes.count - before
    return scan


ENCODE_ROWS = 1 << 16  # rows mapped from code points to indices per numpy call


def _heldout_masks(n: int, opts: PrepareOptions) -> Iterator[np.ndarray]:
    """Which of n lines are held out, ENCODE_ROWS at a time: the same draws as one call of
    size n, without an n-sized array."""
    rng = np.random.default_rng(opts.seed)
    for start in range(0, n, ENCODE_ROWS):
        yield rng.random(min(ENCODE_ROWS, n - start)) < opts.heldout_fraction


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
        assert self.rows == self.expected, (self.rows, self.expected)


def _encode_file(path: Path, seq_len: int, charset: Charset, masks: Iterator | None,
                 train: _NpyWriter, held: _NpyWriter | None) -> tuple[int, int]:
    """Pass 2: code points → charset indices, block by block, into `train` (or split by
    `masks` into train and held). Returns the characters and unknown characters written."""
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
            if masks is None:
                train.write(ids)
            else:
                mask = next(masks)
                train.write(ids[~mask])
                held.write(ids[mask])
    return chars, unk


def prepare(sources: Sequence[str], out: str | Path, opts: PrepareOptions | None = None,
            ) -> dict:
    """Prepare SOURCES into the corpus folder OUT, atomically. Returns the metadata dict."""
    opts = (opts or PrepareOptions()).validate()
    srcs = resolve_sources(sources)
    held_srcs = resolve_sources([opts.heldout_file]) if opts.heldout_file else []
    fp = fingerprint(srcs, held_srcs, opts)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as e:
        raise InputError(f"{out}: cannot write the corpus folder here ({e.strerror})") from None
    tmp.chmod(0o777 & ~umask())  # mkdtemp makes 0700; a corpus folder is as shareable as a file
    try:
        counts: Counter = Counter()
        with _encoder(opts, _input_bytes(srcs + held_srcs)) as encode:
            scan = _scan_to_file(srcs, encode, opts.seq_len, tmp / "train.u32", counts)
            # The charset comes from training text only: the model cannot produce what it
            # never saw.
            held_scan = (_scan_to_file(held_srcs, encode, opts.seq_len, tmp / "heldout.u32",
                                       Counter()) if held_srcs else None)
        if scan.kept == 0:
            raise InputError(f"{', '.join(sources)}: no non-empty lines to learn from "
                             f"({scan.lines_read} lines read, all blank)")
        if held_scan is not None and held_scan.kept == 0:
            raise InputError(f"{opts.heldout_file}: held-out file has no non-empty lines")
        charset = Charset.from_counts(counts, opts.max_chars)

        if held_scan is None:
            n_held = sum(int(m.sum()) for m in _heldout_masks(scan.kept, opts))
            if n_held == 0 or n_held == scan.kept:
                raise InputError(f"--heldout-fraction {opts.heldout_fraction} leaves "
                                 f"{'no held-out' if n_held == 0 else 'no training'} lines out "
                                 f"of {scan.kept}; change the fraction or give --heldout-file")
        else:
            n_held = held_scan.kept
        n_train = scan.kept - (n_held if held_scan is None else 0)

        train = _NpyWriter(tmp / "train.npy", charset.dtype, (n_train, opts.seq_len))
        held = _NpyWriter(tmp / "heldout.npy", charset.dtype, (n_held, opts.seq_len))
        if held_scan is None:
            n_chars, n_unk = _encode_file(tmp / "train.u32", opts.seq_len, charset,
                                          _heldout_masks(scan.kept, opts), train, held)
        else:
            n_chars, n_unk = _encode_file(tmp / "train.u32", opts.seq_len, charset, None,
                                          train, None)
            h_chars, h_unk = _encode_file(tmp / "heldout.u32", opts.seq_len, charset, None,
                                          held, None)
            n_chars, n_unk = n_chars + h_chars, n_unk + h_unk
        train.close()
        held.close()
        for scratch in tmp.glob("*.u32"):
            scratch.unlink()
        total = scan + (held_scan or _Scan())
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "created_by": f"textwgan {__version__}",
            "fingerprint": fp,
            "sources": [s.name for s in srcs],
            "heldout_sources": [s.name for s in held_srcs],
            "normalization": {"unicode": "NFKC", "lowercase": opts.lowercase, "strip": True},
            "line_policy": "each non-empty line (after normalization and stripping) is one "
                           "example, cut to seq_len characters and right-padded with pad",
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
            },
        }
        (tmp / "charset.json").write_text(charset.to_json(), encoding="utf-8")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _replace_dir(new: Path, out: Path) -> None:
    """Put folder `new` at `out`: readers see the old corpus or the new one, never a mixture."""
    if out.exists():
        if not (out / "meta.json").exists() and any(out.iterdir()):
            raise InputError(f"{out}: exists and is not a corpus folder; choose another --out")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, out)


# ---------------------------------------------------------------------------------------------
# Load


class Corpus:
    """A prepared corpus folder: metadata, charset, and the memory-mapped train/held-out arrays."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.exists():
            raise InputError(f"{self.path}: not a corpus folder (no meta.json); "
                             "make one with `textwgan prepare SOURCE --out DIR`")
        try:
            self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError:
            raise InputError(f"{meta_path}: not valid JSON; prepare the corpus again") from None
        if self.meta.get("format") != FORMAT:
            raise InputError(f"{self.path}: not a textwgan corpus folder")
        if self.meta.get("version", 0) > VERSION:
            raise InputError(f"{self.path}: corpus format version {self.meta['version']} is "
                             f"newer than this textwgan reads ({VERSION}); upgrade textwgan")
        self.charset = Charset.from_json((self.path / "charset.json").read_text(encoding="utf-8"))
        self.seq_len: int = self.meta["seq_len"]
        self.train = np.load(self.path / "train.npy", mmap_mode="r")  # (N_train, T)
        self.heldout = np.load(self.path / "heldout.npy", mmap_mode="r")  # (N_heldout, T)
        self._normalizer = None

    def normalize(self, lines: Sequence[str]) -> list[str]:
        """Apply this corpus's normalization to outside text (samples to score), no stripping."""
        if self._normalizer is None:
            self._normalizer = make_normalizer(self.meta["normalization"]["lowercase"])
        return [self._normalizer.normalize_str(line) for line in lines]

    def encode(self, lines: Sequence[str]) -> np.ndarray:
        """Outside text → (N, T) charset indices with this corpus's normalization."""
        return self.charset.encode_many(self.normalize(lines), self.seq_len)

    def decode(self, ids: np.ndarray) -> list[str]:
        return [self.charset.decode(row) for row in ids]


def default_cache_dir() -> Path:
    return Path(os.environ.get("TEXTWGAN_CACHE", Path.home() / ".cache" / "textwgan"))


def resolve_corpus(spec: str | None, opts: PrepareOptions | None = None,
                   log=lambda msg: None) -> Corpus:
    """A corpus folder from what `train` was given: nothing (the bundled corpus), a corpus
    folder, or text (file, folder, hf:) prepared into a cached folder reused while the
    sources' fingerprint matches."""
    if spec is None:
        if not (BUNDLED / "meta.json").exists():
            raise TextWGANError(f"the bundled corpus is missing at {BUNDLED}; "
                                "reinstall textwgan from a full clone")
        return Corpus(BUNDLED)
    path = Path(spec)
    if path.is_dir() and (path / "meta.json").exists():
        return Corpus(path)
    opts = (opts or PrepareOptions()).validate()
    srcs = resolve_sources([spec])
    held = resolve_sources([opts.heldout_file]) if opts.heldout_file else []
    fp = fingerprint(srcs, held, opts)
    stem = Path(spec.removeprefix(HF_PREFIX)).name.replace(":", "_") or "corpus"
    cached = default_cache_dir() / "corpora" / f"{stem}-{fp[:12]}"
    if (cached / "meta.json").exists():
        corpus = Corpus(cached)
        if corpus.meta.get("fingerprint") == fp:
            log(f"reusing prepared corpus {cached}")
            return corpus
    log(f"preparing {spec} into {cached}")
    prepare([spec], cached, opts)
    return Corpus(cached)


# ---------------------------------------------------------------------------------------------
# Batches


class DeviceData:
    """The training split on the training device, so a batch is drawn without the host."""

    def __init__(self, corpus: Corpus, device: torch.device, shard: Shard = SINGLE):
        # int32 on the device (a quarter of int64's memory); only a drawn batch is widened.
        self.tokens = torch.from_numpy(np.asarray(corpus.train, dtype=np.int32)).to(device)
        self.vocab_size = len(corpus.charset)
        self.shard = shard

    def get_batch(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A (B, T, V) one-hot float batch of random training sequences: this rank's slice of a
        global batch of B × world rows."""
        total = batch_size * self.shard.world
        idx = torch.randint(len(self.tokens), (total,), device=self.tokens.device,
                            generator=generator)[self.shard.rows(total)]
        rows = self.tokens[idx].long()  # (B, T)
        return torch.nn.functional.one_hot(rows, self.vocab_size).float()  # (B, T, V)


class MappedData:
    """The training split left memory-mapped on disk: each batch's rows are read from the map
    and only they move to the device, so a corpus larger than memory (host or GPU) trains.
    Indices come from the CPU generator (the host must read the rows anyway)."""

    def __init__(self, corpus: Corpus, device: torch.device, shard: Shard = SINGLE):
        self.train = corpus.train  # np.memmap (N, T): pages are read on demand
        self.vocab_size = len(corpus.charset)
        self.device, self.shard = device, shard

    def get_batch(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        total = batch_size * self.shard.world
        idx = torch.randint(len(self.train), (total,), generator=generator)[
            self.shard.rows(total)]
        rows = torch.from_numpy(np.asarray(self.train[np.sort(idx.numpy())], dtype=np.int64))
        # Sorted reads walk the file forward; the order is restored so rows match `idx`.
        rows = rows[torch.argsort(torch.argsort(idx))]  # (B, T)
        if self.device.type == "cuda":
            rows = rows.pin_memory().to(self.device, non_blocking=True)
        return torch.nn.functional.one_hot(rows, self.vocab_size).float()  # (B, T, V)


DATA_MODES = ("auto", "device", "mapped")
# Above this, `auto` leaves the training split memory-mapped instead of copying it whole to
# the device: 1 GiB of int32 tokens is 8 M sequences of 32 characters.
DEVICE_DATA_MAX_BYTES = 1 << 30


def training_data(corpus: Corpus, device: torch.device, mode: str = "auto",
                  shard: Shard = SINGLE) -> DeviceData | MappedData:
    """The batch source for `mode`: device (the split copied to the device), mapped (read from
    the memory map per batch) or auto (device when the split takes at most 1 GiB)."""
    if mode not in DATA_MODES:
        raise InputError(f"--data must be one of {', '.join(DATA_MODES)}, got {mode!r}")
    if mode == "auto":
        mode = "device" if corpus.train.size * 4 <= DEVICE_DATA_MAX_BYTES else "mapped"
    return (DeviceData if mode == "device" else MappedData)(corpus, device, shard)

"""Reading text sources: files, folders of files, pipes and standard input, Hugging Face datasets.

A source is read more than once (a fingerprint, then the prepare passes), so a stream that
can be read only once (`-`, a pipe, a FIFO) is first copied to a temporary file, which is
removed when the `open_sources` block ends. No torch here.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import os
import re
import select
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .fileio import SNIFF_BYTES, STDIN, clean_stale, not_text, temp_prefix
from .layout import is_corpus, is_ours

HF_PREFIX = "hf:"
READ_BLOCK = 1 << 20
HF_BATCH = 4096
FIFO_WAIT_S = 10.0


def fifo_wait() -> float:
    """How long to wait for a FIFO's writer (a FIFO nobody writes to would block forever):
    TEXTWGAN_FIFO_WAIT seconds, read when a FIFO is opened, so that a bad value troubles only
    a command that reads one."""
    given = os.environ.get("TEXTWGAN_FIFO_WAIT", "").strip()
    if not given:
        return FIFO_WAIT_S
    try:
        wait = float(given)
    except ValueError:
        wait = float("nan")
    if not 0 <= wait < float("inf"):
        raise InputError(f"TEXTWGAN_FIFO_WAIT must be a number of seconds, such as 10, got "
                         f"{given!r}; fix or unset it")
    return wait


@dataclass(frozen=True)
class Source:
    """One input: a regular file (a stream's copy for pipes), or a Hugging Face dataset."""

    spec: str  # as the user gave it
    path: Path | None = None

    @property
    def name(self) -> str:
        if self.spec == STDIN:
            return "stdin"
        return self.spec if self.path is None else Path(self.spec).name

    def raw_lines(self, keep_chars: int = 1 << 30,
                  invalid: InvalidBytes | None = None) -> Iterator[str]:
        """Lines without their ends, each cut to at most `keep_chars` characters after its
        leading whitespace, so one endless line never has to fit in memory; bytes that are
        not UTF-8 are counted in `invalid`."""
        if self.path is not None:
            yield from file_lines(self.path, keep_chars, invalid or InvalidBytes())
        else:
            for line in _hf_lines(self.spec):
                yield line.lstrip()[:keep_chars]

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        if self.path is not None:
            with open(self.path, "rb") as f:
                while block := f.read(READ_BLOCK):
                    h.update(block)
        else:
            h.update(_hf_dataset(self.spec)._fingerprint.encode())
        return h.hexdigest()

    def size(self) -> float:
        """Bytes to read (infinite for a dataset: its size is not known up front)."""
        return self.path.stat().st_size if self.path is not None else float("inf")


@dataclass
class InvalidBytes:
    """The bytes that were not UTF-8 in what one reader read (each read as U+FFFD rather
    than stopping): one tally per call, never a count shared by the process."""

    count: int = 0

    def replaced(self, text: str) -> str:
        """Text decoded with surrogateescape, each escaped byte counted and made U+FFFD."""
        escaped = _ESCAPED.findall(text)
        if not escaped:
            return text
        self.count += len(escaped)
        return _ESCAPED.sub("\ufffd", text)


_ESCAPED = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of a byte


def split_lines(text: str) -> list[str]:
    """Lines as a file's are read: \n, \r\n and a lone \r end a line, nothing else."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def file_lines(path: Path, keep_chars: int, invalid: InvalidBytes | None = None
               ) -> Iterator[str]:
    """Stream a file's lines: UTF-8 (bad bytes counted in `invalid` and replaced), a leading
    BOM dropped, \n, \r\n and a lone \r all ending a line. Reads fixed-size blocks, never a
    whole line."""
    invalid = invalid or InvalidBytes()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    partial, carry, first = "", "", True
    with open(path, "rb") as f:
        while True:
            block = f.read(READ_BLOCK)
            text = carry + invalid.replaced(decoder.decode(block, final=not block))
            carry = ""
            if first:
                text, first = text.removeprefix("\ufeff"), False
            if block and text.endswith("\r"):  # maybe half of a \r\n: wait for the next block
                text, carry = text[:-1], "\r"
            pieces = split_lines(text)
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


@contextlib.contextmanager
def open_sources(specs: Sequence[str]) -> Iterator[list[Source]]:
    """The sources named by `specs`, streams copied to temporary files for the block's life."""
    with contextlib.ExitStack() as stack:
        yield resolve_sources(specs, stack)


def resolve_sources(specs: Sequence[str], stack: contextlib.ExitStack) -> list[Source]:
    """Expand files, folders (every non-hidden text file below, sorted), streams and hf: specs.
    Temporary copies of streams are removed when `stack` closes."""
    if not specs:
        raise InputError("no source given: name a text file, a folder of text files, - for "
                         "standard input, or hf:NAME")
    sources: list[Source] = []
    for spec in specs:
        if not isinstance(spec, (str, os.PathLike)):
            raise InputError(f"a source must be a path or a name, got {type(spec).__name__}")
        spec = str(spec)
        if not spec.strip():
            raise InputError("an empty source name (an unset shell variable?): name a text "
                             "file, a folder of text files, - for standard input, or hf:NAME")
        if spec.startswith(HF_PREFIX):
            _parse_hf(spec)  # a malformed spec fails here, before any work
            sources.append(Source(spec))
            continue
        if spec == STDIN:
            sources.append(Source(spec, _spool(spec, stack)))
            continue
        path = Path(spec)
        st = _stat(path, "file or folder")
        if stat.S_ISDIR(st.st_mode):
            sources.extend(Source(str(p), p) for p in folder_text_files(path, spec))
        elif stat.S_ISFIFO(st.st_mode) or (stat.S_ISCHR(st.st_mode) and _is_stdin(path)):
            sources.append(Source(spec, _spool(spec, stack)))
        elif stat.S_ISREG(st.st_mode):
            why = not_text(_head(path), spec)
            if why:
                raise InputError(why)
            sources.append(Source(spec, path))
        else:
            raise InputError(f"{spec}: is a device, not a text file, folder or pipe")
    return sources


def _stat(path: Path, what: str) -> os.stat_result:
    """What is at `path` (following links), or one line on why nothing can be read there."""
    try:
        return path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None


def folder_text_files(folder: Path, spec: str) -> list[Path]:
    """Every non-hidden text file below `folder`, sorted. Corpus and run folders are textwgan's
    own output, never text to learn from: one given as the source is refused, one found inside
    the source (a corpus prepared into it earlier) is skipped. An unreadable subfolder is an
    error, not a silent gap in the corpus."""
    if is_ours(folder):
        what = "corpus" if is_corpus(folder) else "run"
        raise InputError(f"{spec}: is a {what} folder made by textwgan, not text; give the text "
                         "files it was made from")
    files: list[Path] = []

    def unreadable(e: OSError) -> None:
        raise InputError(f"{e.filename}: cannot read this folder of the source ({e.strerror}); "
                         "make it readable, or give the files to read") from None

    for top, dirs, names in os.walk(folder, onerror=unreadable):
        here = Path(top)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not is_ours(here / d))
        files.extend(here / n for n in names if not n.startswith(".")
                     and (here / n).is_file() and not not_text(_head(here / n), n))
    if not files:
        raise InputError(f"{spec}: folder holds no text files")
    return sorted(files)


def _is_stdin(path: Path) -> bool:
    try:
        return os.path.samestat(path.stat(), os.fstat(sys.stdin.fileno()))
    except (OSError, ValueError, AttributeError):
        return False


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(SNIFF_BYTES)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None


def _spool(spec: str, stack: contextlib.ExitStack) -> Path:
    """Copy a stream (standard input, a pipe, a FIFO) to a temporary file, once."""
    tmp_dir = Path(tempfile.gettempdir())
    clean_stale(tmp_dir, "textwgan-stream")
    fd, name = tempfile.mkstemp(prefix=temp_prefix("textwgan-stream"), suffix=".tmp",
                                dir=tmp_dir)
    path = Path(name)
    stack.callback(path.unlink, missing_ok=True)
    with os.fdopen(fd, "wb") as out:
        if spec == STDIN:
            shutil.copyfileobj(_stdin(), out, READ_BLOCK)
        else:
            with _open_stream(spec) as stream:
                shutil.copyfileobj(stream, out, READ_BLOCK)
    why = not_text(_head(path), "standard input" if spec == STDIN else spec)
    if why:
        raise InputError(why)
    return path


def _stdin():
    """Standard input's bytes, or one line on why there are none to read."""
    stream = getattr(sys.stdin, "buffer", None)
    closed = stream is None or sys.stdin.closed
    if not closed:
        try:
            os.fstat(sys.stdin.fileno())  # `<&-` leaves a stream whose descriptor is gone
        except io.UnsupportedOperation:
            pass  # an in-memory stream (tests, notebooks): it has no descriptor to check
        except (OSError, ValueError):
            closed = True
    if closed:
        raise InputError("standard input is closed: pipe text in, e.g. cat samples.txt | "
                         "textwgan eval - --corpus CORPUS")
    if sys.stdin.isatty():
        raise InputError("standard input is a terminal, not text: pipe text in, e.g. "
                         "cat corpus.txt | textwgan prepare - --out DIR")
    return stream


_stdin_cache: dict = {}


def read_input_bytes(spec: str | Path, what: str = "text") -> bytes:
    """The bytes of a text input that a command reads whole (samples, a reference): a file,
    `-` (standard input, read once per process: a second reader gets the same bytes), or a
    FIFO (its writer awaited for at most `fifo_wait()`). Devices and folders are refused
    before anything is read: /dev/zero would never end."""
    if str(spec) == STDIN:
        key = id(sys.stdin)
        if key not in _stdin_cache:
            _stdin_cache.clear()
            _stdin_cache[key] = _stdin().read()
        return _stdin_cache[key]
    path = Path(spec)
    st = _stat(path, "file")
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a folder, not a {what} file")
    if stat.S_ISFIFO(st.st_mode):
        with _open_stream(str(path)) as stream:
            return stream.read()
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: is a device, not a {what} file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None


def read_lines(path: str | Path, what: str = "samples") -> list[str]:
    """A samples file (or `-` for standard input): every line is one sample, empty ones too,
    newline removed, nothing else; invalid UTF-8 bytes read as U+FFFD."""
    data = read_input_bytes(path, what)
    why = not_text(data[:SNIFF_BYTES], "standard input" if str(path) == STDIN else str(path))
    if why:
        raise InputError(why)
    lines = split_lines(data.decode("utf-8-sig", errors="replace"))
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    return lines


@contextlib.contextmanager
def _open_stream(spec: str):
    """Open a FIFO without blocking forever: wait up to `fifo_wait()` for a writer."""
    wait = fifo_wait()
    try:
        fd = os.open(spec, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise InputError(f"{spec}: cannot read ({e.strerror})") from None
    try:
        poll = select.poll()
        poll.register(fd, select.POLLIN | select.POLLHUP)
        deadline = time.monotonic() + wait
        while not poll.poll(100):
            if time.monotonic() > deadline:
                raise InputError(f"{spec}: no program writes to this pipe (waited "
                                 f"{wait:g} s); start the writer first, or give a file")
        os.set_blocking(fd, True)  # a writer is there: from now on, wait for its data
        with os.fdopen(fd, "rb", closefd=True) as stream:
            fd = -1
            yield stream
    finally:
        if fd >= 0:
            os.close(fd)


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
    try:
        import datasets  # imported late: it takes seconds
    except ImportError:
        raise InputError(f"{spec}: reading Hugging Face datasets needs the datasets package: "
                         "pip install 'textwgan[hf]' (or pip install datasets)") from None

    try:
        saved = Path(name)
        if (saved / "state.json").exists() or (saved / "dataset_dict.json").exists():
            ds = datasets.load_from_disk(name)
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[split]
        else:
            _check_hub(spec, name)
            with _hub_quiet():
                ds = datasets.load_dataset(name, config, split=split)
    except InputError:
        raise
    except Exception as e:  # datasets raises many types: network, missing split, bad config
        raise InputError(f"{spec}: could not load the dataset ({e.__class__.__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    return ds


def _check_hub(spec: str, name: str) -> None:
    """One quick request before `datasets` starts its own, which retry for half a minute and
    print a line per retry when the Hub cannot be reached. Offline mode (HF_HUB_OFFLINE=1)
    reads the local cache and asks nothing."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import RepositoryNotFoundError
    except ImportError:  # an older or missing client: let `datasets` report
        return
    try:
        HfApi().dataset_info(name, timeout=10)
    except RepositoryNotFoundError:
        raise InputError(f"{spec}: no such dataset on the Hugging Face Hub (or it is private: "
                         "log in with `hf auth login`)") from None
    except Exception as e:  # the client's transport errors vary with its version
        if "connect" in type(e).__name__.lower() or isinstance(e, OSError) \
                or "timeout" in type(e).__name__.lower():
            raise InputError(f"{spec}: cannot reach the Hugging Face Hub ({e}); check the "
                             "network, or set HF_HUB_OFFLINE=1 to read a dataset already in "
                             "the local cache") from None
        # anything else (a gated dataset, a server error): `datasets` says it best


@contextlib.contextmanager
def _hub_quiet():
    """The hub client's retry warnings off while `datasets` loads: one error line says it."""
    import logging

    loggers = [logging.getLogger(n) for n in ("huggingface_hub", "datasets")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _hf_lines(spec: str) -> Iterator[str]:
    ds = _hf_dataset(spec)
    column = _text_column(spec, ds.features)
    for batch in ds.iter(batch_size=HF_BATCH):
        for text in batch[column]:
            # A record may hold several lines; each is one example, split exactly as a file's
            # lines are (\n, \r\n, \r; not str.splitlines's form feeds or U+2028).
            yield from split_lines(text or "")


def _text_column(spec: str, features) -> str:
    if "text" in features:
        return "text"
    strings = [k for k, v in features.items() if getattr(v, "dtype", None) in ("string",
                                                                               "large_string")]
    if len(strings) == 1:
        return strings[0]
    raise InputError(f"{spec}: no 'text' column and {len(strings)} string columns "
                     f"({', '.join(strings) or 'none'}); rename the text column to 'text'")

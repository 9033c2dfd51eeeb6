"""Files: atomic writes, temporaries that can be cleaned after a crash, guards on outputs.

Every file textwgan writes goes first to a temporary beside it, named
`.<name>.<host>.<pid>.<random>.tmp`, and is renamed over its target only when whole. A process
killed mid-write leaves its temporary behind; the next writer to the same place removes the
temporaries of processes of this host that no longer run (`clean_stale`), never another
live process's.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, WriteError, setting
from .layout import (
    CORPUS_FILES,
    MODEL_FILES,
    RUN_FILES,
    NotReadable,
    corpus_shaped,
    kind_of,
    read_json,
)

_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


@functools.cache
def umask() -> int:
    """The process's umask, read once, when a file is first written (not at import): from
    /proc where Linux shows it; elsewhere reading it means setting it, then straight back."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """What open() would give a new file (mkstemp alone gives 0600)."""
    return 0o666 & ~umask()


def temp_prefix(name: str) -> str:
    """The start of this process's temporaries for a target called `name`."""
    return f".{name}.{_HOST}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill would terminate the process there: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(entry: str) -> tuple[str, int] | None:
    """(host, pid) from a temporary's name `.<name>.<host>.<pid>.<random>.tmp`, else None."""
    if not (entry.startswith(".") and entry.endswith(".tmp")):
        return None
    parts = entry[: -len(".tmp")].rsplit(".", 3)  # ".<name>", host, pid, random
    if len(parts) != 4 or len(parts[1]) != len(_HOST) or not parts[2].isdigit():
        return None
    if any(c not in "0123456789abcdef" for c in parts[1]):
        return None
    return parts[1], int(parts[2])


def is_stale(entry: str) -> bool:
    """True for a temporary of ours (by its name) whose process, on this host, has ended."""
    owner = _owner(entry)
    return owner is not None and owner[0] == _HOST and not _pid_alive(owner[1])


def is_legacy_temp(entry: str) -> bool:
    """A temporary named as textwgan 0.1.0 named them (`.<name>.<random>.tmp`, no owner)."""
    return entry.startswith(".") and entry.endswith(".tmp") and _owner(entry) is None


ASIDE = "aside"  # the last part of the name of a folder moved aside while it is replaced


def aside_path(path: Path) -> Path:
    """Where `replace_folder` moves the folder it replaces, for the instant of the swap."""
    return path.with_name(f"{temp_prefix(path.name)}{ASIDE}.tmp")


def _target_of_aside(entry: str) -> str | None:
    """The name of the folder an aside copy was moved from (None: not an aside copy)."""
    if _owner(entry) is None or not entry.endswith(f".{ASIDE}.tmp"):
        return None
    return entry[1:].rsplit(".", 4)[0]


def clean_stale(folder: str | Path, name: str | None = None,
                legacy: bool = False) -> list[Path]:
    """Remove the stale temporaries in `folder` (for targets called `name`, or all); with
    `legacy`, also those of textwgan 0.1.0, which name no owner (only where a lock proves that
    no other process writes, as in a locked run folder). A folder moved aside by a process
    killed in the middle of a swap is put back where it was, if nothing took its place."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if name is not None and not entry.name.startswith(f".{name}."):
            continue
        target = _target_of_aside(entry.name)
        if target and is_stale(entry.name) and not os.path.lexists(Path(folder) / target):
            os.replace(entry.path, Path(folder) / target)
            continue
        if is_stale(entry.name) or (legacy and is_legacy_temp(entry.name)):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_failure(path: Path, e: BaseException, kept: bool) -> WriteError:
    """One line for a failed write: why, and what is left."""
    if isinstance(e, OSError):
        reason = e.strerror or e.__class__.__name__
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            reason += "; free some space"
    else:  # torch's C++ writer reports a failed write as a RuntimeError without errno
        reason = (str(e).splitlines() or [e.__class__.__name__])[-1].strip()
        reason += "; is the disk full?"
    what = "the previous file is kept" if kept else "nothing was written"
    return WriteError(f"{path}: could not write ({reason}); {what}")


class _Recording:
    """A file that remembers the OS error behind a failed write: torch's writer reports one as
    a RuntimeError of its own ("unexpected pos …"), without the errno."""

    def __init__(self, f: BinaryIO):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        try:
            self.f.flush()
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name):
        return getattr(self.f, name)


def default_cache_dir() -> Path:
    """TEXTWGAN_CACHE, or ~/.cache/textwgan where it is unset or empty (an empty one would
    otherwise cache into whatever folder the command runs in)."""
    given = os.environ.get("TEXTWGAN_CACHE", "").strip()
    return Path(given).expanduser().absolute() if given else \
        Path.home() / ".cache" / "textwgan"


# --------------------------------------------------------------------------------------------
# Outputs textwgan wrote: an --out file may be written over only when textwgan wrote it, as
# the same kind of output, and nobody changed it since. Files carry no mark of their own, so
# each one written is recorded (its path, kind and file identity) in the cache folder.

OUTPUTS_NAME = "outputs.json"
MAX_OUTPUTS = 2000  # the oldest records go first: a forgotten file is refused, never lost


def _identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _outputs() -> dict:
    try:
        d = read_json(default_cache_dir() / OUTPUTS_NAME)
    except NotReadable:
        return {}
    return d if isinstance(d, dict) else {}


def remember_output(path: Path, kind: str) -> None:
    """Record that textwgan wrote `path` as a `kind` output (best effort: a record that
    cannot be written only means the file will not be replaced without being moved away)."""
    try:
        records = _outputs()
        records.pop(str(path.resolve()), None)
        records[str(path.resolve())] = [kind, *_identity(path)]
        kept = dict(list(records.items())[-MAX_OUTPUTS:])
        atomic_write_text(default_cache_dir() / OUTPUTS_NAME, json.dumps(kept))
    except (OSError, InputError, WriteError):
        pass


def written_by_textwgan(path: Path, kind: str) -> bool:
    """`path` is a `kind` output textwgan wrote, unchanged since."""
    try:
        return _outputs().get(str(path.resolve())) == [kind, *_identity(path)]
    except OSError:
        return False


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object],
                 output: str | None = None) -> Path:
    """Call `write` on a temporary file beside `path`, fsync it, then rename it over `path`.
    `output`: the kind of --out file this is, recorded so that a later command may write over
    it (check_output_file)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(path.parent, path.name)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp",
                                   dir=path.parent)
    except OSError as e:
        raise InputError(f"{path}: cannot write here ({e.strerror})") from None
    existed = path.exists()
    recording = None
    try:
        os.chmod(tmp, file_mode())
        with os.fdopen(fd, "wb") as f:
            recording = _Recording(f)
            write(recording)
            recording.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        cause = recording.error if recording is not None and recording.error else e
        if isinstance(cause, OSError):
            raise write_failure(path, cause, existed) from None
        raise
    if output is not None:
        remember_output(path, output)
    return path


def replace_folder(new: Path, out: Path) -> None:
    """Put the folder `new` at `out`: readers see the old folder or the new one, never none.
    Linux swaps the two in one step; elsewhere the old one is moved aside and the new one in,
    with SIGINT, SIGTERM and SIGHUP held back between the two moves, and a kill -9 there
    leaves the old folder aside, which the next writer's `clean_stale` puts back."""
    if not os.path.lexists(out):
        os.replace(new, out)
    elif _exchange(new, out):  # `new` now holds the old folder
        shutil.rmtree(new, ignore_errors=True)
    else:
        old = aside_path(out)
        with signals_held():
            os.replace(out, old)
            os.replace(new, out)
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(out.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 with RENAME_EXCHANGE); False where the
    system or its file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without it
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT, SIGTERM and SIGHUP back for a block that must not be cut in two; they are
    delivered when it ends. (Python handlers, not a signal mask: torch's threads would take a
    masked signal for the whole process.) Only the main thread can do this."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    before = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        before[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        for signum in held:
            signal.raise_signal(signum)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a power cut cannot bring the old name back)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str, output: str | None = None) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")), output)


def write_lines(path: str | Path, lines: list[str], output: str | None = None) -> Path:
    """One line per item; newlines inside an item would split it, so they become spaces."""
    return atomic_write_text(path, "".join(one_line(line) + "\n" for line in lines), output)


def one_line(text: str) -> str:
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def is_torch_archive(path: Path) -> bool:
    """A zip archive as torch.save writes them (it holds a data.pkl)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("data.pkl") for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False




def refuse_broken_link(path: Path) -> None:
    """A symbolic link that leads nowhere, or back to itself, is nobody's output to replace."""
    try:
        broken = path.is_symlink() and not path.exists()
    except OSError:  # a loop, on some systems
        broken = True
    if broken:
        raise InputError(f"{path}: is a symbolic link that leads nowhere (or in a loop); give "
                         f"{setting('out')} another name, or remove the link")


def check_output_file(path: str | Path, what: str,
                      may_replace: Callable[[Path], bool] | None = None) -> Path:
    """Refuse an output path that would destroy something: a folder, a checkpoint (unless
    `may_replace` allows that one), or a file a run or a corpus folder depends on."""
    path = Path(path)
    refuse_broken_link(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give {setting('out')} a file name for the "
                         f"{what}")
    if not path.exists():
        return path
    if not path.is_file():
        raise InputError(f"{path}: is not a regular file; give {setting('out')} another name")
    if is_torch_archive(path) and not (may_replace and may_replace(path)):
        raise InputError(f"{path}: is a PyTorch checkpoint; writing the {what} there would "
                         "destroy it; choose another name")
    folder = path.parent
    kind = kind_of(folder)
    if path.name in RUN_FILES and kind == "run":
        raise InputError(f"{path}: belongs to the training run in {folder}; writing the {what} "
                         "there would break the run; choose another name")
    if path.name in CORPUS_FILES and (kind == "corpus" or corpus_shaped(folder)):
        raise InputError(f"{path}: belongs to the corpus in {folder}; choose another name")
    if path.name in MODEL_FILES and kind == "model":
        raise InputError(f"{path}: belongs to the model folder {folder}; writing the {what} "
                         "there would break the model; choose another name")
    if not (may_replace and may_replace(path)) and not written_by_textwgan(path, what):
        article = "an" if what[:1] in "aeiou" else "a"
        raise InputError(f"{path}: already exists and is not {article} {what} file that "
                         f"textwgan wrote (or it changed since); choose another name for the "
                         f"{what}, or move that file away first")
    return path


STDIN = "-"
SNIFF_BYTES = 8192  # how much of a file is read to tell text from binary data


def looks_binary(head: bytes) -> bool:
    """NUL bytes: no UTF-8 text file has them (UTF-16 and UTF-32 text do; we refuse those
    with their own message, `not_text`)."""
    return b"\0" in head


def not_text(head: bytes, name: str) -> str | None:
    """Why the bytes that start `name` are not UTF-8 text (None: they may be)."""
    if not looks_binary(head):
        return None
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or _alternating_nuls(head):
        return (f"{name}: looks like UTF-16 text (what PowerShell's > writes), not UTF-8; "
                f"convert it first, e.g. iconv -f UTF-16 -t UTF-8 {name} > {name}.utf8.txt")
    return (f"{name}: looks like a binary file (it has NUL bytes), not UTF-8 text with one "
            "example per line")


def _alternating_nuls(head: bytes) -> bool:
    """UTF-16 without a byte-order mark: ASCII text with a NUL beside every character."""
    even, odd = head[0::2], head[1::2]
    return len(head) >= 4 and (even.count(0) > 0.9 * len(even) or odd.count(0) > 0.9 * len(odd))

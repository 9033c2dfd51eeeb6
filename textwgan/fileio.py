"""Files: atomic writes, temporaries that can be cleaned after a crash, guards on outputs.

Every file textwgan writes goes first to a temporary beside it, named
`.<name>.<host>.<pid>.<random>.tmp`, and is renamed over its target only when whole. A process
killed mid-write leaves its temporary behind; the next writer to the same place removes the
temporaries of processes of this host that no longer run (`clean_stale`), never another
live process's.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, WriteError, setting
from .layout import CORPUS_FILES, META_NAME, RUN_FILES, is_run

_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~umask()  # what open() would give; mkstemp alone gives 0600


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


def clean_stale(folder: str | Path, name: str | None = None,
                legacy: bool = False) -> list[Path]:
    """Remove the stale temporaries in `folder` (for targets called `name`, or all); with
    `legacy`, also those of textwgan 0.1.0, which name no owner (only where a lock proves that
    no other process writes, as in a locked run folder)."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if name is not None and not entry.name.startswith(f".{name}."):
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


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write` on a temporary file beside `path`, fsync it, then rename it over `path`."""
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
        os.chmod(tmp, _FILE_MODE)
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
    return path


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


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_lines(path: str | Path, lines: list[str]) -> Path:
    """One line per item; newlines inside an item would split it, so they become spaces."""
    return atomic_write_text(path, "".join(_one_line(line) + "\n" for line in lines))


def _one_line(text: str) -> str:
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




def check_output_file(path: str | Path, what: str,
                      may_replace: Callable[[Path], bool] | None = None) -> Path:
    """Refuse an output path that would destroy something: a folder, a checkpoint (unless
    `may_replace` allows that one), or a file a run or a corpus folder depends on."""
    path = Path(path)
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
    if path.name in RUN_FILES and is_run(folder):
        raise InputError(f"{path}: belongs to the training run in {folder}; writing the {what} "
                         "there would break the run; choose another name")
    if path.name in CORPUS_FILES and (folder / META_NAME).is_file():
        raise InputError(f"{path}: belongs to the corpus in {folder}; choose another name")
    return path


STDIN = "-"
SNIFF_BYTES = 8192  # how much of a file is read to tell text from binary data


def looks_binary(head: bytes) -> bool:
    """NUL bytes: no text file has them (UTF-16 and UTF-32 text included, which we refuse)."""
    return b"\0" in head


def read_lines(path: str | Path) -> list[str]:
    """A samples file (or `-` for standard input): every line is one sample, empty ones too,
    newline removed, nothing else; invalid UTF-8 bytes read as U+FFFD."""
    if str(path) == STDIN:
        data = sys.stdin.buffer.read()
    else:
        path = Path(path)
        if path.is_dir():
            raise InputError(f"{path}: is a folder, not a samples file")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if looks_binary(data[:SNIFF_BYTES]):
        raise InputError(f"{path}: looks like a binary file (it has NUL bytes), not text with "
                         "one sample per line")
    text = data.decode("utf-8-sig", errors="replace")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    return lines

"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import InputError


def umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~umask()  # what open() would give; mkstemp alone gives 0600


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write` on a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise InputError(f"{path}: cannot write here ({e.strerror})") from None
    try:
        os.chmod(tmp, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
    return atomic_write_text(path, "".join(line.replace("\n", " ") + "\n" for line in lines))


def read_lines(path: str | Path) -> list[str]:
    """A samples file: every line is one sample (empty ones too), newline removed, nothing else."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with open(path, encoding="utf-8-sig", errors="replace", newline=None) as f:
        return [line.rstrip("\n") for line in f]

"""A training run's folder: what may become one, the lock that keeps it to one process, and its
files, written so that a crash never costs more than the steps since the last save:

    config.json      the run's settings (format "textwgan.run": what makes a folder a run)
    log.jsonl        one JSON record per line: train, diag and eval records
    checkpoint.pt    the latest checkpoint; best.pt (lowest JS-4); step_NNNNNNN.pt (the last few)
    samples/         step_NNNNNNN.txt: the evaluation samples of each evaluation
    .lock            who holds the folder's lock (flock on the folder itself) while training

A torn last log line (a full disk, a kill mid-write) is dropped when the run resumes.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path

from .checkpoint import link_checkpoint, save_checkpoint
from .errors import InputError, setting
from .fileio import (
    atomic_write_text,
    clean_stale,
    refuse_broken_link,
    write_failure,
    write_lines,
)
from .layout import (
    BEST_NAME,
    CHECKPOINT_NAME,
    CONFIG_NAME,
    LOCK_NAME,
    LOG_NAME,
    RUN_FORMAT,
    NotReadable,
    kind_of,
    read_json,
    read_log,
    read_small,
)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one process per run folder is on the user
    fcntl = None



def folder_kind(path: Path) -> str:
    """"new" (absent or empty) or "run" (a textwgan run); anything else is refused, since a
    run writes several files into its folder."""
    refuse_broken_link(path)
    if not path.exists():
        return "new"
    if not path.is_dir():
        raise InputError(f"{path}: exists and is not a folder; give {setting('out')} a folder "
                         "for the run")
    kind = kind_of(path)
    if kind == "run":
        return "run"
    if kind is not None:
        raise InputError(f"{path}: is a {_WHAT[kind]}; a run needs a folder of its own: "
                         f"choose another {setting('out')}")
    entries = sorted(e.name for e in os.scandir(path)
                     if not e.name.startswith(".") and not (e.name == "samples" and e.is_dir()))
    if not entries:
        return "new"
    shown = ", ".join(entries[:4]) + (", …" if len(entries) > 4 else "")
    raise InputError(f"{path}: exists and is not a textwgan run folder (it holds {shown}); "
                     f"choose a new or empty folder for {setting('out')}")


_WHAT = {"corpus": "corpus folder", "model": "model folder (textwgan export)"}


def recorded_threads(run_dir: Path) -> int | None:
    """The CPU thread count the run last trained with (None where its config.json lacks it)."""
    try:
        d = read_json(run_dir / CONFIG_NAME)
    except NotReadable:
        return None
    threads = d.get("threads") if isinstance(d, dict) else None
    return threads if isinstance(threads, int) else None


class RunFolder:
    """The folder of one run, locked for the life of the `with` block (rank 0 only under
    torchrun: the other ranks write nothing)."""

    def __init__(self, path: str | Path, main: bool = True):
        self.path = Path(path)
        self.main = main
        self._lock_fd: int | None = None
        self._locks_file = False  # True where the file system cannot lock a folder
        self._log = None
        self.board = None  # board.Board, when the run writes TensorBoard events

    def __enter__(self) -> RunFolder:
        if not self.main:
            return self
        try:
            (self.path / "samples").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"{self.path}: cannot create the run folder ({e.strerror})"
                             ) from None
        self._lock()
        clean_stale(self.path, legacy=True)  # half-written files of a killed process
        return self

    def __exit__(self, *exc) -> None:
        if self.board is not None:
            self.board.close()
            self.board = None
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass
            self._log = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the lock
            self._lock_fd = None

    def _lock(self) -> None:
        """Lock the run folder itself, which a user does not delete by tidying as they might a
        lock file; `.lock` says who holds it. Where the file system cannot lock a folder (NFS
        emulates flock with write locks), the `.lock` file is locked instead."""
        if fcntl is None:
            return
        fd = self._lockable_fd()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise InputError(f"{self.path}: cannot lock the run folder ({e.strerror})"
                                 ) from None
            try:
                holder = read_small(self.path / LOCK_NAME, 4096).decode(
                    "utf-8", errors="replace").strip()
            except NotReadable:
                holder = ""
            raise InputError(f"{self.path}: another textwgan train is using this run folder "
                             f"({holder or 'another process'}); wait for it to finish, or "
                             f"choose another {setting('out')}") from None
        self._lock_fd = fd
        note = f"pid {os.getpid()} on {socket.gethostname()}\n"
        try:  # only a note for the next process: the lock is held either way
            if self._locks_file:
                os.ftruncate(fd, 0)
                os.write(fd, note.encode())
            else:
                atomic_write_text(self.path / LOCK_NAME, note)
        except (InputError, OSError):
            pass

    def _lockable_fd(self) -> int:
        """The folder, opened to be locked; or, where folders cannot be locked, `.lock`."""
        self._locks_file = False
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as e:
            raise InputError(f"{self.path}: cannot open the run folder ({e.strerror})"
                             ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # can this file system lock it?
            fcntl.flock(fd, fcntl.LOCK_UN)
            return fd
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return fd  # locked by another process: the caller says so
            os.close(fd)
        self._locks_file = True
        try:
            return os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise InputError(f"{self.path / LOCK_NAME}: cannot create the run's lock file "
                             f"({e.strerror})") from None

    # ---------------------------------------------------------------------------------------

    def write_config(self, record: dict) -> None:
        if self.main:
            atomic_write_text(self.path / CONFIG_NAME, json.dumps(
                {"format": RUN_FORMAT, **record}, indent=1) + "\n")

    def trim_log(self, step: int) -> None:
        """Keep only records up to `step` (a resumed run redoes the steps after it) and drop
        lines that do not parse."""
        path = self.path / LOG_NAME
        if not self.main or not path.exists():
            return
        try:
            records = read_log(path)
        except NotReadable as e:
            raise InputError(f"{e.path}: {e.reason}; move it away to resume the run") from None
        keep = [r for r in records if _step(r) <= step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))

    def log(self, record: dict, texts: list[str] | None = None) -> None:
        """One record in log.jsonl (and in the TensorBoard events, with an evaluation's
        samples, when the run writes them)."""
        if not self.main:
            return
        path = self.path / LOG_NAME
        try:
            if self._log is None:
                self._log = open(path, "a", encoding="utf-8")
            self._log.write(json.dumps(record) + "\n")
            self._log.flush()
        except OSError as e:
            raise write_failure(path, e, kept=False) from None
        if self.board is not None:
            self.board.add(record, texts)

    def write_samples(self, step: int, texts: list[str]) -> Path:
        return write_lines(self.path / "samples" / f"step_{step:07d}.txt", texts)

    def save(self, ckpt: dict, keep_last: int) -> Path:
        """checkpoint.pt (the latest), plus step_NNNNNNN.pt for the last `keep_last` saves."""
        path = save_checkpoint(ckpt, self.path / CHECKPOINT_NAME)
        if keep_last > 0:
            link_checkpoint(path, self.path / f"step_{ckpt['step']:07d}.pt")
            for old in sorted(self.path.glob("step_*.pt"))[:-keep_last]:
                old.unlink(missing_ok=True)
        return path

    def save_best(self, saved: Path | None, ckpt_now) -> None:
        """best.pt: the checkpoint just saved, or (between saves) one of its own."""
        if saved is not None:
            link_checkpoint(saved, self.path / BEST_NAME)
        else:
            save_checkpoint(ckpt_now(), self.path / BEST_NAME)


def _step(record: dict) -> int:
    step = record.get("step", 0)
    return step if isinstance(step, int) else 0

"""What makes a file or folder textwgan's: the names of the files in a corpus folder and a run
folder, and the checks that tell them from anything else. Every module asks here; no other
module spells these names. No torch here (reading sources must stay light).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# A corpus folder (corpus.py, preparation.py).
CORPUS_FORMAT = "textwgan.corpus"
META_NAME = "meta.json"
CHARSET_NAME = "charset.json"
TRAIN_NAME = "train.npy"
HELDOUT_NAME = "heldout.npy"  # the test split: what eval and model cards score against
VALIDATION_NAME = "validation.npy"  # what training evaluates on and picks best.pt by
CORPUS_FILES = (META_NAME, CHARSET_NAME, TRAIN_NAME, HELDOUT_NAME, VALIDATION_NAME)

# A run folder (run.py, checkpoint.py).
RUN_FORMAT = "textwgan.run"
CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"  # the checkpoint of the lowest JS-4 seen at an evaluation
LOG_NAME = "log.jsonl"
CONFIG_NAME = "config.json"
LOCK_NAME = ".lock"
STEP_GLOB = "step_*.pt"
RUN_FILES = (CHECKPOINT_NAME, BEST_NAME, LOG_NAME, CONFIG_NAME)


def check_format(record, fmt: str, version_key: str, reader: int, where, what: str,
                 fix: str = "") -> int:
    """The format version of a record textwgan wrote (a checkpoint, a corpus's meta.json, a
    model's config.json), or one InputError saying why it cannot be read: not ours, no
    version, or newer than this textwgan reads."""
    from .errors import InputError

    if not isinstance(record, dict) or record.get("format") != fmt:
        raise InputError(f"{where}: not a textwgan {what} (no format {fmt!r})")
    version = record.get(version_key)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{where}: not a readable textwgan {what} (no format version)"
                         + (f"; {fix}" if fix else ""))
    if version > reader:
        raise InputError(f"{where}: {what} format version {version} is newer than this "
                         f"textwgan reads ({reader}); upgrade textwgan")
    return version


# --------------------------------------------------------------------------------------------
# Reading the small files textwgan wrote: every one goes through `read_small`, which opens
# regular files only (a FIFO would block forever, /dev/zero would be read until memory runs
# out) and never reads past a cap.

MAX_SMALL_FILE = 16 << 20  # config.json, meta.json, charset.json, outputs.json: a few KiB each


class NotReadable(ValueError):
    """A small file that is not there, not a regular file, too large, or not what it claims
    to be; `reason` says which, in words for a message."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def read_small(path, cap: int = MAX_SMALL_FILE) -> bytes:
    """The bytes of a regular file of at most `cap` bytes; NotReadable otherwise (a missing
    file's reason is "missing")."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise NotReadable(path, "missing") from None
    except OSError as e:
        raise NotReadable(path, f"cannot be read ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotReadable(path, "is not a regular file (a FIFO, a device or a folder)")
        chunks, size = [], 0
        while size <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            raise NotReadable(path, f"is larger than {cap >> 20} MiB, more than any file "
                                    "textwgan writes there")
        return b"".join(chunks)
    except OSError as e:
        raise NotReadable(path, f"cannot be read ({e.strerror})") from None
    finally:
        os.close(fd)


def read_json(path, cap: int = MAX_SMALL_FILE):
    """A small JSON file (`read_small`), parsed; NotReadable for anything that is not valid
    UTF-8 JSON, however deeply nested."""
    data = read_small(path, cap)
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise NotReadable(path, "is not valid JSON") from None


MAX_LOG = 1 << 31  # log.jsonl: a line per logged step, megabytes for a long run


def read_log(path, strict: bool = False) -> list[dict]:
    """The records of a run's log.jsonl (none where it is missing). A line that is not a JSON
    object is skipped: the last one may be torn by a crash mid-write, which resuming drops.
    `strict` (plot, which draws the figures): any other such line is NotReadable."""
    try:
        text = read_small(path, MAX_LOG).decode("utf-8", errors="replace")
    except NotReadable as e:
        if e.reason == "missing" and not strict:
            return []
        raise
    lines = text.splitlines()
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif strict and n < len(lines):
            raise NotReadable(f"{path}:{n}", "not a JSON object; is this a textwgan log?")
    return records


def json_text(record) -> str:
    """A record as the JSON text of a file textwgan writes: characters as they are, readable;
    escaped where some (a file name that is not UTF-8) cannot be written as UTF-8."""
    text = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(record, indent=1) + "\n"
    return text


def _json_dict(path: Path) -> dict | None:
    try:
        d = read_json(path)
    except NotReadable:
        return None
    return d if isinstance(d, dict) else None


def is_corpus(folder: Path) -> bool:
    """A corpus folder that `prepare` made: its meta.json names the corpus format."""
    meta = _json_dict(Path(folder) / META_NAME)
    return meta is not None and meta.get("format") == CORPUS_FORMAT


def corpus_shaped(folder) -> bool:
    """A folder with a meta.json: meant as a corpus folder, even a damaged one (read it as a
    corpus, whose loading says what is wrong, never as text to prepare). Any entry of that
    name counts, a directory, FIFO or dangling link included."""
    return os.path.lexists(Path(folder) / META_NAME)


def is_run_config(path: Path) -> bool:
    d = _json_dict(path)
    if d is None:
        return False
    if "format" in d:  # a model folder's config.json names its own format
        return d["format"] == RUN_FORMAT
    # textwgan 0.1.0 wrote no format field; its config.json had these two keys
    return {"config", "textwgan_version"} <= set(d) and isinstance(d.get("corpus"), str)


def is_run(folder: Path) -> bool:
    """A run folder that `train` made: a run's config.json, or a checkpoint of its own (a run
    that lost its config still holds its training). A model folder is never a run."""
    return kind_of(folder) == "run"


def is_ours(folder: Path) -> bool:
    """A folder textwgan made and reads back: a corpus, a run or a model. Never read as
    text."""
    return kind_of(folder) is not None


def kind_of(folder) -> str | None:
    """What a folder is to textwgan: "corpus", "run", "model", or None (not a folder of
    ours). The one answer every command asks for: a model folder's config.json never makes
    it a run, and nothing is both."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return None
    except OSError:
        return None
    if is_corpus(folder):
        return "corpus"
    if is_model_folder(folder):
        return "model"
    if is_run_config(folder / CONFIG_NAME) or (folder / CHECKPOINT_NAME).is_file() \
            or any(folder.glob(STEP_GLOB)):
        return "run"
    return None


def is_training(folder) -> bool:
    """A `train` process holds this run folder's lock now (run.RunFolder locks the folder
    itself, or its `.lock` file where the file system cannot lock folders)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks to ask
        return False
    import errno

    for path, flags in ((folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)),
                        (Path(folder) / LOCK_NAME, os.O_RDONLY)):
        try:
            fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return True
        finally:
            os.close(fd)
    return False


# A model folder (modelfolder.py): what `export --out DIR` writes and the Hub serves.
MODEL_FORMAT = "textwgan.model"
MODEL_WEIGHTS = "model.safetensors"
MODEL_CONFIG = "config.json"
MODEL_CARD = "README.md"
MODEL_FILES = (MODEL_WEIGHTS, MODEL_CONFIG, MODEL_CARD)


def is_model_folder(folder: Path) -> bool:
    """A model folder that textwgan exported: its config.json names the model format."""
    d = _json_dict(Path(folder) / MODEL_CONFIG)
    return d is not None and d.get("format") == MODEL_FORMAT

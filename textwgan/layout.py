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
HELDOUT_NAME = "heldout.npy"
CORPUS_FILES = (META_NAME, CHARSET_NAME, TRAIN_NAME, HELDOUT_NAME)

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


def _json_dict(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def is_corpus(folder: Path) -> bool:
    """A corpus folder that `prepare` made: its meta.json names the corpus format."""
    meta = _json_dict(Path(folder) / META_NAME)
    return meta is not None and meta.get("format") == CORPUS_FORMAT


def is_run_config(path: Path) -> bool:
    d = _json_dict(path)
    # textwgan 0.1.0 wrote no format field; its config.json had these two keys
    return d is not None and (d.get("format") == RUN_FORMAT
                              or {"config", "textwgan_version"} <= set(d))


def is_run(folder: Path) -> bool:
    """A run folder that `train` made: a run's config.json, or a checkpoint of its own (a run
    that lost its config still holds its training)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if is_run_config(folder / CONFIG_NAME) or (folder / CHECKPOINT_NAME).is_file():
        return True
    return any(folder.glob(STEP_GLOB))


def is_ours(folder: Path) -> bool:
    """A folder textwgan made and reads back: a corpus or a run. Never read as text."""
    return is_corpus(folder) or is_run(folder)


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


def shipped_root() -> Path:
    """Where the generators shipped inside the package lie."""
    from importlib import resources

    return Path(str(resources.files("textwgan") / "assets" / "generators"))


def shipped_models() -> dict[str, Path]:
    """The generators shipped inside the package (model folders), by name."""
    root = shipped_root()
    return {p.name: p for p in sorted(root.iterdir()) if is_model_folder(p)} \
        if root.is_dir() else {}


def shipped_model_named(spec) -> Path | None:
    """The shipped model a name means, where no file or folder of that name exists here: a
    local path always wins over a shipped name."""
    if not isinstance(spec, (str, os.PathLike)) or os.path.lexists(spec):
        return None
    return shipped_models().get(str(spec))

"""Self-contained, versioned checkpoints: save atomically, load without running code.

A checkpoint is a plain dict of tensors and primitives, loadable with
`torch.load(path, weights_only=True)`:

    format, version, textwgan_version, step, config (dict), charset (list of characters),
    corpus (name, fingerprint, seq_len, normalization), generator, critic (state dicts),
    opt_generator, opt_critic (optimizer state dicts; absent in generator-only exports),
    rng (torch CPU and CUDA generator states), metrics (evaluation records so far)
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import zipfile
from pathlib import Path

import torch

from .errors import InputError
from .fileio import atomic_write

FORMAT, VERSION = "textwgan.checkpoint", 1
CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"  # the checkpoint of the lowest JS-4 seen at an evaluation
DEFAULT_ROOT = Path("checkpoints")
# The generator shipped with the project: what `textwgan sample` uses when no run exists yet.
SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "coco-small" / "generator.pt"
EXPORT_KEYS = ("format", "version", "textwgan_version", "step", "config", "charset", "corpus",
               "generator", "metrics")


def export_generator(ckpt: dict) -> dict:
    """What sampling needs and nothing else: no critic, no optimizer state, no RNG state
    (a quarter of a training checkpoint's size)."""
    out = {k: ckpt[k] for k in EXPORT_KEYS if k in ckpt} | {"export": "generator"}
    if "corpus" in out:  # the folder's name only: an absolute path of this machine means nothing
        out["corpus"] = out["corpus"] | {"path": Path(out["corpus"]["path"]).name}
    return out


def save_checkpoint(ckpt: dict, path: str | Path) -> Path:
    """Write atomically: a temporary file in the same folder, fsync, then rename over `path`."""
    return atomic_write(path, lambda f: torch.save(ckpt, f))


def link_checkpoint(src: Path, dst: Path) -> Path:
    """Make `dst` a second name of `src` (a copy where hard links are not supported),
    atomically: `dst` is whole or absent."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return dst


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load and check a checkpoint. Never unpickles code: `weights_only=True`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        # torch.save has written zip archives since PyTorch 1.6; anything else is not ours, and
        # is never handed to the unpickler.
        raise InputError(f"{path}: not a textwgan checkpoint (not a PyTorch zip archive; "
                         "truncated, or a file of another kind)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        what = f" (it asks for {found.group(1)})" if found else ""
        raise InputError(f"{path}: refused: the file holds objects other than tensors and plain "
                         f"data, which could run code when loaded{what}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise InputError(f"{path}: not a readable checkpoint (truncated or damaged: "
                         f"{str(e).splitlines()[0] if str(e) else e.__class__.__name__})"
                         ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputError(f"{path}: not a textwgan checkpoint")
    if ckpt.get("version", 0) > VERSION:
        raise InputError(f"{path}: checkpoint format version {ckpt['version']} is newer than "
                         f"this textwgan reads ({VERSION}); upgrade textwgan")
    return ckpt


def find_checkpoint(spec: str | Path | None = None, root: str | Path = DEFAULT_ROOT) -> Path:
    """A checkpoint file from a file, a run folder, or (None) the newest run under `root`,
    else the shipped generator."""
    if spec is not None:
        path = Path(spec)
        if path.is_file():
            return path
        if path.is_dir():
            if (path / CHECKPOINT_NAME).is_file():
                return path / CHECKPOINT_NAME
            raise InputError(f"{path}: run folder holds no {CHECKPOINT_NAME} yet")
        raise InputError(f"{path}: no such checkpoint file or run folder")
    root = Path(root)
    found = sorted(root.glob(f"*/{CHECKPOINT_NAME}"), key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1]
    if SHIPPED.is_file():
        return SHIPPED
    raise InputError(f"no run found under {root}/; train one with `textwgan train` or "
                     "pass --checkpoint")


def rng_state(device: torch.device | None = None) -> dict:
    """The CPU generator's state, and the training GPU's when training on one."""
    state = {"torch": torch.get_rng_state()}
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device | None = None) -> None:
    """Restore onto `device`: the saved GPU state goes to whichever GPU trains now (under
    torchrun every rank holds the same stream, so each rank takes rank 0's saved state)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and device is not None and device.type == "cuda":
        if isinstance(cuda, list):  # checkpoints of textwgan 0.1.0 saved every GPU's state
            cuda = cuda[0]
        torch.cuda.set_rng_state(cuda, device)

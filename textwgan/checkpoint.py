"""Checkpoints: the schema (what is saved, what is restored, what an export keeps), atomic
saves, and loads that check a file before anything uses it.

A checkpoint is a plain dict of tensors and primitives, loadable with
`torch.load(path, weights_only=True)`:

    format, version, textwgan_version, step, config (dict), charset (list of characters),
    corpus (path, fingerprint, seq_len, normalization), generator (state dict), metrics
    (evaluation records so far), elapsed (training seconds so far, across resumes);
    generator_ema and ema_updates (the moving average of the generator, when the run keeps one:
    what sampling uses);
    training checkpoints also: critic (state dict), opt_generator, opt_critic (optimizer state
    dicts), rng (torch CPU and CUDA generator states). A generator-only export has
    `export: "generator"` and none of the training keys.

`load_checkpoint` checks the zip archive's CRCs (a flipped bit is caught, not loaded), refuses
pickled code, and checks the keys, the settings and every weight's shape against the settings
and the charset.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from . import __version__
from .assets import DEFAULT_MODEL, shipped_model_named, shipped_models
from .charset import Charset
from .config import Config
from .errors import InputError
from .fileio import atomic_write, is_torch_archive, temp_prefix, write_failure
from .layout import (
    BEST_NAME,
    CHECKPOINT_NAME,
    CONFIG_NAME,
    LOG_NAME,
    MODEL_CONFIG,
    MODEL_WEIGHTS,
    STEP_GLOB,
    NotReadable,
    check_format,
    is_corpus,
    is_model_folder,
    is_run,
    is_training,
    read_json,
    read_log,
)
from .models import Critic, Generator
from .preparation import prepare_command

if TYPE_CHECKING:
    from .corpus import Corpus

# 2: the training time (`elapsed`) is saved, and the GPU's RNG state is one tensor; version 1
# files are brought to this form on loading (`_upgraded`), the one place that knows the change.
FORMAT, VERSION = "textwgan.checkpoint", 2
DEFAULT_ROOT = Path("checkpoints")  # where `train` puts a run given no --out
# Where `sample`, `eval` and `export` look for the newest run when given none: the default
# root, and runs/, where the README's own-text walk trains.
SEARCH_ROOTS = (DEFAULT_ROOT, Path("runs"))
EXPORT_KEYS = ("format", "version", "textwgan_version", "step", "config", "charset", "corpus",
               "generator", "metrics", "elapsed", "ratio", "ratio_record")
TRAINING_KEYS = ("critic", "opt_generator", "opt_critic", "rng")


# --------------------------------------------------------------------------------------------
# The schema


def training_checkpoint(state: dict, config: Config, corpus: Corpus, metrics: list[dict],
                        elapsed: float) -> dict:
    """Everything a run needs to continue exactly where it is: the header, and the training
    state (`TrainState.state_dict()`: step, nets, optimizers, RNG, weight average)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "textwgan_version": __version__,
        "config": config.to_dict(),
        "charset": list(corpus.charset.chars),
        # absolute: a relative path would name another corpus once the run resumes elsewhere
        "corpus": {"path": str(corpus.path.absolute()), "fingerprint": corpus.fingerprint,
                   "seq_len": corpus.seq_len, "normalization": corpus.meta["normalization"],
                   "prepare": prepare_command(corpus.meta, corpus.path.absolute())},
        "metrics": metrics,
        "elapsed": elapsed,
        **state,
    }


def refuse_export(ckpt: dict) -> None:
    if is_export(ckpt):
        raise InputError("a generator-only export cannot be resumed (it has no critic or "
                         "optimizer state); resume from the run's checkpoint.pt")


def load_optimizer(opt: torch.optim.Optimizer, state: dict) -> None:
    """An optimizer's saved state, run with this invocation's policy (`_own_policy`)."""
    opt.load_state_dict(state)
    _own_policy(opt)


def _own_policy(opt: torch.optim.Optimizer) -> None:
    """How an optimizer runs (fused, capturable, foreach) is this invocation's choice, not the
    saved run's, which load_state_dict brings back; Adam's step counts follow the choice
    (on the parameters' device for fused and capturable Adam, on the CPU otherwise)."""
    for group in opt.param_groups:
        for k in ("fused", "capturable", "foreach"):
            if k in opt.defaults:
                group[k] = opt.defaults[k]
        on_device = bool(group.get("fused") or group.get("capturable"))
        for p in group["params"]:
            st = opt.state.get(p, {})
            if torch.is_tensor(st.get("step")):
                st["step"] = st["step"].to(p.device if on_device else "cpu", torch.float32)


def _upgraded(ckpt: dict, version: int) -> dict:
    """A checkpoint of an older format version, in today's form."""
    if version < 2:
        if not isinstance(ckpt.get("elapsed"), (int, float)):  # the last evaluation's time
            metrics = ckpt.get("metrics")
            times = [m.get("time") for m in metrics if isinstance(m, dict)] \
                if isinstance(metrics, list) else []
            ckpt["elapsed"] = max((t for t in times if isinstance(t, (int, float))),
                                  default=0.0)
        rng = ckpt.get("rng")
        if isinstance(rng, dict) and isinstance(rng.get("cuda"), list):  # every GPU's state
            rng["cuda"] = rng["cuda"][0] if rng["cuda"] else None
        ckpt["version"] = 2
    return ckpt


def export_generator(ckpt: dict, critic: bool = True) -> dict:
    """What sampling needs: the generator's sampling weights and, unless `critic` is False,
    the run's critic (for reranking: it adds about as much as the generator again); no
    optimizer state, no RNG state."""
    out = {k: ckpt[k] for k in EXPORT_KEYS if k in ckpt} | {"export": "generator"}
    out["generator"] = sampling_weights(ckpt)
    if critic and "critic" in ckpt:
        out["critic"] = ckpt["critic"]
    elif not critic:  # the ratio is a critic's refit: it goes where the critic goes
        out.pop("ratio", None)
        out.pop("ratio_record", None)
    if "corpus" in out:  # the folder's name only: an absolute path of this machine means nothing
        out["corpus"] = out["corpus"] | {"path": Path(out["corpus"]["path"]).name}
    return out


def sampling_weights(ckpt: dict) -> dict:
    """The generator weights that sample: the moving average, where the run kept one."""
    return ckpt.get("generator_ema", ckpt["generator"])


def is_export(ckpt: dict) -> bool:
    return ckpt.get("export") == "generator"


# --------------------------------------------------------------------------------------------
# Files


def save_checkpoint(ckpt: dict, path: str | Path) -> Path:
    """Write atomically: a temporary file in the same folder, fsync, then rename over `path`."""
    return atomic_write(path, lambda f: torch.save(ckpt, f))


def link_checkpoint(src: Path, dst: Path) -> Path:
    """Make `dst` a second name of `src` (a copy where hard links are not supported),
    atomically: `dst` is whole or absent."""
    tmp = dst.with_name(f"{temp_prefix(dst.name)}link.tmp")
    try:
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_failure(dst, e, kept=dst.exists()) from None
    return dst


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load and check a checkpoint file. Never unpickles code: `weights_only=True`. (A model
    folder loads through modelfolder.load_any.)"""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        # torch.save has written zip archives since PyTorch 1.6; anything else is not ours, and
        # is never handed to the unpickler.
        raise InputError(f"{path}: not a textwgan checkpoint (not a PyTorch zip archive; "
                         "truncated, or a file of another kind)")
    _check_integrity(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        what = f" (it asks for {found.group(1)})" if found else ""
        raise InputError(f"{path}: refused: the file holds objects other than tensors and plain "
                         f"data, which could run code when loaded{what}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable checkpoint (truncated or damaged: "
                         f"{str(e).splitlines()[0] if str(e) else e.__class__.__name__})"
                         ) from None
    return check_checkpoint(ckpt, path)


def check_checkpoint(ckpt, where: Path) -> dict:
    """A loaded checkpoint (or a model folder read as one), checked before anything uses it:
    format, version, keys, settings, and every weight's shape."""
    version = check_format(ckpt, FORMAT, "version", VERSION, where, "checkpoint")
    try:
        _check_contents(_upgraded(ckpt, version))
    except InputError as e:
        raise InputError(f"{where}: damaged checkpoint: {e.message}") from None
    return ckpt


def _check_integrity(path: Path) -> None:
    """Every member's CRC: torch.load alone would load a flipped bit silently."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise InputError(f"{path}: not a readable checkpoint (truncated or damaged: {e})"
                         ) from None
    if bad is not None:
        raise InputError(f"{path}: damaged checkpoint: {bad} fails its checksum (a corrupted "
                         "copy or a failing disk); use another checkpoint, e.g. a step_*.pt")


def _check_contents(ckpt: dict) -> None:
    required = ["step", "config", "charset", "generator"]
    if not is_export(ckpt):
        required += [*TRAINING_KEYS, "metrics", "corpus", "elapsed"]
    missing = [k for k in required if k not in ckpt]
    if missing:
        raise InputError(f"it has no {', '.join(missing)}")
    step = ckpt["step"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise InputError(f"its step is {step!r}")
    metrics = ckpt.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, dict) for m in metrics):
        raise InputError("its metrics are not a list of records")
    for record in metrics:
        check_metric_record(record, f"its metrics record of step {record.get('step')!r}")
    corpus = ckpt.get("corpus", {})
    if not isinstance(corpus, dict) or not isinstance(corpus.get("path", ""), str) \
            or not isinstance(corpus.get("fingerprint") or "", str) \
            or not isinstance(corpus.get("normalization") or {}, dict) \
            or (not is_export(ckpt) and "path" not in corpus):
        raise InputError("its corpus record is malformed")
    if not is_export(ckpt):
        _check_training_state(ckpt)
    elapsed = ckpt.get("elapsed")
    if elapsed is not None and (isinstance(elapsed, bool) or not isinstance(elapsed, (int, float))
                                or not elapsed >= 0):
        raise InputError(f"its elapsed training time is {elapsed!r}")
    if "ratio" in ckpt:
        record = ckpt.get("ratio_record")
        if not isinstance(record, dict) or not all(
                isinstance(record.get(k), (int, float)) and not isinstance(record.get(k), bool)
                and record[k] == record[k] for k in ("a", "b")):
            raise InputError("its density-ratio calibration is malformed")
    ema = ckpt.get("ema_updates", 0)
    if not isinstance(ema, int) or isinstance(ema, bool) or ema < 0:
        raise InputError(f"its ema_updates is {ema!r}")
    if not isinstance(ckpt["config"], dict):
        raise InputError("its settings are not a dict")
    config = Config.from_dict(ckpt["config"])
    if not isinstance(ckpt["charset"], list):
        raise InputError("its charset is not a list of characters")
    charset = Charset(ckpt["charset"])
    nets = [("generator", Generator)] + ([("critic", Critic)] if "critic" in ckpt else []) + (
        [("generator_ema", Generator)] if "generator_ema" in ckpt else []) + (
        [("ratio", Critic)] if "ratio" in ckpt else [])
    for key, cls in nets:
        with torch.device("meta"):  # shapes only: no memory, no time
            expected = cls(config.model, len(charset)).state_dict()
        saved = ckpt[key]
        if not isinstance(saved, dict) or set(saved) != set(expected):
            raise InputError(f"its {key} weights do not match its settings")
        for name, tensor in expected.items():
            if not isinstance(saved[name], torch.Tensor) or saved[name].shape != tensor.shape:
                got = getattr(saved[name], "shape", type(saved[name]).__name__)
                raise InputError(f"its {key} weight {name} has shape {tuple(got)}, but its "
                                 f"settings and charset of {len(charset)} symbols need "
                                 f"{tuple(tensor.shape)}")
            _check_values(saved[name], f"{key} weight {name}")


def _check_training_state(ckpt: dict) -> None:
    """The parts only a training checkpoint has, shaped as torch saves them: optimizer state
    dicts and the RNG state (their contents are checked when they are loaded)."""
    for key in ("opt_generator", "opt_critic"):
        opt = ckpt[key]
        if not isinstance(opt, dict) or not isinstance(opt.get("state"), dict) \
                or not isinstance(opt.get("param_groups"), list):
            raise InputError(f"its {key} is not an optimizer's state")
    rng = ckpt["rng"]
    if not isinstance(rng, dict) or not isinstance(rng.get("torch"), torch.Tensor) \
            or rng["torch"].dtype != torch.uint8:
        raise InputError("its RNG state is malformed")


WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
TEXT_FIELDS = frozenset({"kind", "samples", "signature", "input", "protocol", "split"})


def _check_values(tensor: torch.Tensor, what: str) -> None:
    """Weights are real floating-point numbers, all finite: an integer or complex tensor of the
    right shape, or one NaN, would load and sample nothing but pad."""
    if tensor.dtype not in WEIGHT_DTYPES:
        raise InputError(f"its {what} is of type {str(tensor.dtype).removeprefix('torch.')}, "
                         "not floating point")
    if not torch.isfinite(tensor).all():
        raise InputError(f"its {what} holds NaN or infinite values")


def check_metric_record(record, what: str) -> None:
    """An evaluation record (a checkpoint's metrics, a model's evaluation): numbers where
    figures go, text only where text goes, so that a card or a table never formats text as a
    number."""
    if not isinstance(record, dict):
        raise InputError(f"{what} is not a record")
    for key, value in record.items():
        if key in TEXT_FIELDS:
            if value is not None and not isinstance(value, str):
                raise InputError(f"{what} holds {value!r} as its {key}, not text")
        elif value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                    or value != value):
            raise InputError(f"{what} holds {value!r} as its {key}, where a number belongs")


def _no_checkpoint_in(folder: Path) -> str:
    """Why a folder given as a checkpoint holds none, in the words that fit what it is."""
    if is_corpus(folder):
        return (f"{folder}: is a corpus folder, not a run; give a run folder or a checkpoint "
                "file (the corpus is what --corpus takes)")
    if (folder / MODEL_WEIGHTS).exists():  # shaped as a model folder, but not readable as one
        try:
            read_json(folder / MODEL_CONFIG)
            why = f"its {MODEL_CONFIG} is not a textwgan model's"
        except NotReadable as e:
            why = f"its {MODEL_CONFIG} {'is ' if e.reason == 'missing' else ''}{e.reason}"
        return (f"{folder}: a model folder that cannot be read: {why}; export it again with "
                "`textwgan export RUN --out FOLDER`")
    runs = sorted(p.parent.name for p in folder.glob(f"*/{CHECKPOINT_NAME}"))
    if runs:
        shown = ", ".join(runs[:5]) + (", …" if len(runs) > 5 else "")
        return (f"{folder}: holds runs, not a checkpoint of its own ({shown}); give one of "
                f"them, e.g. {folder / runs[-1]}")
    if is_run(folder):
        if is_training(folder):
            return first_save_note(folder)
        if any(folder.glob(STEP_GLOB)) or (folder / BEST_NAME).is_file():
            return (f"{folder}: has lost its {CHECKPOINT_NAME}; give one of its step_*.pt "
                    f"files, or resume it with `textwgan train --out {folder}`")
        return (f"{folder}: the run has no checkpoint yet (it is still training, or it stopped "
                "before its first save)")
    return f"{folder}: not a run folder (no {CHECKPOINT_NAME}); give a run folder or a checkpoint"


def first_save_note(folder: Path) -> str:
    """What to say of a run that is training and has not saved yet: when it will."""
    try:
        train = read_json(folder / CONFIG_NAME)["config"]["train"]
        save_every, iters = int(train["save_every"]), int(train["iters"])
    except (NotReadable, KeyError, TypeError, ValueError):
        save_every = iters = None
    logged = [r for r in read_log(folder / LOG_NAME) if r.get("kind") == "train"]
    where = ""
    if save_every and logged and isinstance(logged[-1].get("step"), int):
        step, rate = logged[-1]["step"], logged[-1].get("it_s")
        first = min(save_every, iters or save_every)
        when = f", in about {(first - step) / rate / 60:.0f} minutes" \
            if isinstance(rate, (int, float)) and rate > 0 and first > step else ""
        where = f" (it is at step {step:,}; the first save comes at step {first:,}{when})"
    return (f"{folder}: the run is training and has not saved yet{where}; sample it once it "
            "has, or stop it with Ctrl-C, which saves")


def saved_checkpoints(run_dir: Path) -> list[Path]:
    """A run folder's training checkpoints, newest first: checkpoint.pt, the step_*.pt files
    by step, then best.pt (never newer than checkpoint.pt)."""
    steps = sorted(run_dir.glob(STEP_GLOB), key=_step_number, reverse=True)
    return [p for p in (run_dir / CHECKPOINT_NAME, *steps, run_dir / BEST_NAME) if p.is_file()]


def _step_number(path: Path) -> int:
    digits = path.stem.removeprefix("step_")
    return int(digits) if digits.isdigit() else -1


def resumable_checkpoint(run_dir: Path, note=lambda message: None) -> tuple[Path, dict] | None:
    """The newest training checkpoint of a run folder that loads, and its contents (None: the
    folder has no checkpoint file). A lost checkpoint.pt falls back to the newest step_*.pt
    (or best.pt) that loads, and says so: restarting would throw the run away. A damaged
    checkpoint.pt is refused, naming the checkpoint that would be resumed once it is moved
    aside: the user decides whether to give up the steps since. Raises InputError when
    checkpoints exist and none loads."""
    candidates = saved_checkpoints(run_dir)
    failed, loaded = [], []
    for path in candidates:
        try:
            ckpt = load_checkpoint(path)
        except InputError as e:
            failed.append(e.message)
            continue
        if is_export(ckpt):
            failed.append(f"{path}: a generator-only export, which cannot be resumed")
            continue
        if path.name == CHECKPOINT_NAME:
            return path, ckpt
        loaded.append((path, ckpt))
    if loaded:
        # best.pt may be newer than the last step_*.pt (it is written between saves)
        path, ckpt = max(loaded, key=lambda found: found[1]["step"])
        head = run_dir / CHECKPOINT_NAME
        if failed and failed[0].startswith(str(head)):
            raise InputError(f"{failed[0]}; to resume from {path.name} (step {ckpt['step']:,})"
                             f", the newest checkpoint that loads, move it aside first: mv "
                             f"{head} {head}.damaged")
        note(f"{head} is missing; resuming from {path.name} (step {ckpt['step']:,}), the "
             "newest checkpoint that loads")
        return path, ckpt
    if candidates:
        raise InputError(failed[0] if len(candidates) == 1 else
                         f"{run_dir}: none of its {len(candidates)} checkpoints loads "
                         f"({failed[0]}); move them away to start the run again")
    return None


def checkpoint_kind(path: Path) -> str | None:
    """"training", "export", or None (not a readable textwgan checkpoint)."""
    if not is_torch_archive(path):
        return None
    try:
        ckpt = torch.load(path, map_location="meta", weights_only=True)
    except Exception:  # a damaged archive is nobody's checkpoint worth protecting
        return None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        return None
    return "export" if is_export(ckpt) else "training"


def find_checkpoint(spec: str | Path | None = None,
                    roots: tuple[Path, ...] = SEARCH_ROOTS) -> Path:
    """A checkpoint file from a file, a run folder, or (None) the newest run (by its
    checkpoint.pt) under any of `roots` (checkpoints/ and runs/), else the shipped
    generator."""
    if spec is not None:
        path = Path(spec)
        if path.is_file():
            return path
        if path.is_dir():
            if is_model_folder(path):
                return path
            if (path / CHECKPOINT_NAME).is_file():
                return path / CHECKPOINT_NAME
            raise InputError(_no_checkpoint_in(path))
        shipped = shipped_model_named(spec)
        if shipped is not None:
            return shipped
        raise InputError(f"{path}: no such checkpoint file, run folder or shipped model "
                         f"({', '.join(shipped_models())})")
    found = sorted((p for root in roots for p in Path(root).glob(f"*/{CHECKPOINT_NAME}")
                    if is_run(p.parent)), key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1]
    shipped = shipped_models().get(DEFAULT_MODEL)
    if shipped is not None:
        return shipped
    raise InputError(f"no run found under {' or '.join(f'{r}/' for r in roots)}; train one "
                     "with `textwgan train` or name a checkpoint")


# --------------------------------------------------------------------------------------------
# Random state


def rng_state(device: torch.device | None = None) -> dict:
    """The CPU generator's state, and the training GPU's when training on one."""
    state = {"torch": torch.get_rng_state()}
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device | None = None) -> None:
    """Restore onto `device`: the saved GPU state goes to whichever GPU trains now (under
    torchrun every rank holds the same stream, so each rank takes rank 0's saved state).
    Generator states are CPU byte tensors whatever device a checkpoint was mapped to."""
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda is not None and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda.cpu(), device)

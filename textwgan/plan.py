"""The plan of a `train` call: what it will do (a new run, a resumed one, a run found at
`--out`) and with which settings, decided and checked before anything is written. A function
of its arguments and the files it reads, so it is tested without training.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .checkpoint import resumable_checkpoint
from .config import (
    SCHEDULE_FIELDS,
    Config,
    ModelConfig,
    build_config,
    resumed_config,
    settings_diff,
)
from .distributed import SINGLE, Shard
from .errors import InputError, setting
from .layout import CHECKPOINT_NAME, kind_of
from .run import folder_kind


@dataclass(frozen=True)
class Request:
    """What a `train` call asks for, as given: a corpus (or None), a preset, an --out folder, a
    run to --resume, or a whole config, and settings that override the preset's."""

    corpus: object = None
    preset: str = "auto"
    out: Path | None = None
    resume: Path | None = None
    config: Config | None = None
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    config: Config  # before the corpus fixes seq_len
    run_dir: Path | None  # None: a new folder under checkpoints/, named once the corpus is known
    ckpt: dict | None = None  # the checkpoint the run continues from
    corpus_from_run: str | None = None  # a resumed run's own corpus, when none was given
    ckpt_path: Path | None = None  # the file `ckpt` was loaded from, for messages
    init: dict | None = None  # a new run's starting weights (--init), loaded and checked


def plan_run(request: Request, device_type: str = "cpu", shard: Shard = SINGLE,
             note=lambda message: None) -> Plan:
    """What `train` will do with this request; raises InputError for anything that
    conflicts."""
    r = request
    if r.resume is not None:
        plan = _resumed(r.corpus, r.resume, r.out, r.preset, r.config, note, r.overrides)
    else:
        plan = _new_or_found(r.out, r.preset, r.config, device_type, note, r.overrides)
    ckpt, run_dir, cfg = plan.ckpt, plan.run_dir, plan.config
    if ckpt is not None and cfg.train.iters < ckpt["step"]:
        raise InputError(f"{run_dir}: is at step {ckpt['step']:,} already; give "
                         f"{setting('iters')} {ckpt['step']:,} or more to continue it")
    if shard.active and run_dir is None:
        raise InputError(f"under torchrun, give {setting('out')}: every rank must name the "
                         "same run folder")
    if cfg.train.batch_size % shard.world:
        raise InputError(f"{setting('batch_size')} {cfg.train.batch_size} is the global "
                         f"batch and must divide evenly among the {shard.world} ranks")
    return plan


def _resumed(corpus, resume, out, preset, config, note, overrides) -> Plan:
    if config is not None:
        raise InputError("a resumed run keeps its own config")
    run_dir = Path(resume)
    if out is not None and Path(out).resolve() != run_dir.resolve():
        raise InputError(f"give {setting('resume')} or {setting('out')}, not both: a resumed "
                         "run stays in its folder")
    if preset not in ("auto", None):
        raise InputError(f"{setting('preset')} cannot change when resuming: a resumed run "
                         "keeps its settings")
    path, ckpt = resume_point(run_dir, note)
    return Plan(resumed_config(Config.from_dict(ckpt["config"]), **overrides), run_dir, ckpt,
                ckpt["corpus"]["path"] if corpus is None else None, path)


def _new_or_found(out, preset, config, device_type, note, overrides) -> Plan:
    """A new run, or (`out` holding a run with the same settings) that run, continued."""
    if config is not None:
        if preset != "auto" or any(v is not None for v in overrides.values()):
            raise InputError(f"give a whole config, or {setting('preset')} and settings, "
                             "not both")
        config = config.validate()
    else:
        config = build_config(preset, device_type, **overrides)
        if preset == "auto":
            note(f"preset: {config.preset} (auto, on {device_type})")
    init = None
    if config.train.init is not None:
        init, config = _initial(config, overrides, note)
    run_dir = Path(out) if out is not None else None
    found = (resumable_checkpoint(run_dir, note)
             if run_dir is not None and folder_kind(run_dir) == "run" else None)
    if found is None:
        return Plan(config, run_dir, init=init)
    path, ckpt = found
    saved = Config.from_dict(ckpt["config"])
    diff = settings_diff(saved, config.with_overrides(seq_len=saved.model.seq_len))
    if diff:
        raise InputError(f"{run_dir}: holds a run with other settings ({', '.join(diff)}); "
                         f"continue it with `textwgan train --resume {run_dir}` or choose "
                         f"another {setting('out')}")
    schedule = {k: getattr(config.train, k) for k in SCHEDULE_FIELDS}
    return Plan(saved.with_overrides(**schedule), run_dir, ckpt, ckpt_path=path)


def _initial(config: Config, overrides: dict, note) -> tuple[dict, Config]:
    """--init: the model a new run starts from, and the run's config with that model's
    network (the network settings given beside it, such as --infill, applied over it)."""
    from .checkpoint import find_checkpoint
    from .modelfolder import load_any

    spec = config.train.init
    path = find_checkpoint(spec)
    src = load_any(path)
    if "critic" not in src:
        raise InputError(f"{spec}: holds no critic, and a run needs one to go on training; "
                         "export it again keeping its critic, or name its run folder")
    network = {f.name for f in fields(ModelConfig)}
    given = {k: v for k, v in overrides.items() if k in network and v is not None}
    if config.model.infill and "infill" not in given:  # a whole config's own infill
        given["infill"] = config.model.infill
    model = replace(Config.from_dict(src["config"]).model, **given)
    note(f"starting from {path} (step {src['step']:,}) with its network")
    return src, replace(config, model=model).validate()


def resume_point(run_dir: Path, note=lambda message: None) -> tuple[Path, dict]:
    """The checkpoint `--resume` continues from, and its contents (loaded onto the CPU: state
    dicts move each tensor to its parameter's device, and RNG states must stay CPU
    tensors)."""
    kind = kind_of(run_dir)
    if kind == "corpus":
        raise InputError(f"{run_dir}: is a corpus folder, not a run; give {setting('resume')} "
                         "the folder of the run to continue")
    if kind == "model":
        raise InputError(f"{run_dir}: is a model folder (an export), which cannot be resumed: "
                         f"it has no optimizer state; give {setting('resume')} the run folder "
                         "it was exported from")
    if not run_dir.is_dir():
        what = "no such run folder" if not run_dir.exists() else \
            f"not a run folder with a {CHECKPOINT_NAME}"
        raise InputError(f"{run_dir}: {what}; give {setting('resume')} the folder of the run "
                         "to continue")
    found = resumable_checkpoint(run_dir, note)
    if found is None:
        if folder_kind(run_dir) == "run":
            raise InputError(f"{run_dir}: the run stopped before its first save, so there is "
                             "nothing to resume; start it again with `textwgan train CORPUS "
                             f"--out {run_dir}`")
        raise InputError(f"{run_dir}: not a run folder (no {CHECKPOINT_NAME}); give "
                         f"{setting('resume')} the folder of the run to continue")
    return found



"""Model folders: the way generative models are shared (transformers, diffusers, timm).

    model.safetensors   the generator's sampling weights ("generator.*"), and the critic's
                        ("critic.*") unless exported without it, with the density-ratio
                        classifier resampling weighs by ("ratio.*", ratio.py)
    config.json         format and version, the model settings, the charset, the sequence
                        length, the text normalization, the corpus (name, fingerprint), the
                        step, training time, the textwgan version; the SHA-256 of the other
                        two files and of itself ("checksums"), so that a damaged weights file
                        is refused on loading, and a folder is written over only while every
                        file in it is as textwgan wrote it
    README.md           the model card: data, steps, time, the evaluation with its floor and
                        signature, unedited samples, how to load it

A folder loads from disk or from the Hugging Face Hub (`hf:OWNER/NAME[@REVISION]`, through
huggingface_hub, with its cache, offline mode and tokens). Loading reads tensors with
safetensors and JSON with json: nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .checkpoint import (
    FORMAT,
    VERSION,
    check_checkpoint,
    check_metric_record,
    load_checkpoint,
    sampling_weights,
)
from .errors import InputError
from .fileio import file_mode, refuse_broken_link, replace_folder, temp_prefix, write_failure
from .layout import (
    MODEL_CARD,
    MODEL_CONFIG,
    MODEL_FILES,
    MODEL_FORMAT,
    MODEL_WEIGHTS,
    NotReadable,
    check_format,
    is_model_folder,
    json_text,
    read_json,
)

MODEL_VERSION = 1
WEIGHTS_NAME, CONFIG_NAME, CARD_NAME = MODEL_WEIGHTS, MODEL_CONFIG, MODEL_CARD
FOLDER_FILES = MODEL_FILES
HUB_PREFIX = "hf:"


def is_hub_spec(spec) -> bool:
    return isinstance(spec, str) and spec.startswith(HUB_PREFIX)


def load_any(path) -> dict:
    """A checkpoint file or a model folder, loaded and checked."""
    path = Path(path)
    return read_folder(path) if path.is_dir() and is_model_folder(path) else \
        load_checkpoint(path)


# --------------------------------------------------------------------------------------------
# Writing


def folder_config(ckpt: dict, about: dict | None = None) -> dict:
    """config.json: what loading needs, and (`about`) what a shipped model adds: its
    description and the evaluation it was shipped with."""
    corpus = ckpt.get("corpus") or {}
    return {**(about or {}), "format": MODEL_FORMAT, "format_version": MODEL_VERSION,
            "textwgan_version": __version__, "config": ckpt["config"],
            "charset": list(ckpt["charset"]), "seq_len": ckpt["config"]["model"]["seq_len"],
            "normalization": corpus.get("normalization"),
            "corpus": {"name": Path(corpus.get("path", "")).name or None,
                       "fingerprint": corpus.get("fingerprint")},
            "step": ckpt["step"], "elapsed": ckpt.get("elapsed"),
            "metrics": [m for m in ckpt.get("metrics", []) if m.get("kind") == "eval"][-1:],
            **({"ratio": ckpt["ratio_record"]} if "ratio" in ckpt else {})}


def model_summary(folder: Path) -> dict:
    """What `textwgan models` shows of a model folder, from its config.json and the header of
    its weights file (no weights are loaded)."""
    from safetensors import safe_open

    folder = Path(folder)
    config = read_json(folder / CONFIG_NAME)
    with safe_open(str(folder / WEIGHTS_NAME), "pt") as f:
        critic = any(k.startswith("critic.") for k in f.keys())  # noqa: SIM118 (not a dict)
    scored = config.get("evaluation") or {}
    return {"name": folder.name, "corpus": (config.get("corpus") or {}).get("name"),
            "description": config.get("description", ""), "step": config.get("step"),
            "minutes": (config.get("elapsed") or 0) / 60, "critic": critic,
            **{k: scored.get(k) for k in ("js4", "floor_js4", "word_validity",
                                          "floor_word_validity", "n", "signature")},
            "path": str(folder)}


def model_tensors(ckpt: dict, critic: bool) -> dict:
    tensors = {f"generator.{k}": v.contiguous() for k, v in sampling_weights(ckpt).items()}
    if critic and "critic" in ckpt:
        tensors |= {f"critic.{k}": v.contiguous() for k, v in ckpt["critic"].items()}
        tensors |= {f"ratio.{k}": v.contiguous() for k, v in ckpt.get("ratio", {}).items()}
    return tensors


def write_folder(ckpt: dict, out: Path, critic: bool = True, card: str = "",
                 about: dict | None = None) -> Path:
    """The model folder of a checkpoint at `out`, written whole or not at all."""
    out = Path(out)
    check_model_out(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), suffix=".tmp",
                                    dir=out.parent))
    except OSError as e:
        raise InputError(f"{out}: cannot write the model folder here ({e.strerror})") from None
    try:
        _save_tensors(model_tensors(ckpt, critic), tmp / WEIGHTS_NAME)
        os.chmod(tmp / WEIGHTS_NAME, file_mode())  # as open() would make it
        (tmp / CARD_NAME).write_text(card, encoding="utf-8")
        config = folder_config(ckpt, about)
        config["checksums"] = {name: file_sha256(tmp / name) for name in (WEIGHTS_NAME,
                                                                           CARD_NAME)}
        (tmp / CONFIG_NAME).write_text(sealed_json(config), encoding="utf-8")
        os.chmod(tmp, 0o755)
        replace_folder(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_failure(out, e, kept=os.path.lexists(out)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _save_tensors(tensors: dict, path: Path) -> None:
    """safetensors' writer, its I/O failures (reported as SafetensorError with the OS's words)
    raised as the OSError they are."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(tensors, str(path), metadata={"format": MODEL_FORMAT})
    except SafetensorError as e:
        import errno

        code = re.search(r"os error (\d+)", str(e))
        number = int(code.group(1)) if code else errno.EIO
        raise OSError(number, os.strerror(number)) from None


SELF = "config.json"  # the key, inside "checksums", of config.json's own digest


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _own_digest(config: dict) -> str:
    """config.json's digest: of its content without the digest itself, keys sorted."""
    sums = {k: v for k, v in (config.get("checksums") or {}).items() if k != SELF}
    body = {**config, "checksums": sums}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def sealed_json(config: dict) -> str:
    """config.json's text, its own digest added to its checksums."""
    config = {**config, "checksums": {**config.get("checksums", {})}}
    config["checksums"][SELF] = _own_digest(config)
    return json_text(config)


def changed_files(folder: Path, config: dict) -> list[str]:
    """The files of a model folder that are not as textwgan wrote them: edited, damaged, or
    (a folder of an older export, which recorded no checksums) not known to be."""
    sums = config.get("checksums")
    if not isinstance(sums, dict):
        return list(FOLDER_FILES)
    changed = [] if sums.get(SELF) == _own_digest(config) else [CONFIG_NAME]
    for name in (WEIGHTS_NAME, CARD_NAME):
        try:
            if sums.get(name) != file_sha256(folder / name):
                changed.append(name)
        except OSError:
            changed.append(name)
    return changed


def check_model_out(out: Path, source: Path | None = None) -> None:
    """A model folder replaces only an earlier model folder that holds nothing else, each of
    whose files is as textwgan wrote it (a model card edited before uploading is kept), and
    never the folder it is exported from."""
    refuse_broken_link(out)
    if not os.path.lexists(out):
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; give --out a new folder for the "
                         "model (or a name ending in .pt for a single-file export)")
    if source is not None and (out.resolve() == source.resolve()
                               or out.resolve() in source.resolve().parents):
        raise InputError(f"{out}: is where the model being exported comes from; choose "
                         "another --out")
    entries = sorted(e.name for e in os.scandir(out))
    if not entries:
        return
    if not is_model_folder(out) or set(entries) - set(FOLDER_FILES):
        shown = ", ".join(entries[:4]) + (", …" if len(entries) > 4 else "")
        raise InputError(f"{out}: exists and is not a model folder made by textwgan (it holds "
                         f"{shown}); choose another --out")
    changed = changed_files(out, read_json(out / CONFIG_NAME))
    if changed:
        raise InputError(f"{out}: {', '.join(changed)} changed since textwgan wrote "
                         f"{'them' if len(changed) > 1 else 'it'} (or the folder is an older "
                         "export that recorded no checksums); choose another --out, or move "
                         "the folder away first")


def model_card(ckpt: dict, samples: list[str], name: str, critic: bool,
               about: dict | None = None) -> str:
    """The README.md of a model folder, from what the checkpoint recorded and (`about`, for a
    shipped model) the evaluation it was shipped with."""
    cfg, corpus = ckpt["config"], ckpt.get("corpus") or {}
    minutes = (ckpt.get("elapsed") or 0) / 60
    about = about or {}
    critic = critic and "critic" in ckpt  # what the folder holds, not what was asked
    lines = [f"# {name}", "", *([about["description"], ""] if about.get("description") else []),
             f"A character-level text GAN (WGAN-GP) trained with textwgan {__version__}. "
             "textwgan is not on the package index yet: install it from a clone of its "
             "repository (`pip install .`) or from a wheel built there (`pip wheel .`).", "",
             "## Training", "",
             f"- data: the corpus `{Path(corpus.get('path', '?')).name}` (fingerprint "
             f"`{str(corpus.get('fingerprint'))[:12]}`), {cfg['model']['seq_len']} characters "
             f"per line, {len(ckpt['charset'])} characters in the charset",
             f"- preset `{ckpt['config'].get('preset', 'custom')}`: {ckpt['step']:,} generator "
             f"steps, {minutes:.1f} minutes of training",
             f"- networks: {_networks(cfg['model'])}",
             f"- exported on {platform.machine()} with torch "
             f"{__import__('torch').__version__}; critic "
             f"{'included (sample --rerank works)' if critic else 'left out'}",
             *_ratio_line(ckpt, critic), "",
             *_card_evaluation(ckpt, about)]
    lines += ["## Samples (argmax, seed 0, unedited)", "", "```text", *samples, "```", "",
              "## Loading", "", "```sh", "textwgan sample -n 10 --checkpoint THIS_FOLDER",
              "textwgan sample -n 10 --checkpoint hf:OWNER/NAME   # once uploaded", "```", "",
              "```python", "import textwgan", 'gen = textwgan.load_generator("THIS_FOLDER")',
              "print(gen.sample(10, seed=0))", "```", "",
              "Upload with the Hub's own client: `hf upload OWNER/NAME THIS_FOLDER`.", ""]
    return "\n".join(lines)


def _ratio_line(ckpt: dict, critic: bool) -> list[str]:
    if not critic or "ratio" not in ckpt:
        return []
    r = ckpt["ratio_record"]
    accuracy = r.get("validation_accuracy")
    told = f", {accuracy:.1%} of validation lines told from samples" \
        if isinstance(accuracy, float) else ""
    return [f"- density ratio for resampling (`sample --rerank K`): a refit of the critic, "
            f"{r.get('steps', '?')} steps, Platt-calibrated{told}"]


ABOUT_KEYS = ("description", "evaluation", "evaluation_reranked", "notes", "reproduce",
              "corpus_rebuild")


def _networks(m: dict) -> str:
    critic_width = m.get("critic_channels") or m["channels"]
    critic_depth = m["n_blocks"] if m.get("critic_blocks") is None else m["critic_blocks"]
    return (f"generator {m['channels']} channels × {m['n_blocks']} residual blocks, critic "
            f"{critic_width} × {critic_depth}, noise {m['noise_dim']}")


_CARD_ROWS = [("JS-1", "js1", ".3f"), ("JS-2", "js2", ".3f"), ("JS-3", "js3", ".3f"),
              ("JS-4", "js4", ".3f"), ("real words", "word_validity", ".1%"),
              ("LM bits/char", "lm_bpc", ".3f"), ("distinct-4", "distinct_4", ".1%"),
              ("copies of training lines", "copy_rate", ".1%")]


def _card_evaluation(ckpt: dict, about: dict) -> list[str]:
    """The card's evaluation: the shipped scoring where there is one, else the run's last."""
    scored = about.get("evaluation")
    if scored is None:
        evals = [m for m in ckpt.get("metrics", []) if m.get("kind") == "eval" and "js4" in m]
        if not evals:
            return []
        scored = evals[-1]
        title = f"the run's evaluation at step {scored.get('step', 0):,}"
        if scored.get("step") != ckpt["step"]:  # a save between evaluations: say so
            title += (f", before these weights of step {ckpt['step']:,}: their own figures "
                      "differ; score them with textwgan eval")
    else:
        title = f"{scored['n']:,} argmax samples, seed {scored['seed']}, against the test split"
    reranked = about.get("evaluation_reranked")
    header = "| metric | samples |" + (f" reranked (K={reranked['rerank']}) |" if reranked
                                        else "") + " real text |"
    lines = [f"## Evaluation ({title})", "", header, "|---" * header.count(" |") + "|"]
    for label, key, spec in _CARD_ROWS:
        if scored.get(key) is None or scored.get(f"floor_{key}") is None:
            continue
        cells = [format(scored[key], spec)]
        if reranked:
            cells.append(format(reranked[key], spec) if reranked.get(key) is not None else "-")
        lines.append(f"| {label} | {' | '.join(cells)} | {format(scored[f'floor_{key}'], spec)} |")
    lines += ["", f"`{scored.get('signature', 'n: ' + str(scored.get('n')))}`", ""]
    if about.get("notes"):  # what the figures mean against what was aimed for
        lines += [*(f"- {note}" for note in about["notes"]), ""]
    if about.get("reproduce"):
        lines += ["Reproduce the scoring:", "", "```sh", *about["reproduce"], "```", ""]
    return lines


# --------------------------------------------------------------------------------------------
# Reading


def read_folder(folder: Path) -> dict:
    """A model folder as a checkpoint dict (an export), checked like any checkpoint; one
    line for a missing or damaged file, a newer format, or a file that is not safetensors."""
    folder = Path(folder)
    missing = [n for n in (WEIGHTS_NAME, CONFIG_NAME) if not (folder / n).is_file()]
    if missing:
        raise InputError(f"{folder}: model folder without {', '.join(missing)}; export it again "
                         "with `textwgan export RUN --out FOLDER`")
    try:
        config = read_json(folder / CONFIG_NAME)
    except NotReadable as e:
        raise InputError(f"{e.path}: {e.reason}") from None
    check_format(config, MODEL_FORMAT, "format_version", MODEL_VERSION, folder, "model")
    if not isinstance(config.get("corpus") or {}, dict):
        raise InputError(f"{folder / CONFIG_NAME}: its corpus record is malformed")
    _check_weights_sum(folder, config)
    tensors = _read_tensors(folder / WEIGHTS_NAME)
    parts = {"generator": {}, "critic": {}, "ratio": {}}
    for key, value in tensors.items():
        net, _, name = key.partition(".")
        if net in parts:
            parts[net][name] = value
    ckpt = {"format": FORMAT, "version": VERSION, "export": "generator",
            "textwgan_version": config.get("textwgan_version"), "step": config.get("step"),
            "config": config.get("config"), "charset": config.get("charset"),
            "corpus": {"path": (config.get("corpus") or {}).get("name") or "",
                       "fingerprint": (config.get("corpus") or {}).get("fingerprint"),
                       "normalization": config.get("normalization")},
            "generator": parts["generator"], "metrics": config.get("metrics") or [],
            "elapsed": config.get("elapsed")}
    if parts["critic"]:
        ckpt["critic"] = parts["critic"]
    if parts["ratio"]:
        if not isinstance(config.get("ratio"), dict):
            raise InputError(f"{folder / CONFIG_NAME}: its density-ratio classifier has no "
                             "calibration record; refit it with `textwgan calibrate`")
        ckpt["ratio"], ckpt["ratio_record"] = parts["ratio"], config["ratio"]
    for key in ("evaluation", "evaluation_reranked"):
        if config.get(key) is not None:
            check_metric_record(config[key], f"its {key}")
    return check_checkpoint(ckpt, folder)


def _check_weights_sum(folder: Path, config: dict) -> None:
    """The weights are the bytes the export wrote (a folder of an older export, which
    recorded no checksum, is read as it is)."""
    sums = config.get("checksums")
    if not isinstance(sums, dict) or WEIGHTS_NAME not in sums:
        return
    try:
        actual = file_sha256(folder / WEIGHTS_NAME)
    except OSError as e:
        raise InputError(f"{folder / WEIGHTS_NAME}: cannot be read ({e.strerror})") from None
    if actual != sums[WEIGHTS_NAME]:
        raise InputError(f"{folder / WEIGHTS_NAME}: damaged: its SHA-256 differs from the one "
                         "its config.json recorded (a corrupted copy or download), so nothing "
                         "in it was run; download or export it again")


def _read_tensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise InputError(f"{path}: is not a regular file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise InputError(f"{path}: not a readable safetensors file (damaged, or a file of "
                         f"another kind: {str(e).splitlines()[0] if str(e) else 'no detail'}); "
                         "nothing in it was run") from None


_HUB_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_HUB_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,254}")


def hub_folder(spec: str) -> Path:
    """The local copy of `hf:OWNER/NAME[@REVISION]`, downloaded through huggingface_hub (its
    cache, offline mode and token); one line when it cannot be had."""
    repo, at, revision = spec[len(HUB_PREFIX):].partition("@")
    if not _HUB_REPO.fullmatch(repo) or ".." in repo or "--" in repo:
        raise InputError(f"{spec!r}: not a Hub model name; expected hf:OWNER/NAME or "
                         "hf:OWNER/NAME@REVISION, each part letters, digits, '-', '_' or '.'")
    if at and not _HUB_REVISION.fullmatch(revision):
        raise InputError(f"{spec!r}: the revision after '@' must be a branch, a tag or a "
                         "commit (letters, digits, '-', '_', '.' or '/')")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise InputError("loading from the Hub needs huggingface_hub: pip install "
                         "huggingface_hub") from None
    try:
        path = snapshot_download(repo, revision=revision or None,
                                 allow_patterns=list(FOLDER_FILES))
    except RepositoryNotFoundError:
        raise InputError(f"{spec}: no such model repository on the Hugging Face Hub (or it is "
                         "private: log in with `hf auth login`)") from None
    except RevisionNotFoundError:
        raise InputError(f"{spec}: the repository has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        raise InputError(f"{spec}: not in the local cache, and the Hugging Face Hub cannot be "
                         "reached (offline: HF_HUB_OFFLINE=1, or no network)") from None
    except Exception as e:  # the client's network errors vary with its version
        raise InputError(f"{spec}: could not download it ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    if not is_model_folder(path):
        raise InputError(f"{spec}: is not a textwgan model (no config.json of format "
                         f"{MODEL_FORMAT!r})")
    return Path(path)

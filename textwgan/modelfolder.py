"""Model folders: the way generative models are shared (transformers, diffusers, timm).

    model.safetensors   the generator's sampling weights ("generator.*"), and the critic's
                        ("critic.*") unless exported without it
    config.json         format and version, the model settings, the charset, the sequence
                        length, the text normalization, the corpus (name, fingerprint), the
                        step, training time, the textwgan version
    README.md           the model card: data, steps, time, the evaluation with its floor and
                        signature, unedited samples, how to load it

A folder loads from disk or from the Hugging Face Hub (`hf:OWNER/NAME[@REVISION]`, through
huggingface_hub, with its cache, offline mode and tokens). Loading reads tensors with
safetensors and JSON with json: nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .checkpoint import FORMAT, VERSION, check_checkpoint, load_checkpoint, sampling_weights
from .errors import InputError
from .fileio import replace_folder, temp_prefix, umask
from .layout import (
    MODEL_CARD,
    MODEL_CONFIG,
    MODEL_FILES,
    MODEL_FORMAT,
    MODEL_WEIGHTS,
    check_format,
    is_model_folder,
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
            "metrics": [m for m in ckpt.get("metrics", []) if m.get("kind") == "eval"][-1:]}


def model_summary(folder: Path) -> dict:
    """What `textwgan models` shows of a model folder, from its config.json and the header of
    its weights file (no weights are loaded)."""
    from safetensors import safe_open

    folder = Path(folder)
    config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
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
    return tensors


def write_folder(ckpt: dict, out: Path, critic: bool = True, card: str = "",
                 about: dict | None = None) -> Path:
    """The model folder of a checkpoint at `out`, written whole or not at all."""
    from safetensors.torch import save_file

    out = Path(out)
    check_model_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), suffix=".tmp", dir=out.parent))
    try:
        save_file(model_tensors(ckpt, critic), str(tmp / WEIGHTS_NAME),
                  metadata={"format": MODEL_FORMAT})
        os.chmod(tmp / WEIGHTS_NAME, 0o666 & ~umask())  # as open() would make it
        (tmp / CONFIG_NAME).write_text(json.dumps(folder_config(ckpt, about), indent=1,
                                                  ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / CARD_NAME).write_text(card, encoding="utf-8")
        os.chmod(tmp, 0o755)
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_model_out(out: Path) -> None:
    """A model folder replaces only an earlier model folder that holds nothing else."""
    if not os.path.lexists(out):
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; give --out a new folder for the "
                         "model (or a name ending in .pt for a single-file export)")
    entries = sorted(e.name for e in os.scandir(out))
    if entries and (not is_model_folder(out) or set(entries) - set(FOLDER_FILES)):
        shown = ", ".join(entries[:4]) + (", …" if len(entries) > 4 else "")
        raise InputError(f"{out}: exists and is not a model folder made by textwgan (it holds "
                         f"{shown}); choose another --out")


def model_card(ckpt: dict, samples: list[str], name: str, critic: bool,
               about: dict | None = None) -> str:
    """The README.md of a model folder, from what the checkpoint recorded and (`about`, for a
    shipped model) the evaluation it was shipped with."""
    cfg, corpus = ckpt["config"], ckpt.get("corpus") or {}
    minutes = (ckpt.get("elapsed") or 0) / 60
    about = about or {}
    lines = [f"# {name}", "", *([about["description"], ""] if about.get("description") else []),
             "A character-level text GAN (WGAN-GP) trained with "
             f"[textwgan](https://pypi.org/project/textwgan/) {__version__}.", "",
             "## Training", "",
             f"- data: the corpus `{Path(corpus.get('path', '?')).name}` (fingerprint "
             f"`{str(corpus.get('fingerprint'))[:12]}`), {cfg['model']['seq_len']} characters "
             f"per line, {len(ckpt['charset'])} characters in the charset",
             f"- preset `{ckpt['config'].get('preset', 'custom')}`: {ckpt['step']:,} generator "
             f"steps, {minutes:.1f} minutes of training",
             f"- networks: {_networks(cfg['model'])}",
             f"- exported on {platform.machine()} with torch "
             f"{__import__('torch').__version__}; critic "
             f"{'included (sample --rerank works)' if critic else 'left out'}", "",
             *_card_evaluation(ckpt, about)]
    lines += ["## Samples (argmax, seed 0, unedited)", "", "```text", *samples, "```", "",
              "## Loading", "", "```sh", "textwgan sample -n 10 --checkpoint THIS_FOLDER",
              "textwgan sample -n 10 --checkpoint hf:OWNER/NAME   # once uploaded", "```", "",
              "```python", "import textwgan", 'gen = textwgan.load_generator("THIS_FOLDER")',
              "print(gen.sample(10, seed=0))", "```", "",
              "Upload with the Hub's own client: `hf upload OWNER/NAME THIS_FOLDER`.", ""]
    return "\n".join(lines)


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
        scored, title = evals[-1], "the run's last, against the held-out split"
    else:
        title = f"{scored['n']:,} argmax samples, seed {scored['seed']}, against the held-out split"
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
        config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{folder / CONFIG_NAME}: not readable JSON ({e})") from None
    check_format(config, MODEL_FORMAT, "format_version", MODEL_VERSION, folder, "model")
    if not isinstance(config.get("corpus") or {}, dict):
        raise InputError(f"{folder / CONFIG_NAME}: its corpus record is malformed")
    tensors = _read_tensors(folder / WEIGHTS_NAME)
    parts = {"generator": {}, "critic": {}}
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
    return check_checkpoint(ckpt, folder)


def _read_tensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise InputError(f"{path}: not a readable safetensors file (damaged, or a file of "
                         f"another kind: {str(e).splitlines()[0] if str(e) else 'no detail'}); "
                         "nothing in it was run") from None


def hub_folder(spec: str) -> Path:
    """The local copy of `hf:OWNER/NAME[@REVISION]`, downloaded through huggingface_hub (its
    cache, offline mode and token); one line when it cannot be had."""
    repo, _, revision = spec[len(HUB_PREFIX):].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise InputError(f"{spec}: expected hf:OWNER/NAME or hf:OWNER/NAME@REVISION")
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

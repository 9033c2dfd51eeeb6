"""A model folder's density ratio (ratio.py), fitted and kept: `export` fits one where the run
has none, `textwgan calibrate` fits one again. Here because it needs both a generator that
samples (sample.py) and a folder to write (modelfolder.py), which must not import each
other.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .layout import MODEL_CONFIG, read_json
from .modelfolder import (
    ABOUT_KEYS,
    check_model_out,
    model_card,
    read_folder,
    write_folder,
)
from .sample import generator_from


def with_ratio(ckpt: dict, source: Path, note) -> dict:
    """The checkpoint with its density ratio: its own, else one fitted now on the corpus it
    was trained on; without that corpus, as it is (`note` says so)."""
    if "critic" not in ckpt or "ratio" in ckpt:
        return ckpt
    gen = generator_from(ckpt, source)
    try:
        ratio = gen.ensure_ratio(note)
    except InputError as e:
        note(f"no density ratio for resampling goes with it ({e.message}); `textwgan "
             "calibrate FOLDER --corpus CORPUS` fits one later")
        return ckpt
    return _holding(ckpt, ratio)


def _holding(ckpt: dict, ratio) -> dict:
    """The checkpoint with `ratio` as the one it keeps (what an export writes)."""
    return {**ckpt, "ratio": ratio.net.state_dict(), "ratio_record": ratio.record()}


def calibrate_folder(folder: Path, corpus=None, steps: int | None = None,
                     note=lambda message: None) -> dict:
    """Fit the density ratio of a model folder again (on `corpus`, else the one it was
    trained on) and write the folder anew, its card included; the folder must be as
    textwgan wrote it. Returns the calibration record."""
    from .scoring import recorded_corpus, scoring_corpus

    folder = Path(folder)
    check_model_out(folder)  # unchanged since written, or refused before any work
    ckpt = read_folder(folder)
    if "critic" not in ckpt:
        raise InputError(f"{folder}: holds no critic, so no density ratio can be fitted; export "
                         "the run with its critic")
    config = read_json(folder / MODEL_CONFIG)
    gen = generator_from(ckpt, folder)
    c = scoring_corpus(corpus) if corpus is not None else recorded_corpus(gen.corpus, folder)
    ratio = gen.fitted_ratio(c, steps, note)
    ckpt = _holding(ckpt, ratio)
    about = {k: config[k] for k in ABOUT_KEYS if k in config}
    samples = generator_from(ckpt, folder).sample(8, seed=0)
    write_folder(ckpt, folder, True, model_card(ckpt, samples, folder.name, True, about), about)
    return ckpt["ratio_record"]

"""What ships inside the package, and where it lies: the bundled corpora (the COCO captions,
`coco`) and the shipped generators (model folders: `coco`, `news`). Their files are under
`textwgan/assets/`, read through importlib.resources so an installed wheel finds them too.

A local path always wins over a bundled or shipped name: `coco` means the bundled corpus
only where no file or folder of that name exists here.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .errors import InputError, setting
from .layout import corpus_shaped, is_model_folder

DEFAULT_MODEL = "coco"  # what `sample` uses when no run exists yet


def assets_root() -> Path:
    return Path(str(resources.files("textwgan") / "assets"))


def bundled_corpus_path(name: str = "coco") -> Path:
    """A corpus bundled inside the installed package (the COCO captions: `coco`)."""
    return assets_root() / "corpora" / name


def bundled_names() -> list[str]:
    folder = assets_root() / "corpora"
    return sorted(p.name for p in folder.iterdir() if corpus_shaped(p))


def bundled_by_name(spec) -> Path | None:
    """The bundled corpus that `spec` names (`coco`, or `corpora/coco` as the help examples in
    a clone spell it) when nothing exists at that path here: a local folder of the same name
    wins."""
    if not isinstance(spec, (str, Path)) or Path(spec).exists():
        return None
    name = Path(spec).name
    return bundled_corpus_path(name) if name in bundled_names() else None


def shipped_root() -> Path:
    """Where the generators shipped inside the package lie."""
    return assets_root() / "generators"


def shipped_models() -> dict[str, Path]:
    """The generators shipped inside the package (model folders), by name."""
    root = shipped_root()
    return {p.name: p for p in sorted(root.iterdir()) if is_model_folder(p)} \
        if root.is_dir() else {}


def shipped_model_named(spec) -> Path | None:
    """The shipped model a name means, where no file or folder of that name exists here."""
    if not isinstance(spec, (str, os.PathLike)) or os.path.lexists(spec):
        return None
    return shipped_models().get(str(spec))


def shipped_generator(name: str = DEFAULT_MODEL) -> Path:
    """A shipped generator's model folder, or one line naming those there are."""
    models = shipped_models()
    if name not in models:
        raise InputError(f"{setting('model')}: no shipped model named {name!r}; textwgan ships "
                         f"{', '.join(models) or 'none'} (see: textwgan models)")
    return models[name]

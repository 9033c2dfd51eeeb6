"""What scoring keeps on disk: the tables a corpus's reference builds once (n-gram counts,
the Kneser–Ney LM of its training text, its words, its floors) are saved under
`$TEXTWGAN_CACHE/scores/`, keyed by the corpus fingerprint, the split and the settings they
depend on, so a second `eval` against the same corpus reads them instead of building them
(as torch-fidelity caches reference statistics). Only corpus folders are cached: their
fingerprint names their text. Files are written atomically; two processes filling the same
entry write the same bytes, and the last rename wins.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .fileio import atomic_write, default_cache_dir
from .layout import NotReadable, read_small

CACHE_VERSION = 1  # changes whenever what is stored, or how it is computed, changes
MAX_ENTRY = 1 << 31


class ScoreCache:
    """The disk entries of one reference: a corpus (by fingerprint) and one of its splits.
    `folder` None: nothing is stored (a reference from a text file or arrays)."""

    def __init__(self, fingerprint: str | None, split: str):
        self.folder = (default_cache_dir() / "scores" / f"v{CACHE_VERSION}" / fingerprint[:32]
                       / split) if fingerprint else None

    def arrays(self, name: str, make: Callable[[], dict[str, np.ndarray]]
               ) -> dict[str, np.ndarray]:
        """The arrays stored as `name`, else `make()`'s, stored for the next process."""
        path = self._path(name, "npz")
        if path is not None:
            try:
                with np.load(io.BytesIO(read_small(path, MAX_ENTRY)), allow_pickle=False) as z:
                    return {k: z[k] for k in z.files}
            except (NotReadable, ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile):
                pass  # absent or torn: made again below, and written whole
        made = make()
        if path is not None:
            self._store(path, lambda f: np.savez(f, **made))
        return made

    def record(self, name: str, make: Callable[[], dict]) -> dict:
        """A JSON record stored as `name`, else `make()`'s, stored."""
        path = self._path(name, "json")
        if path is not None:
            try:
                return json.loads(read_small(path).decode("utf-8"))
            except (NotReadable, ValueError):
                pass
        made = make()
        if path is not None:
            self._store(path, lambda f: f.write(json.dumps(made).encode("utf-8")))
        return made

    def _path(self, name: str, suffix: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{name}.{suffix}"

    @staticmethod
    def _store(path: Path, write) -> None:
        """Best effort: a cache that cannot be written only means building again next time."""
        try:
            atomic_write(path, write)
        except Exception:  # noqa: BLE001 (a read-only or full cache is not the user's error)
            pass

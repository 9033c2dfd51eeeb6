"""TensorBoard event files for a run (`train --tensorboard`), written beside its log.jsonl from
the same records: a scalar for every figure in the log (the W estimate, the penalty, both
losses, it/s; JS-1..4 beside their floors, distinct), each evaluation's samples as text, and
from the diagnostics records the critic's weight histogram and per-layer gradient norms.

A resumed run writes on from the step it resumed at: its first event tells TensorBoard to drop
what an earlier invocation wrote past that step, so every step appears once. Needs the
`tensorboard` package (`pip install 'textwgan[tensorboard]'`).
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .fileio import write_failure

BOARD_DIR = "tensorboard"
SCALARS = {"train": ("w_estimate", "penalty", "critic_loss", "generator_loss", "it_s"),
           "eval": ("js1", "js2", "js3", "js4", "floor_js1", "floor_js2", "floor_js3",
                    "floor_js4", "distinct"),
           "diag": ("slope_mean", "slope_std")}


def check_available() -> None:
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise InputError("--tensorboard needs the tensorboard package: pip install "
                         "'textwgan[tensorboard]' (or pip install tensorboard)") from None


def check_writable(folder: Path) -> None:
    """The events folder can be written: checked here, in one line, because the writer's own
    thread would report a failure as a traceback."""
    import tempfile

    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder, so TensorBoard events cannot "
                         "be written there; move it away, or leave out --tensorboard")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise InputError(f"{folder}: cannot write TensorBoard events here ({e.strerror}); make "
                         "it writable, or leave out --tensorboard") from None


class Board:
    """The TensorBoard writer of one invocation of a run."""

    def __init__(self, run_dir: Path, first_step: int):
        """`first_step`: the first step this invocation logs. Events an earlier invocation
        wrote from there on (never saved in a checkpoint, or a run started again) are
        dropped."""
        check_available()
        from torch.utils.tensorboard import SummaryWriter

        folder = Path(run_dir) / BOARD_DIR
        check_writable(folder)
        self.folder = folder
        self.writer = SummaryWriter(str(folder), purge_step=first_step)

    def add(self, record: dict, texts: list[str] | None = None) -> None:
        """One log record (and an evaluation's samples), at its step."""
        kind, step = record.get("kind"), record.get("step")
        for key in SCALARS.get(kind, ()):
            if isinstance(record.get(key), (int, float)):
                group = "floor" if key.startswith("floor_") else kind
                self.writer.add_scalar(f"{group}/{key.removeprefix('floor_')}", record[key],
                                       step)
        if kind == "eval" and texts:
            self.writer.add_text("samples", "\n\n".join(f"    {t}" for t in texts[:20]), step)
        if kind == "diag":
            self._diagnostics(record, step)
        try:
            self.writer.flush()
        except OSError as e:
            raise write_failure(self.folder, e, kept=True) from None

    def _diagnostics(self, record: dict, step: int) -> None:
        for layer, norm in (record.get("layer_grad_norms") or {}).items():
            self.writer.add_scalar(f"grad_norm/{layer}", norm, step)
        weights = record.get("weights") or {}
        hist, bound = weights.get("hist"), weights.get("bound")
        if hist and bound:
            import numpy as np

            counts = np.asarray(hist, dtype=np.float64)
            edges = np.linspace(-bound, bound, len(counts) + 1)
            centers = (edges[:-1] + edges[1:]) / 2
            self.writer.add_histogram_raw(
                "critic/weights", min=-bound, max=bound, num=float(counts.sum()),
                sum=float((centers * counts).sum()),
                sum_squares=float((centers ** 2 * counts).sum()),
                bucket_limits=edges[1:].tolist(), bucket_counts=counts.tolist(),
                global_step=step)

    def close(self) -> None:
        self.writer.close()

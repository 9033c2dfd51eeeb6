"""Decoding generator outputs into text: argmax per position (default) or temperature sampling.

`load_generator` gives a `TextGenerator` from a checkpoint file, a run folder, or (nothing)
the newest run under checkpoints/, else the generator shipped with the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .charset import PAD, Charset
from .checkpoint import find_checkpoint, load_checkpoint, sampling_weights, shipped_generator
from .config import Config
from .device import tf32
from .errors import InputError, as_path, check_seed, check_temperature, setting
from .models import Generator
from .text import cut_at_pad

MAX_SAMPLES = 10_000_000  # ids are held in memory before decoding: 10 M × 32 × 8 B = 2.5 GB


def check_sampling(n: int, seed: int, temperature: float) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"{setting('n')} must be at least 1, got {n!r}")
    if n > MAX_SAMPLES:
        raise InputError(f"{setting('n')} {n:,} is more than one call makes ({MAX_SAMPLES:,}); "
                         f"sample several times with different {setting('seed')} values")
    check_seed(seed)
    check_temperature(temperature)


@torch.no_grad()
def generate_ids(generator: Generator, n: int, seed: int = 0, temperature: float = 0.0,
                 batch_size: int = 1024) -> np.ndarray:
    """(n, T) charset indices, cut at the first pad. Noise is drawn on the CPU from `seed`, and
    the generator runs in full fp32 (TF32 off for the call: on a GPU, cuDNN would otherwise
    round convolutions to TF32 and flip some argmaxes), so the same seed gives the same samples
    on any device."""
    check_sampling(n, seed, temperature)
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    out = []
    with tf32(False):
        for start in range(0, n, batch_size):
            out.append(_batch_ids(generator, min(batch_size, n - start), rng, temperature,
                                  device))
    return cut_at_pad(np.concatenate(out), PAD)


def _batch_ids(generator: Generator, n: int, rng: torch.Generator, temperature: float,
               device: torch.device) -> np.ndarray:
    """(n, T) ids of one batch: argmax, or drawn at `temperature` from `rng` on the CPU."""
    z = generator.noise(n, generator=rng).to(device)  # (B, Z)
    logits = generator.logits(z).float()  # (B, T, V)
    if temperature == 0:
        return logits.argmax(-1).cpu().numpy()  # (B, T)
    logits = logits.cpu()
    probs = torch.softmax(logits / temperature, dim=-1)  # (B, T, V)
    if not torch.isfinite(probs).all():  # so low a temperature that logits / T overflows:
        # the same distribution from logits shifted to a maximum of 0 (no inf − inf)
        probs = torch.softmax((logits - logits.amax(-1, keepdim=True)) / temperature, dim=-1)
    return torch.multinomial(probs.flatten(0, 1), 1, generator=rng).view(probs.shape[:2]).numpy()


@dataclass
class TextGenerator:
    """A trained generator with its charset: what sampling needs, nothing else."""

    generator: Generator
    charset: Charset
    config: Config
    source: Path  # the checkpoint file it came from
    step: int

    @property
    def shipped(self) -> bool:
        """True for the generator shipped with textwgan (no run of one's own yet)."""
        return self.source == shipped_generator()

    @property
    def seq_len(self) -> int:
        return self.config.model.seq_len

    def sample_ids(self, n: int, seed: int = 0, temperature: float = 0.0) -> np.ndarray:
        """(n, T) charset indices, cut at the first pad."""
        self.generator.eval()
        return generate_ids(self.generator, n, seed, temperature)

    def sample(self, n: int, seed: int = 0, temperature: float = 0.0) -> list[str]:
        """n texts: argmax per position at temperature 0, else sampled at that temperature.
        The same seed gives the same texts."""
        return self.charset.decode_many(self.sample_ids(n, seed, temperature))

    def __repr__(self) -> str:
        return (f"TextGenerator({str(self.source)!r}, step {self.step:,}, "
                f"{len(self.charset)} symbols, {self.seq_len} characters)")


def generator_from(ckpt: dict, source: Path, device: str | torch.device = "cpu",
                   ) -> TextGenerator:
    """The generator a loaded (and checked) checkpoint holds."""
    config = Config.from_dict(ckpt["config"])
    charset = Charset(ckpt["charset"])
    generator = Generator(config.model, len(charset))
    generator.load_state_dict(sampling_weights(ckpt))
    return TextGenerator(generator.to(device).eval(), charset, config, source, ckpt["step"])


def load_generator(path_or_run: str | Path | None = None, *, device: str = "cpu",
                   ) -> TextGenerator:
    """A generator from a checkpoint file or a run folder; None: the newest run under
    checkpoints/, else the generator shipped with textwgan."""
    from .device import resolve_device

    dev = resolve_device(device)
    source = find_checkpoint(None if path_or_run is None else as_path(path_or_run, "checkpoint"))
    return generator_from(load_checkpoint(source), source, dev)

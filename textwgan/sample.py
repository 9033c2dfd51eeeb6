"""Decoding generator outputs into text: argmax per position (default) or temperature sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .charset import PAD, Charset
from .checkpoint import find_checkpoint, load_checkpoint
from .config import Config
from .errors import InputError
from .models import Generator

MAX_SAMPLES = 10_000_000  # ids are held in memory before decoding: 10 M × 32 × 8 B = 2.5 GB


def load_generator(ckpt: dict, device: str | torch.device = "cpu",
                   ) -> tuple[Generator, Charset, Config]:
    """The generator, charset and config a checkpoint holds: nothing else is needed."""
    config = Config.from_dict(ckpt["config"])
    charset = Charset(ckpt["charset"])
    generator = Generator(config.model, len(charset))
    generator.load_state_dict(ckpt["generator"])
    return generator.to(device).eval(), charset, config


def cut_at_pad(ids: np.ndarray) -> np.ndarray:
    """Everything from a row's first pad on becomes pad: the pad marks where text ends."""
    ids = np.array(ids, copy=True)
    ids[np.maximum.accumulate(ids == PAD, axis=1)] = PAD
    return ids


@torch.no_grad()
def generate_ids(generator: Generator, n: int, seed: int = 0, temperature: float = 0.0,
                 batch_size: int = 1024) -> np.ndarray:
    """(n, T) charset indices, cut at the first pad. Noise is drawn on the CPU from `seed`, so
    the same seed gives the same samples on any device."""
    if n < 1:
        raise InputError(f"-n must be at least 1, got {n}")
    if n > MAX_SAMPLES:
        raise InputError(f"-n {n:,} is more than one call makes ({MAX_SAMPLES:,}); "
                         "call sample several times with different --seed values")
    if temperature < 0:
        raise InputError(f"--temperature must be 0 (argmax) or positive, got {temperature}")
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, n, batch_size):
        z = generator.noise(min(batch_size, n - start), generator=rng).to(device)  # (B, Z)
        logits = generator.logits(z).float()  # (B, T, V)
        if temperature == 0:
            ids = logits.argmax(-1)  # (B, T)
        else:
            probs = torch.softmax(logits.cpu() / temperature, dim=-1)  # (B, T, V)
            ids = torch.multinomial(probs.flatten(0, 1), 1, generator=rng).view(probs.shape[:2])
        out.append(ids.cpu().numpy())
    return cut_at_pad(np.concatenate(out))


def sample_texts(checkpoint: str | Path | None = None, n: int = 100, seed: int = 0,
                 temperature: float = 0.0, device: str = "cpu") -> list[str]:
    """n samples from a checkpoint file, a run folder, or the newest run under checkpoints/."""
    ckpt = load_checkpoint(find_checkpoint(checkpoint))
    generator, charset, _ = load_generator(ckpt, device)
    return [charset.decode(row) for row in generate_ids(generator, n, seed, temperature)]

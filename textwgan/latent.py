"""What a generator's noise space offers beyond plain sampling: truncation toward the mean,
spherical walks between seeds, reranking by a critic, and prompts found by searching the noise
(StyleGAN's truncation, interpolation and projection; discriminator rejection sampling).

Every function takes noise drawn on the CPU from a seed, so the same seed gives the same
texts on any device. No function trains anything: they cost forward passes, and for prompts a
few hundred gradient steps on the noise alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import MAX_STEPS, InputError, check_int, setting
from .models import Critic, Generator


def truncate(z: torch.Tensor, psi: float) -> torch.Tensor:
    """Noise moved toward the mean of N(0, I), which is 0: ψ = 1 leaves it as it is."""
    return z if psi == 1 else z * psi


def slerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, Z) points on the great circle from a to b (both (Z,)), the end points exactly
    a and b: StyleGAN's interpolation of Gaussian noise, which keeps every point's norm
    typical where a straight line would pass near the origin."""
    check_int("steps", steps, 2, MAX_STEPS)
    omega = torch.arccos(torch.clamp(F.cosine_similarity(a, b, dim=0), -1.0, 1.0))
    t = torch.linspace(0, 1, steps)
    if omega.abs() < 1e-6:  # the same direction: a straight line is the great circle
        points = (1 - t)[:, None] * a + t[:, None] * b
    else:
        s = torch.sin(omega)
        points = (torch.sin((1 - t) * omega) / s)[:, None] * a + \
                 (torch.sin(t * omega) / s)[:, None] * b
    points[0], points[-1] = a, b
    return points


@torch.no_grad()
def critic_scores(critic: Critic, ids: np.ndarray, batch_size: int = 1024) -> torch.Tensor:
    """(N,) the critic's score of each text read as real text is read: one-hot rows."""
    device = next(critic.parameters()).device
    vocab = critic.vocab_size
    out = []
    for start in range(0, len(ids), batch_size):
        rows = torch.from_numpy(np.array(ids[start:start + batch_size], dtype=np.int64)
                                ).to(device)  # a copy: rows of a memory map are read-only
        out.append(critic(F.one_hot(rows, vocab).float()).float().cpu())  # (B,)
    return torch.cat(out)


def resampled(logits: torch.Tensor, draws: torch.Generator) -> np.ndarray:
    """(m,) for (m, K) log density ratios: each row's index drawn in proportion to
    exp(logit), sampling–importance resampling, with one uniform number per row from
    `draws` (so a row's choice depends on its own draw alone)."""
    weights = torch.softmax(logits.double(), dim=1)  # (m, K)
    u = torch.rand(len(weights), generator=draws, dtype=torch.float64)  # (m,)
    picked = (weights.cumsum(1) < u[:, None]).sum(1)
    return picked.clamp_(max=weights.shape[1] - 1).numpy()


def top_of_each(scores: torch.Tensor) -> np.ndarray:
    """(m,) for (m, K) scores: the index of each row's highest score (ties: the earlier)."""
    return torch.argmax(scores, dim=1).numpy()


@dataclass
class Prompted:
    """The result of a prompt search: texts, and for each whether it meets every fixed
    character exactly (unmet ones are flagged, never passed off as met)."""

    texts: list[str]
    met: list[bool]

    @property
    def hit_rate(self) -> float:
        return sum(self.met) / len(self.met) if self.met else 0.0


def fixed_positions(charset, seq_len: int, prefix: str | None = None,
                    fixed: dict[int, str] | None = None) -> dict[int, int]:
    """{position: charset id} of the characters a prompt fixes: a prefix, and/or characters at
    any positions (a suffix, a word in the middle). One line for what cannot be met."""
    if fixed is not None and not isinstance(fixed, dict):
        raise InputError(f"{setting('fixed')} must be a dict of position: character, got "
                         f"{type(fixed).__name__} {fixed!r}")
    wanted = dict(fixed or {})
    if prefix is not None:
        if not isinstance(prefix, str) or not prefix:
            raise InputError(f"{setting('prefix')} must be non-empty text, got {prefix!r}")
        wanted.update(enumerate(prefix))
    if not wanted:
        raise InputError(f"give {setting('prefix')} or fixed characters to search for")
    too_far = [p for p in wanted if not isinstance(p, int) or not 0 <= p < seq_len]
    if too_far:
        raise InputError(f"the prompt reaches position {too_far[0]!r}, past the generator's "
                         f"{seq_len} characters; keep it within them")
    unknown = sorted({c for c in wanted.values() if not isinstance(c, str) or len(c) != 1
                      or c not in charset.index}, key=repr)
    if unknown:
        raise InputError(unknown_characters(unknown, charset))
    return {p: charset.index[c] for p, c in sorted(wanted.items())}


def unknown_characters(unknown: list, charset) -> str:
    """Why a prompt cannot be met, and what would be: capitals of a lowercase charset, or the
    nearest characters it has."""
    shown = ", ".join(repr(c) for c in unknown[:5])
    message = f"the prompt holds characters the generator never writes ({shown})"
    letters = [c for c in unknown if isinstance(c, str) and len(c) == 1 and c.isupper()]
    if letters and all(c.lower() in charset.index for c in letters) \
            and not any(c.isupper() for c in charset.chars):
        return (f"{message}: its charset has no capital letters (its training text is lower "
                f"case); write the prompt in lower case")
    sample = "".join(c for c in charset.chars[:40] if c.isprintable())
    return f"{message}; use characters of its charset, such as {sample!r}"


def search_noise(generator: Generator, targets: dict[int, int], z0: torch.Tensor,
                 steps: int = 100, lr: float = 0.1, prior: float = 0.01) -> torch.Tensor:
    """Noise near z0 whose output puts the target characters at their positions: gradient
    descent on z through the generator's logits. The loss is the cross-entropy at the fixed
    positions plus `prior`·(‖z‖ − √Z)², which keeps z where N(0, I) puts its mass."""
    device = next(generator.parameters()).device
    z = z0.clone().to(device).requires_grad_(True)
    pos = torch.tensor(list(targets), device=device)
    want = torch.tensor(list(targets.values()), device=device).expand(len(z), -1)  # (B, P)
    typical = math.sqrt(z.shape[1])
    opt = torch.optim.Adam([z], lr=lr)
    generator.requires_grad_(False)
    try:
        for _ in range(steps):
            logits = generator.logits(z)[:, pos]  # (B, P, V)
            # Sums over the batch: each noise's gradient is its own, whatever else is searched.
            loss = F.cross_entropy(logits.flatten(0, 1), want.flatten(), reduction="sum")
            loss = loss + prior * ((z.norm(dim=1) - typical) ** 2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        generator.requires_grad_(True)
    return z.detach()


def meets(ids: np.ndarray, targets: dict[int, int]) -> np.ndarray:
    """(N,) bool: each row holds every target character at its position (target ids are
    charset characters, never pad, so a row cut short cannot meet them)."""
    pos, want = np.array(list(targets)), np.array(list(targets.values()))
    return np.all(ids[:, pos] == want, axis=1)

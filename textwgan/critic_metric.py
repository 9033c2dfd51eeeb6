"""Critic distance: a fresh WGAN-GP critic trained to tell two sets of sequences apart, and
its Wasserstein estimate on sequences it did not train on.

It turns the paper's central observation (the critic's estimate tracks sample quality) into
a model-independent metric: near 0 for two samples of the same text, larger the more the
samples differ from real text.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .config import ModelConfig
from .device import cpu_threads
from .errors import InputError, setting
from .losses import critic_loss
from .models import Critic

MIN_ROWS = 4
MAX_ROWS = 2000  # per side: enough for a stable mean, cheap on a CPU
# On a CPU the critic trains on one thread: its result must not depend on how many cores the
# machine has, and a small critic gains little from more threads but loses a lot to a busy
# machine (benchmarks/cpu_threads.py).
CPU_THREADS = 1


def critic_distance(a: np.ndarray, b: np.ndarray, vocab_size: int, steps: int = 200,
                    batch_size: int = 64, channels: int = 32, seed: int = 0,
                    device: str | torch.device = "cpu") -> float:
    """W estimate mean D(b) − mean D(a) on held-back halves, after training a critic to
    maximise it on the other halves. `a` and `b` are (N, T) index arrays; b is the real text.
    Both sides are cut to the same number of rows (at most MAX_ROWS), drawn with `seed`."""
    rng = np.random.default_rng(seed)
    rows = min(len(a), len(b), MAX_ROWS)
    if rows < MIN_ROWS:  # half to fit the critic, half to score: each needs rows of its own
        raise InputError(f"the critic distance needs at least {MIN_ROWS} samples (it fits a "
                         f"critic on half of them and scores the other half), got {rows}; "
                         f"give more samples or leave {setting('critic')} out")
    a = np.asarray(a)[np.sort(rng.choice(len(a), rows, replace=False))]
    b = np.asarray(b)[np.sort(rng.choice(len(b), rows, replace=False))]
    gen = torch.Generator().manual_seed(seed)
    torch_state = torch.get_rng_state()  # the critic's init must not shift a caller's RNG
    try:
        with cpu_threads(CPU_THREADS if torch.device(device).type == "cpu" else None):
            torch.manual_seed(seed)
            return _held_out_gap(a, b, vocab_size, steps, batch_size, channels, gen, device)
    finally:
        torch.set_rng_state(torch_state)


def _held_out_gap(a: np.ndarray, b: np.ndarray, vocab_size: int, steps: int, batch_size: int,
                  channels: int, gen: torch.Generator, device) -> float:
    """Train a critic on half of each side, then score the other halves."""
    t = a.shape[1]
    critic = Critic(ModelConfig(seq_len=t, channels=channels, n_blocks=1), vocab_size)
    critic = critic.to(device)
    opt = torch.optim.Adam(critic.parameters(), lr=3e-4, betas=(0.5, 0.9))
    ta = torch.as_tensor(np.asarray(a, dtype=np.int64), device=device)
    tb = torch.as_tensor(np.asarray(b, dtype=np.int64), device=device)
    pa, pb = torch.randperm(len(ta), generator=gen), torch.randperm(len(tb), generator=gen)
    fit_a, test_a = ta[pa[: len(ta) // 2]], ta[pa[len(ta) // 2:]]
    fit_b, test_b = tb[pb[: len(tb) // 2]], tb[pb[len(tb) // 2:]]

    def one_hot(rows):
        return F.one_hot(rows, vocab_size).float()  # (B, T, V)

    for _ in range(steps):
        ia = torch.randint(len(fit_a), (batch_size,), generator=gen).to(device)
        ib = torch.randint(len(fit_b), (batch_size,), generator=gen).to(device)
        loss, _ = critic_loss(critic, one_hot(fit_b[ib]), one_hot(fit_a[ia]), 10.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        def mean_score(rows):
            return torch.cat([critic(one_hot(rows[i:i + 1024]))
                              for i in range(0, len(rows), 1024)]).mean().item()

        return mean_score(test_b) - mean_score(test_a)

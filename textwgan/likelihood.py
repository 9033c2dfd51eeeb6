"""A Monte-Carlo upper bound on the bits per character a generator gives held-out text
(`eval --gan-bpc K`): the GAN's answer to a language model's likelihood."""

from __future__ import annotations

import math

import numpy as np

from .charset import PAD
from .errors import InputError, setting
from .scoring import Reference

MAX_GAN_BPC_DRAWS = 10_000_000


def gan_bits_per_char(generator, ref: Reference, n: int, draws: int, seed: int,
                      chunk: int = 1000) -> float:
    """A Monte-Carlo bound on the bits per character the generator gives held-out text.

    Given z, positions are independent: p(x | z) = ∏_t G(z)_t[x_t] over each sequence's
    characters and its end symbol (what comes after the end is free: decoding cuts there).
    log of the mean of p(x | z_k) over K draws is, in expectation, at most log p(x) (Jensen),
    so −log₂ of it, per symbol, bounds bits/char from above, and tightens as K grows.
    The held-out sequences are those of the floor's LM bits/char (`ref.floor_rows`), so the
    two compare directly."""
    import torch

    if ref.corpus is None:
        raise InputError(f"the likelihood bound needs {setting('corpus')}: the generator's "
                         "charset must code the held-out text")
    if generator.seq_len != ref.seq_len:
        raise InputError(f"the generator makes sequences of {generator.seq_len} characters, "
                         f"the corpus has {ref.seq_len}: score it on the corpus it was "
                         "trained on")
    _, rows = ref.floor_rows(n, seed)  # (N, T) held-out sequences, corpus ids
    held = generator.charset.encode_many(ref.texts(rows), ref.seq_len)  # (N, T) its ids
    lengths = (held != PAD).cumprod(axis=1).sum(axis=1)  # characters before the end
    scored = np.arange(ref.seq_len)[None, :] <= lengths[:, None]  # text + end symbol
    x = torch.as_tensor(held, dtype=torch.long)
    mask = torch.as_tensor(scored, dtype=torch.float64)
    g = generator.generator
    rng = torch.Generator().manual_seed(seed)
    running = torch.full((len(held),), -math.inf, dtype=torch.float64)  # log Σ_k p(x | z_k)
    device = next(g.parameters()).device
    with torch.no_grad():
        for start in range(0, draws, chunk):
            z = g.noise(min(chunk, draws - start), generator=rng).to(device)  # (K, Z)
            logp = torch.log_softmax(g.logits(z).double(), dim=-1).cpu()  # (K, T, V)
            per_seq = torch.zeros(len(z), len(held), dtype=torch.float64)  # (K, N)
            for t in range(ref.seq_len):
                per_seq += logp[:, t, :][:, x[:, t]] * mask[:, t]  # (K, N)
            running = torch.logaddexp(running, torch.logsumexp(per_seq, dim=0))
    log_px = running - math.log(draws)  # (N,) natural log, a lower bound in expectation
    return float(-log_px.sum() / math.log(2) / mask.sum())


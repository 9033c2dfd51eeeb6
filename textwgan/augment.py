"""What the critic sees, augmented: the same random changes applied to real and generated
sequences alike, so that a critic cannot memorise its training lines (StyleGAN2-ADA's and
DiffAugment's finding on small image sets; measured on text in docs/quality.md). Every change
is differentiable in the generator's softmax rows, so the generator learns the unaugmented
distribution through it.

    shift   the 32-character window moved left by 1–4 characters, pad filling the end
    drop    one character in ten replaced by unk

Each is applied to a share `p` of the sequences of a batch, drawn from torch's generator on
the batch's device (saved in checkpoints: a resumed run draws the same augmentations).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .charset import PAD, UNK

AUGMENTS = ("shift", "drop")
MAX_SHIFT = 4
DROP_RATE = 0.1


def parse_augments(spec: str) -> tuple[str, ...]:
    """`none`, or a comma list of AUGMENTS, as a tuple (ValueError naming the unknown one)."""
    kinds = tuple(k.strip() for k in str(spec).split(",") if k.strip())
    if kinds in ((), ("none",)):
        return ()
    unknown = [k for k in kinds if k not in AUGMENTS]
    if unknown or len(set(kinds)) != len(kinds):
        raise ValueError(unknown[0] if unknown else "a repeated augmentation")
    return kinds


def augment(x: torch.Tensor, kinds: tuple[str, ...], p: float) -> torch.Tensor:
    """(B, T, V) rows, a share p of them changed by each of `kinds` in turn."""
    for kind in kinds:
        x = _shift(x, p) if kind == "shift" else _drop(x, p)
    return x


def _chosen(x: torch.Tensor, p: float) -> torch.Tensor:
    return torch.rand(x.shape[0], device=x.device) < p  # (B,)


def _shift(x: torch.Tensor, p: float) -> torch.Tensor:
    batch, seq_len, vocab = x.shape
    k = torch.randint(1, MAX_SHIFT + 1, (batch,), device=x.device) * _chosen(x, p)  # (B,)
    src = torch.arange(seq_len, device=x.device)[None] + k[:, None]  # (B, T)
    moved = x.gather(1, src.clamp(max=seq_len - 1)[..., None].expand(-1, -1, vocab))
    pad = F.one_hot(torch.tensor(PAD, device=x.device), vocab).to(x.dtype)  # (V,)
    return torch.where((src < seq_len)[..., None], moved, pad)


def _drop(x: torch.Tensor, p: float) -> torch.Tensor:
    batch, seq_len, vocab = x.shape
    hit = _chosen(x, p)[:, None] & (torch.rand(batch, seq_len, device=x.device) < DROP_RATE)
    unk = F.one_hot(torch.tensor(UNK, device=x.device), vocab).to(x.dtype)  # (V,)
    return torch.where(hit[..., None], unk, x)


def consistency(critic, real: torch.Tensor, fake: torch.Tensor, kinds: tuple[str, ...],
                p: float) -> torch.Tensor:
    """Balanced consistency regularisation (Zhao et al. 2021): the critic's score should not
    move when its input is augmented, on real and on generated rows (fake is detached)."""
    x = torch.cat([real, fake.detach()])
    return ((critic(x) - critic(augment(x, kinds or AUGMENTS, p))) ** 2).mean()

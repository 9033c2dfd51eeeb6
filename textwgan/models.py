"""The networks of gan_language.py: ResBlock, Generator, Critic.

Both nets work on (B, C, T) feature maps internally; their public tensors are (B, T, V):
a sequence of T distributions (or one-hot rows) over the V characters of the charset.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class ResBlock(nn.Module):
    """x + scale · conv(relu(norm(conv(relu(norm(x)))))) with kernel 5 and same padding."""

    def __init__(self, channels: int, norm: str = "none", scale: float = 0.3):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 5, padding=2)
        self.conv2 = nn.Conv1d(channels, channels, 5, padding=2)
        # GroupNorm with one group normalizes each sample over all its (C, T) features: a layer
        # norm that keeps a per-channel affine and never mixes samples (the penalty needs that).
        self.norm1 = nn.GroupNorm(1, channels) if norm == "layer" else nn.Identity()
        self.norm2 = nn.GroupNorm(1, channels) if norm == "layer" else nn.Identity()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C, T)
        h = self.conv1(F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(h)))
        return x + self.scale * h


class Generator(nn.Module):
    """Noise (B, Z) → (B, T, V) softmax rows: differentiable, so no sampling in training."""

    def __init__(self, cfg: ModelConfig, vocab_size: int):
        super().__init__()
        self.cfg, self.vocab_size = cfg, vocab_size
        self.fc = nn.Linear(cfg.noise_dim, cfg.seq_len * cfg.channels)
        self.blocks = nn.Sequential(*[ResBlock(cfg.channels, "none", cfg.residual_scale)
                                      for _ in range(cfg.n_blocks)])
        self.out = nn.Conv1d(cfg.channels, vocab_size, 1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.cfg.channels, self.cfg.seq_len)  # (B, C, T)
        h = self.blocks(h)  # (B, C, T)
        return self.out(h).transpose(1, 2)  # (B, T, V)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.logits(z), dim=-1)  # (B, T, V)

    def noise(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.cfg.noise_dim, device=device, generator=generator)  # (B, Z)


class Critic(nn.Module):
    """(B, T, V) sequences → (B,) scores. No sigmoid: a Wasserstein critic scores."""

    def __init__(self, cfg: ModelConfig, vocab_size: int):
        super().__init__()
        cfg.validate()  # refuses batch norm with the reason
        self.cfg, self.vocab_size = cfg, vocab_size
        width = cfg.critic_width
        self.inp = nn.Conv1d(vocab_size, width, 1)
        self.blocks = nn.Sequential(*[ResBlock(width, cfg.critic_norm, cfg.residual_scale)
                                      for _ in range(cfg.critic_depth)])
        self.fc = nn.Linear(cfg.seq_len * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.transpose(1, 2))  # (B, C, T)
        h = self.blocks(h)  # (B, C, T)
        return self.fc(h.flatten(1)).squeeze(1)  # (B,)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

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
    """x + scale · conv(relu(norm(conv(relu(norm(x)))))) with kernel 5 and same padding; the
    convolutions skip `dilation` − 1 positions between taps (1: none)."""

    def __init__(self, channels: int, norm: str = "none", scale: float = 0.3, dilation: int = 1):
        super().__init__()
        pad = 2 * dilation
        self.conv1 = nn.Conv1d(channels, channels, 5, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 5, padding=pad, dilation=dilation)
        # GroupNorm with one group normalizes each sample over all its (C, T) features: a layer
        # norm that keeps a per-channel affine and never mixes samples (the penalty needs that).
        self.norm1 = nn.GroupNorm(1, channels) if norm == "layer" else nn.Identity()
        self.norm2 = nn.GroupNorm(1, channels) if norm == "layer" else nn.Identity()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C, T)
        h = self.conv1(F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(h)))
        return x + self.scale * h


class SelfAttention(nn.Module):
    """x + scale · attention(norm(x)) over the T positions, 4 heads. Written out (softmax of
    scaled dot products) rather than fused: the gradient penalty differentiates it twice,
    which the fused kernels do not support. The norm is per sample (GroupNorm with one
    group), as the penalty needs."""

    def __init__(self, channels: int, norm: str = "none", scale: float = 0.3):
        super().__init__()
        self.heads = next(h for h in (4, 2, 1) if channels % h == 0)
        self.norm = nn.GroupNorm(1, channels) if norm == "layer" else nn.Identity()
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj = nn.Conv1d(channels, channels, 1)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C, T)
        batch, channels, seq_len = x.shape
        q, k, v = self.qkv(self.norm(x)).view(batch, 3, self.heads, -1, seq_len).unbind(1)
        weights = torch.softmax(q.transpose(-1, -2) @ k / q.shape[-2] ** 0.5, dim=-1)  # (B,H,T,T)
        h = (v @ weights.transpose(-1, -2)).reshape(batch, channels, seq_len)  # (B, C, T)
        return x + self.scale * self.proj(h)


def body(cfg: ModelConfig, channels: int, depth: int, norm: str) -> nn.Sequential:
    """The residual blocks of a net (dilation growing per block), with `cfg.attention`
    self-attention layers after the middle block."""
    layers: list[nn.Module] = [ResBlock(channels, norm, cfg.residual_scale,
                                        min(cfg.dilation ** i, 8)) for i in range(depth)]
    middle = (depth + 1) // 2
    layers[middle:middle] = [SelfAttention(channels, norm, cfg.residual_scale)
                             for _ in range(cfg.attention)]
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """Noise (B, Z) → (B, T, V) softmax rows: differentiable, so no sampling in training.

    With `cfg.infill`, it also reads a prompt: (B, T, V) one-hot rows where a character is
    given, zero rows elsewhere. The prompt enters beside the noise's projection through a 1×1
    convolution without bias, so an empty prompt adds nothing (an infill generator made from
    a plain one samples as it did when unprompted), and the output keeps the given
    characters."""

    def __init__(self, cfg: ModelConfig, vocab_size: int):
        super().__init__()
        self.cfg, self.vocab_size = cfg, vocab_size
        self.fc = nn.Linear(cfg.noise_dim, cfg.seq_len * cfg.channels)
        if cfg.infill:
            self.known = nn.Conv1d(vocab_size, cfg.channels, 1, bias=False)
        self.blocks = body(cfg, cfg.channels, cfg.n_blocks, "none")
        self.out = nn.Conv1d(cfg.channels, vocab_size, 1)

    def logits(self, z: torch.Tensor, prompt: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z).view(-1, self.cfg.channels, self.cfg.seq_len)  # (B, C, T)
        if prompt is not None:
            h = h + self.known(prompt.transpose(1, 2))  # (B, C, T)
        h = self.blocks(h)  # (B, C, T)
        return self.out(h).transpose(1, 2)  # (B, T, V)

    def forward(self, z: torch.Tensor, prompt: torch.Tensor | None = None) -> torch.Tensor:
        rows = F.softmax(self.logits(z, prompt), dim=-1)  # (B, T, V)
        if prompt is None:
            return rows
        given = prompt.sum(-1, keepdim=True)  # (B, T, 1): 1 where the prompt sets the character
        return given * prompt + (1 - given) * rows

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
        self.blocks = body(cfg, width, cfg.critic_depth, cfg.critic_norm)
        self.fc = nn.Linear(cfg.seq_len * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.transpose(1, 2))  # (B, C, T)
        h = self.blocks(h)  # (B, C, T)
        return self.fc(h.flatten(1)).squeeze(1)  # (B,)


def prompt_of(rows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """An infill generator's prompt: each sequence's first lengths[i] one-hot rows, zero rows
    after them."""
    given = torch.arange(rows.shape[1], device=rows.device) < lengths[:, None]  # (B, T)
    return rows * given[..., None]  # (B, T, V)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

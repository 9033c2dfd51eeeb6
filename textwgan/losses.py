"""WGAN-GP losses and the gradient penalty.

critic loss     mean D(fake) − mean D(real) + λ·GP
generator loss  −mean D(fake)
W estimate      mean D(real) − mean D(fake): falls as samples improve
"""

from __future__ import annotations

from collections.abc import Callable

import torch

CriticFn = Callable[[torch.Tensor], torch.Tensor]


def _fp32_or_wider(t: torch.Tensor) -> torch.Tensor:
    """Reductions stay in fp32 under autocast; float64 stays float64."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def interpolates(real: torch.Tensor, fake: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """x̂ = ε·real + (1−ε)·fake with one ε ~ U[0, 1] per sequence."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device,
                     dtype=real.dtype, generator=generator)  # (B, 1, 1)
    return eps * real + (1 - eps) * fake  # (B, T, V)


def gradient_norms(critic: CriticFn, x: torch.Tensor) -> torch.Tensor:
    """‖∇ₓ D(x)‖₂ per sample, over each sample's whole (T × V) input; differentiable."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)  # (B, T, V)
    # The norm is over all of a sample's inputs, not one axis (the well-known port's bug).
    return _fp32_or_wider(grad.flatten(1)).norm(2, dim=1)  # (B,)


def gradient_penalty(critic: CriticFn, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """mean over the batch of (‖∇x̂ D(x̂)‖₂ − 1)², x̂ on the real–fake lines; without λ."""
    norms = gradient_norms(critic, interpolates(real, fake.detach(), generator))
    return ((norms - 1) ** 2).mean()


def critic_loss(critic: CriticFn, real: torch.Tensor, fake: torch.Tensor, gp_lambda: float,
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The critic's loss and its parts (detached). `fake` is detached here: no generator grads."""
    fake = fake.detach()
    d_real = _fp32_or_wider(critic(real)).mean()
    d_fake = _fp32_or_wider(critic(fake)).mean()
    gp = gradient_penalty(critic, real, fake) if gp_lambda > 0 else d_real.new_zeros(())
    loss = d_fake - d_real + gp_lambda * gp
    stats = {"w_estimate": (d_real - d_fake).detach(), "gp": gp.detach(),
             "critic_loss": loss.detach()}
    return loss, stats


def generator_loss(critic: CriticFn, fake: torch.Tensor) -> torch.Tensor:
    return -_fp32_or_wider(critic(fake)).mean()

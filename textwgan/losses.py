"""Critic and generator losses, and the ways of keeping the critic Lipschitz.

wgan critic loss     mean D(fake) − mean D(real) + λ·penalty
wgan generator loss  −mean D(fake)
W estimate           mean D(real) − mean D(fake): falls as samples improve
gan critic loss      −log σ(D(real)) − log(1 − σ(D(fake)))   (D gives logits)
gan generator loss   −log σ(D(fake))                          (the non-saturating form)

Penalties (all per sample, on points of the real–fake lines):
gp                    (‖∇D(x̂)‖ − 1)²
gp-one-sided          max(0, ‖∇D(x̂)‖ − 1)²
gp-finite-difference  (|D(x₁) − D(x₂)| / ‖x₁ − x₂‖ − 1)²: no second derivative
clip and none add no penalty (clip acts on the weights, after the optimizer step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .distributed import SINGLE, Shard

CriticFn = Callable[[torch.Tensor], torch.Tensor]


def _fp32_or_wider(t: torch.Tensor) -> torch.Tensor:
    """Reductions stay in fp32 under autocast; float64 stays float64."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def interpolates(real: torch.Tensor, fake: torch.Tensor,
                 generator: torch.Generator | None = None, shard: Shard = SINGLE,
                 ) -> torch.Tensor:
    """x̂ = ε·real + (1−ε)·fake with one ε ~ U[0, 1] per sequence. Under data parallelism
    the ε of the whole global batch are drawn and this rank keeps its slice."""
    b = real.shape[0]
    eps = torch.rand(b * shard.world, *([1] * (real.dim() - 1)), device=real.device,
                     dtype=real.dtype, generator=generator)[shard.rows(b * shard.world)]
    return eps * real + (1 - eps) * fake  # (B, T, V)


def gradient_norms(critic: CriticFn, x: torch.Tensor, create_graph: bool = True,
                   ) -> torch.Tensor:
    """‖∇ₓ D(x)‖₂ per sample, over each sample's whole (T × V) input; differentiable unless
    `create_graph` is False (diagnostics only read it)."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)  # (B, T, V)
    # The norm is over all of a sample's inputs, not one axis (the well-known port's bug).
    return _fp32_or_wider(grad.flatten(1)).norm(2, dim=1)  # (B,)


def gradient_penalty(critic: CriticFn, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None, one_sided: bool = False,
                     ) -> torch.Tensor:
    """mean over the batch of (‖∇x̂ D(x̂)‖₂ − 1)², x̂ on the real–fake lines; without λ.
    One-sided: only norms above 1 are penalized."""
    return _penalty_and_norms(critic, real, fake, generator, one_sided)[0]


def _penalty_and_norms(critic: CriticFn, real: torch.Tensor, fake: torch.Tensor,
                       generator: torch.Generator | None, one_sided: bool,
                       shard: Shard = SINGLE) -> tuple[torch.Tensor, torch.Tensor]:
    norms = gradient_norms(critic, interpolates(real, fake.detach(), generator, shard))  # (B,)
    excess = (norms - 1).clamp(min=0) if one_sided else norms - 1
    return (excess ** 2).mean(), norms.detach()


def difference_quotients(critic: CriticFn, real: torch.Tensor, fake: torch.Tensor,
                         generator: torch.Generator | None = None, shard: Shard = SINGLE,
                         ) -> torch.Tensor:
    """|D(x₁) − D(x₂)| / ‖x₁ − x₂‖ per sample, for two random points x₁, x₂ on each sample's
    real–fake line: a slope estimate that needs one backward pass, not a double one."""
    fake = fake.detach()
    x1 = interpolates(real, fake, generator, shard)  # (B, T, V)
    x2 = interpolates(real, fake, generator, shard)  # (B, T, V)
    both = critic(torch.cat([x1, x2]))  # (2B,): one forward for both points
    d1, d2 = _fp32_or_wider(both).chunk(2)
    # ‖x₁ − x₂‖ = |ε₁ − ε₂|·‖real − fake‖; the floor keeps a coincident pair from dividing by 0.
    dist = _fp32_or_wider((x1 - x2).flatten(1)).norm(2, dim=1).clamp(min=1e-6)  # (B,)
    return (d1 - d2).abs() / dist


def finite_difference_penalty(critic: CriticFn, real: torch.Tensor, fake: torch.Tensor,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """mean over the batch of (|D(x₁) − D(x₂)| / ‖x₁ − x₂‖ − 1)²; without λ."""
    return ((difference_quotients(critic, real, fake, generator) - 1) ** 2).mean()


def penalty(kind: str, critic: CriticFn, real: torch.Tensor, fake: torch.Tensor,
            shard: Shard = SINGLE) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The penalty of a Lipschitz method (0 for clip and none), and the slopes it measured:
    gradient norms, or difference quotients (None where it measures none)."""
    if kind in ("gp", "gp-one-sided"):
        return _penalty_and_norms(critic, real, fake, None, kind == "gp-one-sided", shard)
    if kind == "gp-finite-difference":
        q = difference_quotients(critic, real, fake, None, shard)
        return ((q - 1) ** 2).mean(), q.detach()
    if kind in ("clip", "none"):
        return real.new_zeros((), dtype=torch.float32), None
    raise ValueError(f"unknown Lipschitz method {kind!r}")


def adversarial_loss(critic: CriticFn, real: torch.Tensor, fake: torch.Tensor, loss: str = "wgan",
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """D(real), D(fake) and the critic's loss without any penalty."""
    # One forward for both halves: the same weights, half the launches.
    d_real, d_fake = _fp32_or_wider(critic(torch.cat([real, fake]))).chunk(2)  # (B,), (B,)
    if loss == "wgan":
        return d_real, d_fake, d_fake.mean() - d_real.mean()
    if loss == "gan":
        return d_real, d_fake, F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    raise ValueError(f"unknown loss {loss!r}")


def critic_loss(critic: CriticFn, real: torch.Tensor, fake: torch.Tensor, gp_lambda: float,
                lipschitz: str = "gp", loss: str = "wgan", shard: Shard = SINGLE,
                penalty_critic: CriticFn | None = None,
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The critic's loss and its parts (detached). `fake` is detached here: no generator grads.
    Under `loss="gan"` the critic's outputs are logits of "real".

    `penalty_critic` (default: `critic`) computes the penalty: under DistributedDataParallel,
    `critic` is the wrapper, called once per backward as DDP requires, and `penalty_critic` the
    bare module. A parameter's gradient from both paths is summed by autograd before its one
    accumulation, so DDP averages the whole gradient once: nothing is counted twice or lost."""
    fake = fake.detach()
    d_real, d_fake, adversarial = adversarial_loss(critic, real, fake, loss)
    if gp_lambda > 0:
        pen, _ = penalty(lipschitz, penalty_critic or critic, real, fake, shard)
    else:
        pen = adversarial.new_zeros(())
    total = adversarial + gp_lambda * pen
    stats = {"w_estimate": (d_real.mean() - d_fake.mean()).detach(), "penalty": pen.detach(),
             "critic_loss": total.detach()}
    return total, stats


def generator_loss(critic: CriticFn, fake: torch.Tensor, loss: str = "wgan") -> torch.Tensor:
    d_fake = _fp32_or_wider(critic(fake))  # (B,)
    if loss == "gan":
        return F.softplus(-d_fake).mean()  # −log σ(D(fake)): does not saturate early
    return -d_fake.mean()

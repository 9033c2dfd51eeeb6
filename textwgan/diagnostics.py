"""Training diagnostics of the critic: what the articles' claims about Lipschitz methods are
about, measured on the batch the critic just trained on.

- slopes: ‖∇D‖ at random points of the real–fake lines (mean, std), for every method;
- per-layer gradient norms: ‖∂(adversarial loss)/∂W‖ for each weight matrix, input to output,
  which vanish or explode across layers under weight clipping;
- weight statistics: a histogram of the critic's weight matrices and the share within 1% of
  the bound (±c under clipping, ±max|w| otherwise).

Nothing here changes the training state: gradients go through `torch.autograd.grad` (the
parameters' `.grad` are untouched) and the interpolation draws from its own seeded generator.
"""

from __future__ import annotations

import torch

from .config import Config
from .losses import adversarial_loss, gradient_norms, interpolates
from .models import Critic

HIST_BINS = 41  # odd: a bin centered on 0


def slope_stats(critic: Critic, real: torch.Tensor, fake: torch.Tensor, seed: int,
                ) -> dict[str, float]:
    """Mean and std of ‖∇ₓD(x̂)‖ over the batch, x̂ on the real–fake lines."""
    g = torch.Generator(device=real.device).manual_seed(seed)
    norms = gradient_norms(critic, interpolates(real, fake.detach(), g), create_graph=False)
    return {"slope_mean": norms.mean().item(), "slope_std": norms.std(unbiased=False).item()}


def layer_gradient_norms(critic: Critic, real: torch.Tensor, fake: torch.Tensor, loss: str,
                         ) -> dict[str, float]:
    """‖∂L/∂W‖ of the adversarial part of the critic's loss (penalty excluded, so that every
    method is measured on the same quantity), for each weight matrix, input to output."""
    _, _, adversarial = adversarial_loss(critic, real, fake.detach(), loss)
    named = [(name, p) for name, p in critic.named_parameters() if p.dim() > 1]
    grads = torch.autograd.grad(adversarial, [p for _, p in named], allow_unused=True)
    return {name: (0.0 if g is None else g.float().norm().item())
            for (name, _), g in zip(named, grads, strict=True)}


def weight_stats(critic: Critic, clip_value: float | None) -> dict:
    """A histogram of the critic's weight matrices (biases and norm scales aside) over
    [−bound, bound], and the share of weights within 1% of ±bound; bound is the clip value
    under clipping, else the largest |w|."""
    w = torch.cat([p.detach().float().flatten() for p in critic.parameters()
                   if p.dim() > 1])  # (P,)
    bound = clip_value if clip_value is not None else w.abs().max().item()
    bound = max(bound, 1e-12)
    hist = torch.histc(w.clamp(-bound, bound), bins=HIST_BINS, min=-bound, max=bound)
    return {
        "bound": bound,
        "bound_kind": "clip" if clip_value is not None else "max",
        "at_bound": (w.abs() >= 0.99 * bound).float().mean().item(),
        "weight_std": w.std(unbiased=False).item(),
        "weight_abs_mean": w.abs().mean().item(),
        "hist": (hist / w.numel()).tolist(),
    }


def critic_diagnostics(critic: Critic, real: torch.Tensor, fake: torch.Tensor, config: Config,
                       seed: int) -> dict:
    """Every diagnostic above for one batch, as one JSON-ready record."""
    t = config.train
    return {
        **slope_stats(critic, real, fake, seed),
        "layer_grad_norms": layer_gradient_norms(critic, real, fake, t.loss),
        "weights": weight_stats(critic, t.clip_value if t.lipschitz == "clip" else None),
    }

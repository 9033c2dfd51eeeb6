"""The density ratio resampling weighs candidates by (`sample --rerank K`, rule `sir`).

A WGAN critic scores, it does not estimate p_data/p_model: keeping its top-1 of K, or drawing
in proportion to its score, sharpens modes (docs/sampling.md). Resampling needs the ratio
itself. So a copy of the run's critic is refit as a classifier of real training lines (1)
against the generator's own argmax samples (0), both read as one-hot rows, and its logit is
calibrated (Platt scaling, σ(a·s + b)) on the validation split against fresh samples. For a
calibrated classifier, exp(logit) = p_data/p_model: sampling–importance resampling draws one
of each text's K candidates with probability ∝ exp(logit), which moves the samples toward the
data distribution without collapsing them onto its modes.

A fit is part of the model: `export` stores it in the model folder, `textwgan calibrate`
refits one, and a model without one gets it fitted when first asked (about a minute on a CPU
for the `small` networks).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .corpus import Corpus
from .errors import InputError
from .latent import critic_scores
from .models import Critic

FIT_STEPS = 600  # classifier steps: the validation accuracy levels off by then (COCO, 1B-Word)
FIT_BATCH = 64  # real and generated rows each, per step
FIT_LR = 2e-4
FIT_FAKES = 20_000  # generated rows the classifier learns from
FIT_SEED = 1 << 40  # noise seeds of the fit's own samples: far from any seed a user draws


@dataclass
class Ratio:
    """A calibrated classifier of real against generated text: `logits(ids)` is
    log p_data/p_model of each row."""

    net: Critic
    a: float  # Platt scaling of the classifier's score s: logit = a·s + b
    b: float
    info: dict = field(default_factory=dict)  # steps, validation accuracy, corpus

    @torch.no_grad()
    def logits(self, ids: np.ndarray) -> torch.Tensor:
        """(N,) calibrated log density ratio of (N, T) charset rows."""
        return self.a * critic_scores(self.net, ids) + self.b

    def record(self) -> dict:
        """What config.json keeps of it (its weights go beside the generator's)."""
        return {"a": self.a, "b": self.b, **self.info}


def fit_ratio(draw: Callable[[int, int], np.ndarray], critic: Critic, corpus: Corpus,
              steps: int = FIT_STEPS, note: Callable[[str], None] = lambda message: None
              ) -> Ratio:
    """Refit a copy of `critic` as a classifier of `corpus`'s training lines against the
    generator's argmax samples (`draw(n, seed)`: (n, T) charset rows), then calibrate it on
    the validation split (the test split where the corpus has none). Seeded: the same inputs
    give the same fit."""
    vocab = critic.vocab_size
    if len(corpus.charset) != vocab:
        raise InputError(f"{corpus.path}: its charset has {len(corpus.charset)} symbols, the "
                         f"generator's {vocab}: fit the ratio on the corpus it was trained on")
    note(f"fitting the density ratio for resampling ({steps} classifier steps on "
         f"{corpus.name}); `textwgan calibrate` keeps one in a model folder")
    real = np.asarray(corpus.train)
    fake = draw(FIT_FAKES, FIT_SEED)
    net = copy.deepcopy(critic).cpu().train()
    opt = torch.optim.Adam(net.parameters(), lr=FIT_LR, betas=(0.5, 0.9))
    rng = torch.Generator().manual_seed(FIT_SEED)
    labels = torch.cat([torch.ones(FIT_BATCH), torch.zeros(FIT_BATCH)])
    for _ in range(steps):
        rows = np.concatenate([real[torch.randint(len(real), (FIT_BATCH,), generator=rng)],
                               fake[torch.randint(len(fake), (FIT_BATCH,), generator=rng)]])
        x = F.one_hot(torch.as_tensor(rows, dtype=torch.long), vocab).float()  # (2B, T, V)
        loss = F.binary_cross_entropy_with_logits(net(x), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval().requires_grad_(False)
    held = np.asarray(corpus.validation if corpus.validation is not None else corpus.heldout)
    a, b, accuracy = _platt(net, held, draw(len(held), FIT_SEED + 1))
    return Ratio(net, a, b, {"steps": steps, "validation_accuracy": accuracy,
                             "corpus": corpus.fingerprint})


def _platt(net: Critic, real: np.ndarray, fake: np.ndarray) -> tuple[float, float, float]:
    """a, b of σ(a·s + b) fitted to held-out real (1) and fresh generated (0) rows, and the
    accuracy of its decisions there."""
    s = torch.cat([critic_scores(net, real), critic_scores(net, fake)])
    y = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
    log_a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_a, b], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(log_a.exp() * s + b, y)
        loss.backward()
        return loss

    opt.step(closure)
    a, b = log_a.detach().exp().item(), b.detach().item()
    accuracy = float(((a * s + b > 0).float() == y).float().mean())
    return a, b, accuracy


def ratio_from(tensors: dict, record: dict, critic_like: Critic) -> Ratio:
    """A ratio as a model folder keeps it: its classifier's weights and its record."""
    net = copy.deepcopy(critic_like).cpu()
    try:
        net.load_state_dict(tensors)
        a, b = float(record["a"]), float(record["b"])
    except (RuntimeError, KeyError, TypeError, ValueError):
        raise InputError("its density-ratio classifier does not fit its critic; refit it "
                         "with `textwgan calibrate`") from None
    info = {k: v for k, v in record.items() if k not in ("a", "b")}
    return Ratio(net.eval().requires_grad_(False), a, b, info)

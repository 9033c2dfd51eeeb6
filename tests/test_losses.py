"""Losses and the gradient penalty against values computed by hand."""

from __future__ import annotations

import pytest
import torch

from textwgan.config import Config, ModelConfig, get_preset
from textwgan.corpus import Corpus
from textwgan.data import DeviceData
from textwgan.errors import InputError
from textwgan.losses import (
    critic_loss,
    generator_loss,
    gradient_norms,
    gradient_penalty,
    interpolates,
)
from textwgan.models import Critic
from textwgan.steps import build_state, critic_step, generator_step


def linear_critic(w: torch.Tensor):
    """D(x) = ⟨w, x⟩ per sequence: its gradient is w everywhere, so ‖∇D‖ = ‖w‖."""
    return lambda x: (x * w).sum(dim=(1, 2))


def one_hot_batch(b: int, t: int, v: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.randint(v, (b, t)), v).double()


def softmax_batch(b: int, t: int, v: int) -> torch.Tensor:
    return torch.softmax(torch.randn(b, t, v, dtype=torch.float64), dim=-1)


@pytest.mark.parametrize("b,t,v", [(1, 4, 3), (7, 32, 51), (64, 32, 2048), (16, 8, 5)])
@pytest.mark.parametrize("scale", [0.05, 1.0, 3.7])
def test_gradient_penalty_of_linear_critic_is_norm_of_w(b, t, v, scale):
    w = torch.randn(t, v, dtype=torch.float64)
    w = w / w.norm() * scale  # ‖w‖ = scale exactly
    gp = gradient_penalty(linear_critic(w), one_hot_batch(b, t, v), softmax_batch(b, t, v))
    assert gp.item() == pytest.approx((scale - 1.0) ** 2, rel=1e-12, abs=1e-14)


def test_norm_is_over_the_whole_sequence_not_one_axis():
    # A critic whose gradient has two rows of norm 1: per-row norms would give a penalty of 0,
    # the whole-input norm is √2.
    w = torch.zeros(2, 3, dtype=torch.float64)
    w[0, 0] = w[1, 2] = 1.0
    gp = gradient_penalty(linear_critic(w), one_hot_batch(4, 2, 3), softmax_batch(4, 2, 3))
    assert gp.item() == pytest.approx((2 ** 0.5 - 1) ** 2, rel=1e-12)


def test_penalty_gradient_reaches_critic_weights():
    # d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖: the double backward must deliver exactly this.
    w = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    gp = gradient_penalty(linear_critic(w), one_hot_batch(6, 8, 5), softmax_batch(6, 8, 5))
    (grad,) = torch.autograd.grad(gp, w)
    n = w.detach().norm()
    torch.testing.assert_close(grad, 2 * (n - 1) * w.detach() / n, rtol=1e-12, atol=1e-14)


def test_interpolates_lie_on_each_sequence_segment():
    real, fake = one_hot_batch(9, 6, 4), softmax_batch(9, 6, 4)
    x = interpolates(real, fake)
    eps = (x - fake) / (real - fake)  # one ε per sequence, the same in every entry
    for i in range(9):
        assert 0 <= eps[i].min() and eps[i].max() <= 1
        torch.testing.assert_close(eps[i], torch.full_like(eps[i], eps[i, 0, 0].item()))


def test_network_critic_gradient_norms_match_per_sample_reference():
    # The layer-normed critic must not mix samples: each sample's norm computed alone (a plain
    # loop over samples) equals the batched one.
    cfg = ModelConfig(seq_len=8, channels=8, n_blocks=2, critic_norm="layer")
    critic = Critic(cfg, 6).double()
    x = softmax_batch(5, 8, 6)
    batched = gradient_norms(critic, x)
    for i in range(5):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(critic(xi).sum(), xi)
        assert batched[i].item() == pytest.approx(g.norm().item(), rel=1e-10)


def test_losses_have_the_right_signs_and_values():
    t, v = 5, 4
    w = torch.randn(t, v, dtype=torch.float64)
    real, fake = one_hot_batch(10, t, v), softmax_batch(10, t, v)
    d = linear_critic(w)
    loss, stats = critic_loss(d, real, fake, gp_lambda=0.0)
    expected_w = d(real).mean() - d(fake).mean()
    assert stats["w_estimate"].item() == pytest.approx(expected_w.item(), rel=1e-12)
    assert loss.item() == pytest.approx(-expected_w.item(), rel=1e-12)  # critic minimizes −W
    assert generator_loss(d, fake).item() == pytest.approx(-d(fake).mean().item(), rel=1e-12)
    loss10, stats10 = critic_loss(d, real, fake, gp_lambda=10.0)
    assert loss10.item() == pytest.approx(-expected_w.item() + 10 * (w.norm().item() - 1) ** 2,
                                          rel=1e-10)
    # A critic that scores real above fake has a positive W estimate.
    assert critic_loss(lambda x: x[:, 0, 0], real.new_ones(3, t, v), real.new_zeros(3, t, v),
                       0.0)[1]["w_estimate"].item() == 1.0


@pytest.fixture
def tiny_state(small_corpus):
    corpus = Corpus(small_corpus)
    config = get_preset("tiny").with_overrides(seq_len=corpus.seq_len)
    state = build_state(config, len(corpus.charset), torch.device("cpu"))
    return state, DeviceData(corpus, torch.device("cpu")), config


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(module, before):
    return [not torch.equal(p, b) for p, b in zip(module.parameters(), before, strict=True)]


def test_critic_step_updates_only_the_critic(tiny_state):
    state, data, config = tiny_state
    g0, c0 = _snapshot(state.generator), _snapshot(state.critic)
    critic_step(state, data, config)
    assert not any(_changed(state.generator, g0))
    assert all(p.grad is None for p in state.generator.parameters())
    assert all(p.grad is not None for p in state.critic.parameters())
    # Biases feeding the last linear layer shift D(real) and D(fake) alike: their gradient is
    # exactly 0, so not every tensor moves; the weights do.
    assert sum(_changed(state.critic, c0)) > len(c0) // 2


def test_generator_step_updates_only_the_generator(tiny_state):
    state, data, config = tiny_state
    g0, c0 = _snapshot(state.generator), _snapshot(state.critic)
    generator_step(state, config, torch.device("cpu"))
    assert not any(_changed(state.critic, c0))
    assert all(p.grad is None for p in state.critic.parameters())
    assert all(p.requires_grad for p in state.critic.parameters())  # unfrozen again
    assert all(_changed(state.generator, g0))


def test_batch_norm_in_the_critic_is_refused():
    with pytest.raises(InputError, match="batch norm"):
        Critic(ModelConfig(critic_norm="batch"), 10)
    with pytest.raises(InputError, match="batch norm"):
        Config().with_overrides(critic_norm="batch").validate()


def test_paper_preset_is_gan_language_py():
    cfg = get_preset("paper")
    critic = Critic(cfg.model, 100)
    assert not any(isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm,
                                  torch.nn.modules.batchnorm._BatchNorm))
                   for m in critic.modules())
    t = cfg.train
    assert (t.batch_size, t.critic_iters, t.gp_lambda, t.lr, t.betas, t.iters) == (
        64, 10, 10.0, 1e-4, (0.5, 0.9), 200_000)
    assert (cfg.model.seq_len, cfg.model.noise_dim, cfg.model.channels, cfg.model.n_blocks) == (
        32, 128, 512, 5)

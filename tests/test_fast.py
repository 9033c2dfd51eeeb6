"""The fast path against the eager fp32 path from the same seed (CPU: bf16 autocast and the
fused Adam run here too; CUDA graphs and TF32 need a GPU)."""

from __future__ import annotations

import pytest
import torch

from textwgan.assets import bundled_corpus_path
from textwgan.config import get_preset
from textwgan.corpus import Corpus
from textwgan.data import DeviceData
from textwgan.device import EAGER, Speed, speed_for, tf32
from textwgan.steps import Iteration, build_state

BUNDLED = bundled_corpus_path()

CPU = torch.device("cpu")
# Stated tolerance of bf16 autocast over the first generator steps of `small`: the W
# estimate and the generator loss within 5% (relative) or 0.02 (absolute) of fp32 (checked over
# 3 steps in the suite, over 5 when the tolerance was set). bf16 keeps
# 8 bits of mantissa, so single products are off by ~0.4%; the sums and 10 Adam steps of the
# critic spread that to ~1% here (measured: at most 1.3%).
BF16_RTOL, BF16_ATOL = 5e-2, 2e-2


def first_steps(speed: Speed, iters: int = 3, device: torch.device = CPU):
    """The W estimates and generator losses of the first `iters` iterations of `small` from
    seed 1 (tests/test_cuda.py runs it on the GPU, with and without CUDA graphs)."""
    with tf32(speed.tf32):  # as `train` runs a step, and the caller's flags come back
        return _first_steps(speed, iters, device)


def _first_steps(speed: Speed, iters: int, device: torch.device):
    corpus = Corpus(BUNDLED)
    config = get_preset("small").with_overrides(seq_len=corpus.seq_len)
    state = build_state(config, len(corpus.charset), device, speed)
    data = DeviceData(corpus, device)
    torch.manual_seed(1)
    # The steps run eagerly unless the speed asks for CUDA graphs on a GPU.
    iteration = Iteration(state, data, config, device)
    w, g = [], []
    for _ in range(iters):
        stats, g_loss = iteration()
        w.append(stats["w_estimate"].item())
        g.append(g_loss.item())
    assert iteration.captured == (speed.cuda_graphs and device.type == "cuda")
    return torch.tensor(w), torch.tensor(g), state


@pytest.fixture(scope="module")
def eager():
    return first_steps(EAGER)


def test_bf16_autocast_matches_fp32_within_tolerance(eager):
    w, g, _ = first_steps(Speed(autocast=torch.bfloat16, fused_adam=True))
    w0, g0, _ = eager
    torch.testing.assert_close(w, w0, rtol=BF16_RTOL, atol=BF16_ATOL)
    torch.testing.assert_close(g, g0, rtol=BF16_RTOL, atol=BF16_ATOL)
    assert not torch.equal(w, w0)  # bf16 really ran: the figures differ a little


def test_fused_adam_step_matches_the_plain_one():
    # From identical parameters and gradients, the fused kernel and the per-tensor loop take the
    # same Adam steps up to float rounding.
    from textwgan.steps import make_optimizer

    config = get_preset("small")
    torch.manual_seed(0)
    params = [torch.randn(64, 32), torch.randn(32), torch.randn(7, 5, 3)]
    grads = [[torch.randn_like(p) for p in params] for _ in range(3)]
    results = []
    for speed in (EAGER, Speed(fused_adam=True)):
        ps = [p.clone().requires_grad_(True) for p in params]
        opt = make_optimizer(ps, 1e-3, config, speed)
        assert bool(opt.defaults["fused"]) == speed.fused_adam
        for step_grads in grads:
            for p, g in zip(ps, step_grads, strict=True):
                p.grad = g.clone()
            opt.step()
        results.append([p.detach() for p in ps])
    for p, a, b in zip(params, *results, strict=True):
        assert not torch.equal(a, p)  # the steps were taken
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


# Over whole training steps the two kernels' rounding differences pass through the critic and
# generator and grow: measured 2.4e-5 relative on the losses after 3 steps on one CPU.
FUSED_TRAINING_RTOL = 1e-4


def test_fused_adam_training_matches_the_plain_one(eager):
    w, g, state = first_steps(Speed(fused_adam=True))
    w0, g0, state0 = eager
    torch.testing.assert_close(w, w0, rtol=FUSED_TRAINING_RTOL, atol=1e-6)
    torch.testing.assert_close(g, g0, rtol=FUSED_TRAINING_RTOL, atol=1e-6)


def test_penalty_stays_fp32_under_autocast():
    from textwgan.losses import gradient_norms
    from textwgan.models import Critic

    cfg = get_preset("tiny").model
    critic = Critic(cfg, 7)
    x = torch.softmax(torch.randn(4, cfg.seq_len, 7), -1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert critic(x).dtype == torch.bfloat16  # the network runs in bf16
        assert gradient_norms(critic, x).dtype == torch.float32  # its norm does not


def test_fast_is_on_by_default_and_only_fused_adam_on_a_cpu():
    assert speed_for(None, CPU) == Speed(fused_adam=True)
    assert speed_for(False, CPU) == EAGER
    assert speed_for(True, CPU) == Speed(fused_adam=True)
    assert speed_for(None, torch.device("cuda")).autocast == torch.bfloat16
    assert speed_for(False, torch.device("cuda")) == EAGER

"""Lipschitz variants, the GAN baseline and the critic diagnostics, against hand values."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import fit

from textwgan.config import get_preset
from textwgan.corpus import Corpus
from textwgan.data import DeviceData
from textwgan.diagnostics import HIST_BINS, layer_gradient_norms, slope_stats, weight_stats
from textwgan.errors import InputError
from textwgan.losses import (
    critic_loss,
    difference_quotients,
    finite_difference_penalty,
    generator_loss,
    gradient_penalty,
    interpolates,
    penalty,
)
from textwgan.models import Critic
from textwgan.steps import build_state, critic_step


def linear_critic(w: torch.Tensor, b: float = 0.0):
    return lambda x: (x * w).sum(dim=(1, 2)) + b


def batches(b=12, t=6, v=5):
    real = torch.nn.functional.one_hot(torch.randint(v, (b, t)), v).double()
    fake = torch.softmax(torch.randn(b, t, v, dtype=torch.float64), dim=-1)
    return real, fake


def unit(t, v, scale):
    w = torch.randn(t, v, dtype=torch.float64)
    return w / w.norm() * scale


@pytest.mark.parametrize("scale", [0.0, 0.3, 0.999])
def test_one_sided_penalty_is_zero_when_every_slope_is_at_most_one(scale):
    real, fake = batches()
    w = unit(6, 5, scale)
    assert gradient_penalty(linear_critic(w), real, fake, one_sided=True).item() == 0.0
    # …while the two-sided penalty pulls the slope up to 1.
    assert gradient_penalty(linear_critic(w), real, fake).item() == pytest.approx(
        (scale - 1) ** 2, rel=1e-12)


@pytest.mark.parametrize("scale", [1.5, 4.0])
def test_one_sided_penalty_equals_two_sided_above_one(scale):
    real, fake = batches()
    w = unit(6, 5, scale)
    one = gradient_penalty(linear_critic(w), real, fake, one_sided=True).item()
    assert one == pytest.approx((scale - 1) ** 2, rel=1e-12)


def test_finite_difference_penalty_of_linear_critic():
    # Replay the two interpolation draws with the same seed to get x₁ and x₂ back.
    real, fake = batches(b=9, t=7, v=4)
    w = torch.randn(7, 4, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    pen = finite_difference_penalty(linear_critic(w, b=2.5), real, fake, g)
    g = torch.Generator().manual_seed(3)
    x1, x2 = interpolates(real, fake, g), interpolates(real, fake, g)
    diff = (x1 - x2).flatten(1)
    expected = ((diff @ w.flatten()).abs() / diff.norm(dim=1) - 1) ** 2  # (B,)
    assert pen.item() == pytest.approx(expected.mean().item(), rel=1e-12)


def test_difference_quotient_bounded_by_gradient_norm():
    # |⟨w, d⟩| / ‖d‖ ≤ ‖w‖ (Cauchy–Schwarz), with equality for d ∥ w.
    real, fake = batches()
    w = unit(6, 5, 2.0)
    q = difference_quotients(linear_critic(w), real, fake)
    assert (q <= 2.0 + 1e-12).all()
    q = difference_quotients(linear_critic(w), w.expand(3, 6, 5).clone(), torch.zeros(3, 6, 5,
                                                                                        dtype=w.dtype))
    torch.testing.assert_close(q, torch.full_like(q, 2.0))


def test_finite_difference_needs_no_double_backward():
    # Its gradient with respect to the critic's weights exists with a critic whose second
    # derivative is unavailable; the double-backward penalty's would need create_graph.
    w = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    real, fake = batches()
    (grad,) = torch.autograd.grad(finite_difference_penalty(linear_critic(w), real, fake), w)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_gan_losses_match_binary_cross_entropy():
    real, fake = batches()
    w = torch.randn(6, 5, dtype=torch.float64)
    d = linear_critic(w, b=0.2)
    loss, _ = critic_loss(d, real, fake, gp_lambda=0.0, loss="gan")
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(d(real), torch.ones(12, dtype=torch.float64)) + bce(
        d(fake), torch.zeros(12, dtype=torch.float64))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    g = generator_loss(d, fake, loss="gan")
    assert g.item() == pytest.approx(bce(d(fake), torch.ones(12, dtype=torch.float64)).item(),
                                     rel=1e-12)


def test_clip_and_none_add_no_penalty():
    real, fake = batches()
    w = unit(6, 5, 5.0)
    for kind in ("clip", "none"):
        pen, slopes = penalty(kind, linear_critic(w), real, fake)
        assert pen.item() == 0.0 and slopes is None
    loss, stats = critic_loss(linear_critic(w), real, fake, 10.0, lipschitz="clip")
    assert stats["penalty"].item() == 0.0
    assert loss.item() == pytest.approx(-stats["w_estimate"].item(), rel=1e-12)


@pytest.fixture
def tiny(small_corpus):
    corpus = Corpus(small_corpus)
    return corpus, get_preset("tiny").with_overrides(seq_len=corpus.seq_len)


def test_clipping_keeps_every_critic_weight_in_range(tiny):
    corpus, config = tiny
    config = config.with_overrides(lipschitz="clip", clip_value=0.02, lr=1e-2)
    state = build_state(config, len(corpus.charset), torch.device("cpu"))
    assert isinstance(state.opt_critic, torch.optim.RMSprop)  # the WGAN paper's optimizer
    assert max(p.abs().max().item() for p in state.critic.parameters()) > 0.02  # before
    data = DeviceData(corpus, torch.device("cpu"))
    for _ in range(3):
        critic_step(state, data, config)
        assert max(p.abs().max().item() for p in state.critic.parameters()) <= 0.02
    # With a large rate, most weights sit at the bound: the share the diagnostics report.
    stats = weight_stats(state.critic, 0.02)
    assert stats["at_bound"] > 0.5 and len(stats["hist"]) == HIST_BINS
    assert sum(stats["hist"]) == pytest.approx(1.0)


def test_adam_with_clipping_only_when_asked(tiny):
    corpus, config = tiny
    state = build_state(config.with_overrides(lipschitz="clip", optimizer="adam"),
                        len(corpus.charset), torch.device("cpu"))
    assert isinstance(state.opt_critic, torch.optim.Adam)


@pytest.mark.parametrize("lipschitz,loss", [
    ("gp", "wgan"), ("gp-one-sided", "wgan"), ("gp-finite-difference", "wgan"),
    ("clip", "wgan"), ("none", "gan"), ("gp", "gan")])
def test_every_variant_trains_and_logs_diagnostics(tiny, tmp_path, lipschitz, loss):
    corpus, config = tiny
    config = config.with_overrides(lipschitz=lipschitz, loss=loss, iters=4, diag_every=2,
                                   eval_every=4)
    run = fit(corpus, config, tmp_path / "run")
    records = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    diags = [r for r in records if r["kind"] == "diag"]
    assert [r["step"] for r in diags] == [2, 4]
    for r in diags:
        assert r["lipschitz"] == lipschitz and r["loss"] == loss
        assert all(torch.isfinite(torch.tensor(v)) for v in (
            r["w_estimate"], r["penalty"], r["slope_mean"], r["slope_std"],
            r["generator_loss"]))
        names = list(r["layer_grad_norms"])
        assert names[0] == "inp.weight" and names[-1] == "fc.weight"
        assert r["weights"]["bound_kind"] == ("clip" if lipschitz == "clip" else "max")
        if lipschitz == "none" or lipschitz == "clip":
            assert r["penalty"] == 0.0
    assert any(r["kind"] == "eval" and r["step"] == 4 for r in records)


def test_diagnostics_do_not_change_training(tiny, tmp_path):
    corpus, config = tiny
    runs = [fit(corpus, config.with_overrides(iters=4, diag_every=k), tmp_path / f"r{k}")
            for k in (0, 1)]
    a, b = (torch.load(r / "checkpoint.pt", weights_only=True) for r in runs)
    for part in ("generator", "critic"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)


def test_slope_stats_of_a_known_critic():
    # A critic of one linear layer has the same slope ‖w‖ at every point: mean ‖w‖, std 0.
    cfg = get_preset("tiny").model.__class__(seq_len=4, channels=3, n_blocks=0, noise_dim=2)
    critic = Critic(cfg, 5).double()
    real, fake = batches(b=8, t=4, v=5)
    s = slope_stats(critic, real, fake, seed=0)
    # D(x) = fc(inp(x)): linear, its gradient is the same matrix product everywhere.
    x = real[:1].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x)
    assert s["slope_mean"] == pytest.approx(g.norm().item(), rel=1e-6)
    assert s["slope_std"] == pytest.approx(0.0, abs=1e-6)
    norms = layer_gradient_norms(critic, real, fake, "wgan")
    assert list(norms) == ["inp.weight", "fc.weight"] and all(v > 0 for v in norms.values())


def test_bad_variant_names_are_refused(tiny):
    _, config = tiny
    for field, value in (("lipschitz", "spectral"), ("loss", "hinge"), ("optimizer", "sgd")):
        with pytest.raises(InputError, match=field):
            config.with_overrides(**{field: value}).validate()
    with pytest.raises(InputError, match="clip_value"):
        config.with_overrides(clip_value=0.0).validate()


# ---------------------------------------------------------------------------------------------
# textwgan plot


@pytest.fixture
def two_runs(tiny, tmp_path):
    corpus, config = tiny
    runs = []
    for name, kw in (("gp", {}), ("clip", {"lipschitz": "clip", "clip_value": 0.05})):
        runs.append(fit(corpus, config.with_overrides(iters=6, diag_every=3, eval_every=3,
                                                      **kw), tmp_path / name))
    return runs


def test_plot_writes_a_valid_png(two_runs, tmp_path):
    from typer.testing import CliRunner

    from textwgan.cli import app

    out = tmp_path / "fig.png"
    r = CliRunner().invoke(app, ["plot", *map(str, two_runs), "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"  # the PNG signature
    import zlib
    # Every chunk's CRC matches and the stream ends with IEND: a whole, valid file.
    pos, kinds = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length:pos + 12 + length], "big")
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 1000 and height > 600
    assert not list(tmp_path.glob(".*.tmp"))


def test_plot_terminal_summary(two_runs):
    from typer.testing import CliRunner

    from textwgan.cli import app

    r = CliRunner().invoke(app, ["plot", *map(str, two_runs)])
    assert r.exit_code == 0, r.output
    assert "gp (wgan, gp)" in r.output and "clip (wgan, clip, c=0.05)" in r.output


def test_plot_errors(two_runs, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from textwgan.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["plot", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no log.jsonl" in r.output
    r = runner.invoke(app, ["plot", str(two_runs[0]), "--out", str(tmp_path / "x.jpg")])
    assert r.exit_code == 2 and ".png" in r.output

    # A None entry in sys.modules makes `import matplotlib` raise ImportError, as if absent.
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = runner.invoke(app, ["plot", str(two_runs[0]), "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "textwgan[plot]" in r.output
    assert not (tmp_path / "x.png").exists()


def test_sparkline():
    from textwgan.plot import sparkline

    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([]) == "" and sparkline([2.0, 2.0]) == "▁▁"
    assert len(sparkline(list(range(1000)), width=40)) == 40

"""More from every generator: reranking by a critic, truncation, latent walks and prompts,
checked against references (a critic whose scores are known, plain sampling, the seeds' own
samples) and through the command line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, invoke

import textwgan
from textwgan.sample import generate_ids
from textwgan.training import train

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train(None, out=tmp_path_factory.mktemp("gen") / "run", preset="tiny", iters=150,
                 eval_every=150, save_every=150, diag_every=0, device="cpu", lr=1e-3)


class CountingCritic(torch.nn.Module):
    """Scores a text by how often it writes one symbol: scores anyone can compute by hand."""

    def __init__(self, vocab_size: int, symbol: int):
        super().__init__()
        self.vocab_size, self.symbol = vocab_size, symbol
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):  # (B, T, V) -> (B,)
        return x[..., self.symbol].sum(dim=1)


def test_top_reranking_keeps_the_best_of_each_samples_own_candidates(run):
    gen = textwgan.load_generator(run)
    symbol = 2  # the charset's most frequent character
    gen.critic = CountingCritic(len(gen.charset), symbol)
    kept = gen.sample_ids(10, seed=4, rerank=5, rule="top")
    candidates = generate_ids(gen.generator, 50, seed=4).reshape(10, 5, -1)
    counts = (candidates == symbol).sum(axis=2)  # (10, 5)
    best = [min(range(5), key=lambda j, i=i: (-counts[i, j], j)) for i in range(10)]
    assert np.array_equal(kept, candidates[np.arange(10), best])
    assert np.array_equal(gen.sample_ids(4, seed=4, rerank=5, rule="top"), kept[:4])


def test_the_run_critic_reranks_and_an_export_keeps_it(run, tmp_path):
    gen = textwgan.load_generator(run)
    assert gen.critic is not None and len(gen.sample(4, rerank=3)) == 4
    assert invoke("export", run, "--out", tmp_path / "g.pt").exit_code == 0
    assert invoke("export", run, "--out", tmp_path / "small.pt", "--no-critic").exit_code == 0
    assert textwgan.load_generator(tmp_path / "g.pt").sample(4, rerank=3) == \
        gen.sample(4, rerank=3)
    assert (tmp_path / "small.pt").stat().st_size < (tmp_path / "g.pt").stat().st_size
    r = invoke("sample", "-n", "2", "--rerank", "3", "--checkpoint", tmp_path / "small.pt")
    assert_one_line_error(r, 2, "holds no critic")


def test_truncation_one_is_plain_sampling_and_lower_moves_toward_the_mean(run):
    gen = textwgan.load_generator(run)
    assert gen.sample(20, seed=2, truncation=1.0) == gen.sample(20, seed=2)
    assert gen.sample(20, seed=2, truncation=0.5) != gen.sample(20, seed=2)


def test_a_walk_starts_and_ends_at_the_seeds_own_samples(run):
    gen = textwgan.load_generator(run)
    walk = gen.interpolate((3, 7), steps=6)
    assert len(walk) == 6
    assert walk[0] == gen.sample(1, seed=3)[0] and walk[-1] == gen.sample(1, seed=7)[0]
    r = invoke("interpolate", "--seeds", "3,7", "--steps", "6", "--checkpoint", run)
    assert r.exit_code == 0 and r.stdout.splitlines() == walk


def test_a_prompt_search_meets_its_prefix(run):
    gen = textwgan.load_generator(run)
    prefix = gen.charset.chars[0] * 2  # the most frequent character, twice
    found = gen.complete(16, prefix=prefix, seed=1)
    assert found.hit_rate >= 0.5
    assert all(t.startswith(prefix) for t, ok in zip(found.texts, found.met, strict=True)
               if ok)
    anywhere = gen.complete(8, fixed={5: gen.charset.chars[0]}, seed=2)
    assert all(t[5] == gen.charset.chars[0] for t, ok in zip(anywhere.texts, anywhere.met,
                                                              strict=True) if ok)


@pytest.mark.parametrize(("args", "says"), [
    (("--rerank", "0"), "--rerank must be an integer from 1"),
    (("--rerank", "100000"), "--rerank must be an integer from 1"),
    (("--truncation", "0"), "--truncation must be a number in (0, 1]"),
    (("--truncation", "1.5"), "--truncation must be a number in (0, 1]"),
    (("--truncation", "nan"), "--truncation must be a number in (0, 1]"),
    (("--prefix", "a\u2603"), "characters the generator never writes"),
    (("--prefix", "x" * 40), "past the generator's 32 characters"),
])
def test_bad_sampling_values_are_one_line(run, args, says):
    assert_one_line_error(invoke("sample", "-n", "2", "--checkpoint", run, *args), 2, says)


def test_bench_scores_each_rerank_factor_and_truncation_as_sampling_draws_them(run):
    from textwgan.compare import bench

    gen = textwgan.load_generator(run, device="cpu")
    result = bench([run], n=48, reranks=[1, 3], truncations="0.5,1", device="cpu")
    rows = {(r["rerank"], r["truncation"]): r for r in result["rows"] if r["kind"] != "real"}
    assert set(rows) == {(1, 1.0), (3, 1.0), (1, 0.5)}  # K = 1 and ψ = 1 are plain argmax
    assert rows[(3, 1.0)]["input"].endswith("@ argmax K=3")
    assert rows[(1, 0.5)]["input"].endswith("@ argmax ψ=0.5")
    for (k, psi), row in rows.items():
        alone = textwgan.evaluate(gen.sample(48, seed=0, rerank=k, truncation=psi),
                                  corpus=gen_corpus(run), n=48, seed=0).to_dict()
        assert row["js4"] == alone["js4"] and row["word_validity"] == alone["word_validity"]


def gen_corpus(run):
    from textwgan.scoring import run_corpus

    return run_corpus(run)


@pytest.mark.parametrize("args, says", [
    (["--reranks", "0"], "--reranks must be an integer from 1"),
    (["--truncations", "0.5,2"], "--truncations must be a number in (0, 1]"),
    (["--reranks", "2.5"], "--reranks must be comma-separated numbers"),
])
def test_bad_bench_knobs_are_one_line(run, args, says):
    assert_one_line_error(invoke("bench", str(run), *args), 2, says)


def test_bench_refuses_to_rerank_a_model_without_critic_before_scoring(run, tmp_path):
    folder = tmp_path / "no-critic"
    assert invoke("export", str(run), "--out", str(folder), "--no-critic").exit_code == 0
    r = invoke("bench", str(folder), "--reranks", "2")
    assert_one_line_error(r, 2, "holds no critic, so --reranks has nothing to rank with")
    assert "JS-4" not in r.output  # nothing was scored first


def test_a_samples_seed_fixes_its_text_whatever_n(run):
    gen = textwgan.load_generator(run)
    many = gen.sample(1100, seed=3, temperature=0.8)  # past one batch of 1,024
    assert gen.sample(700, seed=3, temperature=0.8) == many[:700]
    prefix = gen.charset.chars[0]
    found = gen.complete(70, prefix=prefix, seed=2, steps=5)  # past one chunk of 64
    again = gen.complete(3, prefix=prefix, seed=2, steps=5)
    assert again.texts == found.texts[:3] and again.met == found.met[:3]


def test_sir_draws_each_candidate_in_proportion_to_its_ratio():
    """Sampling-importance resampling against the plain definition: over many rows with the
    same logits, candidate j is kept with probability exp(l_j) / Σ exp(l)."""
    import torch

    from textwgan.latent import resampled

    logits = torch.log(torch.tensor([[0.1, 0.2, 0.7]])).repeat(20_000, 1)
    picked = resampled(logits, torch.Generator().manual_seed(0))
    share = np.bincount(picked, minlength=3) / len(picked)
    assert np.allclose(share, [0.1, 0.2, 0.7], atol=0.015)
    # one row's choice depends on its own draw alone: the first rows of a longer call agree
    again = resampled(logits[:5], torch.Generator().manual_seed(0))
    assert np.array_equal(again, picked[:5])


def test_sir_rerank_uses_the_fitted_ratio_and_a_folder_keeps_it(run, tmp_path):
    gen = textwgan.load_generator(run)
    assert gen.ratio is None
    texts = gen.sample(6, seed=1, rerank=3)  # fitted on first use, on the run's corpus
    assert gen.ratio is not None and gen.ratio.info["steps"] > 0
    r = invoke("export", run, "--out", tmp_path / "m")
    assert r.exit_code == 0 and "fitting the density ratio" in r.output, r.output
    folder = textwgan.load_generator(tmp_path / "m")
    assert folder.ratio is not None and folder.ratio.a == pytest.approx(gen.ratio.a)
    assert folder.sample(6, seed=1, rerank=3) == texts
    top = gen.sample(6, seed=1, rerank=3, rule="top")
    assert top == gen.charset.decode_many(gen.sample_ids(6, seed=1, rerank=3, rule="top"))
    r = invoke("sample", "-n", "6", "--seed", "1", "--rerank", "3", "--checkpoint",
               tmp_path / "m")
    assert r.exit_code == 0 and r.stdout.splitlines() == texts
    assert "fitting" not in r.output  # the folder's own ratio: nothing to fit


def test_calibrate_refits_a_folder_and_keeps_an_edited_one(run, tmp_path):
    assert invoke("export", run, "--out", tmp_path / "m", "--no-critic").exit_code == 0
    assert_one_line_error(invoke("calibrate", tmp_path / "m"), 2, "holds no critic")
    assert invoke("export", run, "--out", tmp_path / "c").exit_code == 0
    r = invoke("calibrate", tmp_path / "c", "--steps", "20")
    assert r.exit_code == 0 and "density ratio of 20 steps" in r.output, r.output
    assert textwgan.load_generator(tmp_path / "c").ratio.info["steps"] == 20
    card = tmp_path / "c" / "README.md"
    card.write_text(card.read_text() + "\nmy notes\n")
    assert_one_line_error(invoke("calibrate", tmp_path / "c"), 2, "changed since")
    assert card.read_text().endswith("my notes\n")

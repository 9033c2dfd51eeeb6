"""Prompts by construction (`train --infill N`) and fine-tuning (`train --init MODEL`): an
empty prompt adds nothing, training prompts are real prefixes, the critic's mismatched joins
are real lines joined inside both, a prompted text keeps its prefix, a run resumes exactly,
and a fine-tune starts from the model's weights."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_one_line_error, assert_same_training_state, fit, invoke, tiny

from textwgan.charset import PAD
from textwgan.config import ModelConfig
from textwgan.corpus import Corpus
from textwgan.errors import InputError
from textwgan.models import Generator, prompt_of
from textwgan.steps import training_prompt

V, T = 7, 10


def nets(infill: int) -> tuple[Generator, Generator]:
    cfg = ModelConfig(seq_len=T, noise_dim=8, channels=12, n_blocks=2)
    torch.manual_seed(0)
    plain = Generator(cfg, V)
    prompted = Generator(ModelConfig(**{**cfg.__dict__, "infill": infill}), V)
    missing, unexpected = prompted.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["known.weight"] and not unexpected
    return plain, prompted


def one_hot_line(ids: list[int]) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(ids), V).float()  # (T, V)


def test_an_empty_prompt_adds_nothing_and_a_prompt_is_kept():
    plain, prompted = nets(4)
    z = torch.randn(5, 8)
    line = one_hot_line([2, 3, 4, 5, 6, 2, 3, 0, 0, 0])
    prompt = prompt_of(line.expand(5, T, V), torch.tensor([0, 1, 2, 3, 4]))
    assert torch.equal(prompted(z), plain(z))
    out = prompted(z, prompt)
    assert torch.allclose(out[0], plain(z)[0], atol=1e-6)  # row 0's prompt is empty
    for i in range(5):  # row i keeps its first i characters
        assert torch.equal(out[i, :i], line[:i])
        assert torch.allclose(out[i].sum(-1), torch.ones(T))


def test_the_prompt_shapes_the_rest_of_the_line_and_learns():
    _, prompted = nets(4)
    z = torch.randn(3, 8)
    prompt = prompt_of(one_hot_line([2, 3, 4, 5, 0, 0, 0, 0, 0, 0]).expand(3, T, V),
                       torch.tensor([4, 4, 4]))
    assert not torch.allclose(prompted(z, prompt)[:, 4:], prompted(z)[:, 4:])
    prompted(z, prompt)[:, 4:, 2].sum().backward()
    assert prompted.known.weight.grad.abs().sum() > 0  # a gradient reaches the prompt input


def test_mismatched_joins_are_two_real_lines_joined_inside_both():
    from textwgan.steps import with_mismatched_joins

    torch.manual_seed(2)
    lengths = torch.randint(1, T + 1, (300,))
    ids = torch.randint(2, V, (300, T))
    ids[torch.arange(T) >= lengths[:, None]] = PAD
    real = torch.nn.functional.one_hot(ids, V).float()
    fake = torch.full_like(real, 1.0 / V)
    out = with_mismatched_joins(fake, real, real.roll(1, 0), share=0.5)
    swapped = 0
    for i in range(300):  # the slow reading, row by row
        if torch.equal(out[i], fake[i]):
            continue
        swapped += 1
        got = out[i].argmax(-1)
        assert torch.equal(out[i], torch.nn.functional.one_hot(got, V).float())
        seams = [k for k in range(1, min(int(lengths[i]), int(lengths[i - 1]) - 1) + 1)
                 if torch.equal(got[:k], ids[i, :k]) and torch.equal(got[k:], ids[i - 1, k:])]
        assert seams, i  # row i's start, then row i - 1's end, joined inside both lines
    assert 100 < swapped < 200


def test_prompt_of_keeps_each_lines_first_characters():
    rows = one_hot_line([2, 3, 4, 5, 6, 2, 3, 4, 5, 6]).expand(3, T, V)
    out = prompt_of(rows, torch.tensor([0, 2, 10]))
    assert out[0].sum() == 0
    assert torch.equal(out[1, :2], rows[1, :2]) and out[1, 2:].sum() == 0
    assert torch.equal(out[2], rows[2])


def test_training_prompts_are_real_prefixes_never_past_the_line():
    torch.manual_seed(1)
    lengths = torch.randint(0, T + 1, (400,))
    ids = torch.randint(2, V, (400, T))
    ids[torch.arange(T) >= lengths[:, None]] = PAD
    real = torch.nn.functional.one_hot(ids, V).float()
    prompt = training_prompt(real, 6)
    given = prompt.sum(-1)  # (B, T) 1 where a character is given
    for i in range(400):  # the slow reading of the rule, row by row
        k = int(given[i].sum())
        assert torch.equal(given[i, :k], torch.ones(k)) and given[i, k:].sum() == 0
        assert k <= min(6, int(lengths[i]))
        assert torch.equal(prompt[i, :k], real[i, :k])
    empty = float((given.sum(1) == 0).float().mean())
    assert 0.45 < empty < 0.7  # half the rows get no prompt, and k = 0 adds a few more
    assert int(given.sum(1).max()) == 6


@pytest.mark.slow
def test_an_infill_run_resumes_bit_identically(small_corpus, tmp_path):
    corpus = Corpus(small_corpus)
    fit(corpus, tiny(8, infill=4), tmp_path / "straight")
    fit(corpus, tiny(4, infill=4), tmp_path / "split")
    fit(corpus, tiny(8, infill=4), tmp_path / "split")
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    assert_same_training_state(a, b)
    # the prompt input was trained: it moved from where the seed built it
    built = fit(corpus, tiny(0, infill=4), tmp_path / "built")
    start = torch.load(built / "checkpoint.pt", weights_only=True)["generator"]["known.weight"]
    assert not torch.equal(a["generator"]["known.weight"], start)


@pytest.fixture(scope="module")
def plain_run(small_corpus, tmp_path_factory):
    return fit(Corpus(small_corpus), tiny(6), tmp_path_factory.mktemp("plain") / "run")


@pytest.mark.slow
def test_a_fine_tune_starts_from_the_models_weights_and_network(small_corpus, plain_run,
                                                                   tmp_path):
    from textwgan.checkpoint import load_checkpoint
    from textwgan.sample import load_generator

    run = fit(Corpus(small_corpus), tiny(0, init=str(plain_run), infill=5), tmp_path / "tuned")
    src, new = (load_checkpoint(r / "checkpoint.pt") for r in (plain_run, run))
    assert {**src["config"]["model"], "infill": 5} == new["config"]["model"]
    assert new["config"]["model"]["infill"] == 5 and new["config"]["train"]["init"]
    for part in ("generator", "critic", "generator_ema"):
        for k, v in src.get(part, {}).items():
            assert torch.equal(new[part][k], v), (part, k)
    # Unprompted, it writes what the model wrote; prompted, every text keeps the prefix.
    assert load_generator(run).sample(20, seed=3) == load_generator(plain_run).sample(20,
                                                                                       seed=3)
    found = load_generator(run).complete(70, prefix="a man", seed=1)
    assert found.met == [True] * 70 and all(t.startswith("a man") for t in found.texts)


@pytest.mark.slow
def test_sample_prefix_on_an_infill_model_meets_every_prompt_and_its_folder_too(
        small_corpus, tmp_path):
    run = fit(Corpus(small_corpus), tiny(4, infill=6), tmp_path / "run")
    r = invoke("sample", "-n", "5", "--checkpoint", run, "--prefix", "two d", "--seed", "2")
    assert r.exit_code == 0, r.output
    texts = [t for t in r.output.splitlines() if t.startswith("two d")]
    assert len(texts) == 5 and "5 of 5" in r.output
    assert invoke("export", run, "--out", tmp_path / "m").exit_code == 0
    r2 = invoke("sample", "-n", "5", "--checkpoint", tmp_path / "m", "--prefix", "two d",
                "--seed", "2")
    assert r2.exit_code == 0 and [t for t in r2.output.splitlines()
                                  if t.startswith("two d")] == texts
    # The seed fixes each text whatever n is.
    r3 = invoke("sample", "-n", "2", "--checkpoint", run, "--prefix", "two d", "--seed", "2")
    assert [t for t in r3.output.splitlines() if t.startswith("two d")] == texts[:2]


@pytest.mark.slow
def test_a_fine_tune_is_refused_in_one_line_when_the_model_does_not_fit(
        small_corpus, plain_run, tmp_path):
    r = invoke("train", small_corpus, "--preset", "tiny", "--init", tmp_path / "nothing",
               "--out", tmp_path / "a")
    assert_one_line_error(r, 2, "no such checkpoint")
    assert invoke("export", plain_run, "--out", tmp_path / "bare", "--no-critic").exit_code == 0
    r = invoke("train", small_corpus, "--preset", "tiny", "--init", tmp_path / "bare",
               "--out", tmp_path / "b")
    assert_one_line_error(r, 2, "holds no critic")
    other = tmp_path / "other.txt"
    other.write_text("ЖЖЖ ббб ввв\n" * 300, encoding="utf-8")
    r = invoke("train", other, "--preset", "tiny", "--init", plain_run, "--out", tmp_path / "c")
    assert_one_line_error(r, 2, "other characters")
    r = invoke("train", small_corpus, "--preset", "tiny", "--init", plain_run, "--channels",
               "24", "--out", tmp_path / "d")
    assert_one_line_error(r, 2, "does not fit")
    for name in "abcd":
        assert not (tmp_path / name).exists()


@pytest.mark.slow
def test_infill_longer_than_the_corpus_lines_is_refused_before_anything_is_written(
        small_corpus, tmp_path):
    r = invoke("train", small_corpus, "--preset", "tiny", "--infill", "40", "--out",
               tmp_path / "r")
    assert_one_line_error(r, 2, "longer than the corpus's lines")
    assert not (tmp_path / "r").exists()
    with pytest.raises(InputError, match="infill"):
        ModelConfig(infill=-1).validate()


@pytest.mark.slow
def test_a_fine_tune_carries_the_models_average_on(small_corpus, tmp_path):
    from textwgan.checkpoint import load_checkpoint

    src_run = fit(Corpus(small_corpus), tiny(6, ema=0.99), tmp_path / "src")
    run = fit(Corpus(small_corpus), tiny(1, ema=0.99, init=src_run), tmp_path / "tuned")
    src, new = (load_checkpoint(r / "checkpoint.pt") for r in (src_run, run))
    # One step of a decay-0.99 average: 0.99 of the loaded average, not the warm-up's 0.1.
    for k, v in src["generator_ema"].items():
        expected = 0.99 * v + 0.01 * new["generator"][k]
        assert torch.allclose(new["generator_ema"][k], expected, atol=1e-6), k

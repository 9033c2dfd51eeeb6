"""torchrun data parallelism on CPU (gloo, 2 processes) against one process, and the
memory-mapped batch source."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import fit

from textwgan.config import get_preset
from textwgan.corpus import Corpus
from textwgan.data import DeviceData, MappedData, training_data
from textwgan.distributed import Shard
from textwgan.errors import InputError

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes

# Parameters whose gradient is zero in exact arithmetic (a bias that shifts D(real) and
# D(fake) alike) get only rounding noise, and Adam rescales any nonzero noise to a full step
# of size lr: they cannot match across reduction orders, and are left out of the comparison.
NOISE_RMS = 1e-6
# Summing a batch's gradients in two halves and averaging them (DDP) rounds differently from
# one sum: float32 differences stay near 1e-7 per step and grow only slowly over a few steps.
TOLERANCE = 1e-5


def torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", "textwgan", "train", *map(str, args)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def assert_same_training(single: dict, other: dict) -> None:
    for part, opt in (("generator", "opt_generator"), ("critic", "opt_critic")):
        state = single[opt]["state"]
        compared = 0
        for i, key in enumerate(single[part]):
            if state[i]["exp_avg_sq"].sqrt().max().item() < NOISE_RMS:
                continue
            torch.testing.assert_close(other[part][key], single[part][key], rtol=0,
                                       atol=TOLERANCE, msg=f"{part}.{key}")
            compared += 1
        assert compared >= len(single[part]) - 2  # at most a couple of zero-gradient biases


def tiny_config(**overrides):
    """The tiny preset as the torchrun commands below run it."""
    return get_preset("tiny").with_overrides(batch_size=16, eval_every=100, diag_every=0,
                                             **overrides)


@pytest.fixture
def tiny_args(small_corpus):
    return [small_corpus, "--preset", "tiny", "--batch-size", "16", "--device", "cpu",
            "--eval-every", "100", "--diag-every", "0"]


@pytest.mark.parametrize("infill", [0, 4])  # an infill run's prompts and joins shard too
def test_two_ranks_match_one_process(small_corpus, tiny_args, tmp_path, infill):
    torchrun(2, *tiny_args, "--iters", "3", "--infill", str(infill), "--out", tmp_path / "ddp")
    corpus = Corpus(small_corpus)
    fit(corpus, tiny_config(iters=3, infill=infill), tmp_path / "one")
    one = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    ddp = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True)
    assert ddp["step"] == one["step"] == 3
    assert_same_training(one, ddp)
    # and the nets did move: the comparison is not between two untouched initializations
    fit(corpus, tiny_config(iters=0), tmp_path / "init")
    start = torch.load(tmp_path / "init" / "checkpoint.pt", weights_only=True)
    assert not torch.equal(start["critic"]["fc.weight"], ddp["critic"]["fc.weight"])


def test_resume_with_another_rank_count(small_corpus, tiny_args, tmp_path):
    # 2 steps on 2 ranks, then 2 more on 1 process, equals 4 steps on 1 process.
    torchrun(2, *tiny_args, "--iters", "2", "--out", tmp_path / "mixed")
    corpus = Corpus(small_corpus)
    config = tiny_config(iters=4)
    fit(corpus, config, tmp_path / "mixed")
    fit(corpus, config, tmp_path / "one")
    mixed = torch.load(tmp_path / "mixed" / "checkpoint.pt", weights_only=True)
    one = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    assert mixed["step"] == 4
    assert_same_training(one, mixed)


def test_global_batch_must_divide_among_ranks(small_corpus, tmp_path, monkeypatch):
    config = get_preset("tiny").with_overrides(batch_size=15)
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets: checked before any rank starts
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(InputError, match="divide evenly among the 2 ranks"):
        fit(Corpus(small_corpus), config, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_rank_slices_tile_the_global_batch(small_corpus):
    # Each rank's rows are its slice of the one global draw: together they are that draw.
    corpus = Corpus(small_corpus)
    for source in (DeviceData, MappedData):
        whole = source(corpus, torch.device("cpu")).get_batch(
            12, torch.Generator().manual_seed(5))
        parts = [source(corpus, torch.device("cpu"), Shard(r, 3)).get_batch(
            4, torch.Generator().manual_seed(5)) for r in range(3)]
        torch.testing.assert_close(torch.cat(parts), whole)


def test_mapped_batches_are_the_drawn_rows(small_corpus):
    corpus = Corpus(small_corpus)
    data = MappedData(corpus, torch.device("cpu"))
    batch = data.get_batch(64, torch.Generator().manual_seed(1))
    idx = torch.randint(len(corpus.train), (64,), generator=torch.Generator().manual_seed(1))
    expected = np.asarray(corpus.train)[idx.numpy()]  # (B, T): a plain gather, unsorted
    assert batch.shape == (64, corpus.seq_len, len(corpus.charset))
    np.testing.assert_array_equal(batch.argmax(-1).numpy(), expected)
    assert isinstance(corpus.train, np.memmap)  # nothing was loaded whole


def test_training_data_modes(small_corpus, tmp_path):
    corpus = Corpus(small_corpus)
    assert isinstance(training_data(corpus, torch.device("cpu")), DeviceData)  # small: device
    assert isinstance(training_data(corpus, torch.device("cpu"), "mapped"), MappedData)
    with pytest.raises(InputError, match="data must be one of"):
        training_data(corpus, torch.device("cpu"), "ram")
    # A mapped run trains and resumes like any other.
    config = get_preset("tiny").with_overrides(iters=3, eval_every=100, diag_every=0)
    run = fit(corpus, config, tmp_path / "m", data="mapped")
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 3

"""The plan of a `train` call, decided without training: new, resumed, or found at --out;
every conflict refused before anything is written."""

from __future__ import annotations

import pytest

from textwgan.config import build_config
from textwgan.distributed import Shard
from textwgan.errors import InputError
from textwgan.plan import Request, plan_run
from textwgan.training import train


def planned(corpus=None, *, preset="auto", out=None, resume=None, config=None,
            device_type="cpu", shard=None, note=lambda message: None, **overrides):
    """plan_run of the request these keywords make, as `train` makes it."""
    from textwgan.distributed import SINGLE

    return plan_run(Request(corpus, preset, out, resume, config, overrides), device_type,
                    shard or SINGLE, note)

TINY = dict(preset="tiny", iters=2, eval_every=2, save_every=2, diag_every=0, device="cpu")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train(None, out=tmp_path_factory.mktemp("plan") / "run", **TINY)


def test_a_new_run_takes_its_preset_and_overrides(tmp_path):
    notes = []
    plan = planned(None, preset="auto", out=tmp_path / "r", device_type="cpu",
                    note=notes.append, lr=2e-4)
    assert plan.config.preset == "small" and plan.config.train.lr == 2e-4
    assert plan.ckpt is None and plan.run_dir == tmp_path / "r"
    assert notes == ["preset: small (auto, on cpu)"]
    assert planned(device_type="cuda").config.preset == "default"


def test_an_out_holding_the_same_run_continues_it_with_the_new_schedule(run):
    plan = planned(None, preset="tiny", out=run, iters=10, eval_every=5)
    assert plan.ckpt["step"] == 2 and plan.config.train.iters == 10
    assert plan.config.train.eval_every == 5


def test_an_out_holding_another_run_is_refused(run):
    with pytest.raises(InputError, match="holds a run with other settings"):
        planned(None, preset="tiny", out=run, lr=0.5, iters=10)


def test_resume_keeps_the_settings_and_its_corpus(run):
    plan = planned(resume=run, iters=4)
    assert plan.ckpt["step"] == 2 and plan.config.preset == "tiny"
    assert plan.corpus_from_run == plan.ckpt["corpus"]["path"]
    assert planned(resume=run, seed=0, iters=4).config.train.seed == 0  # its own value
    with pytest.raises(InputError, match="seed cannot change"):
        planned(resume=run, seed=1)


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"preset": "small"}, "cannot change when resuming"),
    ({"out": "elsewhere"}, "not both"),
    ({"config": build_config("tiny")}, "keeps its own config"),
    ({"iters": 1}, "is at step 2 already"),
])
def test_resume_conflicts_are_refused(run, kwargs, says):
    with pytest.raises(InputError, match=says):
        planned(resume=run, **kwargs)


def test_torchrun_rules(tmp_path):
    two = Shard(rank=0, world=2)
    with pytest.raises(InputError, match="under torchrun, give --out|under torchrun, give out"):
        planned(preset="tiny", shard=two)
    with pytest.raises(InputError, match="must divide evenly among the 3 ranks"):
        planned(preset="tiny", out=tmp_path / "r", shard=Shard(rank=0, world=3))
    assert planned(preset="tiny", out=tmp_path / "r", shard=two).config.train.batch_size == 16


def test_a_whole_config_or_a_preset_not_both(tmp_path):
    with pytest.raises(InputError, match="not both"):
        planned(config=build_config("tiny"), preset="small")
    assert planned(config=build_config("tiny")).config.preset == "tiny"

"""The CUDA-graph path where no GPU is (the CPU fallback), and what capture demands of the
steps, checked on the CPU: no host reads inside a step, and a loop that copes with outputs a
replay overwrites in place. Capture itself runs in tests/test_cuda.py on a GPU."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch

from textwgan.assets import bundled_corpus_path
from textwgan.checkpoint import CHECKPOINT_NAME, load_checkpoint
from textwgan.config import get_preset
from textwgan.corpus import Corpus
from textwgan.data import DeviceData
from textwgan.device import speed_for
from textwgan.graphs import StepGraph, capture_blocker
from textwgan.steps import build_state, critic_step, generator_step
from textwgan.training import train

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes

CPU = torch.device("cpu")
SETTINGS = dict(preset="tiny", iters=12, eval_every=6, save_every=6, log_every=3, diag_every=0,
                device="cpu", seed=3)


def weights(run) -> dict:
    ckpt = load_checkpoint(run / CHECKPOINT_NAME)
    return {**ckpt["generator"], **{f"critic.{k}": v for k, v in ckpt["critic"].items()}}


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.fixture(scope="module")
def eager_run(tmp_path_factory):
    return train(None, out=tmp_path_factory.mktemp("eager") / "run", **SETTINGS)


def test_capture_blocker_names_each_reason():
    assert "no CUDA device" in capture_blocker(CPU, False, False)
    cuda = torch.device("cuda")
    assert "DistributedDataParallel" in capture_blocker(cuda, True, False)
    assert "memory map" in capture_blocker(cuda, False, True)
    assert capture_blocker(cuda, False, False) is None


def test_step_graph_without_capture_calls_the_step_every_time():
    calls = []
    step = StepGraph(lambda: calls.append(len(calls)) or torch.tensor(float(len(calls))), CPU,
                     capture=True)  # asked for, but there is no CUDA device here
    outs = [step().item() for _ in range(5)]
    assert outs == [1.0, 2.0, 3.0, 4.0, 5.0] and not step.captured and not step.capture


def test_cuda_graphs_flag_on_a_cpu_runs_the_same_steps(eager_run, tmp_path):
    notes = []
    run = train(None, out=tmp_path / "run", cuda_graphs=True,
                on_event=lambda kind, rec: notes.append(rec["message"]) if kind == "note"
                else None, **SETTINGS)
    assert any(n == "CUDA graphs are off: no CUDA device: the steps run eagerly" for n in notes)
    assert_same_weights(run, eager_run)


class ReplayLike(StepGraph):
    """What a replayed graph does to its caller, on the CPU: after the warm-up calls every
    call returns the same output tensors, overwritten in place."""

    def __call__(self):
        self.calls += 1
        out = self.fn()
        if self.calls <= self.warmup:
            return out
        if self.out is None:
            self.out = out
        elif isinstance(out, dict):
            for k, v in out.items():
                self.out[k].copy_(v)
        else:
            self.out.copy_(out)
        return self.out


def test_the_loop_copes_with_outputs_overwritten_by_each_replay(eager_run, tmp_path,
                                                              monkeypatch):
    monkeypatch.setattr("textwgan.steps.StepGraph", ReplayLike)
    run = train(None, out=tmp_path / "run", **SETTINGS)
    assert_same_weights(run, eager_run)
    logs = [figures(r) for r in (run, eager_run)]
    assert logs[0] == logs[1] and any(r["kind"] == "train" for r in logs[0])


def figures(run) -> list[dict]:
    """The log's records without what differs between two runs of the same training."""
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", "it_s", "samples")}
            for r in records]


@contextlib.contextmanager
def no_host_reads():
    """Any read of a tensor's value on the host raises: inside a CUDA graph capture such a
    read (a sync) is an error, so a step that does one cannot be captured."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("a step read a tensor on the host")

    names = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__")
    saved = {n: getattr(torch.Tensor, n) for n in names}
    try:
        for n in names:
            setattr(torch.Tensor, n, refuse)
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.Tensor, n, f)


@pytest.mark.parametrize("overrides", [{}, {"lipschitz": "gp-one-sided"},
                                       {"lipschitz": "gp-finite-difference"},
                                       {"lipschitz": "clip"}, {"optimizer": "rmsprop"},
                                       {"loss": "gan"}, {"ema": 0.999}])
def test_steps_never_read_tensors_on_the_host(overrides):
    corpus = Corpus(bundled_corpus_path())
    config = get_preset("tiny").with_overrides(seq_len=corpus.seq_len, **overrides)
    speed = speed_for(True, CPU, cuda_graphs=True)
    state = build_state(config, len(corpus.charset), CPU, speed)
    data = DeviceData(corpus, CPU)
    with no_host_reads():
        for _ in range(2):
            stats = critic_step(state, data, config)
            g_loss = generator_step(state, config, CPU)
    assert torch.isfinite(stats["critic_loss"]) and torch.isfinite(g_loss)


def test_no_host_reads_catches_a_host_read():
    with pytest.raises(AssertionError, match="host"), no_host_reads():
        float(torch.ones(()) * 2)

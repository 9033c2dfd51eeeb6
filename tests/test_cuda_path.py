"""What runs only on a GPU, checked on the CPU: each test stands in for the GPU at the one
place the CUDA path differs (a device type, a capture, a precision flag) and would fail on
the mistake the CUDA audit (shared/notes/cuda-audit.md) predicted."""

from __future__ import annotations

import contextlib

import pytest
import torch

from textwgan.config import build_config
from textwgan.device import Speed, speed_for, tf32, tf32_flags
from textwgan.graphs import StepGraph, captured_speed
from textwgan.sample import generate_ids
from textwgan.steps import make_optimizer
from textwgan.training import train

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes

CUDA = torch.device("cuda")  # a device object only: nothing here allocates on it
TINY = dict(preset="tiny", iters=4, eval_every=2, save_every=2, log_every=2, diag_every=0,
            device="cpu")


class Loaded(Exception):
    """Stops a training right after it loaded its checkpoint."""


@pytest.mark.parametrize("how", ["resume", "out"])
def test_a_run_resumed_on_a_gpu_loads_its_checkpoint_onto_the_cpu(tmp_path, monkeypatch, how):
    # Mapped onto the GPU, the CPU generator's RNG state would arrive as a CUDA tensor, which
    # torch.set_rng_state refuses; under torchrun every rank would map it onto GPU 0.
    run = train(None, out=tmp_path / "run", **TINY)
    seen = []

    def load(path, map_location="cpu"):
        seen.append(torch.device(map_location))
        raise Loaded

    monkeypatch.setattr("textwgan.training.resolve_device", lambda name: CUDA)
    monkeypatch.setattr("textwgan.checkpoint.load_checkpoint", load)
    with pytest.raises(Loaded):
        if how == "resume":
            train(resume=run, iters=6, device="cuda")
        else:
            train(None, out=run, **(TINY | {"device": "cuda", "iters": 6}))
    assert seen == [torch.device("cpu")]


def test_rng_states_are_restored_from_cpu_tensors(monkeypatch):
    from textwgan.checkpoint import rng_state, set_rng_state

    moved = []

    class OnGpu(torch.Tensor):
        """A CPU tensor that says it was mapped to a GPU, until it is moved back."""

        def cpu(self, *args, **kwargs):
            moved.append(True)
            return torch.Tensor(self).clone()

    state = rng_state()
    real = torch.set_rng_state

    def strict(t):
        assert type(t) is torch.Tensor, "the RNG state was not moved to the CPU first"
        real(t)

    monkeypatch.setattr(torch, "set_rng_state", strict)
    set_rng_state({"torch": state["torch"].as_subclass(OnGpu)})
    assert moved


@pytest.mark.parametrize("overrides", [{}, {"lipschitz": "clip"}, {"optimizer": "rmsprop"}])
def test_every_optimizer_is_capturable_when_the_steps_are_captured(overrides):
    config = build_config("tiny", **overrides)
    params = [torch.nn.Parameter(torch.zeros(3))]
    captured = make_optimizer(params, 1e-3, config, speed_for(True, CUDA, cuda_graphs=True),
                              CUDA)
    eager = make_optimizer(params, 1e-3, config, speed_for(True, CUDA), CUDA)
    assert captured.defaults["capturable"] is True
    assert eager.defaults["capturable"] is False


@pytest.mark.parametrize(("distributed", "mapped"), [(True, False), (False, True)])
def test_no_optimizer_is_capturable_when_capture_is_blocked(distributed, mapped):
    asked = speed_for(True, CUDA, cuda_graphs=True)
    speed, note = captured_speed(asked, CUDA, distributed, mapped)
    assert not speed.cuda_graphs and note.startswith("CUDA graphs are off: ")
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(3))], 1e-3, build_config("tiny"),
                         speed, CUDA)
    assert opt.defaults["capturable"] is False
    assert captured_speed(asked, CUDA, False, False) == (asked, None)


def test_a_failed_capture_leaves_no_graph_to_replay(monkeypatch):
    class FailingCapture:
        def __init__(self, graph, stream=None):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "Stream", lambda device=None: object())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: object())
    monkeypatch.setattr(torch.cuda, "graph", FailingCapture)
    step = StepGraph(lambda: torch.ones(()), CUDA, capture=True, warmup=0)
    with pytest.raises(RuntimeError, match="capturing"):
        step()
    assert not step.captured and step.graph is None


def test_training_hands_the_callers_tf32_flags_back(tmp_path):
    # The fast path switches TF32 for a run; a caller's own fp32 work afterwards must not
    # run in TF32 (or lose it) because of a library call.
    for matmul, conv in ((True, False), (False, True)):
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = conv
        before = tf32_flags()
        train(None, out=tmp_path / f"run{matmul}", **TINY)
        assert tf32_flags() == before


def test_sampling_runs_in_full_fp32_and_gives_the_flags_back(monkeypatch):
    from textwgan.models import Generator

    config = build_config("tiny")
    generator = Generator(config.model, 12)
    seen = []
    logits = Generator.logits

    def spy(self, z):
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return logits(self, z)

    monkeypatch.setattr(Generator, "logits", spy)
    with tf32(True):
        ids = generate_ids(generator, 5, seed=1, batch_size=2)
        assert tf32_flags()[1:] == (True, True)
    assert seen == [(False, False)] * 3 and ids.shape[0] == 5


def test_tf32_context_keeps_flags_set_through_the_newer_api():
    # Once a caller sets TF32 through fp32_precision, reading the legacy flags raises: the
    # context must still hand back exactly what the caller had.
    with contextlib.ExitStack() as stack:
        stack.enter_context(tf32())  # the test's own net
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        before = tf32_flags()
        assert before[0] == "fp32_precision"
        with tf32(False):
            assert torch.backends.cuda.matmul.fp32_precision == "ieee"
        assert tf32_flags() == before


def test_speed_without_graphs_is_left_alone():
    speed = Speed(fused_adam=True)
    assert captured_speed(speed, CUDA, True, True) == (speed, None)


def test_a_torchrun_launch_uses_the_process_group_and_ddp_even_at_one_rank(tmp_path,
                                                                            monkeypatch):
    # One GPU under torchrun must exercise what several do (NCCL there, gloo here): the group,
    # its all-reduces and barriers, and DDP beside the out-of-place penalty.
    import socket

    from torch.nn.parallel import DistributedDataParallel

    from textwgan.checkpoint import load_checkpoint

    wrapped = []

    class Spy(DistributedDataParallel):
        def __init__(self, module, *args, **kwargs):
            wrapped.append(type(module).__name__)
            super().__init__(module, *args, **kwargs)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "TORCHELASTIC_RUN_ID": "test"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("torch.nn.parallel.DistributedDataParallel", Spy)
    launched = train(None, out=tmp_path / "ddp", **TINY)
    assert sorted(wrapped) == ["Critic", "Generator"]
    assert not torch.distributed.is_initialized()  # the run's own group is torn down
    monkeypatch.delenv("TORCHELASTIC_RUN_ID")
    plain = train(None, out=tmp_path / "plain", **TINY)
    assert len(wrapped) == 2
    a, b = (load_checkpoint(r / "checkpoint.pt") for r in (launched, plain))
    for part in ("generator", "critic"):
        for key in a[part]:
            torch.testing.assert_close(a[part][key], b[part][key], rtol=0, atol=1e-6)

"""The CUDA path end to end (`pytest -m cuda`; skipped where no CUDA GPU is visible, run on a
GPU by benchmarks/gpu_check.py): train → sample → eval on the GPU, resume, the fast path
against eager fp32, the gradient penalty against its linear-critic reference in fp32 and
under autocast, CUDA graphs, and a single-rank torchrun with NCCL."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, invoke

from textwgan.device import tf32

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
CUDA = torch.device("cuda")



def test_train_sample_eval_on_cuda(small_corpus, tmp_path):
    r = invoke("train", small_corpus, "--preset", "tiny", "--iters", "6", "--eval-every", "3",
               "--device", "cuda", "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert "on cuda" in r.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["device"].startswith("cuda") and config["fast"] is True
    r = invoke("sample", "-n", "20", "--checkpoint", tmp_path / "run", "--device", "cuda")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 20, r.output
    # The same seed gives the same samples on the GPU and on the CPU (noise is drawn on the CPU).
    cpu = invoke("sample", "-n", "20", "--checkpoint", tmp_path / "run", "--device", "cpu")
    assert cpu.stdout == r.stdout
    r = invoke("eval", tmp_path / "run", "--corpus", small_corpus, "--n", "64", "--json")
    assert r.exit_code == 0, r.output
    assert 0 <= json.loads(r.stdout)["js4"] <= 1


def test_resume_on_cuda_continues_from_the_saved_step(small_corpus, tmp_path):
    from textwgan.checkpoint import load_checkpoint

    args = ("train", small_corpus, "--preset", "tiny", "--eval-every", "2", "--save-every", "2",
            "--device", "cuda", "--out", tmp_path / "run")
    assert invoke(*args, "--iters", "4").exit_code == 0
    r = invoke("train", "--resume", tmp_path / "run", "--iters", "8")
    assert r.exit_code == 0 and "resumed at step 4" in r.output, r.output
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["step"] == 8 and [m["step"] for m in ckpt["metrics"]] == [0, 2, 4, 6, 8]
    records = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    evals = [r["step"] for r in records if r["kind"] == "eval"]
    assert evals == [0, 2, 4, 6, 8]  # one log, every step once: the resumed run redid nothing
    assert all(torch.isfinite(v).all() for v in ckpt["generator"].values())


def test_fast_path_matches_eager_fp32_on_the_gpu():
    from test_fast import BF16_ATOL, BF16_RTOL, first_steps

    from textwgan.device import EAGER, speed_for

    w0, g0, _ = first_steps(EAGER, device=CUDA)
    w, g, _ = first_steps(speed_for(True, CUDA), device=CUDA)
    torch.testing.assert_close(w, w0, rtol=BF16_RTOL, atol=BF16_ATOL)
    torch.testing.assert_close(g, g0, rtol=BF16_RTOL, atol=BF16_ATOL)


def test_cuda_graphs_take_the_steps_the_eager_fast_path_takes():
    # The same draws (graph-safe RNG), the same arithmetic: only launches differ. Six
    # iterations: the generator step is captured at its fourth call and replayed after.
    from test_fast import BF16_ATOL, BF16_RTOL, first_steps

    from textwgan.device import speed_for

    w0, g0, _ = first_steps(speed_for(True, CUDA), iters=6, device=CUDA)
    w, g, _ = first_steps(speed_for(True, CUDA, cuda_graphs=True), iters=6, device=CUDA)
    torch.testing.assert_close(w, w0, rtol=BF16_RTOL, atol=BF16_ATOL)
    torch.testing.assert_close(g, g0, rtol=BF16_RTOL, atol=BF16_ATOL)


@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gradient_penalty_of_a_linear_critic_on_cuda(autocast, scale):
    from textwgan.losses import gradient_penalty

    torch.manual_seed(0)
    t, v = 8, 6
    w = torch.randn(t * v, device=CUDA)
    w = w / w.norm() * scale
    linear = torch.nn.Linear(t * v, 1, bias=False).to(CUDA)
    with torch.no_grad():
        linear.weight.copy_(w[None])

    def critic(x):
        return linear(x.flatten(1)).squeeze(1)

    real = torch.nn.functional.one_hot(torch.randint(v, (16, t), device=CUDA), v).float()
    fake = torch.softmax(torch.randn(16, t, v, device=CUDA), -1)
    # The fp32 case is the reference: TF32 off whatever an earlier call left (conftest hands
    # the flags back after every test, and `train` after every run).
    with tf32(False), torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        gp = gradient_penalty(critic, real, fake)
    assert gp.dtype == torch.float32
    expected = (scale - 1) ** 2  # ‖∇D‖ = ‖w‖ everywhere
    tolerance = 2e-2 * max(expected, 1e-2) if autocast else 1e-5
    assert gp.item() == pytest.approx(expected, abs=tolerance)


def test_cuda_graphs_capture_and_train(small_corpus, tmp_path):
    from textwgan.checkpoint import load_checkpoint
    from textwgan.graphs import StepGraph

    counter = torch.zeros((), device=CUDA)

    def step():
        counter.add_(1)
        return counter * 2

    graph = StepGraph(step, CUDA, capture=True, warmup=2)
    outs = [graph().item() for _ in range(5)]
    assert graph.captured and outs == [2.0, 4.0, 6.0, 8.0, 10.0]  # capture did not run it twice
    r = invoke("train", small_corpus, "--preset", "tiny", "--iters", "12", "--eval-every", "6",
               "--device", "cuda", "--cuda-graphs", "--out", tmp_path / "g")
    assert r.exit_code == 0 and "CUDA graphs are off" not in r.output, r.output
    ckpt = load_checkpoint(tmp_path / "g" / "checkpoint.pt")
    assert ckpt["step"] == 12
    assert all(torch.isfinite(v).all() for v in ckpt["critic"].values())
    # It resumes, captured again after its warm-up.
    r = invoke("train", "--resume", tmp_path / "g", "--iters", "16")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("flags", [("--lipschitz", "clip"), ("--optimizer", "rmsprop")])
def test_cuda_graphs_capture_rmsprop_steps(small_corpus, tmp_path, flags):
    from textwgan.checkpoint import load_checkpoint

    r = invoke("train", small_corpus, "--preset", "tiny", "--iters", "8", "--eval-every", "4",
               "--device", "cuda", "--cuda-graphs", *flags, "--out", tmp_path / "c")
    assert r.exit_code == 0 and "CUDA graphs are off" not in r.output, r.output
    r = invoke("train", "--resume", tmp_path / "c", "--iters", "12")
    assert r.exit_code == 0, r.output
    ckpt = load_checkpoint(tmp_path / "c" / "checkpoint.pt")
    assert ckpt["step"] == 12
    if flags[1] == "clip":
        assert all(v.abs().max() <= 0.01 + 1e-7 for k, v in ckpt["critic"].items()
                   if k.endswith("weight"))


def test_single_rank_torchrun_with_nccl(small_corpus, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1",
           "-m", "textwgan", "train", str(small_corpus), "--preset", "tiny", "--iters", "3",
           "--device", "cuda", "--cuda-graphs", "--out", str(tmp_path / "ddp")]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    config = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert config["ranks"] == 1 and config["device"].startswith("cuda")
    # A torchrun launch joins an NCCL group and wraps DDP even at one rank, so CUDA graphs
    # are refused for that reason: proof that the distributed path ran.
    assert "CUDA graphs are off: under torchrun" in r.stdout + r.stderr, r.stderr[-2000:]

"""Training speed: a plain eager port against textwgan's fast path, in one run.

    python benchmarks/train_speed.py                             # paper config on the GPU
    python benchmarks/train_speed.py --device cpu --preset small # a CPU smoke check

Prints, for one configuration: ms per generator iteration and iterations/s of

  (a) a plain eager fp32 port, written here the way a user would write it: the batch built
      as one-hot on the host and copied each step, separate critic forwards for real, fake
      and interpolates, the loss read with .item() every critic step, plain Adam;
  (b) textwgan's training step (`critic_step`, `generator_step`) with `--fast`;

their ratio; FLOPs per iteration (torch's FlopCounterMode formulas over every matmul and
convolution of one iteration, double backward included); the achieved TFLOP/s and its share
of a matmul peak measured in the same run (bf16 on a GPU, fp32 on a CPU); and peak GPU memory.
Writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from textwgan.config import get_preset
from textwgan.corpus import Corpus, bundled_corpus_path
from textwgan.data import DeviceData
from textwgan.device import resolve_device, speed_for
from textwgan.models import Critic, Generator, count_parameters
from textwgan.training import build_state, critic_step, generator_step

ROOT = Path(__file__).resolve().parent.parent


class FlopCount(TorchDispatchMode):
    """Sums FLOPs of every matmul and convolution dispatched, with the formulas torch's
    FlopCounterMode uses. (FlopCounterMode itself tracks modules with backward hooks, which
    refuse autograd.grad: the penalty's double backward.)"""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_port(config, corpus: Corpus, device: torch.device):
    """One generator iteration of a straightforward port; returns a callable."""
    torch.manual_seed(0)
    m, t = config.model, config.train
    vocab = len(corpus.charset)
    gen, critic = Generator(m, vocab).to(device), Critic(m, vocab).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=t.lr, betas=t.betas)
    opt_c = torch.optim.Adam(critic.parameters(), lr=t.lr, betas=t.betas)
    train = np.asarray(corpus.train)
    eye = np.eye(vocab, dtype=np.float32)
    log = []

    def iteration():
        for p in critic.parameters():
            p.requires_grad = True
        for _ in range(t.critic_iters):
            rows = train[np.random.randint(0, len(train), t.batch_size)]
            real = torch.tensor(eye[rows]).to(device)  # (B, T, V) built on the host
            fake = gen(torch.randn(t.batch_size, m.noise_dim, device=device)).detach()
            d_real, d_fake = critic(real).mean(), critic(fake).mean()
            eps = torch.rand(t.batch_size, 1, 1, device=device)
            x = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
            gp = ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
            loss = d_fake - d_real + t.gp_lambda * gp
            opt_c.zero_grad()
            loss.backward()
            opt_c.step()
            log.append(loss.item())  # a host sync per critic step, as logging code does
        for p in critic.parameters():
            p.requires_grad = False
        g_loss = -critic(gen(torch.randn(t.batch_size, m.noise_dim, device=device))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        log.append(g_loss.item())

    return iteration


def fast_path(config, corpus: Corpus, device: torch.device):
    state = build_state(config, len(corpus.charset), device, speed_for(True, device))
    data = DeviceData(corpus, device)

    def iteration():
        for _ in range(config.train.critic_iters):
            critic_step(state, data, config)
        generator_step(state, config, device)

    return iteration, state


def time_it(fn, device: torch.device, iters: int, warmup: int) -> list[float]:
    """Seconds per call, each call synchronized (the fast path syncs nowhere else)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def matmul_peak(device: torch.device) -> tuple[float, str]:
    """TFLOP/s of a large square matmul: bf16 on a GPU, fp32 on a CPU."""
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    reps = 20 if device.type == "cuda" else 5
    times = time_it(lambda: a @ b, device, reps, 3)
    return 2 * n ** 3 / min(times) / 1e12, f"{str(dtype).removeprefix('torch.')} {n}³"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None,
                    help="default: benchmarks/results/train_speed_<device>_<preset>.json")
    args = ap.parse_args()

    device = resolve_device(args.device)
    corpus = Corpus(bundled_corpus_path())
    config = get_preset(args.preset).with_overrides(seq_len=corpus.seq_len)
    result: dict = {"preset": args.preset, "device": str(device), "iters": args.iters,
                    "torch": torch.__version__, "machine": platform.machine(),
                    "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d")}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)

    fast, state = fast_path(config, corpus, device)
    result["params"] = {"generator": count_parameters(state.generator),
                        "critic": count_parameters(state.critic)}
    with FlopCount() as counter:
        fast()
    flops = counter.flops
    result["tflop_per_iter"] = flops / 1e12

    for name, fn in (("plain", plain_port(config, corpus, device)), ("fast", fast)):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = time_it(fn, device, args.iters, args.warmup)
        sec = statistics.median(times)
        result[name] = {"ms_per_iter": sec * 1e3, "it_per_s": 1 / sec,
                        "ms_min": min(times) * 1e3, "ms_max": max(times) * 1e3,
                        "tflop_s": flops / sec / 1e12}
        if device.type == "cuda":
            result[name]["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        print(f"{name:>5}: {sec * 1e3:9.1f} ms/iter  {1 / sec:8.2f} it/s  "
              f"{flops / sec / 1e12:7.3f} TFLOP/s", flush=True)
    peak, what = matmul_peak(device)
    result["matmul_peak_tflop_s"], result["matmul_peak_kind"] = peak, what
    result["speedup"] = result["plain"]["ms_per_iter"] / result["fast"]["ms_per_iter"]
    result["fast"]["share_of_peak"] = result["fast"]["tflop_s"] / peak
    print(f"speedup {result['speedup']:.2f}×; {flops / 1e12:.3f} TFLOP per iteration; "
          f"fast path at {result['fast']['share_of_peak']:.1%} of the {what} matmul peak "
          f"({peak:.2f} TFLOP/s)")
    out = args.json or ROOT / "benchmarks" / "results" / (
        f"train_speed_{device.type}_{args.preset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

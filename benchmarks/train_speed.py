"""Training speed: a plain eager port against textwgan's fast path, in one run.

    python benchmarks/train_speed.py                             # paper config on the GPU
    python benchmarks/train_speed.py --device cpu --preset small # a CPU smoke check
    python benchmarks/train_speed.py --profile                   # + a torch.profiler summary

Prints, for one configuration, one row per way of running an iteration: ms per generator
iteration, iterations/s, the ratio to the plain port:

  plain   a plain eager fp32 port, written here the way a user would write it: the batch built
          as one-hot on the host and copied each step, separate critic forwards for real, fake
          and interpolates, the loss read with .item() every critic step, plain Adam;
  eager   textwgan's training step (`critic_step`, `generator_step`) in fp32;
  tf32    + TF32 matmuls and convolutions (GPU);
  bf16    + bf16 autocast (GPU);
  fast    the whole fast path: bf16, TF32, fused Adam (on a CPU: fused Adam only);
  graphs  + the critic and generator steps captured as CUDA graphs (GPU);

FLOPs per iteration (torch's formulas over every matmul and convolution of one iteration,
double backward included); the achieved TFLOP/s and its share of a matmul peak measured in the
same run (bf16 on a GPU, fp32 on a CPU); and peak GPU memory. Writes JSON under
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from common import environment, sync, time_it
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from textwgan.assets import bundled_corpus_path
from textwgan.config import get_preset
from textwgan.corpus import Corpus
from textwgan.data import DeviceData
from textwgan.device import EAGER, Speed, resolve_device, speed_for
from textwgan.models import Critic, Generator, count_parameters
from textwgan.steps import Iteration, build_state

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


def variants(device: torch.device) -> dict[str, Speed]:
    """textwgan's step under each speed switch, one change at a time (each a row)."""
    if device.type != "cuda":  # bf16 without AMX is slower on a CPU; no TF32, no graphs
        return {"eager": EAGER, "fast": speed_for(True, device)}
    return {"eager": EAGER, "tf32": Speed(tf32=True),
            "bf16": Speed(autocast=torch.bfloat16, tf32=True),
            "fast": speed_for(True, device),
            "graphs": speed_for(True, device, cuda_graphs=True)}


def textwgan_step(config, corpus: Corpus, device: torch.device, speed: Speed):
    """One generator iteration of textwgan's own step with `speed`; returns (callable, state,
    the graphs)."""
    state = build_state(config, len(corpus.charset), device, speed)
    # Captured only where CUDA is; elsewhere the steps run eagerly.
    iteration = Iteration(state, DeviceData(corpus, device), config, device)
    return iteration, state, iteration


def profile_summary(fn, device: torch.device, iters: int = 3) -> dict:
    """torch.profiler over a few iterations: the kernels that take the time, and how many
    kernel launches one iteration makes."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda"
                                           else [])
    fn()
    sync(device)
    with profile(activities=activities) as prof:
        for _ in range(iters):
            fn()
        sync(device)
    events = prof.key_averages()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    kernels = sum(e.count for e in events if getattr(e, "device_type", None) is not None
                  and str(e.device_type).endswith("CUDA"))
    return {"table": events.table(sort_by=key, row_limit=15), "iterations": iters,
            "device_kernels_per_iter": kernels / iters if device.type == "cuda" else None}


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
    ap.add_argument("--profile", action="store_true",
                    help="also a torch.profiler summary of the fastest row")
    ap.add_argument("--json", type=Path, default=None,
                    help="default: benchmarks/results/train_speed_<device>_<preset>.json")
    args = ap.parse_args()

    device = resolve_device(args.device)
    corpus = Corpus(bundled_corpus_path())
    config = get_preset(args.preset).with_overrides(seq_len=corpus.seq_len)
    result: dict = {"preset": args.preset, "device": str(device), "iters": args.iters,
                    "environment": environment(device)}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)

    rows = {"plain": (plain_port(config, corpus, device), None)}
    graphs = None
    for name, speed in variants(device).items():
        fn, state, steps = textwgan_step(config, corpus, device, speed)
        rows[name] = (fn, speed)
        if name == "eager":
            result["params"] = {"generator": count_parameters(state.generator),
                                "critic": count_parameters(state.critic)}
            with FlopCount() as counter:
                fn()
            flops = counter.flops
            result["tflop_per_iter"] = flops / 1e12
        if name == "graphs":
            graphs = steps
    out = args.json or ROOT / "benchmarks" / "results" / (
        f"train_speed_{device.type}_{args.preset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result["rows"], result["failed"] = {}, {}
    peak, what = matmul_peak(device)
    result["matmul_peak_tflop_s"], result["matmul_peak_kind"] = peak, what
    for name, (fn, speed) in rows.items():
        try:
            result["rows"][name] = time_row(fn, speed, device, args, flops, peak)
        except Exception as e:  # one row's failure (a capture, memory) must not lose the rest
            result["failed"][name] = f"{type(e).__name__}: {str(e)[:500]}"
            print(f"{name:>7}: failed: {result['failed'][name]}", flush=True)
            continue
        r = result["rows"][name]
        print(f"{name:>7}: {r['ms_per_iter']:9.1f} ms/iter  {r['it_per_s']:8.2f} it/s  "
              f"{r['tflop_s']:7.3f} TFLOP/s", flush=True)
        summarize(result)
        write(out, result)  # after every row: a hang later keeps what finished
    if graphs is not None:
        result["graphs_captured"] = graphs.captured
        write(out, result)
    if args.profile and "fast" in result["rows"]:
        # The eager fast path: a replayed graph's kernels would be counted one by one, and
        # CUPTI's view of graph kernels is unreliable on older CUDA. Profiled last, once the
        # figures are on disk.
        fn, speed = rows["fast"]
        try:
            (speed or EAGER).apply_process_settings()
            result["profile"] = profile_summary(fn, device) | {"row": "fast"}
            print(result["profile"]["table"])
        except Exception as e:
            result["profile_error"] = f"{type(e).__name__}: {str(e)[:500]}"
        if graphs is not None:
            result["graph_launches_per_iter"] = config.train.critic_iters + 1
        write(out, result)
    if result.get("best"):
        print(f"best: {result['best']}, {result['speedup']:.2f}× the plain port; "
              f"{flops / 1e12:.3f} TFLOP per iteration; "
              f"{result['fast']['share_of_peak']:.1%} of the {what} matmul peak "
              f"({peak:.2f} TFLOP/s)")
    print(f"wrote {out}")
    if result["failed"]:
        raise SystemExit(f"rows failed: {', '.join(result['failed'])}")


def time_row(fn, speed: Speed | None, device: torch.device, args, flops: float,
             peak: float) -> dict:
    """One row's figures: ms per iteration (median), TFLOP/s, peak memory."""
    # Building each row's state left the TF32 switches as they were; the plain port runs in
    # full fp32, as its users' code would.
    (speed or EAGER).apply_process_settings()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = time_it(fn, device, args.iters, args.warmup)
    sec = statistics.median(times)
    row = {"ms_per_iter": sec * 1e3, "it_per_s": 1 / sec, "ms_min": min(times) * 1e3,
           "ms_max": max(times) * 1e3, "tflop_s": flops / sec / 1e12,
           "share_of_peak": flops / sec / 1e12 / peak,
           "switches": None if speed is None else {
               "autocast": str(speed.autocast), "tf32": speed.tf32,
               "fused_adam": speed.fused_adam, "cuda_graphs": speed.cuda_graphs}}
    if device.type == "cuda":
        row["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row


def summarize(result: dict) -> None:
    """Speed-ups against the plain port, and the best row, from the rows timed so far."""
    rows = result["rows"]
    plain = rows.get("plain", {}).get("ms_per_iter")
    for row in rows.values():
        row["speedup_vs_plain"] = plain / row["ms_per_iter"] if plain else None
    ours = [n for n in rows if n != "plain"]
    if not ours or plain is None:
        return
    best = min(ours, key=lambda n: rows[n]["ms_per_iter"])
    result["best"] = best
    result["plain"], result["fast"] = rows["plain"], rows[best]
    result["speedup"] = rows[best]["speedup_vs_plain"]


def write(path: Path, result: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    main()

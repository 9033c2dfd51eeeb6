"""Where and how fast a step runs: the device, CPU threads, and the fast path's switches.

None of this changes what a step computes beyond rounding. On a CPU the thread count does
change rounding, so it is fixed per run (`--threads`, default: all cores) and runs with the
same count repeat bit for bit. How idle threads wait does not change results; textwgan's
package import sets a short spin (GOMP_SPINCOUNT) unless the user chose a policy, because
the default long spin collapses training speed when another program uses the CPU
(benchmarks/cpu_threads.py).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .errors import InputError, setting

MAX_THREADS = 1024


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str) or not (name in ("cpu", "cuda") or _cuda_index(name)):
        raise InputError(f"{setting('device')} must be auto, cpu, cuda or cuda:N, got {name!r}")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"{setting('device')} {name}: no CUDA GPU is visible to PyTorch; "
                             "use cpu")
        index = _cuda_index(name)
        if index is not None and index >= torch.cuda.device_count():
            raise InputError(f"{setting('device')} {name}: only {torch.cuda.device_count()} "
                             "GPU(s) are visible")
    return torch.device(name)


def _cuda_index(name: str) -> int | None:
    head, _, tail = name.partition(":")
    return int(tail) if head == "cuda" and tail.isdigit() else None


def set_threads(threads: int | None) -> int:
    """Use `threads` CPU threads for torch's intra-op work (None: leave torch's default, one
    per core). Returns the count in use."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) \
                or not 1 <= threads <= MAX_THREADS:
            raise InputError(f"{setting('threads')} must be an integer from 1 to "
                             f"{MAX_THREADS}, got {threads!r}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def busy_cpu_note(threads: int) -> str | None:
    """A hint when other programs already load the CPU that `threads` threads will use: all
    cores then run several times slower than one thread (README "CPU threads"). Only a hint:
    in a container the load average may be the whole host's."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None
    if threads < 2 or load < 1.0:
        return None
    return (f"the CPU is already busy (load average {load:.1f}, {threads} threads in use): if "
            "training runs slowly, one thread (--threads 1; threads=1 in Python) holds up "
            "better while other programs use the CPU")


@contextmanager
def cpu_threads(threads: int | None):
    """Run a block with `threads` CPU threads (None: the count already set), then give the
    caller's count back: a library call must not change the process's settings for good, and
    on a CPU the thread count changes float sums, so a later run would not match."""
    before = torch.get_num_threads()
    try:
        yield set_threads(threads)
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def tf32_flags() -> tuple[str, object, object]:
    """How TF32 is set now for fp32 matmuls and convolutions, in the API the caller used:
    reading the legacy flags raises once the caller has used torch's newer precision API."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    try:
        return "allow_tf32", matmul.allow_tf32, cudnn.allow_tf32
    except RuntimeError:
        return "fp32_precision", matmul.fp32_precision, cudnn.conv.fp32_precision


def set_tf32(enabled: bool) -> None:
    """TF32 on or off for fp32 matmuls and convolutions: process-wide switches, since PyTorch
    has no per-module setting."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


@contextmanager
def tf32(enabled: bool | None = None):
    """Run a block with TF32 on or off (None: as set), then give the caller's flags back, as
    `cpu_threads` gives the thread count back: a library call must not leave a caller's later
    fp32 work rounded to TF32, nor take TF32 away from it."""
    api, matmul, conv = tf32_flags()
    try:
        if enabled is not None:
            set_tf32(enabled)
        yield
    finally:
        if api == "allow_tf32":
            torch.backends.cuda.matmul.allow_tf32 = matmul
            torch.backends.cudnn.allow_tf32 = conv
        else:
            torch.backends.cuda.matmul.fp32_precision = matmul
            torch.backends.cudnn.conv.fp32_precision = conv


@contextmanager
def global_rng():
    """Run a block that seeds torch's global generators (a run seeds its weights), then give
    the caller's states back: a library call must not change what the caller's next
    `torch.rand` draws."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@contextmanager
def process_settings(threads: int | None = None):
    """A library call's process-wide settings, handed back when it ends: the CPU thread count,
    the TF32 flags (the fast path switches TF32 on for a run) and torch's global RNG."""
    with cpu_threads(threads) as count, tf32(), global_rng():
        yield count


@dataclass(frozen=True)
class Speed:
    """How a step runs, not what it computes (up to rounding): the fast path's switches."""

    # bf16 autocast for the convolutions and matmuls; the penalty's norm and every loss
    # reduction stay in fp32 (losses.py widens them).
    autocast: torch.dtype | None = None
    tf32: bool = False  # TF32 for fp32 matmuls and convolutions left outside autocast
    fused_adam: bool = False  # one kernel for the whole optimizer step, not one per tensor
    # Capture the critic and generator steps as CUDA graphs (static shapes, one launch each);
    # where CUDA is absent, the same static-buffer step runs eagerly.
    cuda_graphs: bool = False

    def context(self, device: torch.device):
        # A captured step must not keep autocast's weight cache: the cache holds casts made
        # during capture, and a replay would reuse them after the weights changed.
        return torch.autocast(device.type, dtype=self.autocast or torch.bfloat16,
                              enabled=self.autocast is not None,
                              cache_enabled=not self.cuda_graphs)

    def apply_process_settings(self) -> None:
        # Set both ways: a run without the fast path computes in full fp32. `train` calls this
        # inside `process_settings`, which hands the caller's flags back.
        set_tf32(self.tf32)


EAGER = Speed()


def speed_for(fast: bool | None, device: torch.device, cuda_graphs: bool = False) -> Speed:
    """The fast path's switches for a device (`fast=None`: on). On a CPU only the fused
    optimizer applies: bf16 without AMX units is slower, not faster."""
    if fast is False:
        return Speed(cuda_graphs=cuda_graphs)
    if device.type == "cuda":
        return Speed(autocast=torch.bfloat16, tf32=True, fused_adam=True,
                     cuda_graphs=cuda_graphs)
    return Speed(fused_adam=True, cuda_graphs=cuda_graphs)

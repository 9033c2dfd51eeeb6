"""Data-parallel training under torchrun: process-group setup and the few collectives the
training loop needs, on PyTorch's own engine (torch.distributed, DistributedDataParallel).

A run launched with `torchrun --nproc-per-node N -m textwgan train ...` has WORLD_SIZE, RANK
and LOCAL_RANK in its environment; a plain `textwgan train` has none and is rank 0 of 1.

Every rank draws the *global* batch's random numbers (indices, noise, interpolation points)
from identically seeded generators and keeps its own 1/N slice. So N ranks with B/N rows
each compute exactly what one process with B rows would, and a run resumes with any number
of ranks on the same random stream.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import InputError

TORCHRUN_MARK = "TORCHELASTIC_RUN_ID"  # set by torchrun (and torch.distributed.run) alone


@dataclass(frozen=True)
class Shard:
    """This process's place among the ranks."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    # Started by torchrun: the process group and DistributedDataParallel are used even at one
    # rank, so that one GPU runs the real path (NCCL, all-reduce, barriers, DDP).
    launched: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1 or self.launched

    def rows(self, global_batch: int) -> slice:
        """This rank's slice of a global batch (the batch size must divide evenly)."""
        per = global_batch // self.world
        return slice(self.rank * per, (self.rank + 1) * per)


SINGLE = Shard()


def env_shard() -> Shard:
    """The shard torchrun describes in the environment, or rank 0 of 1."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise InputError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (torchrun sets "
                         "them); unset them for a single-process run") from None
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"RANK {rank} does not fit WORLD_SIZE {world}")
    return Shard(rank, world, local, launched=TORCHRUN_MARK in os.environ)


def setup(shard: Shard, device: torch.device) -> torch.device:
    """Join the process group (NCCL on GPUs, gloo on CPUs) and return this rank's device."""
    if not shard.active:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", shard.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def teardown(shard: Shard) -> None:
    if shard.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(shard: Shard) -> None:
    if shard.active:
        dist.barrier()


def any_rank(shard: Shard, flag: bool, device: torch.device) -> bool:
    """True on every rank if `flag` is true on any (one collective: call at the same step on
    all ranks)."""
    if not shard.active:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


@contextlib.contextmanager
def main_first(shard: Shard):
    """Rank 0 runs the block first (say, preparing a cached corpus); the others wait for it,
    then run it themselves (and find the cache)."""
    if not shard.is_main:
        barrier(shard)
    try:
        yield
    finally:
        if shard.is_main:
            barrier(shard)

"""Training batches from a corpus, as torch tensors on the training device.

`DeviceData` copies the training split to the device once and draws batches there (no host
step per batch); `MappedData` leaves it memory-mapped on disk and moves only each batch's rows,
for corpora larger than memory. Under torchrun every rank draws the global batch's indices
and keeps its slice (distributed.py).
"""

from __future__ import annotations

import numpy as np
import torch

from .corpus import Corpus
from .distributed import SINGLE, Shard
from .errors import InputError, setting


class DeviceData:
    """The training split on the training device, so a batch is drawn without the host."""

    def __init__(self, corpus: Corpus, device: torch.device, shard: Shard = SINGLE):
        # int32 on the device (a quarter of int64's memory); only a drawn batch is widened.
        self.tokens = torch.from_numpy(np.asarray(corpus.train, dtype=np.int32)).to(device)
        self.vocab_size = len(corpus.charset)
        self.shard = shard

    def get_batch(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A (B, T, V) one-hot float batch of random training sequences: this rank's slice of a
        global batch of B × world rows."""
        total = batch_size * self.shard.world
        idx = torch.randint(len(self.tokens), (total,), device=self.tokens.device,
                            generator=generator)[self.shard.rows(total)]
        rows = self.tokens[idx].long()  # (B, T)
        return torch.nn.functional.one_hot(rows, self.vocab_size).float()  # (B, T, V)


class MappedData:
    """The training split left memory-mapped on disk: each batch's rows are read from the map
    and only they move to the device, so a corpus larger than memory (host or GPU) trains.
    Indices come from the CPU generator (the host must read the rows anyway)."""

    def __init__(self, corpus: Corpus, device: torch.device, shard: Shard = SINGLE):
        self.train = corpus.train  # np.memmap (N, T): pages are read on demand
        self.vocab_size = len(corpus.charset)
        self.device, self.shard = device, shard

    def get_batch(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        total = batch_size * self.shard.world
        idx = torch.randint(len(self.train), (total,), generator=generator)[
            self.shard.rows(total)]
        rows = torch.from_numpy(np.asarray(self.train[np.sort(idx.numpy())], dtype=np.int64))
        # Sorted reads walk the file forward; the order is restored so rows match `idx`.
        rows = rows[torch.argsort(torch.argsort(idx))]  # (B, T)
        if self.device.type == "cuda":
            rows = rows.pin_memory().to(self.device, non_blocking=True)
        return torch.nn.functional.one_hot(rows, self.vocab_size).float()  # (B, T, V)


DATA_MODES = ("auto", "device", "mapped")
# Above this, `auto` leaves the training split memory-mapped instead of copying it whole to
# the device: 1 GiB of int32 tokens is 8 M sequences of 32 characters.
DEVICE_DATA_MAX_BYTES = 1 << 30


def check_data_mode(mode: str) -> str:
    if mode not in DATA_MODES:
        raise InputError(f"{setting('data')} must be one of {', '.join(DATA_MODES)}, "
                         f"got {mode!r}")
    return mode


def training_data(corpus: Corpus, device: torch.device, mode: str = "auto",
                  shard: Shard = SINGLE) -> DeviceData | MappedData:
    """The batch source for `mode`: device (the split copied to the device), mapped (read from
    the memory map per batch) or auto (device when the split takes at most 1 GiB)."""
    if check_data_mode(mode) == "auto":
        mode = "device" if corpus.train.size * 4 <= DEVICE_DATA_MAX_BYTES else "mapped"
    return (DeviceData if mode == "device" else MappedData)(corpus, device, shard)

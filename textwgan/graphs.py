"""CUDA graphs for the training steps: each step function (a critic step, a generator step)
runs eagerly for a few warm-up calls, is then captured once with its static shapes, and from
then on is replayed: one launch for the whole step instead of hundreds of kernel launches.

A captured step reads and writes the same memory on every replay: its batch is drawn inside
the graph (DeviceData draws on the GPU), its noise and interpolation points come from the
CUDA generator (graph-safe: each replay advances its offset), Adam keeps its step count on
the GPU (`capturable`), and autocast runs without its weight cache. The outputs (the losses)
are the graph's static tensors, overwritten by the next replay.

Where capture cannot apply, the same step functions run eagerly and `reason` says why: no
CUDA device, torchrun (DistributedDataParallel's hooks run on the host), or a training
split read from a memory map (host reads cannot be captured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from .device import Speed

WARMUP_CALLS = 3  # eager calls before capture: lazy initialization (optimizer state, cuDNN
# workspaces, autograd buffers) must happen outside the graph


class StepGraph:
    """One step function: eager for `warmup` calls, then captured once and replayed.

    Warm-up and capture share one side stream, made once, so the step's library handles and
    workspaces are set up on the stream the graph records. A graph is kept only once its
    capture has succeeded: a failed capture leaves nothing to replay."""

    def __init__(self, fn: Callable[[], object], device: torch.device, capture: bool,
                 warmup: int = WARMUP_CALLS):
        self.fn, self.device, self.warmup = fn, device, warmup
        self.capture = capture and device.type == "cuda"
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.out = None
        self._stream: torch.cuda.Stream | None = None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self):
        self.calls += 1
        if not self.capture:
            return self.fn()
        if self.calls <= self.warmup:
            return self._on_side_stream()
        if self.graph is None:
            self.out, self.graph = self._captured()
        self.graph.replay()
        return self.out

    def _side_stream(self) -> torch.cuda.Stream:
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        return self._stream

    def _on_side_stream(self):
        """Warm-up calls run on the side stream, as capture requires."""
        stream = self._side_stream()
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            out = self.fn()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        return out

    def _captured(self):
        """(outputs, graph) of one capture; the step is recorded, not run: the caller
        replays it."""
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self._side_stream()):
            out = self.fn()
        return out, graph


def capture_blocker(device: torch.device, distributed: bool, mapped: bool) -> str | None:
    """Why the steps cannot be captured here (None: they can)."""
    if device.type != "cuda":
        return "no CUDA device: the steps run eagerly"
    if distributed:
        return "under torchrun: DistributedDataParallel's hooks run on the host"
    if mapped:
        return "the training split is read from a memory map on the host (data: device)"
    return None


def captured_speed(speed: Speed, device: torch.device, distributed: bool, mapped: bool,
                   ) -> tuple[Speed, str | None]:
    """`speed` with CUDA graphs kept only where they can apply, and the note that says why
    they were turned off (None: nothing to say). The optimizers are built from the result, so
    none is made capturable for a capture that never happens."""
    if not speed.cuda_graphs:
        return speed, None
    blocker = capture_blocker(device, distributed, mapped)
    if blocker is None:
        return speed, None
    return replace(speed, cuda_graphs=False), f"CUDA graphs are off: {blocker}"

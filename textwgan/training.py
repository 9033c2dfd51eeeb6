"""Training a run: evaluation, checkpoints, logging, the loop, and `train`, which turns a
request into a run. The method itself (the state, the critic and generator steps, one
iteration) is steps.py.

`train` applies the same rules for the CLI and for Python callers (presets, resuming, what may
change on resume, a corpus prepared with other settings) and checks everything before it
writes anything. `loop` is the training loop, in one screen: evaluation at step 0, every
`eval_every` steps and at the last step (or the first step past the time limit); checkpoints
every `save_every` steps, at the last step, and when SIGINT or SIGTERM asks the run to stop.
Host syncs (`.item()`) happen only when a log line, an evaluation or a save is due. A run is
resumed exactly: weights, optimizer state, step, metrics and RNG state all come back.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

import torch

from . import __version__
from .board import BOARD_DIR, Board
from .board import check_available as check_board
from .charset import Charset
from .checkpoint import (
    DEFAULT_ROOT,
    training_checkpoint,
)
from .config import Config
from .corpus import Corpus, load_corpus
from .data import MappedData, check_data_mode, training_data
from .device import EAGER, Speed, busy_cpu_note, process_settings, resolve_device, speed_for
from .diagnostics import critic_diagnostics
from .distributed import Shard, any_rank, barrier, env_shard, main_first, setup, teardown
from .errors import Diverged, InputError, Interrupted, as_path, check_int, setting
from .fileio import default_cache_dir
from .graphs import captured_speed
from .layout import is_run
from .metrics import DEFAULT_ORDERS, distinct_rate
from .plan import Plan, Request, plan_run
from .preparation import check_prepared, preparation_warnings, resolve_corpus
from .run import RunFolder, recorded_threads
from .sample import generate_ids
from .scoring import Reference, training_protocol
from .steps import BatchSource, Iteration, TrainState, build_state
from .text import MAX_SEQ_LEN, MIN_SEQ_LEN

Event = Callable[[str, dict], None]


def evaluate_js(state: TrainState, corpus: Corpus, config: Config, reference: Reference,
                ) -> tuple[dict, list[str]]:
    """JS-1..4 of `eval_samples` argmax samples vs the held-out split, beside the floor, and the
    share of distinct samples: scored by `reference` exactly as `textwgan eval` scores the
    checkpoint (same n and seed: the same figures and signature). Noise comes from its own
    fixed-seed generator: evaluating never shifts the training RNG."""
    sampler = state.sampler
    sampler.eval()
    ids = generate_ids(sampler, config.train.eval_samples, seed=config.train.seed)
    sampler.train()
    report = reference.js_scores(ids, DEFAULT_ORDERS, seed=config.train.seed)
    report["distinct"] = distinct_rate(ids)
    return report, corpus.decode(ids)


# --------------------------------------------------------------------------------------------
# Stopping


class StopRequest:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current step; a second
    one acts as usual (kills), so a stuck run can still be ended."""

    def __init__(self):
        self.signum: int | None = None
        self._old: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum
        signal.signal(signum, self._old.get(signum, signal.SIG_DFL))

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


# --------------------------------------------------------------------------------------------
# The loop


@dataclass
class Run:
    """One training run in progress: its state and where its records go."""

    state: TrainState
    batches: BatchSource
    corpus: Corpus
    config: Config
    folder: RunFolder
    device: torch.device
    emit: Event
    metrics: list[dict] = field(default_factory=list)
    resumed: bool = False
    elapsed_before: float = 0.0  # training seconds of earlier invocations
    started: float = field(default_factory=time.perf_counter)
    saved_step: int | None = None  # the step of the newest checkpoint on disk

    def __post_init__(self):
        self.main = self.state.shard.is_main
        # Captured as CUDA graphs when the speed asks (`captured_speed` has already turned
        # them off where they cannot apply).
        self.iteration = Iteration(self.state, self.batches, self.config, self.device)
        # Non-finite losses are flagged on the device, so a step never waits for the host;
        # the flag is read when a log line, an evaluation or a save is due anyway.
        self.bad = torch.zeros((), dtype=torch.bool, device=self.device)
        self.good_step = self.state.step
        self._last_log = (self.started, self.state.step)
        self._reference: Reference | None = None

    def elapsed(self) -> float:
        """Training seconds, summed over every invocation of this run."""
        return self.elapsed_before + time.perf_counter() - self.started

    def out_of_time(self) -> bool:
        limit = self.config.train.time_limit
        return limit is not None and time.perf_counter() - self.started >= limit

    def check_finite(self, step: int) -> None:
        if self.bad.item():
            kept = (f"the last good checkpoint (step {self.saved_step:,}) is kept in "
                    f"{self.folder.path}" if self.saved_step is not None
                    else "no checkpoint was saved yet")
            raise Diverged(f"training diverged: a loss became NaN or Inf between step "
                           f"{self.good_step:,} and step {step:,}; {kept}; try a lower "
                           f"{setting('lr')} or a larger {setting('gp_lambda')}")
        self.good_step = step

    def checkpoint(self) -> dict:
        return training_checkpoint(self.state.state_dict(), self.config, self.corpus, self.metrics,
                                   self.elapsed())

    def evaluate(self) -> bool:
        """JS against the validation split (the test split where the corpus has none), samples
        to samples/; True at a new best JS-4."""
        step = self.state.step
        self.check_finite(step)
        if self._reference is None:  # built once per run: the held-out split never changes
            self._reference = Reference(self.corpus, protocol=training_protocol(self.corpus),
                                        n=self.config.train.eval_samples,
                                        seed=self.config.train.seed)
        report, texts = evaluate_js(self.state, self.corpus, self.config, self._reference)
        best = min((m["js4"] for m in self.metrics if "js4" in m), default=float("inf"))
        samples = self.folder.write_samples(step, texts)
        record = {"kind": "eval", "step": step, "time": self.elapsed(),
                  **{k: v for k, v in report.items() if k.startswith(("js", "floor"))},
                  "distinct": report["distinct"], "n": report["n"], "samples": str(samples),
                  "split": self._reference.protocol,
                  "signature": report["signature"]}
        self.metrics.append(record)
        self.folder.log(record, texts)
        self.emit("eval", record | {"examples": texts[:5]})
        return record["js4"] < best

    def save(self) -> Path:
        self.check_finite(self.state.step)
        path = self.folder.save(self.checkpoint(), self.config.train.keep_last)
        self.saved_step = self.state.step
        self.emit("save", {"step": self.state.step, "path": str(path)})
        return path

    def record(self, kind: str, stats: dict, g_loss: torch.Tensor, **extra) -> None:
        """A train or diag record of the step just taken (the step count after it)."""
        step = self.state.step + 1
        self.check_finite(step)
        now = time.perf_counter()
        record = {"kind": kind, "step": step, **{k: v.item() for k, v in stats.items()},
                  "generator_loss": g_loss.item(), "time": self.elapsed(), **extra}
        if kind == "train":
            t_last, step_last = self._last_log
            record["it_s"] = (step - step_last) / max(now - t_last, 1e-9)
            self._last_log = (now, step)
        self.folder.log(record)
        self.emit("log" if kind == "train" else kind, record)

    def stop(self, signum: int) -> None:
        """Save and stop, as SIGINT/SIGTERM asked (the step just taken counts)."""
        self.state.step += 1
        name = signal.Signals(signum).name
        if not self.main:
            raise Interrupted(f"{name}: rank {self.state.shard.rank} stopped at step "
                              f"{self.state.step}; rank 0 saved", signum)
        path = self.save()
        raise Interrupted(f"stopped at step {self.state.step:,} ({name}) and saved {path}; "
                          f"resume with: textwgan train --resume {self.folder.path}", signum)


def loop(run: Run) -> None:
    state, config, t = run.state, run.config, run.config.train
    shard, main, start = state.shard, run.main, state.step
    with StopRequest() as stop:
        for step in range(start, t.iters + 1):
            state.step = step
            out_of_time = run.out_of_time()
            if shard.active:  # ranks agree (at log steps) to stop at the same step
                out_of_time = step % t.log_every == 0 and any_rank(shard, out_of_time,
                                                                   run.device)
            last_step = step == t.iters or out_of_time
            fresh = step > start or not run.resumed  # a resumed run did its first step's work

            new_best = False
            if main and fresh and (step % t.eval_every == 0 or last_step):
                new_best = run.evaluate()
            saved = None
            if main and fresh and ((step > 0 and step % t.save_every == 0) or last_step):
                saved = run.save()
            if new_best:  # best.pt: the checkpoint just saved, or one of its own
                run.folder.save_best(saved, run.checkpoint)
            if last_step:
                break

            stats, g_loss = run.iteration()
            run.bad |= ~torch.isfinite(stats["critic_loss"]) | ~torch.isfinite(g_loss)

            if main and t.diag_every and (step + 1) % t.diag_every == 0:
                real, fake = state.last_batch
                run.record("diag", stats, g_loss, lipschitz=t.lipschitz, loss=t.loss,
                           **critic_diagnostics(state.critic, real, fake, config, seed=step + 1))
            at_log = (step + 1) % t.log_every == 0
            if main and at_log:
                run.record("train", stats, g_loss)

            stopping = stop.signum is not None
            if shard.active:  # ranks agree (at log steps) to stop at the same step
                stopping = at_log and any_rank(shard, stopping, run.device)
            if stopping:
                run.stop(stop.signum or signal.SIGTERM)
    barrier(shard)  # no rank leaves before rank 0 has saved the last checkpoint
    run.emit("end", {"run": str(run.folder.path), "step": state.step, "time": run.elapsed(),
                     "complete": state.step >= t.iters})


# --------------------------------------------------------------------------------------------
# From a request to a run


def default_run_dir(corpus: Corpus, config: Config, root: Path = DEFAULT_ROOT) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return root / f"{corpus.name}-{config.preset}-{stamp}"


@dataclass(frozen=True)
class Runtime:
    """Where and how a run computes, not what it learns (`train`'s keywords of that name):
    the device, where the training split lives, the fast path, CUDA graphs, CPU threads, and
    whether TensorBoard events are written."""

    device: str = "auto"
    data: str = "auto"
    fast: bool | None = None
    cuda_graphs: bool = False
    threads: int | None = None
    tensorboard: bool | None = None


RUNTIME_FIELDS = tuple(f.name for f in fields(Runtime))
PREPARING = ("seq_len", "lowercase")  # `train`'s keywords for text prepared on the fly


def train(corpus: str | Path | Corpus | None = None, *, preset: str = "auto",
          out: str | Path | None = None, resume: str | Path | None = None,
          config: Config | None = None, on_event: Event | None = None, **settings) -> Path:
    """Train a WGAN-GP and return the run folder.

    `corpus`: a Corpus, a corpus folder, text (a file, a folder of files, `-`, `hf:NAME`) that is
    prepared on the fly (with `seq_len`, `lowercase`) and cached, or None for the bundled COCO
    captions. `preset`: paper, default, small, tiny, or auto (the `default` preset on a GPU,
    `small` on a CPU).
    `settings`: any model or training setting (config.py), e.g. `iters=2000, lr=2e-4`;
    or `config`: a whole Config (benchmarks, experiments) instead of a preset and settings.

    `out` already holding a run with the same settings (schedule aside) resumes it; `resume`
    continues a run with its own settings, only schedule fields (iters, eval_every,
    save_every, keep_last, diag_every, log_every, time_limit) may change.

    Where and how it computes (`Runtime`'s fields, also given as keywords): `device` (auto,
    cpu, cuda); `data`, where the training split lives (auto, device, mapped); `fast`, bf16,
    TF32 and fused Adam on CUDA, fused Adam on a CPU (default: on); `cuda_graphs`, the steps
    captured as CUDA graphs (CUDA only; elsewhere the same steps run eagerly); `threads`, CPU
    threads (default: all cores); `tensorboard`, TensorBoard events in the run folder (needs
    the `tensorboard` package; None: as the run did before, a resumed run whose folder holds
    events goes on writing them).
    `on_event(kind, record)`: "note", "start", "log", "diag", "eval", "save", "end" (rank 0
    only). Under torchrun every rank trains its slice of each (global) batch and rank 0
    alone writes.
    """
    runtime = Runtime(**{k: settings.pop(k) for k in RUNTIME_FIELDS if k in settings})
    if isinstance(settings.get("init"), os.PathLike):
        settings["init"] = os.fspath(settings["init"])
    seq_len, lowercase = (settings.pop(k, None) for k in PREPARING)
    if on_event is not None and not callable(on_event):
        raise InputError(f"{setting('on_event')} must be a function of (kind, record), got "
                         f"{type(on_event).__name__}")
    if seq_len is not None:
        check_int("seq_len", seq_len, MIN_SEQ_LEN, MAX_SEQ_LEN)
    if corpus is not None and not isinstance(corpus, Corpus):
        corpus = as_path(corpus, "corpus") if not isinstance(corpus, str) else corpus
    request = Request(corpus, preset, None if out is None else as_path(out, "out"),
                      None if resume is None else as_path(resume, "resume"), config, settings)
    with process_settings(runtime.threads):  # threads, TF32 and the RNG come back after
        return _train(request, runtime, (seq_len, lowercase), on_event)



def _train(request: Request, runtime: Runtime, preparing: tuple, on_event: Event | None
           ) -> Path:
    emit = on_event or (lambda kind, record: None)
    check_data_mode(runtime.data)
    if runtime.tensorboard:
        check_board()
    dev = resolve_device(runtime.device)
    shard = env_shard()
    if not shard.is_main:
        emit = lambda kind, record: None  # noqa: E731
    note = lambda message: emit("note", {"message": message})  # noqa: E731
    if dev.type == "cpu" and runtime.threads is None and not shard.active:
        busy = busy_cpu_note(torch.get_num_threads())
        if busy:
            note(busy)

    # Everything is checked before anything is written.
    plan = plan_run(request, dev.type, shard, note)
    config, run_dir, ckpt = plan.config, plan.run_dir, plan.ckpt

    owns_group = shard.active and not torch.distributed.is_initialized()
    dev = setup(shard, dev)  # joins the process group under torchrun
    try:
        with main_first(shard):  # one rank prepares (and caches) a text corpus, then the rest
            prepared = _resolve_run_corpus(request.corpus, plan.corpus_from_run, *preparing,
                                           note, emit)
        config = config.with_overrides(seq_len=prepared.seq_len).validate()
        if config.model.infill > config.model.seq_len:
            raise InputError(f"{setting('infill')} {config.model.infill} is longer than the "
                             f"corpus's lines ({config.model.seq_len} characters); give "
                             f"{config.model.seq_len} or less")
        if ckpt is not None:
            _check_same_corpus(run_dir, ckpt, prepared)
        elif plan.init is not None:
            _check_init_fits(plan.init, config, prepared)
        run_dir = run_dir or default_run_dir(prepared, config)
        place = Placement(dev, shard, speed_for(runtime.fast, dev, runtime.cuda_graphs),
                          runtime.data)
        _thread_note(ckpt, config, run_dir, dev, note)
        tensorboard = _board_wanted(runtime.tensorboard, ckpt, run_dir, note)
        with RunFolder(run_dir, main=shard.is_main) as folder:
            run = _start(config, prepared, plan, folder, place, emit)
            if tensorboard and shard.is_main:
                # a resumed run's own step was logged before: it writes on from the next
                folder.board = Board(run_dir, run.state.step + (ckpt is not None))
            loop(run)
    finally:
        if owns_group:
            teardown(shard)
    return run_dir


@dataclass(frozen=True)
class Placement:
    """Where a run's steps run and how: its device, its rank's shard, the speed switches, and
    where the training split lives."""

    device: torch.device
    shard: Shard
    speed: Speed
    data: str


def _thread_note(ckpt, config: Config, run_dir: Path, dev: torch.device, note) -> None:
    """A run resumed on a CPU with another thread count than it trained with: CPU float sums
    are split per thread, so the count is part of the arithmetic."""
    resuming = ckpt is not None and not _finished(ckpt, config)
    before = recorded_threads(run_dir) if resuming and dev.type == "cpu" else None
    if before is not None and before != torch.get_num_threads():
        note(f"this run trained with {before} CPU threads and now uses "
             f"{torch.get_num_threads()}: it continues correctly, but matches an "
             f"uninterrupted run only up to rounding (train with {before} threads again "
             "for an exact continuation)")


def _board_wanted(asked: bool | None, ckpt: dict | None, run_dir: Path, note) -> bool:
    """Whether this invocation writes TensorBoard events: as asked, else as the run did (its
    folder holds events), so that a resumed run's curves go on without a gap."""
    if asked is not None:
        return asked
    if ckpt is None or not (run_dir / BOARD_DIR).is_dir():
        return False
    try:
        check_board()
    except InputError:
        note("this run wrote TensorBoard events, but the tensorboard package is missing now: "
             "it goes on without them (pip install 'textwgan[tensorboard]')")
        return False
    note("writing TensorBoard events, as this run did (--no-tensorboard stops them)")
    return True


def _finished(ckpt: dict, config: Config) -> bool:
    """Whether a saved run has no generator steps left to train."""
    return int(ckpt["step"]) >= config.train.iters


def _start(config: Config, corpus: Corpus, plan: Plan, folder: RunFolder, place: Placement,
           emit: Event) -> Run:
    """The run, ready for its loop: state built (and restored from the plan's checkpoint)
    before anything is written, so a checkpoint that does not fit leaves the folder as it
    was."""
    ckpt, dev, shard, speed = plan.ckpt, place.device, place.shard, place.speed
    batches = training_data(corpus, dev, place.data, shard)
    speed, graphs_off = captured_speed(speed, dev, shard.active, isinstance(batches, MappedData))
    if graphs_off:
        emit("note", {"message": graphs_off})
    speed.apply_process_settings()  # until `train` returns (process_settings)
    state = build_state(config, len(corpus.charset), dev, speed)
    if ckpt is None:
        if plan.init is not None:
            state.start_from(plan.init)  # checked to fit before the folder was made
        run = Run(state, batches, corpus, config, folder, dev, emit)
    else:
        try:
            state.load_state_dict(ckpt, dev)  # last: building the nets reseeded the RNG
        except InputError as e:
            raise InputError(f"{plan.ckpt_path or folder.path}: {e.message}") from None
        run = Run(state, batches, corpus, config, folder, dev, emit,
                  metrics=list(ckpt["metrics"]), resumed=True,
                  elapsed_before=float(ckpt["elapsed"]), saved_step=state.step)
    # A finished run called again keeps the record of the training it had.
    if ckpt is None or not _finished(ckpt, config) or not is_run(folder.path):
        folder.write_config({"config": config.to_dict(),
                             "corpus": str(corpus.path.absolute()), "device": str(dev),
                             "ranks": shard.world, "fast": speed != EAGER,
                             "threads": torch.get_num_threads(),
                             "textwgan_version": __version__})
    folder.trim_log(state.step if ckpt is not None else -1)
    state.wrap(shard, dev)
    emit("start", {"run": str(folder.path), "device": str(dev), "iters": config.train.iters,
                   "step": state.step, "resumed": ckpt is not None,
                   "train_sequences": len(corpus.train), "vocab_size": len(corpus.charset),
                   "ranks": shard.world, "data": type(batches).__name__,
                   "fast": speed != EAGER, "threads": torch.get_num_threads(),
                   "preset": config.preset, "time_limit": config.train.time_limit})
    return run


def _check_init_fits(src: dict, config: Config, corpus: Corpus) -> None:
    """--init: the model must write this corpus's characters at its length, and its weights
    must fit the run's network (a trial load on the CPU, before anything is written)."""
    name = config.train.init
    if Charset(src["charset"]) != corpus.charset:
        raise InputError(f"{name}: was trained on other characters than this corpus's; "
                         "fine-tune it on the corpus it was trained on (or one prepared with "
                         "its charset)")
    if Config.from_dict(src["config"]).model.seq_len != config.model.seq_len:
        raise InputError(f"{name}: writes lines of another length than this corpus's "
                         f"{config.model.seq_len} characters")
    try:
        build_state(config, len(corpus.charset), torch.device("cpu")).start_from(src)
    except InputError as e:
        raise InputError(f"{name}: {e.message}") from None


def _check_same_corpus(run_dir: Path, ckpt: dict, corpus: Corpus) -> None:
    """A run continues only on the corpus it trained on: the same charset is not enough (two
    corpora of one language share most of theirs), the fingerprint must match too."""
    saved = ckpt.get("corpus", {}).get("fingerprint")
    if ckpt["charset"] != corpus.charset.chars:
        raise InputError(f"{run_dir}: was trained with another charset than {corpus.path} "
                         "has; resume it on the corpus it was trained on")
    if saved and saved != corpus.fingerprint:
        where = ckpt.get("corpus", {}).get("path", "?")
        raise InputError(f"{run_dir}: was trained on another corpus ({where}, fingerprint "
                         f"{str(saved)[:12]}) than {corpus.path} (fingerprint "
                         f"{corpus.fingerprint[:12]}); resume it on the corpus it was trained "
                         "on")


def _resolve_run_corpus(corpus, corpus_from_run: str | None, seq_len, lowercase, note,
                        emit: Event = lambda kind, record: None) -> Corpus:
    if corpus_from_run is None:
        prepared = resolve_corpus(corpus, seq_len=seq_len, lowercase=lowercase, log=note)
        if prepared.path.parent.name == "corpora" and prepared.path.parent.parent == \
                default_cache_dir():  # prepared from text: show what preparing did
            emit("prepared", {"path": str(prepared.path), "meta": prepared.meta,
                              "warnings": preparation_warnings(prepared.meta)})
        return prepared
    try:
        prepared = load_corpus(corpus_from_run)
    except InputError as e:
        raise InputError(f"the run was trained on the corpus {corpus_from_run}, which cannot be "
                         f"read here ({e.message}); give the corpus folder as the first argument"
                         ) from None
    check_prepared(prepared, seq_len=seq_len, lowercase=lowercase)
    return prepared

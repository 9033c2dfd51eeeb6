"""The training loop: critic steps, generator step, logging, evaluation, checkpoints.

One visible loop. Evaluation runs at step 0, every `eval_every` steps and at the last step;
checkpoints are saved every `save_every` steps, at the last step, and when SIGINT or SIGTERM
asks the run to stop. Host syncs (`.item()`) happen only when a log line, an evaluation or a
save is due. A run folder that holds a checkpoint is resumed exactly: weights, optimizer
state, step, metrics and RNG state all come back.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch

from . import __version__
from .checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    DEFAULT_ROOT,
    FORMAT,
    VERSION,
    find_checkpoint,
    link_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import Config
from .corpus import Corpus, DeviceData, MappedData, training_data
from .diagnostics import critic_diagnostics
from .distributed import SINGLE, Shard, any_rank, barrier, env_shard, setup
from .errors import InputError, TextWGANError
from .fileio import atomic_write_text, write_lines
from .losses import critic_loss, generator_loss
from .metrics import js_report
from .models import Critic, Generator
from .sample import generate_ids

Event = Callable[[str, dict], None]
BatchSource = DeviceData | MappedData


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise InputError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


@dataclass(frozen=True)
class Speed:
    """How a step runs, not what it computes (up to rounding): the fast path's switches."""

    # bf16 autocast for the convolutions and matmuls; the penalty's norm and every loss
    # reduction stay in fp32 (losses.py widens them).
    autocast: torch.dtype | None = None
    tf32: bool = False  # TF32 for fp32 matmuls and convolutions left outside autocast
    fused_adam: bool = False  # one kernel for the whole optimizer step, not one per tensor

    def context(self, device: torch.device):
        return torch.autocast(device.type, dtype=self.autocast or torch.bfloat16,
                              enabled=self.autocast is not None)


EAGER = Speed()


def speed_for(fast: bool | None, device: torch.device) -> Speed:
    """The fast path's switches for a device; `fast=None` means on for CUDA, off elsewhere.
    On a CPU only the fused optimizer applies: bf16 without AMX units is slower, not faster."""
    if fast is None:
        fast = device.type == "cuda"
    if not fast:
        return EAGER
    if device.type == "cuda":
        return Speed(autocast=torch.bfloat16, tf32=True, fused_adam=True)
    return Speed(fused_adam=True)


@dataclass
class TrainState:
    """Everything that changes during training."""

    generator: Generator
    critic: Critic
    opt_generator: torch.optim.Optimizer
    opt_critic: torch.optim.Optimizer
    step: int = 0
    # The last critic step's real and fake batches, kept for the diagnostics.
    last_batch: tuple[torch.Tensor, torch.Tensor] | None = None
    # Under torchrun: the DistributedDataParallel wrappers (else the bare nets) and the shard.
    critic_ddp: torch.nn.Module | None = None
    generator_ddp: torch.nn.Module | None = None
    shard: Shard = SINGLE
    speed: Speed = EAGER

    def wrap(self, shard: Shard, device: torch.device) -> None:
        """Wrap both nets in DistributedDataParallel when there are several ranks."""
        self.shard = shard
        if not shard.active:
            return
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        self.critic_ddp = DDP(self.critic, device_ids=ids)
        self.generator_ddp = DDP(self.generator, device_ids=ids)


def build_state(config: Config, vocab_size: int, device: torch.device, speed: Speed = EAGER,
                ) -> TrainState:
    torch.manual_seed(config.train.seed)  # the same seed gives the same initial weights
    generator = Generator(config.model, vocab_size).to(device)
    critic = Critic(config.model, vocab_size).to(device)
    t = config.train

    critic_lr = t.lr if t.critic_lr is None else t.critic_lr
    if speed.tf32:  # process-wide switches: PyTorch has no per-module TF32 setting
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return TrainState(generator, critic,
                      make_optimizer(generator.parameters(), t.lr, config, speed),
                      make_optimizer(critic.parameters(), critic_lr, config, speed),
                      speed=speed)


def make_optimizer(params, lr: float, config: Config, speed: Speed = EAGER,
                   ) -> torch.optim.Optimizer:
    if config.train.optimizer_name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=config.train.betas,
                            fused=True if speed.fused_adam else None)


def clip_weights(module: torch.nn.Module, c: float) -> None:
    """Every parameter into [−c, c], as the original WGAN does after each critic update."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


def rank_noise(state: TrainState, batch_size: int, device: torch.device) -> torch.Tensor:
    """This rank's slice of the global batch's noise (all of it on a single process)."""
    return state.generator.noise(batch_size, device)[state.shard.rows(batch_size)]  # (B/N, Z)


def critic_step(state: TrainState, data: BatchSource, config: Config,
                ) -> dict[str, torch.Tensor]:
    """One critic update on a real batch and a fresh fake batch. The generator is untouched."""
    t = config.train
    local = t.batch_size // state.shard.world
    real = data.get_batch(local)  # (B/N, T, V)
    with state.speed.context(real.device):
        with torch.no_grad():  # the critic's loss needs no generator graph
            fake = state.generator(rank_noise(state, t.batch_size, real.device))  # (B/N, T, V)
        # The critic sees fp32 inputs: a bf16 softmax would round the fake rows.
        loss, stats = critic_loss(state.critic_ddp or state.critic, real, fake.float(),
                                  t.gp_lambda, t.lipschitz, t.loss, state.shard,
                                  penalty_critic=state.critic)
    state.opt_critic.zero_grad(set_to_none=True)
    loss.backward()
    state.opt_critic.step()
    if t.lipschitz == "clip":
        clip_weights(state.critic, t.clip_value)
    state.last_batch = (real, fake)
    return stats


def generator_step(state: TrainState, config: Config, device: torch.device) -> torch.Tensor:
    """One generator update through a frozen critic. The critic's weights get no gradient."""
    critic = state.critic
    critic.requires_grad_(False)
    try:
        generator = state.generator_ddp or state.generator
        with state.speed.context(device):
            fake = generator(rank_noise(state, config.train.batch_size, device))  # (B/N, T, V)
            loss = generator_loss(critic, fake.float(), config.train.loss)
        state.opt_generator.zero_grad(set_to_none=True)
        loss.backward()
        state.opt_generator.step()
    finally:
        critic.requires_grad_(True)
    return loss.detach()


def make_checkpoint(state: TrainState, config: Config, corpus: Corpus, metrics: list[dict],
                    ) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "textwgan_version": __version__,
        "step": state.step,
        "config": config.to_dict(),
        "charset": list(corpus.charset.chars),
        "corpus": {"path": str(corpus.path), "fingerprint": corpus.meta.get("fingerprint"),
                   "seq_len": corpus.seq_len, "normalization": corpus.meta["normalization"]},
        "generator": state.generator.state_dict(),
        "critic": state.critic.state_dict(),
        "opt_generator": state.opt_generator.state_dict(),
        "opt_critic": state.opt_critic.state_dict(),
        "rng": rng_state(next(state.generator.parameters()).device),
        "metrics": metrics,
    }


def evaluate(state: TrainState, corpus: Corpus, config: Config) -> tuple[dict, list[str]]:
    """JS-1..4 of `eval_samples` argmax samples vs the held-out split, beside the floor.
    Noise comes from its own fixed-seed generator: evaluating never shifts the training RNG."""
    state.generator.eval()
    ids = generate_ids(state.generator, config.train.eval_samples, seed=config.train.seed)
    state.generator.train()
    report = js_report(ids, corpus.heldout, corpus.train, seed=config.train.seed)
    return report, corpus.decode(ids)


def default_run_dir(corpus: Corpus, config: Config, root: Path = DEFAULT_ROOT) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return root / f"{corpus.path.name}-{config.preset}-{stamp}"


# Fields that only say when to log, evaluate, save or stop: a run may be resumed with others.
SCHEDULE_FIELDS = frozenset({"iters", "log_every", "eval_every", "save_every", "keep_last",
                             "diag_every"})


def settings_diff(a: Config, b: Config) -> list[str]:
    """Names of the model and training fields (schedule aside) in which two configs differ."""
    da, db = a.to_dict(), b.to_dict()
    return [f"{part}.{k}" for part in ("model", "train") for k in da[part]
            if k not in SCHEDULE_FIELDS and da[part][k] != db[part].get(k)]


def run_settings(run: str | Path) -> tuple[Config, str]:
    """The config and corpus path a run was trained with, from its checkpoint."""
    ckpt = load_checkpoint(find_checkpoint(run))
    return Config.from_dict(ckpt["config"]), ckpt["corpus"]["path"]


class Interrupted(TextWGANError):
    """SIGINT or SIGTERM: the run saved its state and stopped. Exit 128 + signal number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class Diverged(TextWGANError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


class _StopRequest:
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


def _restore(state: TrainState, ckpt: dict) -> list[dict]:
    if "critic" not in ckpt:
        raise InputError("a generator-only export cannot be resumed (it has no critic or "
                         "optimizer state); resume from the run's checkpoint.pt")
    state.generator.load_state_dict(ckpt["generator"])
    state.critic.load_state_dict(ckpt["critic"])
    state.opt_generator.load_state_dict(ckpt["opt_generator"])
    state.opt_critic.load_state_dict(ckpt["opt_critic"])
    state.step = ckpt["step"]
    return list(ckpt["metrics"])


def _trim_log(path: Path, step: int) -> None:
    """Drop log records past `step`: they belong to steps the resumed run will redo."""
    if not path.exists():
        return
    keep = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def _save(state: TrainState, config: Config, corpus: Corpus, metrics: list[dict], run: Path,
          keep_last: int) -> Path:
    """checkpoint.pt (the latest), plus step_NNNNNNN.pt for the last `keep_last` saves."""
    path = save_checkpoint(make_checkpoint(state, config, corpus, metrics), run / CHECKPOINT_NAME)
    if keep_last > 0:
        link_checkpoint(path, run / f"step_{state.step:07d}.pt")
        for old in sorted(run.glob("step_*.pt"))[:-keep_last]:
            old.unlink(missing_ok=True)
    return path


def train(corpus: Corpus, config: Config, out: str | Path | None = None, device: str = "auto",
          on_event: Event | None = None, data: str = "auto", shard: Shard | None = None,
          fast: bool | None = None) -> Path:
    """Train a WGAN-GP on `corpus` with `config`; returns the run folder.

    If `out` already holds a run with the same settings (schedule fields aside), it is resumed
    exactly where its checkpoint left it. `on_event(kind, record)` is called with kind "start",
    "log", "diag", "eval", "save" and "end" (on rank 0 only). `data`: where the training split
    lives (auto, device, mapped; see `training_data`). `fast`: the fast path (`speed_for`; on
    by default on CUDA). Under torchrun (`shard` from the
    environment by default) every rank trains its slice of each batch, and rank 0 alone
    logs, evaluates and saves; `config.train.batch_size` is the global batch.
    """
    config = config.with_overrides(seq_len=corpus.seq_len).validate()
    shard = shard or env_shard()
    if config.train.batch_size % shard.world:
        raise InputError(f"--batch-size {config.train.batch_size} is the global batch and must "
                         f"divide evenly among the {shard.world} ranks")
    main = shard.is_main
    emit = (on_event or (lambda kind, record: None)) if main else (lambda kind, record: None)
    dev = setup(shard, resolve_device(device))
    speed = speed_for(fast, dev)
    if out is None and shard.active:
        raise InputError("under torchrun, give --out: every rank must name the same run folder")
    run = Path(out) if out is not None else default_run_dir(corpus, config)
    ckpt = None
    if (run / CHECKPOINT_NAME).exists():
        ckpt = load_checkpoint(run / CHECKPOINT_NAME, map_location=dev)
        diff = settings_diff(Config.from_dict(ckpt["config"]), config)
        if diff:
            raise InputError(f"{run}: holds a run with other settings ({', '.join(diff)}); "
                             f"continue it with `textwgan train --resume {run}` or choose "
                             "another --out")
        if ckpt["charset"] != corpus.charset.chars:
            raise InputError(f"{run}: was trained with another charset than {corpus.path} has; "
                             "resume it on the corpus it was trained on")
    if main:
        try:
            (run / "samples").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"{run}: cannot create the run folder ({e.strerror})") from None
        for stale in run.glob(".*.tmp"):  # half-written files of a killed run: never renamed in
            stale.unlink(missing_ok=True)
        atomic_write_text(run / "config.json", json.dumps(
            {"config": config.to_dict(), "corpus": str(corpus.path), "device": str(dev),
             "ranks": shard.world, "fast": speed != EAGER,
             "textwgan_version": __version__}, indent=1) + "\n")

    batches = training_data(corpus, dev, data, shard)
    state = build_state(config, len(corpus.charset), dev, speed)
    metrics: list[dict] = []
    if ckpt is not None:
        metrics = _restore(state, ckpt)
        if main:
            _trim_log(run / "log.jsonl", state.step)
        set_rng_state(ckpt["rng"], dev)  # last: building the nets above reseeded the RNG
    state.wrap(shard, dev)
    start = state.step
    t = config.train
    best = min((m["js4"] for m in metrics if "js4" in m), default=float("inf"))
    emit("start", {"run": str(run), "device": str(dev), "iters": t.iters, "step": start,
                   "resumed": ckpt is not None, "train_sequences": len(corpus.train),
                   "vocab_size": len(corpus.charset), "ranks": shard.world,
                   "data": type(batches).__name__, "fast": speed != EAGER})
    # Non-finite losses are flagged on the device, so the step never waits for the host; the
    # flag is read when a log line, an evaluation or a save is due anyway.
    bad = torch.zeros((), dtype=torch.bool, device=dev)
    good_step = start

    def check_finite(step: int) -> None:
        if bad.item():
            raise Diverged(f"training diverged: a loss became NaN or Inf between step "
                           f"{good_step} and step {step}; the last good checkpoint is kept in "
                           f"{run}; try a lower --lr or a larger --gp-lambda")

    t0 = t_last = time.perf_counter()
    step_last = start
    log_file = run / "log.jsonl" if main else os.devnull
    with open(log_file, "a", encoding="utf-8") as log, _StopRequest() as stop:

        def write(record: dict) -> None:
            log.write(json.dumps(record) + "\n")
            log.flush()

        for step in range(start, t.iters + 1):
            state.step = step
            last_step = step == t.iters
            # A resumed run evaluated and saved its first step before it stopped.
            redo = step > start or ckpt is None

            if main and redo and (step % t.eval_every == 0 or last_step):
                check_finite(step)
                good_step = step
                report, texts = evaluate(state, corpus, config)
                samples_file = run / "samples" / f"step_{step:07d}.txt"
                write_lines(samples_file, texts)
                record = {"kind": "eval", "step": step, "time": time.perf_counter() - t0,
                          **{k: v for k, v in report.items() if k.startswith(("js", "floor"))},
                          "n": report["n"], "samples": str(samples_file)}
                metrics.append(record)
                write(record)
                emit("eval", record | {"examples": texts[:5]})
                new_best = record["js4"] < best
                best = min(best, record["js4"])
            else:
                new_best = False

            saved = None
            if main and redo and ((step > 0 and step % t.save_every == 0) or last_step):
                check_finite(step)
                good_step = step
                saved = _save(state, config, corpus, metrics, run, t.keep_last)
                emit("save", {"step": step, "path": str(saved)})
            if new_best:  # the checkpoint just written, or one of its own between saves
                if saved is not None:
                    link_checkpoint(saved, run / BEST_NAME)
                else:
                    save_checkpoint(make_checkpoint(state, config, corpus, metrics),
                                    run / BEST_NAME)

            if last_step:
                break

            for _ in range(t.critic_iters):
                stats = critic_step(state, batches, config)
            g_loss = generator_step(state, config, dev)
            bad |= ~torch.isfinite(stats["critic_loss"]) | ~torch.isfinite(g_loss)

            if main and t.diag_every and (step + 1) % t.diag_every == 0:
                check_finite(step + 1)
                real, fake = state.last_batch
                record = {"kind": "diag", "step": step + 1, "time": time.perf_counter() - t0,
                          "lipschitz": t.lipschitz, "loss": t.loss,
                          **{k: v.item() for k, v in stats.items()},
                          "generator_loss": g_loss.item(),
                          **critic_diagnostics(state.critic, real, fake, config, seed=step + 1)}
                write(record)
                emit("diag", record)

            at_log = (step + 1) % t.log_every == 0
            if main and at_log:
                check_finite(step + 1)
                now = time.perf_counter()
                record = {"kind": "train", "step": step + 1,
                          **{k: v.item() for k, v in stats.items()},
                          "generator_loss": g_loss.item(), "time": now - t0,
                          "it_s": (step + 1 - step_last) / max(now - t_last, 1e-9)}
                t_last, step_last = now, step + 1
                write(record)
                emit("log", record)

            # Ranks must stop at the same step: under torchrun they agree at log steps.
            stopping = stop.signum is not None
            if shard.active:
                stopping = at_log and any_rank(shard, stopping, dev)
            if stopping:
                state.step = step + 1
                signum = stop.signum or signal.SIGTERM
                name = signal.Signals(signum).name
                if not main:
                    raise Interrupted(f"{name}: rank {shard.rank} stopped at step "
                                      f"{state.step}; rank 0 saved", signum)
                check_finite(state.step)
                path = _save(state, config, corpus, metrics, run, t.keep_last)
                emit("save", {"step": state.step, "path": str(path)})
                raise Interrupted(f"{name}: stopped at step {state.step} and saved {path}; "
                                  f"resume with: textwgan train --resume {run}", signum)

    barrier(shard)  # no rank leaves before rank 0 has saved the last checkpoint
    emit("end", {"run": str(run), "step": state.step, "time": time.perf_counter() - t0})
    return run

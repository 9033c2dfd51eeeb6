"""The training loop: critic steps, generator step, logging, evaluation, checkpoints.

One visible loop. Evaluation runs at step 0, every `eval_every` steps and at the last step;
checkpoints are saved every `save_every` steps and at the last step. Host syncs (`.item()`)
happen only when a log line or an evaluation is due.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch

from . import __version__
from .checkpoint import CHECKPOINT_NAME, DEFAULT_ROOT, FORMAT, VERSION, rng_state, save_checkpoint
from .config import Config
from .corpus import Corpus, DeviceData
from .errors import InputError
from .fileio import atomic_write_text, write_lines
from .losses import critic_loss, generator_loss
from .metrics import js_report
from .models import Critic, Generator
from .sample import generate_ids

Event = Callable[[str, dict], None]


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise InputError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


@dataclass
class TrainState:
    """Everything that changes during training."""

    generator: Generator
    critic: Critic
    opt_generator: torch.optim.Optimizer
    opt_critic: torch.optim.Optimizer
    step: int = 0


def build_state(config: Config, vocab_size: int, device: torch.device) -> TrainState:
    torch.manual_seed(config.train.seed)  # the same seed gives the same initial weights
    generator = Generator(config.model, vocab_size).to(device)
    critic = Critic(config.model, vocab_size).to(device)
    t = config.train

    critic_lr = t.lr if t.critic_lr is None else t.critic_lr
    return TrainState(generator, critic,
                      torch.optim.Adam(generator.parameters(), lr=t.lr, betas=t.betas),
                      torch.optim.Adam(critic.parameters(), lr=critic_lr, betas=t.betas))


def critic_step(state: TrainState, data: DeviceData, config: Config) -> dict[str, torch.Tensor]:
    """One critic update on a real batch and a fresh fake batch. The generator is untouched."""
    b = config.train.batch_size
    real = data.get_batch(b)  # (B, T, V)
    with torch.no_grad():  # the critic's loss needs no generator graph
        fake = state.generator(state.generator.noise(b, real.device))  # (B, T, V)
    loss, stats = critic_loss(state.critic, real, fake, config.train.gp_lambda)
    state.opt_critic.zero_grad(set_to_none=True)
    loss.backward()
    state.opt_critic.step()
    return stats


def generator_step(state: TrainState, config: Config, device: torch.device) -> torch.Tensor:
    """One generator update through a frozen critic. The critic's weights get no gradient."""
    critic = state.critic
    critic.requires_grad_(False)
    try:
        fake = state.generator(state.generator.noise(config.train.batch_size, device))
        loss = generator_loss(critic, fake)
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
        "rng": rng_state(),
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


def train(corpus: Corpus, config: Config, out: str | Path | None = None, device: str = "auto",
          on_event: Event | None = None) -> Path:
    """Train a WGAN-GP on `corpus` with `config`; returns the run folder.

    `on_event(kind, record)` is called with kind "start", "log", "eval", "save" and "end".
    """
    config = config.with_overrides(seq_len=corpus.seq_len).validate()
    emit = on_event or (lambda kind, record: None)
    dev = resolve_device(device)
    run = Path(out) if out is not None else default_run_dir(corpus, config)
    if (run / CHECKPOINT_NAME).exists():
        raise InputError(f"{run}: already holds a run; choose another --out")
    try:
        (run / "samples").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{run}: cannot create the run folder ({e.strerror})") from None
    atomic_write_text(run / "config.json", json.dumps(
        {"config": config.to_dict(), "corpus": str(corpus.path), "device": str(dev),
         "textwgan_version": __version__}, indent=1) + "\n")

    data = DeviceData(corpus, dev)
    state = build_state(config, len(corpus.charset), dev)
    t = config.train
    metrics: list[dict] = []
    emit("start", {"run": str(run), "device": str(dev), "iters": t.iters,
                   "train_sequences": len(corpus.train), "vocab_size": len(corpus.charset)})
    log_path = run / "log.jsonl"
    t0 = t_last = time.perf_counter()
    step_last = 0
    with open(log_path, "a", encoding="utf-8") as log:

        def write(record: dict) -> None:
            log.write(json.dumps(record) + "\n")
            log.flush()

        for step in range(state.step, t.iters + 1):
            state.step = step
            last_step = step == t.iters

            if step % t.eval_every == 0 or last_step:
                report, texts = evaluate(state, corpus, config)
                samples_file = run / "samples" / f"step_{step:07d}.txt"
                write_lines(samples_file, texts)
                record = {"kind": "eval", "step": step, "time": time.perf_counter() - t0,
                          **{k: v for k, v in report.items() if k.startswith(("js", "floor"))},
                          "n": report["n"], "samples": str(samples_file)}
                metrics.append(record)
                write(record)
                emit("eval", record | {"examples": texts[:5]})

            if (step > 0 and step % t.save_every == 0) or last_step:
                path = save_checkpoint(make_checkpoint(state, config, corpus, metrics),
                                       run / CHECKPOINT_NAME)
                emit("save", {"step": step, "path": str(path)})

            if last_step:
                break

            for _ in range(t.critic_iters):
                stats = critic_step(state, data, config)
            g_loss = generator_step(state, config, dev)

            if (step + 1) % t.log_every == 0:
                now = time.perf_counter()
                record = {"kind": "train", "step": step + 1,
                          **{k: v.item() for k, v in stats.items()},
                          "generator_loss": g_loss.item(), "time": now - t0,
                          "it_s": (step + 1 - step_last) / max(now - t_last, 1e-9)}
                t_last, step_last = now, step + 1
                write(record)
                emit("log", record)

    emit("end", {"run": str(run), "step": state.step, "time": time.perf_counter() - t0})
    return run

"""The method: the training state and one training iteration of WGAN-GP (and its variants):
`critic_iters` critic steps on a real batch and a fresh fake batch (the losses and the
penalty of losses.py, the optimizer step, clipping for the original WGAN), then one generator
step through the frozen critic, and the moving average of the generator's weights.

What a run does around it (plan, checkpoints, logging, evaluation, the loop) is training.py.
Benchmarks build a state and time `Iteration` from here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .augment import augment, consistency
from .charset import PAD
from .checkpoint import load_optimizer, refuse_export, rng_state, sampling_weights, set_rng_state
from .config import Config
from .data import DeviceData, MappedData
from .device import EAGER, Speed
from .distributed import SINGLE, Shard
from .errors import InputError
from .graphs import StepGraph
from .losses import critic_loss, generator_loss
from .models import Critic, Generator, prompt_of

BatchSource = DeviceData | MappedData


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
    # The moving average of the generator's weights (TrainConfig.ema), and how many updates it
    # has had (on the device, so a captured step can update it).
    generator_ema: Generator | None = None
    ema_updates: torch.Tensor | None = None

    @property
    def sampler(self) -> Generator:
        """The generator that samples: the moving average when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def state_dict(self) -> dict:
        """What a checkpoint keeps of the training state (checkpoint.training_checkpoint adds
        the header): the step, both nets, both optimizers, the RNG states and the average."""
        out = {"step": self.step,
               "generator": self.generator.state_dict(),
               "critic": self.critic.state_dict(),
               "opt_generator": self.opt_generator.state_dict(),
               "opt_critic": self.opt_critic.state_dict(),
               "rng": rng_state(next(self.generator.parameters()).device)}
        if self.generator_ema is not None:
            out["generator_ema"] = self.generator_ema.state_dict()
            out["ema_updates"] = int(self.ema_updates.item())
        return out

    def load_state_dict(self, ckpt: dict, device: torch.device) -> None:
        """Put a training checkpoint's nets, optimizers, step and RNG state back. Call after
        building the nets (building reseeds the RNG); tensors may arrive on the CPU: state
        dicts copy them to their parameters' devices."""
        refuse_export(ckpt)
        self.generator.load_state_dict(ckpt["generator"])
        self.critic.load_state_dict(ckpt["critic"])
        if self.generator_ema is not None:
            self.generator_ema.load_state_dict(sampling_weights(ckpt))
            self.ema_updates.fill_(ckpt.get("ema_updates", 0))
        try:
            load_optimizer(self.opt_generator, ckpt["opt_generator"])
            load_optimizer(self.opt_critic, ckpt["opt_critic"])
            set_rng_state(ckpt["rng"], device)
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise InputError(f"the checkpoint's optimizer or RNG state does not fit this run "
                             f"({str(e).splitlines()[0] if str(e) else e.__class__.__name__})"
                             ) from None
        self.step = ckpt["step"]

    def start_from(self, src: dict) -> None:
        """A new run's weights from a trained model (--init): its generator (the raw weights
        where it kept them, else its average), its average (carried on at the run's decay,
        not warmed up again) and its critic. Only an infill input the model lacks stays as
        built. Optimizers start fresh."""
        def put(net: torch.nn.Module, weights: dict, what: str) -> None:
            try:
                missing, unexpected = net.load_state_dict(weights, strict=False)
            except RuntimeError as e:  # sizes differ: its second line names the first tensor
                lines = [x.strip() for x in str(e).splitlines() if x.strip()]
                missing, unexpected = [lines[1] if len(lines) > 1 else lines[0]], []
            if unexpected or set(missing) - {"known.weight"}:
                raise InputError(f"its {what} does not fit the network asked for "
                                 f"({(unexpected or missing)[0].rstrip('.')}); leave out the "
                                 "network settings and the model's own are used")

        put(self.generator, src["generator"], "generator")
        if self.generator_ema is not None:
            put(self.generator_ema, sampling_weights(src), "generator")
            # A loaded average is an average already: the warm-up, (1 + n)/(10 + n), would
            # replace it by the raw weights within ten steps.
            self.ema_updates.fill_(max(int(src.get("ema_updates", 0)), 10**6))
        put(self.critic, src["critic"], "critic")

    def wrap(self, shard: Shard, device: torch.device) -> None:
        """Wrap both nets in DistributedDataParallel under torchrun (even at one rank)."""
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
    state = TrainState(generator, critic,
                       make_optimizer(generator.parameters(), t.lr, config, speed, device),
                       make_optimizer(critic.parameters(), critic_lr, config, speed, device),
                       speed=speed)
    if t.ema:  # None or 0: off
        state.generator_ema = copy.deepcopy(generator).requires_grad_(False)
        state.ema_updates = torch.zeros((), device=device)
    return state


def update_ema(state: TrainState, decay: float) -> None:
    """generator_ema ← d·generator_ema + (1 − d)·generator, d = min(decay, (1 + n)/(10 + n))."""
    n = state.ema_updates
    d = torch.clamp((1 + n) / (10 + n), max=decay)
    with torch.no_grad():
        # lerp_ per tensor: it takes the weight as a device tensor, which a captured step
        # needs (the foreach form would read it back to the host as a number)
        for avg, p in zip(state.generator_ema.parameters(), state.generator.parameters(),
                          strict=True):
            avg.lerp_(p, 1 - d)
    n.add_(1)


def make_optimizer(params, lr: float, config: Config, speed: Speed = EAGER,
                   device: torch.device | None = None) -> torch.optim.Optimizer:
    # A captured step must keep the optimizer's step count on the GPU: `capturable`.
    capturable = speed.cuda_graphs and device is not None and device.type == "cuda"
    if config.train.optimizer_name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, capturable=capturable)
    return torch.optim.Adam(params, lr=lr, betas=config.train.betas,
                            fused=True if speed.fused_adam else None,
                            capturable=capturable)


def clip_weights(module: torch.nn.Module, c: float) -> None:
    """Every parameter into [−c, c], as the original WGAN does after each critic update."""
    with torch.no_grad():
        params = list(module.parameters())
        torch._foreach_clamp_min_(params, -c)
        torch._foreach_clamp_max_(params, c)


def rank_noise(state: TrainState, batch_size: int, device: torch.device) -> torch.Tensor:
    """This rank's slice of the global batch's noise (all of it on a single process)."""
    return state.generator.noise(batch_size, device)[state.shard.rows(batch_size)]  # (B/N, Z)


def training_prompt(real: torch.Tensor, longest: int, shard: Shard = SINGLE) -> torch.Tensor:
    """Prompts for an infill generator from real lines (B/N, T, V): half the rows get none,
    the others their first k characters, k uniform in 0 … `longest` and never past the line's
    end. Drawn for the global batch and sliced, so N ranks prompt as one process does."""
    batch = real.shape[0] * shard.world
    k = torch.randint(0, longest + 1, (batch,), device=real.device)
    k = (k * (torch.rand(batch, device=real.device) < 0.5))[shard.rows(batch)]
    length = (real.argmax(-1) != PAD).sum(1)  # (B/N,) characters before the padding
    return prompt_of(real, torch.minimum(k, length))  # (B/N, T, V)


def fake_batch(state: TrainState, generator: torch.nn.Module, real: torch.Tensor,
               config: Config) -> torch.Tensor:
    """A fresh fake batch (B/N, T, V), prompted by `real`'s lines for an infill generator."""
    z = rank_noise(state, config.train.batch_size, real.device)
    if not config.model.infill:
        return generator(z)
    return generator(z, training_prompt(real, config.model.infill, state.shard))


def with_mismatched_joins(fake: torch.Tensor, real: torch.Tensor, other: torch.Tensor,
                          share: float = 0.25, shard: Shard = SINGLE) -> torch.Tensor:
    """The critic's fake batch for an infill run, with a share of its rows replaced by real
    lines' beginnings joined to other real lines' ends (row i of `real` up to k, then row i
    of `other` from k on, k inside both lines), as a matching-aware discriminator sees
    mismatched pairs: every character is real text, so only the seam tells them apart, and
    the critic learns to judge it, which is what teaches the generator to continue its
    prompt. Drawn for the global batch and sliced, as `training_prompt` is."""
    rows, seq_len, _ = real.shape
    batch = rows * shard.world
    k = torch.randint(1, seq_len, (batch,), device=real.device)[shard.rows(batch)]
    k = torch.minimum(k, torch.minimum((real.argmax(-1) != PAD).sum(1),
                                       (other.argmax(-1) != PAD).sum(1) - 1))
    joined = torch.where((torch.arange(seq_len, device=real.device) < k[:, None])[..., None],
                         real, other)  # (B/N, T, V)
    swap = (torch.rand(batch, device=real.device) < share)[shard.rows(batch)] & (k >= 1)
    return torch.where(swap[:, None, None], joined, fake)


def critic_step(state: TrainState, data: BatchSource, config: Config,
                ) -> dict[str, torch.Tensor]:
    """One critic update on a real batch and a fresh fake batch. The generator is untouched."""
    t = config.train
    local = t.batch_size // state.shard.world
    real = data.get_batch(local)  # (B/N, T, V)
    with state.speed.context(real.device):
        with torch.no_grad():  # the critic's loss needs no generator graph
            fake = fake_batch(state, state.generator, real, config)  # (B/N, T, V)
        # The critic sees fp32 inputs: a bf16 softmax would round the fake rows.
        fake = generated = fake.float()
        if config.model.infill:  # a second real batch gives the joins their ends
            fake = with_mismatched_joins(fake, real, data.get_batch(local), shard=state.shard)
        if t.augments:
            real, fake = augment(real, t.augments, t.augment_p), augment(fake, t.augments,
                                                                         t.augment_p)
        loss, stats = critic_loss(state.critic_ddp or state.critic, real, fake,
                                  t.gp_lambda, t.lipschitz, t.loss, state.shard,
                                  penalty_critic=state.critic)
        if t.consistency:
            term = consistency(state.critic_ddp or state.critic, real, fake, t.augments,
                               t.augment_p)
            loss = loss + t.consistency * term
            stats["consistency"] = term.detach()
    state.opt_critic.zero_grad(set_to_none=True)
    loss.backward()
    state.opt_critic.step()
    if t.lipschitz == "clip":
        clip_weights(state.critic, t.clip_value)
    state.last_batch = (real, generated)  # the diagnostics judge the generator's rows
    return stats


def generator_step(state: TrainState, config: Config, device: torch.device,
                   data: BatchSource | None = None) -> torch.Tensor:
    """One generator update through a frozen critic. The critic's weights get no gradient. An
    infill generator's prompts come from a real batch of its own."""
    critic = state.critic
    real = data.get_batch(config.train.batch_size // state.shard.world) \
        if config.model.infill else torch.empty(0, device=device)
    critic.requires_grad_(False)
    try:
        generator = state.generator_ddp or state.generator
        with state.speed.context(device):
            fake = fake_batch(state, generator, real, config)  # (B/N, T, V)
            fake = fake.float()
            if config.train.augments:  # as the critic saw them: the gradient flows through
                fake = augment(fake, config.train.augments, config.train.augment_p)
            loss = generator_loss(critic, fake, config.train.loss)
        state.opt_generator.zero_grad(set_to_none=True)
        loss.backward()
        state.opt_generator.step()
        if state.generator_ema is not None:
            update_ema(state, config.train.ema)
    finally:
        critic.requires_grad_(True)
    return loss.detach()


class Iteration:
    """One training iteration, as the loop and the benchmarks run it: `critic_iters` critic
    steps, then one generator step; each step captured as a CUDA graph when the state's
    speed asks for it (graphs.StepGraph), eager otherwise. Returns the last critic step's
    statistics and the generator loss (a replay's static tensors: read, never kept)."""

    def __init__(self, state: TrainState, batches: BatchSource, config: Config,
                 device: torch.device):
        capture = state.speed.cuda_graphs
        self.critic_iters = config.train.critic_iters
        self.critic = StepGraph(lambda: critic_step(state, batches, config), device, capture)
        self.generator = StepGraph(lambda: generator_step(state, config, device, batches),
                                   device, capture)

    @property
    def captured(self) -> bool:
        return self.critic.captured and self.generator.captured

    def __call__(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        for _ in range(self.critic_iters):
            stats = self.critic()
        return stats, self.generator()

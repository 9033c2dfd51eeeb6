"""Model and training settings, and the named presets.

`paper` is gan_language.py (Gulrajani et al. 2017) exactly; `default` is the same network with a
layer-normalized critic; `small` trains in minutes on a laptop CPU; `tiny` exists for tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .errors import InputError

CRITIC_NORMS = ("layer", "none")
LIPSCHITZ = ("gp", "gp-one-sided", "gp-finite-difference", "clip", "none")
LOSSES = ("wgan", "gan")
OPTIMIZERS = ("auto", "adam", "rmsprop")


@dataclass(frozen=True)
class ModelConfig:
    seq_len: int = 32  # the paper's window: long enough for words, short enough to train fast
    noise_dim: int = 128
    channels: int = 512
    n_blocks: int = 5
    # The gradient penalty is per sample, so the critic may normalize only within a sample.
    critic_norm: str = "layer"
    residual_scale: float = 0.3  # gan_language.py scales each residual branch by 0.3

    def validate(self) -> ModelConfig:
        if self.critic_norm == "batch":
            raise InputError(
                "batch norm in the critic is refused: the gradient penalty is computed per sample, "
                "and batch norm mixes the samples of a batch so each critic output depends on the "
                "others; use --critic-norm layer (default) or none"
            )
        if self.critic_norm not in CRITIC_NORMS:
            raise InputError(
                f"unknown critic norm {self.critic_norm!r}; choose one of {', '.join(CRITIC_NORMS)}"
            )
        for name in ("seq_len", "noise_dim", "channels"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_blocks < 0:
            raise InputError(f"n_blocks must be 0 or more, got {self.n_blocks}")
        return self


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64
    critic_iters: int = 10  # critic steps per generator step; the paper's 10 ("5 should work")
    gp_lambda: float = 10.0
    lr: float = 1e-4
    # The critic's own rate (None: the same as lr). The two-timescale variant (1 critic step,
    # critic lr 3e-4) trades the paper's 10 critic steps for a faster critic.
    critic_lr: float | None = None
    betas: tuple[float, float] = (0.5, 0.9)  # low beta1: momentum fights the adversarial game
    iters: int = 200_000  # generator steps
    seed: int = 0
    log_every: int = 10
    eval_every: int = 1000
    save_every: int = 1000
    eval_samples: int = 640  # the paper's JS sample count
    keep_last: int = 3  # step checkpoints kept beside checkpoint.pt and best.pt
    # How the critic is kept 1-Lipschitz: the two-sided gradient penalty of WGAN-GP by default.
    lipschitz: str = "gp"
    clip_value: float = 0.01  # the WGAN paper's c, used by lipschitz="clip"
    loss: str = "wgan"  # "gan": the standard non-saturating GAN, the articles' baseline
    # auto: RMSProp under clipping (the WGAN paper: momentum destabilizes a clipped critic),
    # Adam otherwise.
    optimizer: str = "auto"
    # Diagnostics (slopes at interpolates, per-layer gradient norms, weight histograms) cost a
    # forward and two backwards: every 100 steps is under 1% of the training time.
    diag_every: int = 100

    @property
    def optimizer_name(self) -> str:
        if self.optimizer != "auto":
            return self.optimizer
        return "rmsprop" if self.lipschitz == "clip" else "adam"

    def validate(self) -> TrainConfig:
        for name in ("batch_size", "critic_iters", "log_every", "eval_every", "save_every",
                     "eval_samples"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")
        for name, most in (("batch_size", 1 << 20), ("critic_iters", 10_000),
                           ("eval_samples", 1 << 20)):
            if getattr(self, name) > most:
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)} is absurd; "
                                 f"use at most {most:,}")
        if self.keep_last < 0:
            raise InputError(f"--keep-last must be 0 or more, got {self.keep_last}")
        if self.iters < 0:
            raise InputError(f"--iters must be 0 or more, got {self.iters}")
        if not self.lr > 0:
            raise InputError(f"--lr must be positive, got {self.lr}")
        if self.critic_lr is not None and not self.critic_lr > 0:
            raise InputError(f"--critic-lr must be positive, got {self.critic_lr}")
        if self.gp_lambda < 0:
            raise InputError(f"--gp-lambda must be 0 or more, got {self.gp_lambda}")
        for name, allowed in (("lipschitz", LIPSCHITZ), ("loss", LOSSES),
                              ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"unknown --{name} {getattr(self, name)!r}; choose one of "
                                 f"{', '.join(allowed)}")
        if not self.clip_value > 0:
            raise InputError(f"--clip-value must be positive, got {self.clip_value}")
        if self.diag_every < 0:
            raise InputError(f"--diag-every must be 0 (off) or more, got {self.diag_every}")
        if not all(0 <= b < 1 for b in self.betas):
            raise InputError(f"Adam betas must lie in [0, 1), got {self.betas}")
        return self


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = "default"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["train"]["betas"] = list(self.train.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        train = dict(d["train"])
        train["betas"] = tuple(train["betas"])
        return cls(model=ModelConfig(**_known(ModelConfig, d["model"])),
                   train=TrainConfig(**_known(TrainConfig, train)),
                   preset=d.get("preset", "custom"))

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with the given model or training fields replaced (None means keep)."""
        model_names = {f.name for f in fields(ModelConfig)}
        train_names = {f.name for f in fields(TrainConfig)}
        model_kw, train_kw = {}, {}
        for key, value in overrides.items():
            if value is None:
                continue
            if key in model_names:
                model_kw[key] = value
            elif key in train_names:
                train_kw[key] = value
            else:
                raise InputError(f"unknown setting {key!r}")
        return replace(self, model=replace(self.model, **model_kw),
                       train=replace(self.train, **train_kw))

    def validate(self) -> Config:
        self.model.validate()
        self.train.validate()
        return self


def _known(cls, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


PRESETS: dict[str, Config] = {
    # gan_language.py: no normalization anywhere, 10 critic steps, 200k generator steps.
    "paper": Config(model=ModelConfig(critic_norm="none"),
                    train=TrainConfig(eval_every=2000, save_every=2000),
                    preset="paper"),
    # The paper's network with a layer-normalized critic, the usual WGAN-GP recommendation.
    "default": Config(model=ModelConfig(critic_norm="layer"),
                      train=TrainConfig(eval_every=2000, save_every=2000),
                      preset="default"),
    # A CPU demo: a quarter of the paper's width, 2 res-blocks, 2 critic steps, batch 32 and a
    # higher learning rate. Chosen by JS-4 reached per CPU minute on COCO (benchmarks/README.md);
    # the iteration count keeps the quick start under 15 minutes on 2 cores.
    "small": Config(model=ModelConfig(channels=128, n_blocks=2),
                    train=TrainConfig(batch_size=32, critic_iters=2, lr=5e-4, iters=4000,
                                      log_every=10, eval_every=500, save_every=500),
                    preset="small"),
    # For tests: seconds, not minutes.
    "tiny": Config(model=ModelConfig(channels=16, n_blocks=1, noise_dim=16),
                   train=TrainConfig(batch_size=16, critic_iters=2, iters=20, log_every=5,
                                     eval_every=10, save_every=10, eval_samples=64,
                                     diag_every=5),
                   preset="tiny"),
}


def get_preset(name: str) -> Config:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None

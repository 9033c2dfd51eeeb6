"""Model and training settings, the named presets, and the rules between options.

`paper` is gan_language.py (Gulrajani et al. 2017) exactly; `default` is the same network with a
layer-normalized critic; `small` trains in minutes on a laptop CPU; `tiny` exists for tests.
`build_config` applies the rules that hold between options, for the CLI and Python callers
alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .errors import MAX_SEED, InputError, check_int, is_number, setting
from .text import DEFAULT_SEQ_LEN, MAX_SEQ_LEN, MIN_SEQ_LEN


def option(default: Any, help: str, metavar: str = "N", flag: str | None = None,
           none: str = "none", typed: str | None = None) -> Any:
    """A setting that `textwgan train` offers as an option. Its help lives here, beside its
    default, and the command line builds the option (and the defaults its help shows, one per
    preset) from it. `none` says what a default of None means; `flag` names the option where
    it is not the field's name; `typed` says how the command line writes a value that is not
    a plain number or word ("duration": 90s, 10m, 1h30m; "numbers": comma-separated)."""
    return field(default=default, metadata={"help": help, "metavar": metavar, "flag": flag,
                                            "none": none, "typed": typed})


def offered_settings() -> list:
    """The model and training fields a user sets (`train`'s options), in declaration order."""
    return [f for cls in (ModelConfig, TrainConfig) for f in fields(cls)
            if "help" in f.metadata]


def resumable_settings() -> list[str]:
    """The offered settings a resumed run may change: its schedule."""
    return [f.name for f in offered_settings() if f.name in SCHEDULE_FIELDS]

CRITIC_NORMS = ("layer", "none")
LIPSCHITZ = ("gp", "gp-one-sided", "gp-finite-difference", "clip", "none")
LOSSES = ("wgan", "gan")
OPTIMIZERS = ("auto", "adam", "rmsprop")


@dataclass(frozen=True)
class ModelConfig:
    seq_len: int = DEFAULT_SEQ_LEN
    noise_dim: int = 128
    channels: int = option(512, f"Generator width (and the critic's unless "
                                f"{setting('critic_channels')}).")
    n_blocks: int = option(5, f"Generator residual blocks (and the critic's unless "
                              f"{setting('critic_blocks')}).", flag="--blocks")
    # The gradient penalty is per sample, so the critic may normalize only within a sample.
    critic_norm: str = option("layer", "layer or none (batch norm is refused: it breaks the "
                                       "per-sample penalty).", "NAME")
    # gan_language.py scales each residual branch by 0.3
    residual_scale: float = option(0.3, "Scale of each residual branch.", "X")
    # The critic's own width and depth (None: the generator's): the two nets' capacities need
    # not match, and on a CPU the critic's steps cost most of the time.
    critic_channels: int | None = option(None, "Critic width.", none="the generator's")
    critic_blocks: int | None = option(None, "Critic residual blocks.", none="the generator's")
    # Capacity without width: dilated convolutions see further along the line, and a
    # self-attention layer relates any two positions.
    dilation: int = option(1, "Dilation growth per residual block in both nets: block i's "
                              "convolutions skip dilation^i - 1 positions (up to 8; 1: none).")
    attention: int = option(0, "Self-attention layers in each net, after its middle residual "
                               "block (0: none).")
    # Prompts by construction: the generator also reads a line's first k characters (k drawn
    # from 0 to this in training, 0 for half the rows) and its output keeps them; the critic
    # judges the whole line, so the continuation must fit the prefix.
    infill: int = option(0, "Teach the generator to continue a given prefix of up to N "
                            "characters (0: off); sample --prefix then meets every prompt in "
                            "one pass.")

    @property
    def critic_width(self) -> int:
        return self.channels if self.critic_channels is None else self.critic_channels

    @property
    def critic_depth(self) -> int:
        return self.n_blocks if self.critic_blocks is None else self.critic_blocks

    def validate(self) -> ModelConfig:
        if self.critic_norm == "batch":
            raise InputError(
                "batch norm in the critic is refused: the gradient penalty is computed per "
                "sample, and batch norm mixes the samples of a batch so each critic output "
                f"depends on the others; use {setting('critic_norm')} layer (default) or none")
        _choice("critic_norm", self.critic_norm, CRITIC_NORMS)
        check_int("seq_len", self.seq_len, MIN_SEQ_LEN, MAX_SEQ_LEN)
        check_int("noise_dim", self.noise_dim, 1, 4096)
        check_int("channels", self.channels, 1, 8192)
        check_int("n_blocks", self.n_blocks, 0, 64)
        if self.critic_channels is not None:
            check_int("critic_channels", self.critic_channels, 1, 8192)
        if self.critic_blocks is not None:
            check_int("critic_blocks", self.critic_blocks, 0, 64)
        _float("residual_scale", self.residual_scale, 0.0, 10.0)
        check_int("dilation", self.dilation, 1, 8)
        check_int("attention", self.attention, 0, 8)
        # the corpus may fix a longer seq_len later; training checks infill against it then
        check_int("infill", self.infill, 0, MAX_SEQ_LEN)
        return self


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = option(64, "Sequences per batch (the global batch under torchrun).")
    # The paper's 10 ("5 should work").
    critic_iters: int = option(10, "Critic steps per generator step.")
    gp_lambda: float = option(10.0, "Gradient penalty weight.", "X")
    lr: float = option(1e-4, f"Learning rate of the generator (and the critic's unless "
                             f"{setting('critic_lr')}).", "X")
    # The critic's own rate (None: the same as lr). The two-timescale variant (1 critic step,
    # critic lr 3e-4) trades the paper's 10 critic steps for a faster critic.
    critic_lr: float | None = option(None, "The critic's learning rate.", "X",
                                     none=f"{setting('lr')}'s")
    # A low beta1: momentum fights the adversarial game.
    betas: tuple[float, float] = option((0.5, 0.9), "Adam betas.", "B1,B2", typed="numbers")
    iters: int = option(200_000, "Generator steps.")
    seed: int = option(0, "Seed of the weights and every random draw.")
    log_every: int = 10
    eval_every: int = option(1000, "Steps between JS evaluations.")
    save_every: int = option(1000, "Steps between checkpoints.")
    eval_samples: int = 640  # the paper's JS sample count
    keep_last: int = option(3, "Step checkpoints kept beside checkpoint.pt and best.pt.")
    # How the critic is kept 1-Lipschitz: the two-sided gradient penalty of WGAN-GP by default.
    lipschitz: str = option("gp", "gp, gp-one-sided, gp-finite-difference, clip, or none "
                                  f"(with {setting('loss')} gan it defaults to none).", "NAME")
    clip_value: float = option(0.01, f"With {setting('lipschitz')} clip: weights are clipped to "
                                     "[-c, c] (the WGAN paper's c).", "C")
    loss: str = option("wgan", "wgan, or gan (the standard non-saturating GAN baseline).",
                       "NAME")
    # auto: RMSProp under clipping (the WGAN paper: momentum destabilizes a clipped critic),
    # Adam otherwise.
    optimizer: str = option("auto", "auto (RMSProp with clip, else Adam), adam, or rmsprop.",
                            "NAME")
    # Diagnostics (slopes at interpolates, per-layer gradient norms, weight histograms) cost a
    # forward and two backwards: every 100 steps is under 1% of the training time.
    diag_every: int = option(100, "Steps between critic diagnostics in log.jsonl (0: never).")
    # Wall-clock budget of one invocation, in seconds (None: none): the run stops at the first
    # step past it, evaluates and saves as at the last step, and can be resumed later.
    time_limit: float | None = option(
        None, "Stop at the first step past this much training time (90s, 10m, 1h30m); it "
              f"evaluates and saves as at the last step, and {setting('resume')} continues.",
        "DURATION", typed="duration")
    # An exponential moving average of the generator's weights, used for sampling, evaluation
    # and exports (None or 0: off): its decay per generator step, warmed up as (1 + n)/(10 + n)
    # so that early averages do not lean on the initial weights.
    ema: float | None = option(
        None, "Sample from a moving average of the generator's weights with this decay per "
              "step (0: off).", "DECAY", none="off")

    # Fine-tuning: a new run that starts from a trained model's generator, its average and its
    # critic (optimizers fresh), with that model's network; a new --infill input adds nothing
    # to an empty prompt, so unprompted, step 0 samples as the model did.
    init: str | None = option(None, "Start from the weights of this model: a shipped name "
                                    "(textwgan models), a model folder that keeps its critic, "
                                    "a run or a checkpoint. Its network settings are used.",
                              "MODEL", none="fresh weights")

    # Against a critic that memorises a small training split (docs/quality.md): the critic's
    # inputs, real and fake alike, augmented (augment.py), and a consistency term.
    augment: str = option("none", "Augment what the critic sees, real and generated alike: "
                                  "none, or a comma list of shift (the window moved left by "
                                  "1-4 characters) and drop (characters replaced by unk).",
                          "LIST")
    augment_p: float = option(0.3, "Share of the sequences each augmentation changes.", "P")
    consistency: float = option(0.0, "Weight of the critic's consistency term, (D(x) - "
                                     "D(augmented x))^2 on real and generated rows (0: off).",
                                "X")

    @property
    def augments(self) -> tuple[str, ...]:
        from .augment import parse_augments

        return parse_augments(self.augment)

    @property
    def optimizer_name(self) -> str:
        if self.optimizer != "auto":
            return self.optimizer
        return "rmsprop" if self.lipschitz == "clip" else "adam"

    def validate(self) -> TrainConfig:
        check_int("batch_size", self.batch_size, 1, 1 << 20)
        check_int("critic_iters", self.critic_iters, 1, 10_000)
        check_int("iters", self.iters, 0, 10**12)
        check_int("seed", self.seed, 0, MAX_SEED)
        for name in ("log_every", "eval_every", "save_every"):
            check_int(name, getattr(self, name), 1, 10**12)
        check_int("eval_samples", self.eval_samples, 1, 1 << 20)
        check_int("keep_last", self.keep_last, 0, 10**6)
        check_int("diag_every", self.diag_every, 0, 10**12, "(0: never)")
        _float("gp_lambda", self.gp_lambda, 0.0, 1e6)
        _positive("lr", self.lr)
        if self.critic_lr is not None:
            _positive("critic_lr", self.critic_lr)
        _positive("clip_value", self.clip_value)
        if self.time_limit is not None:
            _positive("time_limit", self.time_limit)
        if self.ema is not None and not (is_number(self.ema) and 0 <= self.ema < 1):
            raise InputError(f"{setting('ema')} must be a decay from 0 (off) to below 1 (such "
                             f"as 0.999), got {self.ema!r}")
        from .augment import AUGMENTS, parse_augments

        try:
            parse_augments(self.augment)
        except ValueError:
            raise InputError(f"{setting('augment')} must be none or a comma list of "
                             f"{', '.join(AUGMENTS)}, got {self.augment!r}") from None
        if self.init is not None and (not isinstance(self.init, str) or not self.init.strip()):
            raise InputError(f"{setting('init')} must name a model, got {self.init!r}")
        _float("augment_p", self.augment_p, 0.0, 1.0)
        _float("consistency", self.consistency, 0.0, 1e6)
        for name, allowed in (("lipschitz", LIPSCHITZ), ("loss", LOSSES),
                              ("optimizer", OPTIMIZERS)):
            _choice(name, getattr(self, name), allowed)
        betas = self.betas
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(is_number(b) and 0 <= b < 1 for b in betas)):
            raise InputError(f"{setting('betas')} must be two numbers in [0, 1), got {betas!r}")
        return self


def _float(name: str, value, low: float, high: float) -> None:
    if not is_number(value) or not low <= value <= high:
        raise InputError(f"{setting(name)} must be a number from {low:g} to {high:g}, "
                         f"got {value!r}")


def _positive(name: str, value) -> None:
    if not is_number(value) or not value > 0:
        raise InputError(f"{setting(name)} must be a positive finite number, got {value!r}")


def _choice(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"unknown {setting(name)} {value!r}; choose one of {', '.join(allowed)}")


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
        """A config from its dict (a checkpoint's); keys this version does not know are
        ignored, keys it lacks take their defaults. Raises InputError when malformed."""
        try:
            train = dict(d["train"])
            if "betas" in train:
                train["betas"] = tuple(train["betas"])
            return cls(model=ModelConfig(**_known(ModelConfig, d["model"])),
                       train=TrainConfig(**_known(TrainConfig, train)),
                       preset=str(d.get("preset", "custom"))).validate()
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputError("the saved settings are malformed") from None

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
                train_kw[key] = tuple(value) if key == "betas" else value
            else:
                raise InputError(f"unknown setting {key!r}; known: "
                                 f"{', '.join(sorted(model_names | train_names))}")
        return replace(self, model=replace(self.model, **model_kw),
                       train=replace(self.train, **train_kw))

    def validate(self) -> Config:
        self.model.validate()
        self.train.validate()
        return self


def _known(cls, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


# Fields that only say when to log, evaluate, save or stop: a run may be resumed with others.
SCHEDULE_FIELDS = frozenset({"iters", "log_every", "eval_every", "save_every", "keep_last",
                             "diag_every", "time_limit"})
def settings_diff(a: Config, b: Config) -> list[str]:
    """Names of the model and training fields (schedule aside) in which two configs differ."""
    da, db = a.to_dict(), b.to_dict()
    return [f"{part}.{k}" for part in ("model", "train") for k in da[part]
            if k not in SCHEDULE_FIELDS and da[part][k] != db[part].get(k)]


PRESETS: dict[str, Config] = {
    # gan_language.py: no normalization anywhere, 10 critic steps, 200k generator steps.
    "paper": Config(model=ModelConfig(critic_norm="none"),
                    train=TrainConfig(eval_every=2000, save_every=2000),
                    preset="paper"),
    # The paper's network with a layer-normalized critic, the usual WGAN-GP recommendation.
    "default": Config(model=ModelConfig(critic_norm="layer"),
                      train=TrainConfig(eval_every=2000, save_every=2000),
                      preset="default"),
    # A CPU demo, chosen by JS-4 reached per CPU minute on COCO (docs/quality.md): a quarter of
    # the paper's width, 2 res-blocks, 2 critic steps, batch 32, a higher learning rate; a
    # critic half the generator's width, since on a CPU the critic's steps cost most of
    # the time and a narrow one let twice the generator steps through at better quality; and
    # an average of the generator's weights, which smooths the late, noisy steps. The
    # iteration count keeps the quick start under 15 minutes on 2 cores.
    "small": Config(model=ModelConfig(channels=128, n_blocks=2, critic_channels=64),
                    train=TrainConfig(batch_size=32, critic_iters=2, lr=5e-4, iters=7000,
                                      ema=0.999, log_every=10, eval_every=500,
                                      save_every=500),
                    preset="small"),
    # For tests: seconds, not minutes.
    "tiny": Config(model=ModelConfig(channels=16, n_blocks=1, noise_dim=16),
                   train=TrainConfig(batch_size=16, critic_iters=2, iters=20, log_every=5,
                                     eval_every=10, save_every=10, eval_samples=64,
                                     diag_every=5),
                   preset="tiny"),
}
PRESET_NAMES = ("auto", *PRESETS)


def get_preset(name: str) -> Config:
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown {setting('preset')} {name!r}; choose one of "
                         f"{', '.join(PRESET_NAMES)}") from None


def auto_preset(device_type: str) -> str:
    """`auto`: the paper-sized `default` on a GPU, `small` elsewhere."""
    return "default" if device_type == "cuda" else "small"


def build_config(preset: str = "auto", device_type: str = "cpu", **overrides: Any) -> Config:
    """A new run's config: the preset (auto: by device) with overrides, after the rules that
    hold between options. `None` overrides mean "not given"."""
    name = auto_preset(device_type) if preset == "auto" else preset
    if overrides.get("clip_value") is not None and overrides.get("lipschitz") != "clip":
        raise InputError(f"{setting('clip_value')} applies only with {setting('lipschitz')} "
                         "clip")
    if overrides.get("loss") == "gan" and overrides.get("lipschitz") is None:
        overrides["lipschitz"] = "none"  # the standard GAN baseline has no Lipschitz constraint
    return get_preset(name).with_overrides(**overrides).validate()


def resumed_config(saved: Config, **overrides: Any) -> Config:
    """A resumed run's config: its own settings, with only schedule fields changed."""
    current = {**saved.to_dict()["model"], **saved.to_dict()["train"]}
    given = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}
    # The run's own value, given again (`--seed 0` for a run of seed 0), changes nothing.
    fixed = sorted(k for k, v in given.items() if v is not None and k not in SCHEDULE_FIELDS
                   and (k not in current or current[k] != v))
    if fixed:
        may = ", ".join(setting(k) for k in resumable_settings())
        raise InputError(f"{setting(fixed[0])} cannot change when resuming: a resumed run keeps "
                         f"its settings (only {may} may change)")
    return saved.with_overrides(**overrides).validate()

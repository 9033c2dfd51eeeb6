"""How texts are drawn from a generator, as one value (`SamplingSpec`) that travels from the
command line's options to `TextGenerator`, `evaluate` and `bench`: a new sampling knob or rule
is a field here and its use in sample.py. No torch here: scoring text imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from .errors import (
    MAX_STEPS,
    InputError,
    check_int,
    check_rerank,
    check_temperature,
    check_truncation,
    setting,
)

# How a reranked text is kept among its K candidates: sir draws one in proportion to the
# calibrated density ratio (ratio.py), which keeps diversity; top keeps the one the critic
# scores highest, which sharpens modes (docs/sampling.md measures both).
RULES = ("sir", "top")


@dataclass(frozen=True)
class SamplingSpec:
    """How texts are drawn from a generator, as one value: from the command line's options to
    `TextGenerator`, `evaluate` and `bench`. Argmax (temperature 0) or a temperature; K
    candidates per text, one kept by the critic under `rule`; the noise truncated toward its
    mean; or a prompt searched in the noise (`restarts` starting points, `search_steps`
    gradient steps each)."""

    temperature: float = 0.0
    rerank: int = 1
    rule: str = "sir"
    truncation: float = 1.0
    prefix: str | None = None
    restarts: int = 2
    search_steps: int = 100

    def checked(self) -> SamplingSpec:
        check_temperature(self.temperature)
        check_rerank(self.rerank)
        check_truncation(self.truncation)
        if self.rule not in RULES:
            raise InputError(f"{setting('rule')} must be one of {', '.join(RULES)}, got "
                             f"{self.rule!r}")
        check_int("restarts", self.restarts, 1, 64)
        check_int("search_steps", self.search_steps, 1, MAX_STEPS)
        default = SamplingSpec()
        if self.prefix is None and (self.restarts, self.search_steps) != (
                default.restarts, default.search_steps):
            raise InputError(f"{setting('restarts')} and {setting('search_steps')} shape the "
                             f"search for {setting('prefix')}; give a prefix, or leave them out")
        if self.prefix is not None and (self.rerank, self.temperature, self.truncation) != (
                1, 0.0, 1.0):
            raise InputError(f"{setting('prefix')} searches argmax noise: leave "
                             f"{setting('rerank')}, {setting('temperature')} and "
                             f"{setting('truncation')} out")
        return self

    def with_knobs(self, **knobs) -> SamplingSpec:
        """A copy with the given fields (None: keep), checked."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(knobs) - names)
        if unknown:
            raise InputError(f"unknown sampling setting {unknown[0]!r}; known: "
                             f"{', '.join(sorted(names))}")
        return replace(self, **{k: v for k, v in knobs.items() if v is not None}).checked()

    @property
    def label(self) -> str:
        """`argmax`, `T=0.7`, `argmax K=5`, `argmax ψ=0.7`: how a row of bench names it."""
        how = "argmax" if self.temperature == 0 else f"T={self.temperature:g}"
        if self.rerank > 1:
            how += f" K={self.rerank}" + ("" if self.rule == "sir" else f" {self.rule}")
        return how + (f" ψ={self.truncation:g}" if self.truncation < 1 else "")


def sampling_spec(spec: SamplingSpec | None = None, **knobs) -> SamplingSpec:
    """`spec` (default: argmax) with any knobs given as keywords, checked."""
    if spec is not None and not isinstance(spec, SamplingSpec):
        raise InputError(f"{setting('spec')} must be a SamplingSpec, got {type(spec).__name__}")
    return (spec or SamplingSpec()).with_knobs(**knobs)



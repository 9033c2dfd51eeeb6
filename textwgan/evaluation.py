"""Evaluating texts: where they come from (a list, a samples file, a checkpoint or run folder
drawn at a temperature, the Kneser–Ney baseline), the checks shared by `evaluate` and `bench`,
and the report: every metric beside its floor, a signature, and notes on how to read them.
Scoring itself is `scoring.py`; the likelihood bound is `likelihood.py`.

Inputs are texts: a list of strings, a samples file (one per line, `-` for standard input), a
checkpoint or run folder (N samples drawn at a temperature), or the Kneser–Ney baseline. With a
corpus folder, text is normalized and encoded with the corpus's charset; with plain reference
and training files, characters are raw code points.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .assets import shipped_model_named
from .charset import PAD
from .corpus import Corpus
from .errors import InputError, as_path, check_seed, check_temperature, setting
from .fileio import STDIN, is_torch_archive
from .likelihood import MAX_GAN_BPC_DRAWS, gan_bits_per_char
from .lm import MAX_ORDER, KneserNeyLM
from .scoring import (
    PAPER_N,
    Metrics,
    Reference,
    ScoringOptions,
    cached_floor,
    checked_orders,
    mean_length,
    run_corpus,
    score,
    scoring_corpus,
    training_lm,
    unseparated,
)
from .sources import read_lines
from .text import rows_to_text, without_surrogates

MAX_N = 10_000_000

BASELINE_PREFIX = "kn"


@dataclass(frozen=True)
class Report:
    """The full report for one input: its metrics, the floor (the same metrics for as many real
    sequences), and the signature that says what the numbers mean."""

    input: str
    n: int
    reference_size: int
    train_size: int | None
    protocol: str
    orders: tuple[int, ...]
    lm_order: int
    seed: int
    metrics: Metrics
    floor: Metrics | None
    signature: str
    temperature: float | None = None  # for texts drawn from a model (0: argmax)
    gan_bpc: float | None = None  # the likelihood bound, with gan_bpc_draws noise draws
    gan_bpc_draws: int | None = None
    notes: tuple[str, ...] = ()  # what the reader should know to read the figures right
    # Figures junk scores about as well as real text on this corpus at this n (junk's value
    # by key): shown as n/a, the note says why.
    unseparated: dict = field(default_factory=dict)
    floor_lines: int | None = None  # distinct real lines the floor could draw from

    def to_dict(self) -> dict:
        """The JSON that `textwgan eval --json` prints."""
        d = {"input": self.input, "n": self.n, "reference_size": self.reference_size,
             "train_size": self.train_size, "protocol": self.protocol,
             "orders": list(self.orders), "lm_order": self.lm_order, "seed": self.seed,
             **self.metrics.flat()}
        if self.floor is not None:
            d.update({f"floor_{k}": v for k, v in self.floor.flat().items()})
        if self.temperature is not None:
            d["temperature"] = self.temperature
        if self.gan_bpc is not None:
            d["gan_bpc"], d["gan_bpc_draws"] = self.gan_bpc, self.gan_bpc_draws
        for key in self.unseparated:  # n/a: no reader should take these for a score
            d[key] = None
        if self.unseparated:
            d["unseparated"] = {k: {"samples": self.metrics.flat().get(k), "junk": v}
                                for k, v in self.unseparated.items()}
        if self.floor_lines is not None:
            d["floor_lines"] = self.floor_lines
        if self.notes:
            d["notes"] = list(self.notes)
        d["signature"] = self.signature
        return d

    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def __contains__(self, key: str) -> bool:
        return key in self.to_dict()


@dataclass
class Texts:
    """Texts to score and where they came from."""

    texts: list[str]
    label: str
    kind: str  # "samples", "generator" or "baseline"
    temperature: float | None = None  # a model's or the baseline's (0: argmax)
    generator: object = None  # the TextGenerator, for the likelihood bound
    spec: object = None  # a model's SamplingSpec: how its texts were drawn


def is_model_input(source) -> bool:
    """A checkpoint file, a run or model folder (checked by content, not only by name), or a
    shipped model by name where no such path exists."""
    source = _input(source)
    if isinstance(source, (list, tuple)) or str(source) == STDIN:
        return False
    path = Path(source)
    if shipped_model_named(source) is not None:
        return True
    return path.is_dir() or path.suffix in (".pt", ".pth") or (path.is_file()
                                                                 and is_torch_archive(path))


def _input(source):
    """A list of texts as it is, anything else as the path of a file, checkpoint or run."""
    return source if isinstance(source, (list, tuple)) else as_path(source, "input")


def file_size(source) -> int | None:
    """How many samples a file or list holds (None for a model: it draws any number)."""
    source = _input(source)
    if isinstance(source, (list, tuple)):
        return len(source)
    if is_model_input(source):
        return None
    return len(read_lines(source))


def load_texts(source, n: int | None, seed: int, spec=None, device: str = "cpu") -> Texts:
    """The first n texts of a list or samples file, or n texts drawn from a checkpoint or run
    folder (or a TextGenerator already loaded) as `spec` (a SamplingSpec; default argmax)
    says."""
    if _is_generator(source):
        return _drawn(source, n, seed, spec)
    source = _input(source)
    if isinstance(source, (list, tuple)):
        if not all(isinstance(t, str) for t in source):
            raise InputError("texts to score must be strings")
        # a lone surrogate is no character: read as U+FFFD, as invalid bytes of a file are
        lines, label = [without_surrogates(t) for t in source], f"{len(source)} texts"
    elif is_model_input(source):
        from .sample import load_generator

        return _drawn(load_generator(source, device=device), n, seed, spec)
    else:
        lines, label = read_lines(source), str(source)
    if n is not None:
        if n > len(lines):
            raise InputError(f"{setting('n')} {n:,}: {label} holds only {len(lines):,} samples")
        lines = lines[:n]
    if not lines:
        raise InputError(f"{label}: no samples (it is empty)")
    return Texts(lines, label, "samples")


def _is_generator(source) -> bool:
    """A TextGenerator, asked without importing torch: one exists only once sample.py (and
    torch) are loaded."""
    import sys

    sample = sys.modules.get("textwgan.sample")
    return sample is not None and isinstance(source, sample.TextGenerator)


def _drawn(gen, n: int | None, seed: int, spec) -> Texts:
    from .spec import sampling_spec

    spec = sampling_spec(spec)
    texts = gen.sample(PAPER_N if n is None else n, seed, spec)
    return Texts(texts, str(gen.source), "generator", spec.temperature, gen, spec)


def baseline_order(spec: str) -> int:
    """`kn5` → 5: the Kneser–Ney baseline's order."""
    s = str(spec).lower()
    if s.startswith(BASELINE_PREFIX) and s[len(BASELINE_PREFIX):].isdigit():
        order = int(s[len(BASELINE_PREFIX):])
        if 1 <= order <= MAX_ORDER:
            return order
    raise InputError(f"{setting('baseline')} must be kn1 to kn{MAX_ORDER} (a Kneser–Ney "
                     f"character model of that order), got {spec!r}")


def baseline_texts(ref: Reference, order: int, n: int, temperature: float, seed: int,
                   ) -> Texts:
    """n sequences sampled from the Kneser–Ney model of the training text, in the reference's
    coding, decoded to text."""
    if ref.train is None:
        raise InputError(f"the baseline is trained on the training text: give "
                         f"{setting('corpus')}, or {setting('train')} with "
                         f"{setting('reference')}")
    lm = training_lm(ref, order)
    rng = np.random.default_rng(seed)
    ids = lm.sample(n, ref.seq_len, rng, temperature)  # (n, T) dense ids
    rows = np.where(ids == ref.pad_id, ref.pad, ref.symbols[np.minimum(
        ids, len(ref.symbols) - 1)])
    return Texts(ref.texts(rows), f"Kneser–Ney {order}-gram", "baseline", temperature)


def sample_baseline(corpus: str | Path | Corpus, *, order: int = 5, n: int = PAPER_N,
                    temperature: float = 1.0, seed: int = 0) -> list[str]:
    """n texts sampled from the interpolated Kneser–Ney character model of a corpus's training
    split: the autoregressive model a user would reach for instead of a GAN."""
    check_n(n)
    check_seed(seed)
    check_temperature(temperature)
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise InputError(f"{setting('order')} must be an integer from 1 to {MAX_ORDER}, "
                         f"got {order!r}")
    c = scoring_corpus(corpus)
    lm = KneserNeyLM(np.asarray(c.train), PAD, len(c.charset), order)
    ids = lm.sample(n, c.seq_len, np.random.default_rng(seed), temperature)
    return c.decode(ids)


def check_n(n: int | None) -> None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N):
        raise InputError(f"{setting('n')} must be an integer from 1 to {MAX_N:,}, got {n!r}")


SPEC_KEYWORDS = ("temperature", "rerank", "rule", "truncation")


def evaluate(texts_or_path, scoring: ScoringOptions | None = None, *, n: int | None = PAPER_N,
             spec=None, gan_bpc: int | None = None, ref: Reference | None = None,
             floors: bool = True, **keywords) -> Report:
    """The full report for texts (a list of strings, a samples file, `-`), a checkpoint or a run
    folder, scored against a corpus's test split (or a reference file).

    `scoring`: how (a ScoringOptions), or its fields as keywords: `corpus`, `reference`,
    `train`, `protocol`, `seq_len`, `seed`, `orders`, `lm_order`, `critic`, `device`.
    `n`: how many texts: the first n of a list or file (None: all of them), or n drawn from a
    checkpoint (None: 640) as `spec` says (a SamplingSpec, or its knobs as keywords, such as
    `temperature`; default argmax). Scores depend on n: compare reports only when their
    signatures are equal. `gan_bpc`: with a checkpoint and a corpus, also the likelihood bound
    from that many noise draws. `ref`: a Reference already built (its tables reused)."""
    from .spec import sampling_spec

    if not _is_generator(texts_or_path):
        _input(texts_or_path)  # a wrong type is named before anything is built
    spec = sampling_spec(spec, **{k: keywords.pop(k) for k in SPEC_KEYWORDS if k in keywords})
    scoring = ScoringOptions.of(scoring, **keywords)
    if scoring.protocol == "paper" and n is None:
        n = PAPER_N
    check_n(n)
    if gan_bpc is not None and (isinstance(gan_bpc, bool) or not isinstance(gan_bpc, int)
                                or not 1 <= gan_bpc <= MAX_GAN_BPC_DRAWS):
        raise InputError(f"{setting('gan_bpc')} must be a number of noise draws from 1 to "
                         f"{MAX_GAN_BPC_DRAWS:,}, got {gan_bpc!r}")
    if ref is not None and not isinstance(ref, Reference):
        raise InputError(f"{setting('ref')} must be a textwgan Reference, got "
                         f"{type(ref).__name__}")
    if ref is None:
        if scoring.corpus is None and scoring.reference is None and is_model(texts_or_path):
            scoring = replace(scoring, corpus=run_corpus(texts_or_path))
        ref = scoring.reference_for(n or PAPER_N)
    checked_orders(scoring.orders, ref.seq_len)
    loaded = load_texts(texts_or_path, n, scoring.seed, spec, scoring.device)
    report = report_for(loaded, ref, scoring, floors, gan_bpc)
    if scoring.reference is not None and is_model(texts_or_path):
        note = _overlap_note(ref, texts_or_path)
        if note:
            report = replace(report, notes=(*report.notes, note))
    return report


def _overlap_note(ref: Reference, source) -> str | None:
    """A warning when a reference file shares lines with the run's own training lines: the
    scores would then reward copying."""
    try:
        corpus = run_corpus(source)
    except InputError:
        return None
    train = set(corpus.decode(np.asarray(corpus.train)))
    ref_lines = rows_to_text(ref.reference, ref.pad)
    shared = sum(line in train for line in ref_lines)
    if shared < 0.01 * len(ref_lines):
        return None
    return (f"{shared:,} of the {len(ref_lines):,} reference lines ({shared / len(ref_lines):.0%})"
            " are training lines of the run: these scores reward copying; score against the "
            "run's held-out split instead (leave --reference out)")


def is_model(source) -> bool:
    return not isinstance(source, (list, tuple)) and is_model_input(_input(source))


def report_for(loaded: Texts, ref: Reference, scoring: ScoringOptions, floors: bool = True,
               gan_bpc: int | None = None) -> Report:
    samples = ref.encode(loaded.texts)
    count = len(samples)
    bound = None
    if gan_bpc is not None:
        if loaded.generator is None:
            raise InputError(f"{setting('gan_bpc')} applies to a checkpoint or run folder, "
                             f"not to {loaded.label}")
        bound = gan_bits_per_char(loaded.generator, ref, count, gan_bpc, scoring.seed)
    metrics = score(samples, ref, scoring)
    floor, junk = cached_floor(ref, count, scoring) if floors else (None, {})
    apart = unseparated(floor, junk) if floor else {}
    notes = own_corpus_notes(loaded, ref) + reading_notes(metrics, floor, ref) \
        + junk_notes(apart, metrics, floor, count) \
        + length_notes(samples, ref, count, scoring.seed, floor is not None)
    s = scoring
    return Report(
        input=loaded.label, n=count, reference_size=len(ref.reference),
        train_size=len(ref.train) if ref.train is not None else None, protocol=ref.label,
        orders=tuple(s.orders), lm_order=s.lm_order, seed=s.seed, metrics=metrics, floor=floor,
        signature=ref.signature(count, s.orders, s.lm_order, s.seed, s.critic,
                                loaded.temperature),
        temperature=loaded.temperature, gan_bpc=bound,
        gan_bpc_draws=gan_bpc if bound is not None else None,
        notes=notes, unseparated=apart,
        floor_lines=min(count, len(ref.train)) if floor is not None else None)


JS_FAR = 0.2  # JS-4 this far above its floor: the samples are far from real text

BPC_BEATS = 0.3  # LM bits/char this far below real text's: suspiciously cheap characters

COLLAPSE = 0.25  # distinct-4 below this share of real text's: the samples repeat themselves


def own_corpus_notes(loaded: Texts, ref: Reference) -> tuple[str, ...]:
    """A generator scored against a corpus it was not trained on: the figures then measure
    how far its text is from another text, which is rarely what was meant."""
    record = getattr(loaded.generator, "corpus", None) or {}
    mine = record.get("fingerprint")
    if loaded.kind != "generator" or ref.corpus is None or not mine \
            or mine == ref.corpus.fingerprint:
        return ()
    return (f"{loaded.label} was trained on another corpus ({Path(record.get('path') or '?').name}"
            f", fingerprint {mine[:12]}) than {ref.corpus.path} (fingerprint "
            f"{ref.corpus.fingerprint[:12]}): these figures compare its text with another "
            "text; give no corpus to score it against its own",)


_NAMES = {"word_validity": "word validity"}


def junk_notes(apart: dict, m: Metrics, floor: Metrics, n: int) -> tuple[str, ...]:
    """Why a figure is shown as n/a: junk (the training text's characters, drawn at random
    into real text's lengths) scores about as well as real text."""
    notes = []
    for key, junk in apart.items():
        name = _NAMES.get(key, f"JS-{key[2:]}")
        if key == "word_validity":
            notes.append(f"word validity is n/a: junk (the training text's characters drawn "
                         f"at random into real lines' word shapes) scores {junk:.1%}, about "
                         f"what real text does ({floor.word_validity:.1%}): on this corpus it "
                         "cannot tell them apart (where each word is one character, any "
                         "character is a word)")
        else:
            real = floor.js[int(key[2:])]
            notes.append(f"{name} is n/a: junk (the training text's characters drawn at random "
                         f"into real lines' lengths and word shapes) scores {junk:.3f}, no "
                         f"worse than real text's {real:.3f}: on this corpus, at n = {n:,}, it "
                         "cannot tell them apart")
    return tuple(notes)


LENGTH_DIFFERS = 0.25  # samples this much shorter or longer than real text, on average


def length_notes(samples, ref: Reference, n: int, seed: int, floors: bool) -> tuple[str, ...]:
    """JS-n counts the pad that ends each line: when samples differ from real text in
    length, JS-n measures their length as much as their text. Also how the floor's real
    lines were drawn, when there are fewer than n of them."""
    if not floors:
        return ()
    notes = []
    real = mean_length(ref.floor_rows(n, seed)[0], ref.pad)
    mine = mean_length(samples, ref.pad)
    if real and abs(mine / real - 1) > LENGTH_DIFFERS:
        notes.append(f"the samples hold {mine:.1f} characters a line on average, real text "
                     f"{real:.1f}: JS-n counts the pad that ends each line, so here it "
                     "measures length as much as text")
    if n > len(ref.train):
        notes.append(f"real text is {len(ref.train):,} training lines, drawn {n:,} times with "
                     "replacement to match n: its figures are those of fewer distinct lines")
    return tuple(notes)


def reading_notes(m: Metrics, floor: Metrics | None, ref: Reference) -> tuple[str, ...]:
    """What a reader needs to read the figures right: a metric that does not apply, one that
    flatters samples JS calls far from real text, and samples that repeat themselves."""
    notes = []
    if ref.train is not None and m.word_validity is None:
        notes.append(f"word validity is not reported: only {ref.space_share():.1%} of the "
                     "training text's characters are spaces, so its lines are not written in "
                     "words (a whole line would count as one)")
    if floor is None:
        return tuple(notes)
    far = m.js.get(4) is not None and floor.js.get(4) is not None \
        and m.js[4] > floor.js[4] + JS_FAR
    if far and m.lm_bpc is not None and floor.lm_bpc is not None \
            and m.lm_bpc < floor.lm_bpc - BPC_BEATS:
        notes.append(f"LM bits/char {m.lm_bpc:.2f} beats real text's {floor.lm_bpc:.2f} while "
                     f"JS-4 ({m.js[4]:.3f} against {floor.js[4]:.3f}) says the samples are far "
                     "from it: repeated or predictable characters are cheap for an LM")
    if far and m.word_validity is not None and floor.word_validity is not None \
            and m.word_validity > floor.word_validity + 0.05:
        notes.append(f"word validity {m.word_validity:.0%} beats real text's "
                     f"{floor.word_validity:.0%} while JS-4 says the samples are far from it: "
                     "a few common words, repeated")
    d4, f4 = m.distinct_n.get(4), floor.distinct_n.get(4)
    if d4 is not None and f4 and d4 < COLLAPSE * f4:
        notes.append(f"the samples repeat themselves: distinct-4 {d4:.1%} against {f4:.1%} for "
                     "real text (mode collapse)")
    return tuple(notes)


"""Scoring samples of character-level text against a held-out reference, each metric beside the
value real text reaches (the floor): JS-1..n, copy rate, distinct rates, word validity,
Kneser–Ney LM scores and, on request, the critic distance and a likelihood bound.

Inputs are texts: a list of strings, a samples file (one per line, `-` for standard input), a
checkpoint or run folder (N samples drawn at a temperature), or the Kneser–Ney baseline. With a
corpus folder, text is normalized and encoded with the corpus's charset; with plain reference
and training files, characters are raw code points.

Protocols. `heldout` (default): samples against the held-out split; floors from N training
sequences (against the reference) and N held-out sequences (against the training text, which
would trivially contain training sequences). `paper`: gan_language.py's setting: N = 640
training sequences are held back as the floor (its "validation set"), and the rest of the
training split is both the reference and the training text, so no floor is circular.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .charset import PAD
from .corpus import Corpus
from .errors import InputError, as_path, check_seed, check_temperature, setting
from .fileio import STDIN, is_torch_archive
from .lm import MAX_ORDER, KneserNeyLM, window_counts
from .metrics import (
    DEFAULT_ORDERS,
    NgramCounts,
    copy_rate,
    distinct_n,
    distinct_rate,
    random_indices,
    signature,
    word_validity,
    words,
)
from .sources import read_lines
from .text import DEFAULT_SEQ_LEN, MAX_SEQ_LEN, MIN_SEQ_LEN, PAD_CP, codepoints, rows_to_text

PROTOCOLS = ("heldout", "paper")
PAPER_N = 640  # gan_language.py scores 640 samples, and holds back 640 lines as its floor
DEFAULT_LM_ORDER = 5  # the Kneser-Ney order of the LM metrics
MAX_N = 10_000_000
MAX_GAN_BPC_DRAWS = 10_000_000
BASELINE_PREFIX = "kn"


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Metrics:
    """Every metric of one set of texts against the reference (None: not computed)."""

    js: dict[int, float]
    distinct: float
    distinct_n: dict[int, float]
    reverse_lm_bpc: float
    copy_rate: float | None = None
    word_validity: float | None = None
    lm_bpc: float | None = None
    critic_w: float | None = None

    def flat(self) -> dict:
        """The flat keys of the JSON report: js1.., distinct, distinct_1.., copy_rate, ...
        Metrics of the training text are absent without one; critic_w is always there."""
        train = {"copy_rate": self.copy_rate, "word_validity": self.word_validity,
                 "lm_bpc": self.lm_bpc}
        return {**{f"js{k}": v for k, v in self.js.items()}, "distinct": self.distinct,
                **{f"distinct_{k}": v for k, v in self.distinct_n.items()},
                **{k: v for k, v in train.items() if v is not None},
                "reverse_lm_bpc": self.reverse_lm_bpc, "critic_w": self.critic_w}


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
        if self.notes:
            d["notes"] = list(self.notes)
        d["signature"] = self.signature
        return d

    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def __contains__(self, key: str) -> bool:
        return key in self.to_dict()


# --------------------------------------------------------------------------------------------
# The reference


def scoring_corpus(spec: str | Path | Corpus) -> Corpus:
    """The corpus `--corpus` names: a corpus folder, a bundled corpus by name (`coco`), or a
    text file, prepared as `train FILE` prepares it (the same cache, the same held-out
    split): scores are against held-out lines, never the training text."""
    from .preparation import resolve_corpus

    return resolve_corpus(spec)


def run_corpus(source) -> Corpus:
    """The corpus a run or checkpoint trained on, when it is still where the run recorded it
    (or bundled) and its fingerprint matches; else one line saying which corpus is needed."""
    from .checkpoint import find_checkpoint
    from .corpus import bundled_by_name
    from .modelfolder import load_any

    ckpt = load_any(find_checkpoint(source))
    record = ckpt.get("corpus") or {}
    path, fp = record.get("path"), record.get("fingerprint")
    if not path:
        raise InputError(f"{source}: records no corpus; give {setting('corpus')} (or "
                         f"{setting('reference')})")
    for candidate in (Path(path), bundled_by_name(Path(path).name)):
        if candidate is None or not (candidate / "meta.json").is_file():
            continue
        try:
            corpus = Corpus(candidate)
        except InputError:
            continue
        if not fp or corpus.fingerprint == fp:
            return corpus
    raise InputError(f"{source}: trained on the corpus {path} (fingerprint {str(fp)[:12]}), "
                     "which is not here or has changed; prepare the same text again with "
                     f"`textwgan prepare SOURCE --out {path}`, or give {setting('corpus')}")


def reference_lines(path: str | Path) -> list[str]:
    """A reference or training text file read as `prepare` reads it: stripped, blanks dropped."""
    lines = [line.strip() for line in read_lines(path)]
    lines = [line for line in lines if line]
    if not lines:
        raise InputError(f"{path}: no non-empty lines")
    return lines


class Reference:
    """What texts are scored against: reference rows, training rows, their coding, and the
    tables built from them once (n-gram counts, LMs, vocabulary) for every input."""

    def __init__(self, corpus: str | Path | Corpus | None = None,
                 reference: str | Path | None = None, train: str | Path | None = None,
                 protocol: str = "heldout", seq_len: int | None = None, n: int = PAPER_N,
                 seed: int = 0):
        if (corpus is None) == (reference is None):
            raise InputError(f"give exactly one of {setting('corpus')} (a corpus folder, a "
                             f"bundled corpus such as coco, or a text file) or "
                             f"{setting('reference')} (a text file)")
        if protocol not in PROTOCOLS:
            raise InputError(f"{setting('protocol')} must be one of {', '.join(PROTOCOLS)}, "
                             f"got {protocol!r}")
        self.protocol, self.from_file = protocol, corpus is None
        if corpus is not None:
            if train is not None:
                raise InputError(f"{setting('train')} applies only with {setting('reference')}: "
                                 f"a corpus ({setting('corpus')}) brings its own training split")
            c = scoring_corpus(corpus)
            if seq_len is not None and seq_len != c.seq_len:
                raise InputError(f"{c.path}: is prepared with seq_len {c.seq_len}; "
                                 f"{setting('seq_len')} applies only with {setting('reference')}")
            self.corpus, self.seq_len, self.pad = c, c.seq_len, PAD
            train_rows, ref_rows = np.asarray(c.train), np.asarray(c.heldout)
            self.identity = c.fingerprint or _hash(ref_rows, train_rows)
        else:
            seq_len = DEFAULT_SEQ_LEN if seq_len is None else seq_len
            if isinstance(seq_len, bool) or not isinstance(seq_len, int) \
                    or not MIN_SEQ_LEN <= seq_len <= MAX_SEQ_LEN:
                raise InputError(f"{setting('seq_len')} must be an integer from {MIN_SEQ_LEN} to "
                                 f"{MAX_SEQ_LEN}, got {seq_len!r}")
            self.corpus, self.seq_len, self.pad = None, seq_len, int(PAD_CP)
            train_rows = codepoints(reference_lines(train), seq_len) if train else None
            ref_rows = codepoints(reference_lines(reference), seq_len)
            self.identity = _hash(ref_rows, train_rows)
        self._setup(train_rows, ref_rows, n, seed)

    @classmethod
    def from_arrays(cls, train: np.ndarray | None, reference: np.ndarray,
                    pad: int = int(PAD_CP), protocol: str = "heldout", n: int = PAPER_N,
                    seed: int = 0) -> Reference:
        """A code-point reference from arrays already encoded (benchmarks, tests)."""
        ref = cls.__new__(cls)
        ref.protocol, ref.corpus, ref.seq_len, ref.pad = protocol, None, reference.shape[1], pad
        ref.from_file = False
        ref.identity = _hash(reference, train)
        ref._setup(train, reference, n, seed)
        return ref

    def _setup(self, train_rows: np.ndarray | None, ref_rows: np.ndarray, n: int,
               seed: int) -> None:
        self.held_back = None
        if self.protocol == "paper":
            if train_rows is None:
                raise InputError(f"{setting('protocol')} paper scores against the training "
                                 f"text: give {setting('train')} FILE")
            if n >= len(train_rows):
                raise InputError(f"{setting('protocol')} paper holds back {n:,} training "
                                 f"sequences as its floor, but there are {len(train_rows):,}")
            # gan_language.py holds back 640 training lines as its floor ("validation set")
            # and scores against the rest: nothing is scored against itself.
            back = np.zeros(len(train_rows), dtype=bool)
            back[random_indices(len(train_rows), n, seed)] = True
            self.held_back = train_rows[back]
            train_rows = ref_rows = train_rows[~back]
        self.train, self.reference = train_rows, ref_rows
        # One token coding for everything scored against this reference: the symbols of the
        # reference and training text, the pad, and one id for any other character. Fixed, so
        # the reference's tables are built once and reused for every input.
        fixed = [self.reference] + ([self.train] if self.train is not None else [])
        self._symbols = _symbols_of(fixed, self.pad)
        self.n_symbols = len(self._symbols) + 1
        self.pad_id = int(np.searchsorted(self._symbols, self.pad))
        self._cache: dict = {}

    def code(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the fixed dense coding (other characters share the last id)."""
        rows = np.asarray(rows, dtype=np.int64)
        idx = np.minimum(np.searchsorted(self._symbols, rows), len(self._symbols) - 1)
        return np.where(self._symbols[idx] == rows, idx, len(self._symbols))

    def cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.corpus is not None:
            return self.corpus.encode(texts)
        return codepoints(texts, self.seq_len)

    def texts(self, rows: np.ndarray) -> list[str]:
        """Rows back to text (after normalization and cutting), for word-level metrics."""
        if self.corpus is not None:
            return self.corpus.decode(rows)
        return rows_to_text(rows, self.pad)

    def vocabulary(self) -> set[str]:
        """Words of the training sequences as cut to the sequence length (the last word of a
        cut sequence left out): the words a model of these sequences could have seen whole."""
        return self.cached("vocabulary",
                           lambda: set(words(self.texts(self.train), self.seq_len)))

    def space_share(self) -> float:
        """Spaces among the training text's characters (a sample of it): below WORDS_MIN_SPACES
        there are no words to check, and a whole line would count as one "word"."""
        def share() -> float:
            text = "".join(self.texts(self.train[:20_000]))
            return text.count(" ") / max(len(text), 1)

        return self.cached("space_share", share)

    def floor_rows(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Real rows for the floors: (against the reference, against the training text)."""
        if self.held_back is not None:
            return self.held_back[:n], self.held_back[:n]
        return (self.train[random_indices(len(self.train), n, seed)],
                self.reference[random_indices(len(self.reference), n, seed)])

    @property
    def label(self) -> str:
        """What the reference is, as reports say it: a corpus's held-out split (heldout), the
        held-back training rows (paper), or a text file the toolkit cannot know is held out
        (reference)."""
        return "reference" if self.from_file and self.protocol == "heldout" else self.protocol

    def js(self, rows: np.ndarray, orders: Sequence[int]) -> dict[int, float]:
        """JS-n of rows (in this reference's own ids) against the reference: the tables of
        the reference are built once, whoever asks (eval, bench, training, benchmarks)."""
        v = self.n_symbols
        ref_counts = self.cached(("ngrams", tuple(orders)),
                                 lambda: NgramCounts(self.code(self.reference), v, orders))
        return NgramCounts(self.code(rows), v, orders).js(ref_counts)

    def js_scores(self, samples: np.ndarray, orders: Sequence[int] = DEFAULT_ORDERS,
                  seed: int = 0) -> dict:
        """JS-n of argmax samples beside the floor, as `textwgan eval` computes them for the
        same n and seed, with the signature eval prints: what a training log records, so
        its figures and `eval` of the same checkpoint are one and the same."""
        n = len(samples)
        js, floor = self.js(samples, orders), self.js(self.floor_rows(n, seed)[0], orders)
        return {"n": n, **{f"js{k}": v for k, v in js.items()},
                **{f"floor_js{k}": v for k, v in floor.items()},
                "signature": self.signature(n, orders, DEFAULT_LM_ORDER, seed, False, 0.0)}

    def signature(self, n: int, orders: Sequence[int], lm_order: int, seed: int,
                  critic: bool, temperature: float | None = None) -> str:
        return signature(protocol=self.label, n=n, reference_size=len(self.reference),
                         train_size=len(self.train) if self.train is not None else None,
                         orders=orders, seq_len=self.seq_len, seed=seed, corpus=self.identity,
                         lm_order=lm_order, critic=critic, temperature=temperature)


def _symbols_of(arrays: list[np.ndarray], pad: int, rows: int = 1 << 18) -> np.ndarray:
    """The sorted symbols that occur in `arrays`, and the pad: read a block of rows at a time,
    so a memory-mapped corpus larger than memory is never loaded whole."""
    found = [np.array([pad], dtype=np.int64)]
    for a in arrays:
        for start in range(0, len(a), rows):
            found.append(np.unique(np.asarray(a[start:start + rows])).astype(np.int64))
    return np.unique(np.concatenate(found))


def _hash(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Metrics


def versus_reference(samples: np.ndarray, ref: Reference, orders: Sequence[int],
                     lm_order: int, seed: int, critic: bool, device: str) -> dict:
    """Metrics that compare samples with the reference: JS-n, distinct rates, reverse LM
    score (an LM of the samples reading the reference), critic distance."""
    sa = ref.code(samples)
    v = ref.n_symbols
    out: dict = {"js": ref.js(samples, orders),
                 "distinct": distinct_rate(samples),
                 "distinct_n": distinct_n(samples, ref.pad, orders)}
    windows, counts = ref.cached(("lm_windows", lm_order), lambda: window_counts(
        ref.code(ref.reference), ref.pad_id, lm_order, v))
    out["reverse_lm_bpc"] = KneserNeyLM(sa, ref.pad_id, v, lm_order).bits_per_char_of_counts(
        windows, counts)
    if critic:
        from .critic_metric import critic_distance
        from .device import resolve_device

        out["critic_w"] = critic_distance(sa, ref.code(ref.reference), v, seed=seed,
                                          device=resolve_device(device))
    return out


def training_lm(ref: Reference, lm_order: int) -> KneserNeyLM:
    return ref.cached(("lm", lm_order), lambda: KneserNeyLM(
        ref.code(ref.train), ref.pad_id, ref.n_symbols, lm_order))


def versus_train(samples: np.ndarray, ref: Reference, lm_order: int) -> dict:
    """Metrics that compare samples with the training text: copy rate, word validity, and
    the bits per character an LM of the training text gives them."""
    words_mean_something = ref.space_share() >= WORDS_MIN_SPACES
    return {"copy_rate": copy_rate(samples, ref.train),
            "word_validity": word_validity(ref.texts(samples), ref.vocabulary(), ref.seq_len)
            if words_mean_something else None,
            "lm_bpc": training_lm(ref, lm_order).bits_per_char(ref.code(samples))}


def score(samples: np.ndarray, ref: Reference, orders: Sequence[int], lm_order: int,
          seed: int, critic: bool, device: str) -> Metrics:
    values = versus_reference(samples, ref, orders, lm_order, seed, critic, device)
    if ref.train is not None:
        values.update(versus_train(samples, ref, lm_order))
    return Metrics(**values)


def floor_metrics(ref: Reference, n: int, orders: Sequence[int], lm_order: int, seed: int,
                  critic: bool, device: str) -> Metrics | None:
    """Real text scored as samples are, from `ref.floor_rows`: the value a perfect model's
    N samples would reach. None without training text."""
    if ref.train is None:
        return None
    vs_ref, vs_train = ref.floor_rows(n, seed)
    values = versus_reference(vs_ref, ref, orders, lm_order, seed, critic, device)
    values.update(versus_train(vs_train, ref, lm_order))
    return Metrics(**values)


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass
class Texts:
    """Texts to score and where they came from."""

    texts: list[str]
    label: str
    kind: str  # "samples", "generator" or "baseline"
    temperature: float | None = None
    generator: object = None  # the TextGenerator, for the likelihood bound


def is_model_input(source) -> bool:
    """A checkpoint file or a run folder (checked by content, not only by name)."""
    if isinstance(source, (list, tuple)) or str(source) == STDIN:
        return False
    path = Path(source)
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


def load_texts(source, n: int | None, seed: int, temperature: float = 0.0,
               device: str = "cpu") -> Texts:
    """The first n texts of a list or samples file, or n texts drawn from a checkpoint or run
    folder at `temperature`."""
    source = _input(source)
    if isinstance(source, (list, tuple)):
        if not all(isinstance(t, str) for t in source):
            raise InputError("texts to score must be strings")
        lines, label = list(source), f"{len(source)} texts"
    elif is_model_input(source):
        from .sample import load_generator

        gen = load_generator(source, device=device)
        texts = gen.sample(PAPER_N if n is None else n, seed=seed, temperature=temperature)
        return Texts(texts, str(gen.source), "generator", temperature, gen)
    else:
        lines, label = read_lines(source), str(source)
    if n is not None:
        if n > len(lines):
            raise InputError(f"{setting('n')} {n:,}: {label} holds only {len(lines):,} samples")
        lines = lines[:n]
    if not lines:
        raise InputError(f"{label}: no samples (it is empty)")
    return Texts(lines, label, "samples")


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
    rows = np.where(ids == ref.pad_id, ref.pad, ref._symbols[np.minimum(
        ids, len(ref._symbols) - 1)])
    return Texts(ref.texts(rows), f"Kneser–Ney {order}-gram", "baseline", temperature)


def sample_baseline(corpus: str | Path | Corpus, *, order: int = 5, n: int = PAPER_N,
                    temperature: float = 1.0, seed: int = 0) -> list[str]:
    """n texts sampled from the interpolated Kneser–Ney character model of a corpus's training
    split: the autoregressive model a user would reach for instead of a GAN."""
    check_common(n=n, seed=seed, temperature=temperature)
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise InputError(f"{setting('order')} must be an integer from 1 to {MAX_ORDER}, "
                         f"got {order!r}")
    c = scoring_corpus(corpus)
    lm = KneserNeyLM(np.asarray(c.train), PAD, len(c.charset), order)
    ids = lm.sample(n, c.seq_len, np.random.default_rng(seed), temperature)
    return c.decode(ids)


# --------------------------------------------------------------------------------------------
# The likelihood bound


def gan_bits_per_char(generator, ref: Reference, n: int, draws: int, seed: int,
                      chunk: int = 1000) -> float:
    """A Monte-Carlo bound on the bits per character the generator gives held-out text.

    Given z, positions are independent: p(x | z) = ∏_t G(z)_t[x_t] over each sequence's
    characters and its end symbol (what comes after the end is free: decoding cuts there).
    log of the mean of p(x | z_k) over K draws is, in expectation, at most log p(x) (Jensen),
    so −log₂ of it, per symbol, bounds bits/char from above, and tightens as K grows.
    The held-out sequences are those of the floor's LM bits/char (`ref.floor_rows`), so the
    two compare directly."""
    import torch

    if ref.corpus is None:
        raise InputError(f"the likelihood bound needs {setting('corpus')}: the generator's "
                         "charset must code the held-out text")
    if generator.seq_len != ref.seq_len:
        raise InputError(f"the generator makes sequences of {generator.seq_len} characters, "
                         f"the corpus has {ref.seq_len}: score it on the corpus it was "
                         "trained on")
    _, rows = ref.floor_rows(n, seed)  # (N, T) held-out sequences, corpus ids
    held = generator.charset.encode_many(ref.texts(rows), ref.seq_len)  # (N, T) its ids
    lengths = (held != PAD).cumprod(axis=1).sum(axis=1)  # characters before the end
    scored = np.arange(ref.seq_len)[None, :] <= lengths[:, None]  # text + end symbol
    x = torch.as_tensor(held, dtype=torch.long)
    mask = torch.as_tensor(scored, dtype=torch.float64)
    g = generator.generator
    rng = torch.Generator().manual_seed(seed)
    running = torch.full((len(held),), -math.inf, dtype=torch.float64)  # log Σ_k p(x | z_k)
    device = next(g.parameters()).device
    with torch.no_grad():
        for start in range(0, draws, chunk):
            z = g.noise(min(chunk, draws - start), generator=rng).to(device)  # (K, Z)
            logp = torch.log_softmax(g.logits(z).double(), dim=-1).cpu()  # (K, T, V)
            per_seq = torch.zeros(len(z), len(held), dtype=torch.float64)  # (K, N)
            for t in range(ref.seq_len):
                per_seq += logp[:, t, :][:, x[:, t]] * mask[:, t]  # (K, N)
            running = torch.logaddexp(running, torch.logsumexp(per_seq, dim=0))
    log_px = running - math.log(draws)  # (N,) natural log, a lower bound in expectation
    return float(-log_px.sum() / math.log(2) / mask.sum())


# --------------------------------------------------------------------------------------------
# Reports


def check_common(*, n: int | None = None, seed: int = 0, orders: Sequence[int] = DEFAULT_ORDERS,
                 lm_order: int = DEFAULT_LM_ORDER, temperature: float | None = None,
                 seq_len: int | None = None) -> tuple[int, ...]:
    """Check the options every scoring call shares; returns the orders, sorted and unique."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N):
        raise InputError(f"{setting('n')} must be an integer from 1 to {MAX_N:,}, got {n!r}")
    check_seed(seed)
    if isinstance(lm_order, bool) or not isinstance(lm_order, int) \
            or not 1 <= lm_order <= MAX_ORDER:
        raise InputError(f"{setting('lm_order')} must be an integer from 1 to {MAX_ORDER}, "
                         f"got {lm_order!r}")
    if temperature is not None:
        check_temperature(temperature)
    try:
        orders = tuple(sorted({int(k) for k in orders}))
    except (TypeError, ValueError):
        raise InputError(f"{setting('orders')} must be positive integers, e.g. 1,2,3,4") from None
    if not orders or orders[0] < 1:
        raise InputError(f"{setting('orders')} must be positive integers, e.g. 1,2,3,4")
    limit = seq_len or MAX_SEQ_LEN
    if orders[-1] > limit:
        raise InputError(f"{setting('orders')} go up to {orders[-1]}, beyond the sequence "
                         f"length {limit}")
    return orders


def evaluate(texts_or_path, *, corpus: str | Path | Corpus | None = None,
             reference: str | Path | None = None, train: str | Path | None = None,
             n: int | None = PAPER_N, seed: int = 0, orders: Sequence[int] = DEFAULT_ORDERS,
             protocol: str = "heldout", lm_order: int = DEFAULT_LM_ORDER, critic: bool = False,
             seq_len: int | None = None, temperature: float = 0.0,
             gan_bpc: int | None = None, device: str = "auto",
             ref: Reference | None = None, floors: bool = True) -> Report:
    """The full report for texts (a list of strings, a samples file, `-`), a checkpoint or a run
    folder, scored against a corpus's held-out split (or a reference file).

    `n`: how many texts: the first n of a list or file (None: all of them), or n drawn from a
    checkpoint (None: 640) at `temperature` (0: argmax). Scores depend on n: compare reports
    only when their signatures are equal. `gan_bpc`: with a checkpoint and a corpus, also the
    likelihood bound from that many noise draws."""
    if protocol == "paper" and n is None:
        n = PAPER_N
    orders = check_common(n=n, seed=seed, orders=orders, lm_order=lm_order,
                          temperature=temperature)
    if gan_bpc is not None and (isinstance(gan_bpc, bool) or not isinstance(gan_bpc, int)
                                or not 1 <= gan_bpc <= MAX_GAN_BPC_DRAWS):
        raise InputError(f"{setting('gan_bpc')} must be a number of noise draws from 1 to "
                         f"{MAX_GAN_BPC_DRAWS:,}, got {gan_bpc!r}")
    if ref is None:
        if corpus is None and reference is None and _is_model(texts_or_path):
            corpus = run_corpus(texts_or_path)
        ref = Reference(corpus, reference, train, protocol, seq_len, n=n or PAPER_N, seed=seed)
    check_common(orders=orders, seq_len=ref.seq_len)
    loaded = load_texts(texts_or_path, n, seed, temperature, _sampling_device(device))
    report = report_for(loaded, ref, orders, lm_order, seed, critic, device, floors, gan_bpc)
    if reference is not None and _is_model(texts_or_path):
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


def _is_model(source) -> bool:
    return not isinstance(source, (list, tuple)) and is_model_input(_input(source))


def _sampling_device(device: str) -> str:
    return "cpu" if device == "auto" else device


def report_for(loaded: Texts, ref: Reference, orders: Sequence[int], lm_order: int, seed: int,
               critic: bool, device: str, floors: bool = True,
               gan_bpc: int | None = None) -> Report:
    samples = ref.encode(loaded.texts)
    count = len(samples)
    bound = None
    if gan_bpc is not None:
        if loaded.generator is None:
            raise InputError(f"{setting('gan_bpc')} applies to a checkpoint or run folder, "
                             f"not to {loaded.label}")
        bound = gan_bits_per_char(loaded.generator, ref, count, gan_bpc, seed)
    metrics = score(samples, ref, orders, lm_order, seed, critic, device)
    floor = floor_metrics(ref, count, orders, lm_order, seed, critic, device) if floors \
        else None
    return Report(
        input=loaded.label, n=count, reference_size=len(ref.reference),
        train_size=len(ref.train) if ref.train is not None else None, protocol=ref.label,
        orders=tuple(orders), lm_order=lm_order, seed=seed, metrics=metrics, floor=floor,
        signature=ref.signature(count, orders, lm_order, seed, critic, loaded.temperature),
        temperature=loaded.temperature, gan_bpc=bound,
        gan_bpc_draws=gan_bpc if bound is not None else None,
        notes=reading_notes(metrics, floor, ref))


WORDS_MIN_SPACES = 0.02  # a space in 50 characters: text written in words
JS_FAR = 0.2  # JS-4 this far above its floor: the samples are far from real text
BPC_BEATS = 0.3  # LM bits/char this far below real text's: suspiciously cheap characters
COLLAPSE = 0.25  # distinct-4 below this share of real text's: the samples repeat themselves


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


def parse_temperatures(text: str | Sequence[float] | None) -> list[float]:
    if text is None:
        return []
    try:
        values = [float(x) for x in (text.split(",") if isinstance(text, str) else text)
                  if str(x).strip()]
    except ValueError:
        raise InputError(f"{setting('temperatures')} must be comma-separated numbers, e.g. "
                         f"0.5,0.7,1.0, got {text!r}") from None
    for t in values:
        check_temperature(t, "temperatures")
    if not values or any(t == 0 for t in values):
        raise InputError(f"{setting('temperatures')} must be positive numbers (argmax is always "
                         "scored as its own row)")
    return sorted(set(values))


def bench(inputs: Sequence, *, corpus: str | Path | Corpus | None = None,
          reference: str | Path | None = None, train: str | Path | None = None,
          n: int | None = None, seed: int = 0, orders: Sequence[int] = DEFAULT_ORDERS,
          protocol: str = "heldout", lm_order: int = DEFAULT_LM_ORDER, critic: bool = False,
          temperatures: Sequence[float] | str | None = None, baseline: str | None = None,
          seq_len: int | None = None, device: str = "auto") -> dict:
    """Rows of metrics side by side, every input at one common n (`n`, else the smallest file,
    else 640), plus a "real text" row: models at argmax and at each temperature, the
    Kneser–Ney `baseline` (e.g. "kn5") at each temperature (1.0 when none is given), sorted by
    JS-4 (the highest order when 4 is not asked for). Returns {"rows", "n", "signature"}."""
    if isinstance(inputs, (str, os.PathLike)):  # one input, not its characters
        inputs = [inputs]
    if not inputs and baseline is None:
        raise InputError("give at least one samples file, checkpoint or run folder")
    temps = parse_temperatures(temperatures)
    order = baseline_order(baseline) if baseline is not None else None
    orders = check_common(n=n, seed=seed, orders=orders, lm_order=lm_order)
    if n is None:
        sizes = [s for s in (file_size(i) for i in inputs) if s is not None]
        n = min(sizes) if sizes else PAPER_N
        if protocol == "paper" and not sizes:
            n = PAPER_N
    if corpus is None and reference is None:
        models = [i for i in inputs if _is_model(i)]
        if models:
            corpus = run_corpus(models[0])
    ref = Reference(corpus, reference, train, protocol, seq_len, n=n, seed=seed)
    check_common(orders=orders, seq_len=ref.seq_len)
    dev = _sampling_device(device)

    def scored(loaded: Texts, kind_label: str | None = None) -> dict:
        r = report_for(loaded, ref, orders, lm_order, seed, critic, device, floors=False)
        label = kind_label or loaded.label
        if loaded.kind != "samples":
            label += " @ " + ("argmax" if loaded.temperature == 0 else f"T={loaded.temperature:g}")
        return {"input": label, "source": loaded.label, "kind": loaded.kind,
                "temperature": loaded.temperature, "n": r.n, **r.metrics.flat()}

    rows = []
    for source in inputs:
        if is_model_input(source):
            for t in [0.0, *temps]:
                rows.append(scored(load_texts(source, n, seed, t, dev)))
        else:
            rows.append(scored(load_texts(source, n, seed)))
    if order is not None:
        for t in temps or [1.0]:
            rows.append(scored(baseline_texts(ref, order, n, t, seed)))
    real = floor_metrics(ref, n, orders, lm_order, seed, critic, device)
    if real is not None:
        rows.append({"input": "real text", "source": "real text", "kind": "real",
                     "temperature": None, "n": n, **real.flat()})
    key = f"js{4 if 4 in orders else max(orders)}"
    rows.sort(key=lambda r: r[key])
    return {"rows": rows, "n": n,
            "signature": ref.signature(n, orders, lm_order, seed, critic)}

"""Scoring samples against a reference: the one scorer of textwgan. `Reference` holds the
held-out (or paper-protocol) text, its n-gram counts and its Kneser–Ney LMs; `score` gives the
metrics of encoded samples, and `floor_metrics` the value real text reaches beside them. A
run's log, `eval`, `bench` and the benchmarks all score here, so their figures compare.

Protocols. `heldout` (default): samples against the held-out split; floors from N training
sequences (against the reference) and N held-out sequences (against the training text, which
would trivially contain training sequences). `paper`: gan_language.py's setting: N = 640
training sequences are held back as the floor (its "validation set"), and the rest of the
training split is both the reference and the training text, so no floor is circular.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .charset import PAD
from .corpus import Corpus, load_corpus
from .errors import InputError, check_int, check_seed, setting
from .layout import corpus_shaped
from .lm import KneserNeyLM, window_counts
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
from .scorecache import ScoreCache
from .sources import read_lines
from .text import DEFAULT_SEQ_LEN, MAX_SEQ_LEN, MIN_SEQ_LEN, PAD_CP, codepoints, rows_to_text

# heldout: the corpus's test split; validation: the held-out lines training evaluates on (and
# picks best.pt by), set apart from the test split; paper: gan_language.py's protocol.
PROTOCOLS = ("heldout", "validation", "paper")

PAPER_N = 640  # gan_language.py scores 640 samples, and holds back 640 lines as its floor

DEFAULT_LM_ORDER = 5  # the Kneser-Ney order of the LM metrics


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
class ScoringOptions:
    """How texts are scored, as one value: the command line's scoring option group, and
    `evaluate`'s and `bench`'s keywords. Against what (a corpus's test or validation split,
    the paper's protocol, or a reference file with its training file), with which seed,
    n-gram orders and LM order, with a freshly trained critic or not, on which device."""

    corpus: str | Path | Corpus | None = None
    reference: str | Path | None = None
    train: str | Path | None = None
    protocol: str = "heldout"
    seq_len: int | None = None
    seed: int = 0
    orders: tuple[int, ...] = DEFAULT_ORDERS
    lm_order: int = DEFAULT_LM_ORDER
    critic: bool = False
    device: str = "auto"

    @classmethod
    def of(cls, options: ScoringOptions | None = None, **keywords) -> ScoringOptions:
        """`options` (default: the defaults) with any fields given as keywords, checked."""
        if options is not None and not isinstance(options, cls):
            raise InputError(f"{setting('scoring')} must be a ScoringOptions, got "
                             f"{type(options).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(keywords) - names)
        if unknown:
            raise InputError(f"unknown scoring setting {unknown[0]!r}; known: "
                             f"{', '.join(sorted(names))}")
        return dataclasses.replace(options or cls(), **keywords).checked()

    def checked(self) -> ScoringOptions:
        from .lm import MAX_ORDER

        check_seed(self.seed)
        check_int("lm_order", self.lm_order, 1, MAX_ORDER)
        if not isinstance(self.critic, bool):
            raise InputError(f"{setting('critic')} must be true or false, got {self.critic!r}")
        return dataclasses.replace(self, orders=checked_orders(self.orders, self.seq_len))

    def reference_for(self, n: int) -> Reference:
        """The reference these options score against, its floors drawn for n texts."""
        return Reference(self.corpus, self.reference, self.train, self.protocol, self.seq_len,
                         n=n, seed=self.seed)


def checked_orders(orders, seq_len: int | None = None) -> tuple[int, ...]:
    """n-gram orders, sorted and unique; one line for any that cannot be scored."""
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
    from .modelfolder import load_any

    ckpt = load_any(find_checkpoint(source))
    return recorded_corpus(ckpt.get("corpus") or {}, source)


def recorded_corpus(record: dict, source) -> Corpus:
    """The corpus a checkpoint's corpus record names, found where it was (or bundled) with
    the recorded fingerprint; else one line saying how to make it again."""
    from .assets import bundled_by_name

    path, fp = record.get("path"), record.get("fingerprint")
    if not path:
        raise InputError(f"{source}: records no corpus; give {setting('corpus')} (or "
                         f"{setting('reference')})")
    for candidate in (Path(path), bundled_by_name(Path(path).name)):
        if candidate is None or not corpus_shaped(candidate):
            continue
        try:
            corpus = load_corpus(candidate)
        except InputError:
            continue
        if not fp or corpus.fingerprint == fp:
            return corpus
    again = record.get("prepare") if isinstance(record.get("prepare"), str) else \
        f"textwgan prepare SOURCE --out {path}"
    raise InputError(f"{source}: trained on the corpus {path} (fingerprint {str(fp)[:12]}), "
                     "which is not here or has changed; prepare the same text again with "
                     f"`{again}`, or give {setting('corpus')}")


def reference_lines(path: str | Path) -> list[str]:
    """A reference or training text file read as `prepare` reads it: stripped, blanks dropped."""
    lines = [line.strip() for line in read_lines(path)]
    lines = [line for line in lines if line]
    if not lines:
        raise InputError(f"{path}: no non-empty lines")
    return lines


def split_rows(corpus: Corpus, protocol: str) -> np.ndarray:
    """The corpus's rows a protocol scores against: its test split (heldout, paper), or its
    validation split."""
    if protocol != "validation":
        return corpus.heldout
    if corpus.validation is None:
        raise InputError(f"{corpus.path}: has no validation split (prepared before textwgan "
                         "set one apart, or with too few held-out lines); prepare it again, or "
                         f"score against its test split ({setting('protocol')} heldout)")
    return corpus.validation


def training_protocol(corpus: Corpus) -> str:
    """What training evaluates on: the validation split, where the corpus has one."""
    return "heldout" if corpus.validation is None else "validation"


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
            self.disk = ScoreCache(c.fingerprint, protocol)
            if seq_len is not None and seq_len != c.seq_len:
                raise InputError(f"{c.path}: is prepared with seq_len {c.seq_len}; "
                                 f"{setting('seq_len')} applies only with {setting('reference')}")
            self.corpus, self.seq_len, self.pad = c, c.seq_len, PAD
            train_rows, ref_rows = np.asarray(c.train), np.asarray(split_rows(c, protocol))
            self.identity = c.fingerprint or _hash(ref_rows, train_rows)
        else:
            if protocol == "validation":
                raise InputError(f"{setting('protocol')} validation scores against a corpus's "
                                 f"validation split: give {setting('corpus')}")
            seq_len = DEFAULT_SEQ_LEN if seq_len is None else seq_len
            if isinstance(seq_len, bool) or not isinstance(seq_len, int) \
                    or not MIN_SEQ_LEN <= seq_len <= MAX_SEQ_LEN:
                raise InputError(f"{setting('seq_len')} must be an integer from {MIN_SEQ_LEN} to "
                                 f"{MAX_SEQ_LEN}, got {seq_len!r}")
            self.corpus, self.seq_len, self.pad = None, seq_len, int(PAD_CP)
            self.disk = ScoreCache(None, protocol)
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
        ref.disk = ScoreCache(None, protocol)
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
        self._cache: dict = {}

    @property
    def symbols(self) -> np.ndarray:
        """One token coding for everything scored against this reference: the symbols of the
        reference and training text and the pad, sorted (any other character gets one id
        past them). Fixed, so the reference's tables are built once and reused for every
        input; found on first use (nothing is read or written before a call's checks)."""
        def made() -> dict[str, np.ndarray]:
            fixed = [self.reference] + ([self.train] if self.train is not None else [])
            return {"symbols": _symbols_of(fixed, self.pad)}

        return self.cached("symbols", lambda: self.disk.arrays("symbols", made)["symbols"])

    @property
    def n_symbols(self) -> int:
        return len(self.symbols) + 1

    @property
    def pad_id(self) -> int:
        return int(np.searchsorted(self.symbols, self.pad))

    def code(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the fixed dense coding (other characters share the last id)."""
        rows = np.asarray(rows, dtype=np.int64)
        symbols = self.symbols
        idx = np.minimum(np.searchsorted(symbols, rows), len(symbols) - 1)
        return np.where(symbols[idx] == rows, idx, len(symbols))

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
        def made() -> dict[str, np.ndarray]:
            return {"words": np.array(sorted(set(words(self.texts(self.train), self.seq_len))),
                                      dtype=str)}

        return self.cached("vocabulary",
                           lambda: set(self.disk.arrays("vocabulary", made)["words"].tolist()))

    def space_share(self) -> float:
        """Spaces among the training text's characters (a sample of it): below WORDS_MIN_SPACES
        there are no words to check, and a whole line would count as one "word"."""
        def share() -> float:
            text = "".join(self.texts(self.train[:20_000]))
            return text.count(" ") / max(len(text), 1)

        return self.cached("space_share", lambda: self.disk.record(
            "space_share", lambda: {"share": share()})["share"])

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
        name = "ngrams-" + "-".join(map(str, orders))
        ref_counts = self.cached(("ngrams", tuple(orders)), lambda: NgramCounts.from_arrays(
            self.disk.arrays(name, lambda: NgramCounts(self.code(self.reference), v,
                                                       orders).to_arrays())))
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
        return signature({
            "protocol": self.label, "n": n, "reference_size": len(self.reference),
            "train_size": len(self.train) if self.train is not None else None,
            "corpus": self.identity, "orders": orders, "lm_order": lm_order, "critic": critic,
            "seq_len": self.seq_len, "seed": seed, "temperature": temperature})


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


def versus_reference(samples: np.ndarray, ref: Reference, scoring: ScoringOptions) -> dict:
    """Metrics that compare samples with the reference: JS-n, distinct rates, reverse LM
    score (an LM of the samples reading the reference), critic distance."""
    orders, lm_order = scoring.orders, scoring.lm_order
    sa = ref.code(samples)
    v = ref.n_symbols
    out: dict = {"js": ref.js(samples, orders),
                 "distinct": distinct_rate(samples),
                 "distinct_n": distinct_n(samples, ref.pad, orders)}
    def made() -> dict[str, np.ndarray]:
        rows, counts = window_counts(ref.code(ref.reference), ref.pad_id, lm_order, v)
        return {"rows": rows, "counts": counts}

    stored = ref.cached(("lm_windows", lm_order),
                        lambda: ref.disk.arrays(f"lm-windows-{lm_order}", made))
    windows, counts = stored["rows"], stored["counts"]
    out["reverse_lm_bpc"] = KneserNeyLM(sa, ref.pad_id, v, lm_order).bits_per_char_of_counts(
        windows, counts)
    if scoring.critic:
        from .critic_metric import critic_distance
        from .device import resolve_device

        out["critic_w"] = critic_distance(sa, ref.code(ref.reference), v, seed=scoring.seed,
                                          device=resolve_device(scoring.device))
    return out


def training_lm(ref: Reference, lm_order: int) -> KneserNeyLM:
    return ref.cached(("lm", lm_order), lambda: KneserNeyLM.from_arrays(ref.disk.arrays(
        f"lm-{lm_order}", lambda: KneserNeyLM(ref.code(ref.train), ref.pad_id, ref.n_symbols,
                                              lm_order).to_arrays())))


def versus_train(samples: np.ndarray, ref: Reference, lm_order: int) -> dict:
    """Metrics that compare samples with the training text: copy rate, word validity, and
    the bits per character an LM of the training text gives them."""
    words_mean_something = ref.space_share() >= WORDS_MIN_SPACES
    return {"copy_rate": copy_rate(samples, ref.train),
            "word_validity": word_validity(ref.texts(samples), ref.vocabulary(), ref.seq_len)
            if words_mean_something else None,
            "lm_bpc": training_lm(ref, lm_order).bits_per_char(ref.code(samples))}


def score(samples: np.ndarray, ref: Reference, scoring: ScoringOptions) -> Metrics:
    values = versus_reference(samples, ref, scoring)
    if ref.train is not None:
        values.update(versus_train(samples, ref, scoring.lm_order))
    return Metrics(**values)


def floor_metrics(ref: Reference, n: int, scoring: ScoringOptions) -> Metrics | None:
    """Real text scored as samples are, from `ref.floor_rows`: the value a perfect model's
    N samples would reach. None without training text."""
    if ref.train is None:
        return None
    vs_ref, vs_train = ref.floor_rows(n, scoring.seed)
    values = versus_reference(vs_ref, ref, scoring)
    values.update(versus_train(vs_train, ref, scoring.lm_order))
    return Metrics(**values)


WORDS_MIN_SPACES = 0.02  # a space in 50 characters: text written in words


# --------------------------------------------------------------------------------------------
# The junk control: a figure means something on a corpus only if it tells real text from text
# that has real text's lengths and letters and nothing else.

SEPARATES = {"js": 0.05, "word_validity": 0.10}  # how much worse junk must score than real


def junk_rows(rows: np.ndarray, ref: Reference, seed: int) -> np.ndarray:
    """`rows` with every character but the space replaced by one drawn at random, by
    frequency, from the training text's other characters: real text's lengths and word
    shapes, and nothing else of it."""
    symbols, probs, space = ref.cached("unigram", lambda: _unigram(ref))
    junk = np.array(rows, copy=True)
    text = (junk != ref.pad) & (junk != space)
    junk[text] = np.random.default_rng([seed, 2]).choice(symbols, size=int(text.sum()), p=probs)
    return junk


def _unigram(ref: Reference) -> tuple[np.ndarray, np.ndarray, int]:
    """The training text's characters but the space, their frequencies, and the space's
    symbol in this reference's coding (−1 where it has none)."""
    space = ref.encode([" x"])[0, 0] if ref.seq_len > 1 else -1
    rows = np.asarray((ref.train if ref.train is not None else ref.reference)[:20_000])
    symbols, counts = np.unique(rows[(rows != ref.pad) & (rows != space)], return_counts=True)
    return symbols, counts / counts.sum(), int(space)


def cached_floor(ref: Reference, n: int, scoring: ScoringOptions
                 ) -> tuple[Metrics | None, dict]:
    """floor_metrics and junk_control, from the disk cache where the reference has one (a
    critic's distance is trained afresh each time: never stored)."""
    def made() -> dict:
        floor = floor_metrics(ref, n, scoring)
        return {"floor": None if floor is None else dataclasses.asdict(floor),
                "junk": junk_control(ref, n, scoring.orders, scoring.seed)
                if floor is not None else None}

    if scoring.critic:
        stored = made()
    else:
        name = (f"floor-n{n}-s{scoring.seed}-o{'-'.join(map(str, scoring.orders))}-lm"
                f"{scoring.lm_order}")
        stored = ref.disk.record(name, made)
    floor = None if stored["floor"] is None else metrics_from(stored["floor"])
    junk = stored["junk"] and {"js": {int(k): v for k, v in stored["junk"]["js"].items()},
                               "word_validity": stored["junk"]["word_validity"]}
    return floor, junk or {}


def metrics_from(d: dict) -> Metrics:
    """Metrics from their JSON form (dict keys of orders back to ints)."""
    return Metrics(**{**d, "js": {int(k): v for k, v in d["js"].items()},
                      "distinct_n": {int(k): v for k, v in d["distinct_n"].items()}})


def junk_control(ref: Reference, n: int, orders: Sequence[int], seed: int) -> dict:
    """JS-n and word validity of n junk rows made from the floor's real rows."""
    junk = junk_rows(ref.floor_rows(n, seed)[0], ref, seed)
    wv = word_validity(ref.texts(junk), ref.vocabulary(), ref.seq_len) \
        if ref.train is not None and ref.space_share() >= WORDS_MIN_SPACES else None
    return {"js": ref.js(junk, orders), "word_validity": wv}


def unseparated(floor: Metrics, junk: dict) -> dict[str, float]:
    """The figures junk scores about as well as real text does, by key, with junk's value:
    on this corpus, at this n, they cannot tell the two apart. JS-1 compares characters
    alone, which junk drawn by frequency shares by design: it is not judged."""
    out = {}
    for k, real in floor.js.items():
        fake = junk["js"].get(k)
        if k > 1 and fake is not None and fake < real + SEPARATES["js"]:
            out[f"js{k}"] = fake
    wv = junk.get("word_validity")
    if wv is not None and floor.word_validity is not None \
            and wv > floor.word_validity - SEPARATES["word_validity"]:
        out["word_validity"] = wv
    return out


def mean_length(rows: np.ndarray, pad: int) -> float:
    """Characters per row before the pad."""
    return float((np.asarray(rows) != pad).sum(axis=1).mean()) if len(rows) else 0.0


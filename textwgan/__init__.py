"""textwgan: character-level text GANs with WGAN-GP — train, sample, benchmark.

The public API (docs/api.md); every option is a keyword:

    corpus = textwgan.prepare(["corpus.txt"], "corpora/mine", lowercase=True)   # -> Corpus
    corpus = textwgan.load_corpus("corpora/mine")                               # -> Corpus
    run = textwgan.train(corpus, preset="small", iters=2000)                    # -> Path
    gen = textwgan.load_generator(run)                                          # -> TextGenerator
    texts = gen.sample(100, seed=0, temperature=0.0)                            # -> list[str]
    report = textwgan.evaluate(texts, corpus=corpus, n=100)                     # -> Report
    textwgan.sample_baseline(corpus, order=5, n=640, temperature=1.0)          # -> list[str]

Names load on first use, so `import textwgan` stays fast and imports no torch.
"""

from __future__ import annotations

import importlib
import os
import sys

__version__ = "0.1.0"

# A short OpenMP spin before idle threads sleep: with the default long spin, CPU training runs
# 4-5× slower whenever another program keeps a core busy (2-2.5× with this), and how threads
# wait never changes results (benchmarks/cpu_threads.py, README "CPU threads"). It must be set
# before torch loads its OpenMP runtime, and a policy the user set wins.
if "torch" not in sys.modules and not any(k in os.environ for k in (
        "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")):
    os.environ["GOMP_SPINCOUNT"] = "1000"

_EXPORTS = {
    "prepare": ".preparation",
    "PrepareOptions": ".preparation",
    "load_corpus": ".corpus",
    "Corpus": ".corpus",
    "train": ".training",
    "load_generator": ".sample",
    "TextGenerator": ".sample",
    "evaluate": ".evaluation",
    "bench": ".compare",
    "sample_baseline": ".evaluation",
    "Report": ".evaluation",
    "Metrics": ".scoring",
    "TextWGANError": ".errors",
    "InputError": ".errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'textwgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

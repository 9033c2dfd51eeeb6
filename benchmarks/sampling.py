"""What the sampling rules, truncation and prompts do to a generator's text, measured through
the public API (`textwgan.load_generator`, `TextGenerator.sample`, `textwgan.evaluate`).

    python benchmarks/sampling.py --checkpoint coco --name coco --n 640,10000
    python benchmarks/sampling.py --checkpoint news --name news --n 640,10000 --corpus CORPUS
    python benchmarks/sampling.py --checkpoint RUN --name RUN_NAME  # a run (it has a critic)

Rows: argmax; the two rules of `--rerank K` where the model has a critic: `top` (the
candidate the critic scores highest) and `sir` (one drawn in proportion to the calibrated
density ratio); `refine`, Langevin steps on each sample's noise (DDLS: energy
‖z‖²/2 − log ratio(G(z)), the ratio read through the generator's softmax, 25 steps of
η = 0.001, then argmax), as the refinement rule the resampling is compared with; truncation
ψ. Each scored at every n given, seed 0, against the test split of the corpus the generator
trained on (JS-4 beside its floor, real words, distinct-4, LM bits/char).

Prompts (`--prompts N`): N prefixes of 2–12 characters cut from test lines, 64 samples each,
by the model's route (one pass for an infill generator, the noise search otherwise): the share
met exactly, seconds per sample, word validity of the text after the prefix, and of the word
where prefix and continuation meet (the seam a continuation that ignores its prefix breaks).
Writes benchmarks/results/sampling_<name>.json.

`--refit STEPS` also reranks with a critic trained STEPS more critic steps against the final
(sampling) generator, frozen, as discriminator rejection sampling does, beside the run's own
last critic: which of the two ranks better is decided here, by the same figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import environment, write_result  # noqa: E402

import textwgan  # noqa: E402
from textwgan.metrics import word_validity  # noqa: E402


def scored(gen, corpus, texts: list[str]) -> dict:
    r = textwgan.evaluate(texts, corpus=corpus, n=len(texts), seed=0).to_dict()
    return {k: r.get(k) for k in ("js4", "floor_js4", "word_validity", "floor_word_validity",
                                  "lm_bpc", "floor_lm_bpc", "distinct", "distinct_4",
                                  "floor_distinct_4")}


def refined(gen, n: int, seed: int = 0, eta: float = 1e-3, steps: int = 25) -> list[str]:
    """DDLS: Langevin steps on each sample's noise under E(z) = ‖z‖²/2 − log ratio(G(z)),
    the ratio classifier reading the generator's softmax rows, then argmax decoding."""
    from textwgan.sample import ids_of_noise

    ratio = gen.ensure_ratio()
    g, net = gen.generator.requires_grad_(False), ratio.net
    z = g.noise(n, generator=torch.Generator().manual_seed(seed))
    rng = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        z.requires_grad_(True)
        (grad,) = torch.autograd.grad((ratio.a * net(g(z)) + ratio.b).sum(), z)
        with torch.no_grad():
            z = z + eta * (grad - z) + (2 * eta) ** 0.5 * torch.randn(z.shape, generator=rng)
    return gen.charset.decode_many(ids_of_noise(g, z.detach()))


def refit_critic(gen, corpus, steps: int):
    """A copy of the run's critic, trained `steps` more critic steps (the run's own loss,
    penalty, batch size and learning rate) against the generator that samples, frozen."""
    import copy

    from textwgan.data import DeviceData
    from textwgan.losses import critic_loss

    t = gen.config.train
    critic = copy.deepcopy(gen.critic).train().requires_grad_(True)
    opt = torch.optim.Adam(critic.parameters(), lr=t.critic_lr or t.lr, betas=t.betas)
    data = DeviceData(corpus, torch.device("cpu"))
    torch.manual_seed(0)
    for _ in range(steps):
        real = data.get_batch(t.batch_size)  # (B, T, V)
        with torch.no_grad():
            fake = gen.generator(gen.generator.noise(t.batch_size))  # (B, T, V)
        loss, _ = critic_loss(critic, real, fake, t.gp_lambda, t.lipschitz, t.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return critic.eval().requires_grad_(False)


def junction_word(text: str, k: int, seq_len: int) -> str | None:
    """The word where a prompt of k characters meets its continuation: the word holding
    character k − 1 (the next word when the prompt ends at a space); None when that word runs
    into the end of a full-length row, where it may be cut."""
    at = k if text[k - 1:k] == " " else k - 1
    start = text.rfind(" ", 0, at) + 1
    end = text.find(" ", at)
    if end == -1:
        if len(text) >= seq_len:
            return None
        end = len(text)
    return text[start:end] or None


def prompts(gen, corpus, count: int, rng: random.Random) -> dict:
    """`count` prefixes of 2-12 characters cut from test lines; for each, one chunk of
    PROMPT_CHUNK samples searched at once (`complete` pads to a whole chunk anyway, so a seed's
    text does not depend on n): the share met exactly, and seconds per sample."""
    from textwgan.sample import PROMPT_CHUNK

    held = [x for x in corpus.decode(corpus.heldout) if len(x) >= 13]
    vocab = set(w for line in corpus.decode(corpus.train[:20000]) for w in line.split())
    per_prefix, tails, joins = [], [], []
    for i in range(count):
        prefix = rng.choice(held)[:rng.randint(2, 12)]
        t0 = time.perf_counter()
        found = gen.complete(PROMPT_CHUNK, prefix=prefix, seed=i)
        seconds = (time.perf_counter() - t0) / PROMPT_CHUNK
        per_prefix.append({"prefix": prefix, "hit_rate": found.hit_rate,
                           "seconds_per_sample": seconds})
        kept = [t for t, ok in zip(found.texts, found.met, strict=True) if ok]
        tails += [t[len(prefix):] for t in kept]
        joins += [w for w in (junction_word(t, len(prefix), gen.seq_len) for t in kept) if w]
        print(f"  {prefix!r:>16}: {found.hit_rate:.0%} met, {seconds:.3f} s per sample",
              flush=True)
    return {"prefixes": count, "samples_per_prefix": PROMPT_CHUNK,
            "route": "infill" if gen.continues_prompts else "search",
            "junction_word_validity": sum(w in vocab for w in joins) / len(joins)
            if joins else None,
            "hit_rate": sum(p["hit_rate"] for p in per_prefix) / count,
            "seconds_per_sample": sum(p["seconds_per_sample"] for p in per_prefix) / count,
            "tail_word_validity": word_validity(tails, vocab, gen.seq_len) if tails else None,
            "per_prefix": per_prefix,
            "examples": gen.complete(8, prefix=per_prefix[0]["prefix"], seed=7).texts[:8]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="default: the shipped generator")
    ap.add_argument("--name", default="shipped")
    ap.add_argument("--corpus", default=None, help="the corpus it trained on, where its record "
                                                   "does not find it (news: the 1B-Word corpus "
                                                   "its card says how to prepare)")
    ap.add_argument("--n", default="640", help="sample counts, e.g. 640,10000; 0: none")
    ap.add_argument("--prompts", type=int, default=100, help="0: no prompt rows")
    ap.add_argument("--refit", type=int, default=0, metavar="STEPS",
                    help="also rerank with the critic trained STEPS more steps")
    args = ap.parse_args()
    from textwgan.assets import shipped_generator

    gen = textwgan.load_generator(args.checkpoint or shipped_generator(), device="cpu")
    from textwgan.scoring import run_corpus, scoring_corpus

    corpus = scoring_corpus(args.corpus) if args.corpus else run_corpus(gen.source)
    sizes = [int(x) for x in str(args.n).split(",") if int(x) > 0]  # --n 0: prompts only
    result = {"checkpoint": str(gen.source), "step": gen.step, "n": sizes,
              "environment": environment(), "rows": {}}
    rows = {"argmax": {}}
    if gen.critic is not None:
        rows |= {f"top K={k}": {"rerank": k, "rule": "top"} for k in (5, 10)}
        rows |= {f"sir K={k}": {"rerank": k, "rule": "sir"} for k in (5, 10, 20)}
        rows["refine (DDLS)"] = None
        gen.ensure_ratio(print)
    rows |= {f"truncation {p}": {"truncation": p} for p in (0.8,)}
    samplers = {name: gen for name in rows}
    if args.refit and gen.critic is not None:
        t0 = time.perf_counter()
        refit = dataclasses.replace(gen, critic=refit_critic(gen, corpus, args.refit))
        result["refit"] = {"steps": args.refit, "seconds": time.perf_counter() - t0}
        for k in (5, 10):
            rows[f"top K={k}, refit critic"] = {"rerank": k, "rule": "top"}
            samplers[f"top K={k}, refit critic"] = refit
    for n in sizes:
        for name, kw in rows.items():
            t0 = time.perf_counter()
            texts = refined(gen, n) if kw is None else samplers[name].sample(n, seed=0, **kw)
            key = f"{name}, n={n}"
            result["rows"][key] = scored(gen, corpus, texts) | {
                "n": n, "sample_seconds": time.perf_counter() - t0, "examples": texts[:5]}
            r = result["rows"][key]
            print(f"{key:>24}: JS-4 {r['js4']:.3f} (floor {r['floor_js4']:.3f})  words "
                  f"{r['word_validity']:.1%}  distinct-4 {r['distinct_4']:.1%}  LM "
                  f"{r['lm_bpc']:.2f}", flush=True)
    if args.prompts:
        result["prompts"] = prompts(gen, corpus, args.prompts, random.Random(0))
        p = result["prompts"]
        print(f"prompts ({p['route']}): {p['hit_rate']:.0%} met exactly ({p['prefixes']} "
              f"prefixes of 2-12 characters, {p['samples_per_prefix']} samples each), words "
              f"after the prefix {p['tail_word_validity'] or 0:.1%}, the word the prefix ends "
              f"in {p['junction_word_validity'] or 0:.1%}; {p['seconds_per_sample']:.3f} s "
              "per sample")
    out = write_result(f"sampling_{args.name}.json", result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

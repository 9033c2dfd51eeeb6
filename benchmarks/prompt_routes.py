"""Prompt routes compared on the seam: where a prefix meets its continuation.

For N prefixes of 2–12 characters cut from test lines (the same draw as
`benchmarks/sampling.py --prompts N`), 64 samples each, and each count of search steps given:
the noise is searched that many Adam steps toward the prefix (`latent.search_noise`; 0: no
search), then the prefix is made to hold: an infill generator (`train --infill`) is given it
as its prompt, a plain one has its argmax output overwritten at the prefix's positions
(clamped). Every sample then begins with the prefix, so what is compared is

- the share the search met before any clamping or prompting;
- the seam: the share of samples whose word holding the prefix's last character (the next
  word when the prefix ends at a space) is a word of the training text;
- seconds per sample (search and decoding).

    python benchmarks/prompt_routes.py coco --prompts 24 --steps 0,10,25,50 --name coco
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from common import environment, write_result
from sampling import junction_word

import textwgan
from textwgan.latent import fixed_positions, meets, search_noise
from textwgan.sample import PROMPT_CHUNK, ids_of_noise
from textwgan.scoring import run_corpus, scoring_corpus


def decoded(gen, z: torch.Tensor, targets: dict[int, int]):
    """(argmax ids before the prefix is made to hold, ids after) for noise z."""
    free = ids_of_noise(gen.generator, z)
    if gen.continues_prompts:
        prompt = torch.zeros(len(z), gen.seq_len, len(gen.charset))  # (B, T, V)
        prompt[:, list(targets), list(targets.values())] = 1.0
        with torch.no_grad():
            return free, gen.generator(z, prompt).argmax(-1).numpy()
    held = free.copy()
    held[:, list(targets)] = list(targets.values())
    return free, held


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--name", required=True)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--steps", default="0,10,25,50")
    args = ap.parse_args()
    gen = textwgan.load_generator(args.checkpoint, device="cpu")
    gen.generator.eval()
    corpus = scoring_corpus(args.corpus) if args.corpus else run_corpus(gen.source)
    rng = random.Random(0)
    held = [x for x in corpus.decode(corpus.heldout) if len(x) >= 13]
    vocab = set(w for line in corpus.decode(corpus.train[:20000]) for w in line.split())
    prefixes = [rng.choice(held)[:rng.randint(2, 12)] for _ in range(args.prompts)]
    rows = {}
    for steps in (int(s) for s in args.steps.split(",")):
        met = seams = valid = 0
        seconds = 0.0
        for i, prefix in enumerate(prefixes):
            targets = fixed_positions(gen.charset, gen.seq_len, prefix)
            z = gen.generator.noise(PROMPT_CHUNK, generator=torch.Generator().manual_seed(i))
            t0 = time.perf_counter()
            if steps:
                z = search_noise(gen.generator, targets, z, steps)
            free, ids = decoded(gen, z, targets)
            seconds += time.perf_counter() - t0
            met += int(meets(free, targets).sum())
            words = [junction_word(t, len(prefix), gen.seq_len)
                     for t in gen.charset.decode_many(ids)]
            seams += sum(w is not None for w in words)
            valid += sum(w in vocab for w in words if w is not None)
        n = PROMPT_CHUNK * len(prefixes)
        rows[f"steps={steps}"] = {"search_steps": steps, "met_before": met / n,
                                  "seam_word_validity": valid / max(seams, 1),
                                  "seconds_per_sample": seconds / n}
        r = rows[f"steps={steps}"]
        print(f"{steps:4d} search steps: met before {r['met_before']:.1%}, seam word valid "
              f"{r['seam_word_validity']:.1%}, {r['seconds_per_sample']:.4f} s per sample",
              flush=True)
    route = "infill (prompted)" if gen.continues_prompts else "clamped"
    out = write_result(f"prompt_routes_{args.name}.json",
                       {"checkpoint": str(gen.source), "step": gen.step, "route": route,
                        "prefixes": prefixes, "samples_per_prefix": PROMPT_CHUNK,
                        "environment": environment(), "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

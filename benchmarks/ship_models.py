"""Ship a run's final generator inside the package, scored once.

    python benchmarks/ship_models.py RUN --name coco --corpus coco \
        --description "Image captions (MS-COCO, Texygen split), trained 2 hours on one CPU core"
    python benchmarks/ship_models.py RUN --name news --corpus benchmarks/runs/ship/corpus-1b \
        --description "..." --heldout-from ../shared/corpora/billion_word_sample

Writes the model folder `textwgan/assets/generators/NAME/` (weights with the critic, config,
model card) from the run's checkpoint.pt, an export .pt, or a run's best.pt: a checkpoint
chosen by the run's validation split (its test split, which the scoring uses, never took part
in the choice), or the final weights. A model folder already shipped is scored again the same
way (after its corpus was prepared again with the same training text, e.g. with a validation
split set apart): its weights are unchanged, its record points at the corpus as it is now.
The folder is then scored once, as `textwgan eval FOLDER --corpus ... --n 640 --seed 0` scores
it, and once more resampled by its calibrated density ratio (`--rerank 10`, rule sir, fitted
here on the corpus's training and validation splits); both go into its config.json (what
`textwgan models` shows) and its model card, with twelve unedited argmax samples.

A corpus whose text does not ship (the 1B-Word sample states no licence) is named in the card
by the exact `prepare` command that rebuilds its held-out split, and the fingerprint the
rebuilt corpus must have.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N, SEED, RERANK = 640, 0, 10
SCORED = ("js1", "js2", "js3", "js4", "word_validity", "lm_bpc", "distinct_4", "copy_rate")


def scored(report: dict) -> dict:
    """The figures a card and `textwgan models` show, beside real text's."""
    keep = {k: report[k] for k in SCORED if k in report}
    keep |= {f"floor_{k}": report[f"floor_{k}"] for k in SCORED if f"floor_{k}" in report}
    return keep | {"n": report["n"], "seed": report["seed"], "signature": report["signature"]}


def rebuild_command(shared: str, corpus_out: str) -> list[str]:
    """The prepare command that rebuilds the 1B-Word corpus (its held-out split included)."""
    return [f"textwgan prepare {shared}/1b_benchmark.dev.tokens "
            f"{shared}/1b_benchmark.test.tokens \\",
            f"    --heldout-file {shared}/news.en.heldout-00000-of-00050 --out {corpus_out}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run folder (its checkpoint.pt), a checkpoint or "
                                           "export file, or a shipped model folder")
    ap.add_argument("--name", required=True)
    ap.add_argument("--corpus", required=True, help="coco, or a corpus folder")
    ap.add_argument("--description", required=True)
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the card under its evaluation, e.g. a target met or "
                         "missed; repeatable")
    ap.add_argument("--heldout-from", default=None,
                    help="where the 1B-Word sample lies: the card gives the command that "
                         "rebuilds the corpus from it")
    args = ap.parse_args()

    import textwgan
    from textwgan.calibration import with_ratio
    from textwgan.checkpoint import find_checkpoint
    from textwgan.modelfolder import load_any, model_card, write_folder
    from textwgan.scoring import scoring_corpus

    out = ROOT / "textwgan" / "assets" / "generators" / args.name
    ckpt = load_any(find_checkpoint(args.run))
    corpus = scoring_corpus(args.corpus)
    if ckpt["charset"] != corpus.charset.chars:
        raise SystemExit(f"{args.run} was trained with another charset than {corpus.path}")
    # the corpus as it is now (the same training text: the charset above, and the run's own
    # record before shipping), so that `eval NAME` finds it by its fingerprint
    ckpt["corpus"] = {**ckpt["corpus"], "path": str(corpus.path),
                      "fingerprint": corpus.fingerprint}
    ckpt = with_ratio(ckpt, args.run, print)  # the density ratio resampling weighs by
    if out.exists():  # shipped before: its files were written by this script
        import shutil

        shutil.rmtree(out)
    write_folder(ckpt, out, critic=True)  # first the weights, so the scoring reads the folder
    corpus_arg = args.corpus if args.corpus == "coco" else "CORPUS"
    argmax = textwgan.evaluate(str(out), corpus=args.corpus, n=N, seed=SEED).to_dict()
    gen = textwgan.load_generator(out, device="cpu")
    reranked = textwgan.evaluate(gen.sample(N, seed=SEED, rerank=RERANK), corpus=args.corpus,
                                 n=N, seed=SEED).to_dict()
    fingerprint = corpus.fingerprint
    about = {"description": args.description,
             "evaluation": scored(argmax),
             "evaluation_reranked": scored(reranked) | {"rerank": RERANK},
             "notes": list(args.note),
             "reproduce": [f"textwgan eval {args.name} --corpus {corpus_arg} --n {N} "
                           f"--seed {SEED}"]}
    if args.heldout_from:
        about["reproduce"] = [*rebuild_command(args.heldout_from, "CORPUS"),
                              f"# its fingerprint must begin {fingerprint[:12]}",
                              *about["reproduce"]]
        about["corpus_rebuild"] = {"command": " ".join(
            x.rstrip("\\").strip() for x in rebuild_command(args.heldout_from, "CORPUS")),
            "fingerprint": fingerprint}
    samples = gen.sample(12, seed=SEED)
    write_folder(ckpt, out, critic=True, about=about,
                 card=model_card(ckpt, samples, args.name, True, about))
    size = sum(p.stat().st_size for p in out.iterdir())
    print(json.dumps({"name": args.name, "folder": str(out.relative_to(ROOT)),
                      "bytes": size, "step": ckpt["step"],
                      "minutes": round(ckpt["elapsed"] / 60, 1),
                      "argmax": about["evaluation"],
                      "reranked": about["evaluation_reranked"]}, indent=1))


if __name__ == "__main__":
    main()

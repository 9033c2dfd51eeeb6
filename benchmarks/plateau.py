"""Why training levels off: the critic's view of training lines, held-out lines and the
generator's samples, at every saved step of a run (its step_*.pt files).

For each checkpoint, on fixed sets of N training lines, N held-out lines and N noise draws:

- critic score of training lines and of held-out lines (one-hot rows, as in training); their
  gap, in units of the critic's real−fake distance, is the memorisation signal: a critic that
  overfits its training split scores its lines above unseen real lines, and the gap grows;
- the Wasserstein estimate on held-out lines: mean D(held-out) − mean D(G(z)) (softmax rows,
  what the critic is trained against), and on argmax samples read as one-hot rows;
- the norm of the generator's gradient (of −mean D(G(z)) over all its weights): the training
  signal the generator gets;
- JS-4 at that step, from the run's log.

    python benchmarks/plateau.py RUN [RUN ...] --n 2000 --json plateau_coco.json [--plot FILE.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from common import write_figure, write_result

from textwgan.checkpoint import load_checkpoint
from textwgan.config import Config
from textwgan.corpus import Corpus
from textwgan.layout import read_log
from textwgan.models import Critic, Generator


def rows(ids, vocab: int) -> torch.Tensor:
    return F.one_hot(torch.as_tensor(ids, dtype=torch.long), vocab).float()  # (N, T, V)


@torch.no_grad()
def mean_score(critic: Critic, x: torch.Tensor, batch: int = 500) -> float:
    return float(torch.cat([critic(x[i:i + batch]) for i in range(0, len(x), batch)]).mean())


def probe(ckpt: dict, train: torch.Tensor, held: torch.Tensor, z: torch.Tensor) -> dict:
    config = Config.from_dict(ckpt["config"])
    vocab = train.shape[-1]
    critic, gen = Critic(config.model, vocab), Generator(config.model, vocab)
    critic.load_state_dict(ckpt["critic"])
    gen.load_state_dict(ckpt["generator"])  # the weights the critic trains against
    critic.eval()
    with torch.no_grad():
        soft = torch.cat([gen(z[i:i + 500]) for i in range(0, len(z), 500)])  # (N, T, V)
    hard = F.one_hot(soft.argmax(-1), vocab).float()
    d_train, d_held = mean_score(critic, train), mean_score(critic, held)
    d_soft, d_hard = mean_score(critic, soft), mean_score(critic, hard)
    w = d_held - d_soft
    gen.zero_grad()
    (-critic(gen(z[:256])).mean()).backward()
    g_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in gen.parameters())).item()
    return {"step": ckpt["step"], "d_train": d_train, "d_heldout": d_held, "d_fake": d_soft,
            "d_fake_argmax": d_hard, "gap": d_train - d_held,
            "gap_relative": (d_train - d_held) / w if w else None,
            "w_heldout": w, "w_argmax": d_held - d_hard, "generator_grad_norm": g_norm}


def analyse(run: Path, n: int) -> list[dict]:
    steps = sorted(run.glob("step_*.pt"))
    first = load_checkpoint(steps[0])
    corpus = Corpus(first["corpus"]["path"])
    vocab = len(corpus.charset)
    g = torch.Generator().manual_seed(0)
    train = rows(corpus.train[torch.randperm(len(corpus.train), generator=g)[:n].numpy()], vocab)
    held = rows(corpus.heldout[torch.randperm(len(corpus.heldout), generator=g)[:n].numpy()],
                vocab)
    z = torch.randn(n, Config.from_dict(first["config"]).model.noise_dim, generator=g)
    js4 = {r["step"]: r["js4"] for r in read_log(run / "log.jsonl") if r.get("kind") == "eval"}
    out = []
    for path in steps:
        record = probe(load_checkpoint(path), train, held, z) | {"run": run.name}
        record["js4"] = js4.get(record["step"])
        out.append(record)
        print(f"{run.name} step {record['step']:>7,}  JS-4 {record['js4'] or float('nan'):.3f}  "
              f"D(train) {record['d_train']:8.3f}  D(held) {record['d_heldout']:8.3f}  "
              f"gap {record['gap']:7.3f} ({record['gap_relative'] or 0:6.1%} of W)  "
              f"W {record['w_heldout']:7.3f}  W(argmax) {record['w_argmax']:7.3f}  "
              f"|grad G| {record['generator_grad_norm']:.4f}", flush=True)
    return out


def draw(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for run in dict.fromkeys(r["run"] for r in records):
        rs = [r for r in records if r["run"] == run]
        steps = [r["step"] for r in rs]
        axes[0].plot(steps, [r["js4"] for r in rs], label=run)
        axes[1].plot(steps, [r["gap"] for r in rs], label=f"{run}: D(train) − D(held-out)")
        axes[1].plot(steps, [r["w_heldout"] for r in rs], "--", label=f"{run}: W (held-out)")
        axes[2].plot(steps, [r["generator_grad_norm"] for r in rs], label=run)
    for ax, title in zip(axes, ("JS-4 (held-out)", "critic scores", "generator gradient norm"),
                         strict=True):
        ax.set_title(title)
        ax.set_xlabel("generator steps")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--json", default="plateau.json")
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    records = [r for run in args.runs for r in analyse(run, args.n)]
    write_result(args.json, {"n": args.n, "records": records})
    if args.plot:
        write_figure(args.plot, lambda p: draw(records, p))


if __name__ == "__main__":
    main()

"""The `textwgan` command line: thin commands that parse options, call one library function,
and render the result with rich. Library errors (TextWGANError) become one line and an exit
code here, and only here."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import __version__
from .errors import InputError, TextWGANError

app = typer.Typer(
    name="textwgan",
    help="Character-level text GANs with WGAN-GP: prepare a corpus, train, sample, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def friendly(fn):
    """Turn a library error into `error: <message>` on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TextWGANError as e:
            # escape: a message may hold brackets ("textwgan[plot]") that rich would eat
            err.print(f"[bold red]error:[/] {escape(e.message)}", highlight=False,
                      soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except OSError as e:  # a full disk, a vanished file: still one line, not a traceback
            err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except RuntimeError as e:
            if "out of memory" not in str(e):
                raise
            err.print("[bold red]error:[/] out of memory; lower --batch-size (or -n), or use a "
                      "device with more memory", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def version_callback(value: bool):
    if value:
        out.print(f"textwgan {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback,
                                          is_eager=True, help="Print the version and exit.")
                       ] = False,
):
    """Character-level text GANs with WGAN-GP: prepare a corpus, train, sample, evaluate."""


# ---------------------------------------------------------------------------------------------


@app.command(epilog="Example: textwgan prepare corpus.txt --out corpora/mine --lowercase")
@friendly
def prepare(
    sources: Annotated[list[str], typer.Argument(
        help="Text files, folders of text files, or hf:NAME[:CONFIG[:SPLIT]] datasets.",
        show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", help="Corpus folder to write.",
                                          show_default=False)],
    seq_len: Annotated[int, typer.Option(help="Characters per example (longer lines are cut).")
                       ] = 32,
    heldout_fraction: Annotated[float, typer.Option(
        help="Share of lines held out as the evaluation reference.")] = 0.1,
    heldout_file: Annotated[str | None, typer.Option(
        help="Use this file as the held-out split instead of a fraction.")] = None,
    lowercase: Annotated[bool, typer.Option(help="Lowercase after NFKC normalization.")] = False,
    max_chars: Annotated[int, typer.Option(help="Charset cap, pad and unk included.")] = 2048,
    seed: Annotated[int, typer.Option(help="Seed of the held-out draw.")] = 0,
    workers: Annotated[int, typer.Option(
        help="Encoding processes; 0: one per CPU (at most 8) for inputs over 16 MiB.")] = 0,
):
    """Prepare text into a corpus folder: normalized, cut, padded, encoded, split.

    Streams its input (memory stays flat however large it is) and writes memory-mapped arrays.
    """
    from .corpus import PrepareOptions
    from .corpus import prepare as prepare_corpus

    opts = PrepareOptions(seq_len=seq_len, heldout_fraction=heldout_fraction,
                          heldout_file=heldout_file, lowercase=lowercase, max_chars=max_chars,
                          seed=seed, workers=workers)
    with err.status("preparing…"):
        meta = prepare_corpus(sources, out_dir, opts)
    c = meta["counts"]
    table = Table(title=f"corpus {out_dir}", show_header=False)
    for label, value in [
        ("lines read", f"{c['lines_read']:,}"), ("blank (dropped)", f"{c['empty']:,}"),
        ("kept", f"{c['kept']:,}"),
        (f"cut to {meta['seq_len']} chars", f"{c['truncated']:,}"),
        ("train / held-out", f"{c['train']:,} / {c['heldout']:,}"),
        ("charset", f"{c['charset_size'] - 2:,} of {c['distinct_chars']:,} characters seen"
                    " in training, + pad, unk"),
        ("unk rate", f"{c['unk_rate']:.4%}"),
        ("invalid UTF-8 bytes (read as U+FFFD)", f"{c['invalid_utf8_bytes']:,}"),
    ]:
        table.add_row(label, value)
    out.print(table)


# ---------------------------------------------------------------------------------------------


@app.command(epilog="Example: textwgan train corpus.txt --preset small --iters 2000")
@friendly
def train(
    corpus: Annotated[str | None, typer.Argument(
        help="Text file, folder, hf:NAME, or corpus folder; default: the bundled COCO captions.",
        show_default=False)] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Run folder; default checkpoints/<corpus>-<preset>-<time>.",
        show_default=False)] = None,
    preset: Annotated[str, typer.Option(
        help="paper, default, small, tiny, or auto (default on a GPU, small on a CPU).")
                      ] = "auto",
    iters: Annotated[int | None, typer.Option(help="Generator steps.", show_default=False)
                     ] = None,
    batch_size: Annotated[int | None, typer.Option(show_default=False)] = None,
    critic_iters: Annotated[int | None, typer.Option(
        help="Critic steps per generator step.", show_default=False)] = None,
    gp_lambda: Annotated[float | None, typer.Option(help="Gradient penalty weight.",
                                                    show_default=False)] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate, both nets.",
                                             show_default=False)] = None,
    critic_lr: Annotated[float | None, typer.Option(
        help="Critic learning rate, if not --lr.", show_default=False)] = None,
    critic_norm: Annotated[str | None, typer.Option(
        help="layer or none (batch norm is refused: it breaks the per-sample penalty).",
        show_default=False)] = None,
    lipschitz: Annotated[str | None, typer.Option(
        help="gp (default with --loss wgan), gp-one-sided, gp-finite-difference, clip, or none "
             "(default with --loss gan).", show_default=False)] = None,
    clip_value: Annotated[float | None, typer.Option(
        help="With --lipschitz clip: weights are clipped to [-c, c] (default 0.01).",
        show_default=False)] = None,
    loss: Annotated[str | None, typer.Option(
        help="wgan (default) or gan (the standard non-saturating GAN baseline).",
        show_default=False)] = None,
    optimizer: Annotated[str | None, typer.Option(
        help="auto (RMSProp with clip, else Adam), adam, or rmsprop.", show_default=False)
                         ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int | None, typer.Option(show_default=False)] = None,
    fast: Annotated[bool | None, typer.Option(
        "--fast/--no-fast", help="The fast path: bf16 autocast, TF32 and fused Adam on CUDA "
                                 "(fused Adam only on a CPU). Default: on for CUDA.",
        show_default=False)] = None,
    data: Annotated[str, typer.Option(
        help="Where the training split lives: device (copied whole), mapped (read from the "
             "memory map per batch: corpora larger than memory), or auto (device up to 1 GiB).")
                    ] = "auto",
    diag_every: Annotated[int | None, typer.Option(
        help="Steps between critic diagnostics in log.jsonl (0: never).", show_default=False)
                          ] = None,
    eval_every: Annotated[int | None, typer.Option(
        help="Steps between JS evaluations.", show_default=False)] = None,
    save_every: Annotated[int | None, typer.Option(
        help="Steps between checkpoints.", show_default=False)] = None,
    keep_last: Annotated[int | None, typer.Option(
        help="Step checkpoints kept beside checkpoint.pt and best.pt.", show_default=False)
                         ] = None,
    resume: Annotated[Path | None, typer.Option(
        help="Continue the run in this folder with its own settings (--iters, --eval-every, "
             "--save-every may change).", show_default=False)] = None,
    lowercase: Annotated[bool, typer.Option(
        help="When CORPUS is text: lowercase it while preparing.")] = False,
    seq_len: Annotated[int, typer.Option(
        help="When CORPUS is text: characters per example.")] = 32,
):
    """Train a WGAN-GP on a corpus; writes checkpoints, a JSONL log and samples to a run folder.

    Several GPUs or machines: launch with torchrun (see the README), e.g.
    torchrun --nproc-per-node 4 -m textwgan train corpus.txt --out checkpoints/run
    """
    from .config import get_preset
    from .corpus import PrepareOptions, resolve_corpus
    from .distributed import env_shard, main_first, setup, teardown
    from .train import resolve_device, run_settings
    from .train import train as train_run

    schedule = dict(iters=iters, eval_every=eval_every, save_every=save_every,
                    keep_last=keep_last, diag_every=diag_every)
    if clip_value is not None and lipschitz != "clip":
        raise InputError("--clip-value applies only with --lipschitz clip")
    if loss == "gan" and lipschitz is None:
        lipschitz = "none"  # the standard GAN baseline has no Lipschitz constraint
    settings = dict(batch_size=batch_size, critic_iters=critic_iters, gp_lambda=gp_lambda,
                    lr=lr, critic_lr=critic_lr, critic_norm=critic_norm, seed=seed,
                    lipschitz=lipschitz, clip_value=clip_value, loss=loss, optimizer=optimizer)
    shard = env_shard()  # rank 0 of 1 unless launched by torchrun
    dev = resolve_device(device)
    if resume is not None:
        fixed = [k for k, v in settings.items() if v is not None]
        if fixed or preset != "auto":
            name = fixed[0].replace("_", "-") if fixed else "preset"
            raise InputError(f"--{name} cannot change when resuming: a resumed run keeps its "
                             "settings (only --iters, --eval-every, --save-every, --keep-last, "
                             "--diag-every may change)")
        if not resume.is_dir():
            raise InputError(f"--resume {resume}: give the run folder (it holds checkpoint.pt "
                             "and the log the run continues)")
        saved, saved_corpus = run_settings(resume)
        config = saved.with_overrides(**schedule).validate()
        corpus = corpus or saved_corpus
        out_dir = resume
    else:
        if preset == "auto":
            preset = "default" if dev.type == "cuda" else "small"
            if shard.is_main:
                err.print(f"preset: {preset} (auto, on {dev.type})")
        config = get_preset(preset).with_overrides(**schedule, **settings).validate()
    say = (lambda msg: err.print(msg)) if shard.is_main else (lambda msg: None)
    progress = Progress(
        TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} it/s  W {task.fields[w]}"),
        TimeRemainingColumn(), console=err, transient=False, disable=not shard.is_main,
    )
    task = progress.add_task("train", total=config.train.iters, rate="-", w="-")

    def on_event(kind: str, r: dict) -> None:
        if kind == "start":
            how = f"resumed at step {r['step']:,}" if r["resumed"] else "new"
            ranks = f" × {r['ranks']} ranks" if r["ranks"] > 1 else ""
            err.print(f"run {r['run']} ({how}) on {r['device']}{ranks}: "
                      f"{r['train_sequences']:,} training sequences, {r['vocab_size']} symbols, "
                      f"{r['iters']:,} generator steps")
            progress.update(task, completed=r["step"])
        elif kind == "log":
            progress.update(task, completed=r["step"], rate=f"{r['it_s']:.2f}",
                            w=f"{r['w_estimate']:.3f}")
        elif kind == "eval":
            progress.console.print(
                f"step {r['step']:>7,}  JS-4 {r['js4']:.3f} (floor {r['floor_js4']:.3f})  "
                f"JS-1 {r['js1']:.3f}  e.g. {r['examples'][0]!r}", highlight=False)
        elif kind == "end":
            progress.update(task, completed=r["step"])

    try:
        dev = setup(shard, dev)  # joins the process group under torchrun
        with main_first(shard):  # one rank prepares (and caches) a text corpus, then the rest
            prepared = resolve_corpus(corpus, PrepareOptions(seq_len=seq_len,
                                                             lowercase=lowercase), log=say)
        with progress:
            run = train_run(prepared, config, out_dir, device=str(dev), on_event=on_event,
                            data=data, shard=shard, fast=fast)
    finally:
        teardown(shard)
    if shard.is_main:
        out.print(f"done: {run}\nsample with: textwgan sample -n 100 --checkpoint {run}")


# ---------------------------------------------------------------------------------------------


@app.command(epilog="Example: textwgan sample -n 100 --checkpoint checkpoints/<run> --out s.txt")
@friendly
def sample(
    n: Annotated[int, typer.Option("-n", "--n", help="Number of samples.")] = 100,
    checkpoint: Annotated[str | None, typer.Option(
        help="Checkpoint file or run folder; default: the newest run under checkpoints/.",
        show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Noise seed: the same seed, the same samples.")] = 0,
    temperature: Annotated[float, typer.Option(
        help="0 decodes by argmax; above 0 samples each position at that temperature.")] = 0.0,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write here instead of standard output.", show_default=False)] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
):
    """Generate text from a trained generator, one sample per line."""
    from .fileio import write_lines
    from .sample import sample_texts

    texts = sample_texts(checkpoint, n, seed, temperature, device)
    if out_file is None:
        sys.stdout.write("".join(t + "\n" for t in texts))
    else:
        write_lines(out_file, texts)
        err.print(f"wrote {len(texts)} samples to {out_file}")


# ---------------------------------------------------------------------------------------------


def parse_orders(text: str) -> tuple[int, ...]:
    try:
        orders = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from None
    if not orders or orders[0] < 1:
        raise typer.BadParameter("orders must be positive integers, e.g. 1,2,3,4")
    return orders


ROW_METRICS = [  # (key, label, format)
    ("js1", "JS-1", ".4f"), ("js2", "JS-2", ".4f"), ("js3", "JS-3", ".4f"), ("js4", "JS-4", ".4f"),
    ("copy_rate", "copy rate", ".1%"), ("distinct", "distinct", ".1%"),
    ("distinct_4", "distinct-4", ".1%"), ("word_validity", "word validity", ".1%"),
    ("lm_bpc", "LM bits/char", ".3f"), ("reverse_lm_bpc", "reverse LM bits/char", ".3f"),
    ("critic_w", "critic distance", ".3f"),
]


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _metric_rows(report: dict) -> list[tuple[str, str, str]]:
    keys = [(k, label, spec) for k, label, spec in ROW_METRICS if report.get(k) is not None]
    extra = [(f"js{n}", f"JS-{n}", ".4f") for n in report["orders"] if n > 4]
    return [(label, _fmt(report[k], spec), _fmt(report.get(f"floor_{k}"), spec))
            for k, label, spec in keys[:4] + extra + keys[4:]
            if k in report and (not k.startswith("js") or int(k[2:]) in report["orders"])]


InputArg = Annotated[str, typer.Argument(
    help="Samples file (one per line), checkpoint file, or run folder.", show_default=False)]
CorpusOpt = Annotated[Path | None, typer.Option(
    help="Corpus folder: score against its held-out split, floors from real text.",
    show_default=False)]
ReferenceOpt = Annotated[Path | None, typer.Option(
    help="Reference text file instead of a corpus (raw code points).", show_default=False)]
TrainOpt = Annotated[Path | None, typer.Option(
    "--train", help="With --reference: the training text (floors, copy rate, LM).",
    show_default=False)]
NOpt = Annotated[int | None, typer.Option(
    "--n", help="Samples to score: the first N of a file, or N drawn from a checkpoint "
                "(default: all of a file; 640 from a checkpoint).", show_default=False)]
SeedOpt = Annotated[int, typer.Option(help="Seed of every random draw (samples, floors).")]
OrdersOpt = Annotated[str, typer.Option(help="n-gram orders for JS.")]
ProtocolOpt = Annotated[str, typer.Option(
    help="heldout (vs the held-out split) or paper (640 samples vs the training set, as "
         "gan_language.py).")]
CriticOpt = Annotated[bool, typer.Option(
    "--critic", help="Also train a fresh critic to tell samples from real text (slower).")]
LmOrderOpt = Annotated[int, typer.Option(help="Order of the Kneser-Ney character LM.")]


@app.command("eval", epilog="Example: textwgan eval samples.txt --corpus corpora/coco --json")
@friendly
def eval_(
    source: InputArg,
    corpus: CorpusOpt = None,
    reference: ReferenceOpt = None,
    train_file: TrainOpt = None,
    n: NOpt = None,
    seed: SeedOpt = 0,
    orders: OrdersOpt = "1,2,3,4",
    protocol: ProtocolOpt = "heldout",
    critic: CriticOpt = False,
    lm_order: LmOrderOpt = 5,
    seq_len: Annotated[int, typer.Option(help="With --reference: sequence length.")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
):
    """Score samples against held-out text, each metric beside the value real text gets."""
    from .evaluate import evaluate

    with err.status("scoring…"):
        report = evaluate(source, corpus, reference, train_file, n, seed, parse_orders(orders),
                          protocol, lm_order, critic, seq_len)
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    table = Table(title=f"{source}: {report['n']:,} samples vs {report['reference_size']:,} "
                        f"{'training' if protocol == 'paper' else 'held-out'} sequences")
    table.add_column("metric")
    table.add_column("samples", justify="right")
    table.add_column(f"real text ({report['n']:,})", justify="right")
    for row in _metric_rows(report):
        table.add_row(*row)
    out.print(table)
    out.print(report["signature"], style="dim", highlight=False, soft_wrap=True)


@app.command(epilog="Example: textwgan bench run1/ samples.txt --corpus corpora/coco --markdown")
@friendly
def bench(
    sources: Annotated[list[str], typer.Argument(
        help="Samples files, checkpoints or run folders.", show_default=False)],
    corpus: CorpusOpt = None,
    reference: ReferenceOpt = None,
    train_file: TrainOpt = None,
    n: NOpt = None,
    seed: SeedOpt = 0,
    orders: OrdersOpt = "1,2,3,4",
    protocol: ProtocolOpt = "heldout",
    critic: CriticOpt = False,
    lm_order: LmOrderOpt = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")
                        ] = False,
):
    """Score several sample sets side by side, plus a real-text row, sorted by JS-4."""
    from .evaluate import bench_rows

    with err.status("scoring…"):
        result = bench_rows(sources, corpus, reference, train_file, n, seed,
                            parse_orders(orders), protocol, lm_order, critic)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    cols = [(k, label, spec) for k, label, spec in ROW_METRICS
            if any(row.get(k) is not None for row in result["rows"])]
    header = ["input", "n", *[label for _, label, _ in cols]]
    body = [[row["input"], f"{row['n']:,}", *[_fmt(row.get(k), spec) for k, _, spec in cols]]
            for row in result["rows"]]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        sys.stdout.write("\n".join(lines) + f"\n\n`{result['signature']}`\n")
        return
    table = Table(title="textwgan bench")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for r in body:
        table.add_row(*r)
    out.print(table)
    out.print(result["signature"], style="dim", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------


@app.command(epilog="Example: textwgan export checkpoints/<run> --out generator.pt --best")
@friendly
def export(
    run: Annotated[str, typer.Argument(help="Run folder or checkpoint file.",
                                       show_default=False)],
    out_file: Annotated[Path, typer.Option("--out", help="File to write.",
                                           show_default=False)],
    best: Annotated[bool, typer.Option(
        "--best", help="From a run folder, export best.pt (lowest JS-4), not the latest.")
                    ] = False,
):
    """Write a generator-only checkpoint: what sampling needs, a quarter of the size."""
    from .checkpoint import BEST_NAME, export_generator, find_checkpoint, load_checkpoint
    from .checkpoint import save_checkpoint as save

    source = Path(run) / BEST_NAME if best and Path(run).is_dir() else find_checkpoint(run)
    ckpt = load_checkpoint(source)
    path = save(export_generator(ckpt), out_file)
    err.print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, step {ckpt['step']:,}) "
              f"from {source}")


# ---------------------------------------------------------------------------------------------


@app.command(epilog="Example: textwgan plot checkpoints/gp checkpoints/clip --out runs.png")
@friendly
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or their log.jsonl).",
                                               show_default=False)],
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="PNG to write (needs matplotlib: pip install 'textwgan[plot]'); "
                      "without it, a terminal summary.", show_default=False)] = None,
):
    """Plot training curves, critic weight histograms and per-layer gradient norms of runs."""
    from .plot import plot_runs, read_run, run_summaries, sparkline

    logs = [read_run(r) for r in runs]
    if out_file is not None:
        plot_runs(logs, out_file)
        err.print(f"wrote {out_file}")
        return
    # One block per run, not a table: sparklines stay readable in a narrow terminal.
    for r in run_summaries(logs):
        out.print(f"[bold]{escape(r['run'])}[/]  {r['steps']:,} steps", highlight=False)
        out.print(f"  W estimate  {sparkline(r['w'])}  last {_fmt(r['w_last'], '.4f')}",
                  highlight=False)
        out.print(f"  JS-4        {sparkline(r['js4'])}  best {_fmt(r['js4_best'], '.3f')}, "
                  f"last {_fmt(r['js4_last'], '.3f')}", highlight=False)
        if r["slope_mean"] is not None:
            out.print(f"  ‖∇D‖ at interpolates {r['slope_mean']:.3f}, weights at bound "
                      f"{r['at_bound']:.1%} (last diagnostic)", highlight=False)


def main() -> None:
    app()

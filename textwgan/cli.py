"""The `textwgan` command line: thin commands that parse options, call one library function,
and render the result with rich. Library errors (TextWGANError) become one line and an exit
code here, and only here; a setting named in a message is shown as this command's flag.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import re
import shlex
import sys
import time
import traceback
import typing
from pathlib import Path
from typing import Annotated

import typer
import typer.core
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .errors import InputError, TextWGANError, parse_numbers, render, setting
from .evaluation import sample_baseline
from .preparation import PrepareOptions

# The library's defaults, read where they are declared, never restated here.
_PREPARE = PrepareOptions()
_BASELINE = {name: p.default for name, p in inspect.signature(sample_baseline).parameters.items()
             if p.default is not inspect.Parameter.empty}


def _plain_argument_help(command) -> None:
    """Newer typer shows an argument's Python type beside its name (`SOURCE... <list[str]>`)
    and writes a required argument `{SOURCE...}` on the usage line. Show the metavar alone, as
    click does: every argument here names its metavar. Set on this app's own arguments, never
    on typer's classes (other apps in the process keep typer's rendering). Versions without
    these methods render plainly already (tests/test_cli_output.py checks every command's
    help)."""
    for param in getattr(command, "params", []):
        if param.param_type_name != "argument":
            continue
        if hasattr(param, "display_type_rich"):
            param.display_type_rich = lambda ctx=None: None
        if hasattr(param, "_usage_display_name"):
            param._usage_display_name = lambda p=param: p.display_name_raw

try:  # typer vendors click from 0.20 on; earlier versions use the click package
    from typer._click.exceptions import UsageError as _ClickUsageError
except ImportError:
    from click.exceptions import UsageError as _ClickUsageError


class _UsageError(_ClickUsageError):
    """A command line click cannot parse, told in one line like every other error."""

    def __init__(self, e: _ClickUsageError):
        super().__init__(e.format_message(), e.ctx)

    def show(self, file=None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "textwgan"
        say(f"error: {self.message} (see: {where} --help)", "bold red")


def _one_line(e: _ClickUsageError) -> _ClickUsageError:
    # A bare `textwgan` shows its help, which click raises as a usage error of its own.
    if isinstance(e, _UsageError) or type(e).__name__ == "NoArgsIsHelpError":
        return e
    return _UsageError(e)


class _OneLineErrors(typer.core.TyperGroup):
    """Click's usage errors (an unknown option, a missing argument) as one `error:` line,
    not its four-line usage block; arguments shown by their metavar alone."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            _plain_argument_help(command)

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except _ClickUsageError as e:
            raise _one_line(e) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _ClickUsageError as e:
            raise _one_line(e) from None


app = typer.Typer(
    cls=_OneLineErrors,
    name="textwgan",
    help="Character-level text GANs with WGAN-GP: prepare a corpus, train, sample, evaluate.",
    epilog="Example: textwgan train && textwgan sample -n 10",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is shown as written: "textwgan[plot]" keeps its brackets
)


class _Console(Console):
    """rich's console, except that a reader that went away is an error the caller decides
    about (rich would exit the process, which in `train` would drop the steps since the last
    save)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def print(self, *args, **kwargs) -> None:
        try:
            super().print(*args, **kwargs)
        except BrokenPipeError:
            raise
        except OSError as e:  # a full disk behind a redirection
            where = "stderr" if self.stderr else "standard output"
            raise TextWGANError(f"{where}: could not write ({e.strerror or e}); nothing more "
                                "was written") from None


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream is not None and not stream.closed and stream.isatty()  # closed: `>&-`
    # Not a terminal (a file, a pipe): no wrapping, so long lines and commands stay whole.
    return _Console(stderr=stderr, emoji=False, highlight=False, soft_wrap=not tty,
                    width=None if tty else 1000, markup=False)


out = _console(stderr=False)
err = _console(stderr=True)


def write_stdout(text: str) -> None:
    """Text on standard output, flushed, so that a failed write (a full disk, /dev/full) is
    reported here, naming standard output, while the command can still say so."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise TextWGANError(f"standard output: could not write ({e.strerror or e}); "
                            "nothing more was written") from None


def write_text_chunks(chunks, target: Path | None) -> int:
    """Texts, a chunk at a time, one per line: on standard output as they come, or into
    `target` (atomically, recorded as a samples file). The number written."""
    from .fileio import atomic_write, one_line

    count = 0
    if target is None:
        for texts in chunks:
            write_stdout("".join(one_line(t) + "\n" for t in texts))
            count += len(texts)
        return count

    def write(f) -> None:
        nonlocal count
        for texts in chunks:
            f.write("".join(one_line(t) + "\n" for t in texts).encode("utf-8"))
            count += len(texts)

    atomic_write(target, write, output="samples")
    return count


def say(message: str, style: str | None = None) -> None:
    """One line on stderr, shown exactly as written (paths included; bytes of a file name
    that are not UTF-8 shown as \\xNN escapes)."""
    shown = message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    err.print(Text(shown, style=style or ""), soft_wrap=True)


# --------------------------------------------------------------------------------------------
# Errors: one line, an exit code, never a traceback


def flag_names(fn) -> dict[str, str]:
    """Setting name → the command's flag for it (seq_len → --seq-len, n_blocks → --blocks),
    read from the command's own option declarations."""
    flags = {}
    for name, param in inspect.signature(fn, eval_str=True).parameters.items():
        for meta in getattr(param.annotation, "__metadata__", ()):
            if isinstance(meta, typer.models.OptionInfo):
                # With Annotated, typer keeps the first declaration in `default`.
                decls = [meta.default, *(meta.param_decls or ())]
                longs = [d.split("/")[0] for d in decls
                         if isinstance(d, str) and d.startswith("--")]
                flag = max(longs, key=len) if longs else "--" + name.replace("_", "-")
                flags[name] = flag
                flags.setdefault(flag.lstrip("-").replace("-", "_"), flag)
    return flags


# --------------------------------------------------------------------------------------------
# Training settings: one option per config field that has help (config.py), built here


def setting_fields() -> list:
    """The model and training fields that `train` offers as options, in declaration order."""
    from .config import offered_settings

    return offered_settings()


def _flag(f) -> str:
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def _flag_of(name: str) -> str:
    """A setting's flag (n_blocks → --blocks), for help texts that name another setting."""
    return next((_flag(f) for f in setting_fields() if f.name == name),
                "--" + name.replace("_", "-"))


def _shown(value, f) -> str:
    if value is None:
        return render(f.metadata["none"], _flag_of)
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def preset_defaults(f) -> str:
    """What each preset sets a field to: `10` where all agree, else `512 (paper, default),
    128 (small), 16 (tiny)`."""
    from .config import PRESETS

    by_value: dict[str, list[str]] = {}
    for name, config in PRESETS.items():
        part = config.model if hasattr(config.model, f.name) else config.train
        by_value.setdefault(_shown(getattr(part, f.name), f), []).append(name)
    if len(by_value) == 1:
        return next(iter(by_value))
    return ", ".join(f"{value} ({', '.join(names)})" for value, names in by_value.items())


def _setting_option(f, hints: dict) -> inspect.Parameter:
    kind = hints[f.name]
    base = str if f.metadata["typed"] else \
        next(t for t in (int, float, str) if t in typing.get_args(kind) or t is kind)
    option = typer.Option(_flag(f), metavar=f.metadata["metavar"], show_default=False,
                          help=f"{render(f.metadata['help'], _flag_of)} "
                               f"Default: {preset_defaults(f)}.")
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[base | None, option])


def _schedule_flags() -> list[str]:
    from .config import resumable_settings

    return [_flag_of(name) for name in resumable_settings()]


def with_options(extra: list[inspect.Parameter]):
    """Append a shared group of options to a command; they arrive in its **kwargs. Each
    group is declared once, for every command that takes it."""

    def add(fn):
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values()
               if p.kind is not inspect.Parameter.VAR_KEYWORD]
        fn.__signature__ = inspect.Signature([*own, *extra])
        return fn

    return add


def setting_options() -> list[inspect.Parameter]:
    """One option per training setting."""
    from .config import ModelConfig, TrainConfig

    hints = {**typing.get_type_hints(ModelConfig), **typing.get_type_hints(TrainConfig)}
    return [_setting_option(f, hints) for f in setting_fields()]


def parsed_settings(settings: dict) -> dict:
    """The setting options as config values: durations in seconds, number lists as tuples."""
    parse = {"duration": lambda text, name: parse_duration(text),
             "numbers": lambda text, name: tuple(parse_numbers(text, name, float))}
    typed = {f.name: f.metadata["typed"] for f in setting_fields() if f.metadata["typed"]}
    return {name: parse[typed[name]](value, name) if value is not None and name in typed
            else value for name, value in settings.items()}


@contextlib.contextmanager
def _threads_for(options: dict):
    """A command's --threads, for its run only: device.cpu_threads gives the caller's count
    back (where commands run inside one process, as in tests and notebooks, a changed count
    would change a later run's float sums)."""
    if options.get("threads") is None:  # nothing to set: torch stays unimported
        yield
        return
    from .device import cpu_threads

    with cpu_threads(options["threads"]):
        yield


def _fail(message: str, code: int) -> typer.Exit:
    # One line, whatever the message holds: a path with a newline in it stays on it.
    say("error: " + message.replace("\r", "\\r").replace("\n", "\\n"), "bold red")
    return typer.Exit(code)


def friendly(fn):
    """The last net: every failure is one line on stderr and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with _threads_for(kwargs):
                return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except TextWGANError as e:
            flags = flag_names(fn)
            message = e.render(lambda name: flags.get(name, name))
            if getattr(e, "stopped_as_asked", False):  # a signal asked: not an error
                say(message)
                raise typer.Exit(e.exit_code) from None
            raise _fail(message, e.exit_code) from None
        except (MemoryError, RuntimeError) as e:
            text = str(e).lower()
            if isinstance(e, MemoryError) or "out of memory" in text \
                    or "can't allocate memory" in text:
                raise _fail("out of memory; lower --batch-size or -n, or use a machine with more "
                            "memory", 2) from None
            raise _fail(_internal(e), 1) from None
        except BrokenPipeError:  # the reader has all it wanted: `main` exits quietly
            raise
        except OSError as e:  # a vanished file, a full disk: still one line
            where = f"{e.filename}: " if e.filename else ""
            raise _fail(f"{where}{e.strerror or e}", 1) from None
        except KeyboardInterrupt:
            say("interrupted")
            raise typer.Exit(130) from None
        except Exception as e:  # a bug of ours: still one line, with a way to see more
            raise _fail(_internal(e), 1) from None

    return wrapper


def _internal(e: BaseException) -> str:
    if os.environ.get("TEXTWGAN_DEBUG"):
        traceback.print_exc()
    first = (str(e).splitlines() or [""])[0]
    return (f"internal error ({e.__class__.__name__}: {first}); this is a bug in textwgan: "
            "please report it with the command you ran (TEXTWGAN_DEBUG=1 shows the traceback)")


def version_callback(value: bool):
    if value:
        out.print(f"textwgan {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, metavar="",
                                          is_eager=True, help="Print the version and exit.")
                       ] = False,
):
    """Character-level text GANs with WGAN-GP: prepare a corpus, train, sample, evaluate."""


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)", re.IGNORECASE)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | None) -> float | None:
    """`90s`, `10m`, `1h30m`, `2h`, or plain seconds → seconds."""
    if text is None:
        return None
    s = text.strip().replace(" ", "")
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2).lower()]
        pos = m.end()
    if not s or pos != len(s) or not total > 0 or total == float("inf"):
        raise InputError(f"{setting('time_limit')} must be a duration such as 90s, 10m, 1h or "
                         f"1h30m, got {text!r}")
    return total


# --------------------------------------------------------------------------------------------
# prepare


@app.command(short_help="Prepare text into a corpus folder (train does it on the fly).",
             epilog="Example: textwgan prepare corpus.txt --out corpora/mine --lowercase")
@friendly
def prepare(
    sources: Annotated[list[str], typer.Argument(
        metavar="SOURCE...", show_default=False,
        help="Text files, folders of text files, - for standard input, or "
             "hf:NAME[:CONFIG[:SPLIT]] datasets.")],
    out_dir: Annotated[Path, typer.Option("--out", metavar="DIR", show_default=False,
                                          help="Corpus folder to write.")],
    seq_len: Annotated[int, typer.Option(metavar="N", help="Characters per example (longer "
                                                            "lines are cut).")
                       ] = _PREPARE.seq_len,
    heldout_fraction: Annotated[float, typer.Option(
        metavar="F", help="Share of lines held out as the evaluation reference.")
                                ] = _PREPARE.heldout_fraction,
    validation_fraction: Annotated[float, typer.Option(
        metavar="F", help="Share of the held-out lines set apart as the validation split "
                          "(training's evaluations and best.pt); the rest is the test split "
                          "(eval, model cards). 0: none.")] = _PREPARE.validation_fraction,
    heldout_file: Annotated[str | None, typer.Option(
        metavar="FILE", show_default=False,
        help="Use this file as the held-out split instead of a fraction.")] = None,
    lowercase: Annotated[bool, typer.Option(help="Lowercase after NFKC normalization.")
                         ] = _PREPARE.lowercase,
    max_chars: Annotated[int, typer.Option(metavar="N", help="Charset cap, pad and unk "
                                                              "included.")
                         ] = _PREPARE.max_chars,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the held-out draw.")
                    ] = _PREPARE.seed,
    workers: Annotated[int, typer.Option(
        metavar="N", help="Encoding processes; 0: one per CPU (at most 8) for inputs over "
                          "16 MiB.")] = _PREPARE.workers,
):
    """Prepare text into a corpus folder: normalized, cut, padded, encoded, split.

    Streams its input (memory stays flat however large it is) and writes memory-mapped arrays.
    An existing --out is replaced only if it is a corpus folder made by textwgan that holds
    nothing else.
    """
    from .preparation import prepare as prepare_corpus

    with err.status("preparing…"):
        corpus = prepare_corpus(sources, out_dir, seq_len=seq_len,
                                heldout_fraction=heldout_fraction, heldout_file=heldout_file,
                                validation_fraction=validation_fraction,
                                lowercase=lowercase, max_chars=max_chars, seed=seed,
                                workers=workers)
    _show_preparation(corpus.meta, out_dir)


def _show_preparation(meta: dict, where) -> None:
    """What preparing did: the counts, then a warning line for each surprise."""
    from .preparation import preparation_warnings

    c = meta["counts"]
    table = Table(title=Text(f"corpus {where}"), show_header=False, box=box.SIMPLE)
    for label, value in [
        ("lines read", f"{c['lines_read']:,}"), ("blank (dropped)", f"{c['empty']:,}"),
        ("kept", f"{c['kept']:,}"),
        (f"cut to {meta['seq_len']} chars", f"{c['truncated']:,}"),
        ("train / validation / test", f"{c['train']:,} / {c.get('validation', 0):,} / "
                                       f"{c['heldout']:,}"),
        ("charset", f"{c['charset_size'] - 2:,} of {c['distinct_chars']:,} characters seen"
                    " in training, + pad, unk"),
        ("unk rate", f"{c['unk_rate']:.4%}"),
        ("invalid UTF-8 bytes (read as U+FFFD)", f"{c['invalid_utf8_bytes']:,}"),
    ]:
        table.add_row(Text(label), Text(value))
    out.print(table)
    flags = flag_names(prepare)
    for warning in preparation_warnings(meta):
        say("warning: " + render(warning, lambda name: flags.get(name, name)), "yellow")


# --------------------------------------------------------------------------------------------
# train


class TrainDisplay:
    """What `train` shows: a progress bar on a terminal; elsewhere (a file, a pipe) plain
    lines, with a progress line every `every` seconds between evaluations."""

    def __init__(self, every: float = 30.0):
        self.tty = err.is_terminal
        self.every = every
        self.last = 0.0
        self.iters = 0
        self.deadline: float | None = None
        self.progress = Progress(
            TextColumn("train"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} it/s  W {task.fields[w]}  {task.fields[left]}"),
            console=err, transient=False, disable=not self.tty)
        self.task = None
        self.end: dict | None = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def line(self, message: str) -> None:
        if self.tty:
            self.progress.console.print(Text(message), soft_wrap=True)
        else:
            say(message)

    def seconds_left(self, r: dict) -> float:
        """Until the last step at this speed, or until the time limit, whichever comes first."""
        left = (self.iters - r["step"]) / max(r["it_s"], 1e-9)
        if self.deadline is not None:
            left = min(left, max(self.deadline - time.monotonic(), 0.0))
        return left

    def __call__(self, kind: str, r: dict) -> None:
        """Show one event. A stream that cannot be written (a reader that went away, as in
        `train … | head`) silences what went there, never the training: it goes on and
        saves as usual."""
        if kind == "end":
            self.end = r
        try:
            self.show(kind, r)
        except OSError:
            closed = _silence_closed_streams()
            if "stderr" not in closed:
                say(f"note: {' and '.join(closed) or 'an output'} closed; training goes on "
                    "and saves as usual")

    def show(self, kind: str, r: dict) -> None:
        if kind == "note":
            self.line(r["message"])
        elif kind == "prepared":
            _show_preparation(r["meta"], r["path"])
        elif kind == "start":
            how = f"resumed at step {r['step']:,}" if r["resumed"] else "new"
            ranks = f" × {r['ranks']} ranks" if r["ranks"] > 1 else ""
            threads = f", {r['threads']} threads" if r["device"] == "cpu" else ""
            limit = (f", stopping after {_duration(r['time_limit'])}" if r["time_limit"]
                     else "")
            self.iters = r["iters"]
            self.deadline = (time.monotonic() + r["time_limit"]) if r["time_limit"] else None
            self.line(f"run {r['run']} ({how}) on {r['device']}{ranks}{threads}: "
                      f"{r['train_sequences']:,} training sequences, {r['vocab_size']} symbols, "
                      f"{r['iters']:,} generator steps{limit}")
            self.task = self.progress.add_task("train", total=r["iters"], completed=r["step"],
                                               rate="-", w="-", left="")
            self.last = time.monotonic()
        elif kind == "log":
            left = self.seconds_left(r)
            self.progress.update(self.task, completed=r["step"], rate=f"{r['it_s']:.2f}",
                                 w=f"{r['w_estimate']:.3f}", left=f"{_duration(left)} left")
            if not self.tty and time.monotonic() - self.last >= self.every:
                self.last = time.monotonic()
                say(f"step {r['step']:,}/{self.iters:,}  {r['it_s']:.2f} it/s  "
                    f"W {r['w_estimate']:.3f}  about {_duration(left)} left")
        elif kind == "eval":
            split = "validation" if r.get("split") == "validation" else "test"
            self.line(f"step {r['step']:>7,}  JS-4 {r['js4']:.3f} (floor {r['floor_js4']:.3f}"
                      f" for {r['n']:,} real; {split} split)  "
                      f"JS-1 {r['js1']:.3f}  e.g. {r['examples'][0]!r}")
            if r["step"] > 0 and r["distinct"] < 0.1:
                self.line(f"  note: the samples are nearly all alike ({r['distinct']:.0%} "
                          "distinct): the generator has collapsed onto a few outputs. Early in a "
                          "run this often passes; if it lasts, try a lower --lr or more "
                          "--critic-iters")
            self.last = time.monotonic()
        elif kind == "end":
            self.progress.update(self.task, completed=r["step"])


def _silence_closed_streams() -> list[str]:
    """Point standard output and error, where they can no longer be written (a broken pipe,
    a closed terminal), at the null device; the names of those that were."""
    closed = []
    for name, console in (("standard output", out), ("stderr", err)):
        stream = getattr(sys, "stdout" if console is out else "stderr")
        try:
            stream.flush()
            os.fstat(stream.fileno())
            if _pipe_closed(stream.fileno()):
                raise BrokenPipeError
        except (OSError, ValueError, AttributeError):
            null = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
            setattr(sys, "stdout" if console is out else "stderr", null)
            console.file = null
            closed.append(name)
    return closed


def _pipe_closed(fd: int) -> bool:
    """A pipe whose reader has gone (poll reports an error on the writing end)."""
    import select

    if not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 5400:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _optional_bool(name: str, help: str):
    return Annotated[bool | None, typer.Option(f"--{name}/--no-{name}", help=help,
                                               show_default=False)]


@app.command(short_help="Train a WGAN-GP on a corpus or a text file.",
             epilog="Example: textwgan train corpus.txt --preset small --time-limit 10m")
@friendly
@with_options(setting_options())
def train(
    corpus: Annotated[str | None, typer.Argument(
        metavar="[CORPUS]", show_default=False,
        help="Text file, folder, - (standard input), hf:NAME, or corpus folder; default: the "
             "bundled COCO captions.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", show_default=False,
        help="Run folder; default checkpoints/<corpus>-<preset>-<time>.")] = None,
    preset: Annotated[str, typer.Option(
        metavar="NAME", help="paper, default, small, tiny, or auto: the preset called default "
                             "on a GPU, small on a CPU.")] = "auto",
    device: Annotated[str, typer.Option(metavar="NAME", help="auto, cpu, cuda or cuda:N.")
                      ] = "auto",
    threads: Annotated[int | None, typer.Option(
        metavar="N", show_default=False, help="CPU threads (default: all cores). The same "
                                              "count repeats a run bit for bit.")] = None,
    fast: _optional_bool("fast", "The fast path: bf16 autocast, TF32 and fused Adam on CUDA "
                                 "(fused Adam only on a CPU). Default: on.") = None,
    tensorboard: Annotated[bool | None, typer.Option(
        "--tensorboard/--no-tensorboard", show_default=False,
        help="Also write TensorBoard events into the run folder (tensorboard --logdir RUN): "
             "every logged figure, samples, critic histograms. Default: a resumed run goes on "
             "as it did, a new one writes none. Needs pip install 'textwgan[tensorboard]'.")
    ] = None,
    cuda_graphs: Annotated[bool, typer.Option(
        "--cuda-graphs", metavar="",
        help="Capture the critic and generator steps as CUDA graphs (CUDA only; elsewhere the "
             "same steps run eagerly).")] = False,
    data: Annotated[str, typer.Option(
        metavar="MODE",
        help="Where the training split lives: device (copied whole), mapped (read from the "
             "memory map per batch: corpora larger than memory), or auto (device up to 1 GiB).")
                    ] = "auto",
    resume: Annotated[Path | None, typer.Option(
        metavar="RUN", show_default=False,
        help="Continue the run in this folder with its own settings (only its schedule may "
             f"change: {', '.join(_schedule_flags())}).")] = None,
    lowercase: _optional_bool("lowercase", "When CORPUS is text: lowercase it while preparing "
                                           "(a prepared corpus keeps its own).") = None,
    seq_len: Annotated[int | None, typer.Option(
        metavar="N", show_default=False,
        help="When CORPUS is text: characters per example (default 32; a prepared corpus "
             "keeps its own).")] = None,
    **settings,
):
    """Train a WGAN-GP on a corpus; writes checkpoints, a JSONL log and samples to a run folder.

    Several GPUs or machines: launch with torchrun (see the README), e.g.
    torchrun --nproc-per-node 4 -m textwgan train corpus.txt --out checkpoints/run
    """
    from .training import train as train_run

    with TrainDisplay(float(os.environ.get("TEXTWGAN_PROGRESS_EVERY", "30"))) as display:
        run = train_run(corpus, preset=preset, out=out_dir, resume=resume, device=device,
                        data=data, fast=fast, cuda_graphs=cuda_graphs, threads=threads,
                        tensorboard=tensorboard,
                        seq_len=seq_len, lowercase=lowercase, on_event=display,
                        **parsed_settings(settings))
    if display.end is not None:  # None: not rank 0 under torchrun, which reports
        _say_trained(run, display.end)


def _say_trained(run: Path, end: dict) -> None:
    """Where the run is, and the commands that continue it or sample from it."""
    quoted = shlex.quote(str(run))
    if not end["complete"]:
        out.print(Text(f"stopped at the time limit, step {end['step']:,}: {run}\n"
                       f"continue with: textwgan train --resume {quoted}\n"
                       f"sample with: textwgan sample -n 100 --checkpoint {quoted}"))
    else:
        out.print(Text(f"done: {run}\nsample with: textwgan sample -n 100 --checkpoint {quoted}"))


# --------------------------------------------------------------------------------------------
# sample, export, baseline


def _generator(checkpoint: str | None, model: str | None, device: str):
    """The generator a command samples from (--checkpoint, --model, or the newest run, else
    the shipped COCO generator), named on stderr."""
    from .assets import shipped_generator
    from .sample import load_generator

    if model is not None and checkpoint is not None:
        raise InputError(f"give {setting('checkpoint')} or {setting('model')}, not both")
    gen = load_generator(shipped_generator(model) if model is not None else checkpoint,
                         device=device)
    if gen.shipped:
        hint = "" if model is not None or checkpoint is not None else \
            "; train your own with: textwgan train"
        say(f"using the generator shipped with textwgan: {gen.shipped} (step {gen.step:,}; "
            f"textwgan models lists them){hint}")
    else:
        say(f"using {gen.source} (step {gen.step:,})")
    return gen


ModelOpt = Annotated[str | None, typer.Option(
    metavar="NAME", show_default=False,
    help="A generator shipped with textwgan, by name (textwgan models lists them).")]


def _output_file(path: Path | None, what: str, may_replace=None) -> Path | None:
    from .fileio import check_output_file

    return None if path is None else check_output_file(path, what, may_replace)


@app.command(short_help="Generate text from a trained generator.",
             epilog="Example: textwgan sample -n 100 --checkpoint checkpoints/my-run --out s.txt")
@friendly
def sample(
    n: Annotated[int, typer.Option("-n", "--n", metavar="N", help="Number of samples.")] = 100,
    checkpoint: Annotated[str | None, typer.Option(
        metavar="PATH", show_default=False,
        help="Checkpoint file, run folder, model folder (export --out DIR), a shipped model "
             "by name (textwgan models; a local path of that name wins), or a model on the "
             "Hugging Face Hub (hf:OWNER/NAME[@REVISION]); default: the newest run under "
             "checkpoints/ or runs/ (by its last save), else the shipped coco.")] = None,
    model: ModelOpt = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Noise seed: the same seed, the same "
                                                         "samples.")] = 0,
    temperature: Annotated[float, typer.Option(
        metavar="T", help="0 decodes by argmax; above 0 samples each position at that "
                          "temperature.")] = 0.0,
    out_file: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", show_default=False,
        help="Write here instead of standard output.")] = None,
    rerank: Annotated[int, typer.Option(
        metavar="K", help="Draw K candidates per sample and keep one, by --rule (1: no "
                          "reranking).")] = 1,
    rule: Annotated[str, typer.Option(
        metavar="NAME", help="With --rerank: sir draws one candidate in proportion to the "
                             "calibrated density ratio (keeps diversity); top keeps the one "
                             "the critic scores highest (sharpens modes).")] = "sir",
    truncation: Annotated[float, typer.Option(
        metavar="PSI", help="Draw the noise nearer its mean, 0 < PSI <= 1: lower is more "
                            "typical and less varied (1: plain sampling).")] = 1.0,
    prefix: Annotated[str | None, typer.Option(
        metavar="TEXT", show_default=False,
        help="Samples that begin with TEXT: a generator trained with --infill writes them in "
             "one pass; others search the noise (argmax), and what the search cannot meet is "
             "left out. The count is shown.")] = None,
    restarts: Annotated[int, typer.Option(
        metavar="R", help="With --prefix: starting points searched per sample; more meets more "
                          "prompts, at R times the time.")] = 2,
    search_steps: Annotated[int, typer.Option(
        metavar="N", help="With --prefix: gradient steps of each search.")] = 100,
    device: Annotated[str, typer.Option(
        metavar="NAME", help="auto (a GPU when there is one), cpu, cuda or cuda:N; the same "
                             "seed gives the same samples on any of them.")] = "auto",
    threads: Annotated[int | None, typer.Option(
        metavar="N", show_default=False, help="CPU threads (default: all cores).")] = None,
):
    """Generate text from a trained generator, one sample per line."""
    from .sample import check_sampling
    from .spec import SamplingSpec

    spec = SamplingSpec(temperature, rerank, rule, truncation, prefix, restarts,
                        search_steps).checked()
    check_sampling(n, seed, temperature)
    target = _output_file(out_file, "samples")
    gen = _generator(checkpoint, model, device)
    if spec.rerank > 1 and spec.rule == "sir":
        gen.ensure_ratio(lambda message: say(f"note: {message}"))
    if prefix is not None:
        written = _write_prompted(gen, n, seed, spec, target)
    else:
        written = write_text_chunks(gen.sample_chunks(n, seed, spec), target)
    if target is not None:
        say(f"wrote {written:,} samples to {target}")


def _write_prompted(gen, n: int, seed: int, spec, target: Path | None) -> int:
    """The samples a prompt search met, written as they come; how many met, said after, with
    what to try when some were not."""
    from .errors import share

    prefix, note = gen.prompt_text(spec.prefix)
    if note:
        say(f"note: {note}")
    if gen.continues_prompts:
        longest = gen.config.model.infill
        if len(prefix) > longest:
            say(f"note: this generator learnt prefixes of up to {longest} characters; this one "
                f"has {len(prefix)}, so its continuations may read worse")
        if (spec.restarts, spec.search_steps) != (2, 100):
            say("note: this generator writes prompts in one pass (trained with --infill); "
                "--restarts and --search-steps apply only to the search")
    met = 0

    def chunks():
        nonlocal met
        for found in gen.complete_chunks(n, prefix=prefix, seed=seed, restarts=spec.restarts,
                                         steps=spec.search_steps):
            met += sum(found.met)
            yield [t for t, ok in zip(found.texts, found.met, strict=True) if ok]

    written = write_text_chunks(chunks(), target)
    harder = (f"; to meet more, search harder (--restarts {min(4 * spec.restarts, 64)} "
              f"--search-steps {2 * spec.search_steps}), give a shorter prefix, or use a "
              "generator trained with --infill, which meets every prompt (docs/sampling.md "
              "says what it does to the text)")
    say(f"{met} of {n} samples begin with {prefix!r} ({share(met, n)}); the others are left "
        "out" + ("" if met == n else harder))
    return written


@app.command(short_help="Texts along a latent walk between two seeds.",
             epilog="Example: textwgan interpolate --seeds 3,7 --steps 8")
@friendly
def interpolate(
    seeds: Annotated[str, typer.Option(
        metavar="A,B", help="The two seeds whose noise the walk joins.")] = "0,1",
    steps: Annotated[int, typer.Option(
        metavar="N", help="Texts along the walk, both ends included.")] = 8,
    checkpoint: Annotated[str | None, typer.Option(
        metavar="PATH", show_default=False,
        help="Checkpoint file, run folder or model folder; default as for sample.")] = None,
    model: ModelOpt = None,
    truncation: Annotated[float, typer.Option(
        metavar="PSI", help="Draw both ends nearer the mean, 0 < PSI <= 1.")] = 1.0,
    device: Annotated[str, typer.Option(metavar="NAME", help="auto, cpu, cuda or cuda:N.")
                      ] = "auto",
):
    """Print the argmax text at each point of a spherical walk between two seeds' noise: the
    first and last lines are what `sample -n 1 --seed A` and `--seed B` print."""
    try:
        a, b = (int(x) for x in seeds.split(","))
    except ValueError:
        raise InputError(f"{setting('seeds')} must be two integers, e.g. 3,7, got "
                         f"{seeds!r}") from None
    gen = _generator(checkpoint, model, device)
    texts = gen.interpolate((a, b), steps=steps, truncation=truncation)
    write_stdout("".join(t.replace("\n", " ") + "\n" for t in texts))


@app.command(short_help="List the generators shipped with textwgan.",
             epilog="Example: textwgan models && textwgan sample --model news -n 5")
@friendly
def models(as_json: Annotated[bool, typer.Option(
        "--json", metavar="", help="Print a JSON list, one object per model.")] = False):
    """The generators shipped inside textwgan, each scored once when it was shipped: 640
    argmax samples (seed 0) against its corpus's held-out split, beside real text."""
    from .assets import shipped_models
    from .modelfolder import model_summary

    rows = [model_summary(folder) for folder in shipped_models().values()]
    if as_json:
        write_stdout(json.dumps(rows) + "\n")
        return
    table = Table(title=Text("generators shipped with textwgan"), box=box.SIMPLE)
    for column in ("name", "trained on", "steps", "training", "JS-4 (real text)", "real words",
                   "critic"):
        table.add_column(column, justify="left" if column in ("name", "trained on") else "right")
    for r in rows:
        table.add_row(*map(Text, (
            r["name"], r["description"] or r["corpus"] or "-", f"{r['step']:,}",
            _duration(r["minutes"] * 60),
            f"{_fmt(r['js4'], '.3f')} ({_fmt(r['floor_js4'], '.3f')})",
            f"{_fmt(r['word_validity'], '.0%')} ({_fmt(r['floor_word_validity'], '.0%')})",
            "yes" if r["critic"] else "no")))
    out.print(table)
    say("sample one with: textwgan sample --model NAME -n 10")


@app.command(short_help="Export a run's generator: a model folder or a .pt file.",
             epilog="Example: textwgan export checkpoints/my-run --out models/my-model")
@friendly
def export(
    run: Annotated[str, typer.Argument(metavar="RUN", show_default=False,
                                       help="Run folder or checkpoint file.")],
    out_file: Annotated[Path, typer.Option(
        "--out", metavar="PATH", show_default=False,
        help="A model folder to write (model.safetensors, config.json and a model card "
             "README.md: what the Hugging Face Hub serves), or a file ending in .pt for a "
             "single-file export.")],
    best: Annotated[bool, typer.Option(
        "--best", metavar="",
        help="From a run folder, export best.pt (lowest JS-4), not the latest.")] = False,
    critic: Annotated[bool, typer.Option(
        "--critic/--no-critic",
        help="Keep the run's critic, which sample --rerank needs (it adds about as much as "
             "the generator again); --no-critic gives the smallest file.")] = True,
):
    """Write what sampling needs (and the critic, for reranking), without the optimizer
    state: a model folder, or a single .pt file.

    It never overwrites what textwgan did not make: --out must be new, or an earlier export.
    """
    from .checkpoint import BEST_NAME, find_checkpoint
    from .modelfolder import load_any

    as_folder = out_file.suffix not in (".pt", ".pth") and not out_file.is_file()
    source = Path(run) / BEST_NAME if best and Path(run).is_dir() else find_checkpoint(run)
    if as_folder:
        path = _export_folder(load_any(source), out_file, critic, Path(source))
    else:
        path = _export_file(load_any(source), out_file, critic, source)
    size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else \
        path.stat().st_size
    say(f"wrote {path} ({size / 2**20:.1f} MiB) from {source}")


def _export_file(ckpt: dict, out: Path, critic: bool, source: Path) -> Path:
    from .checkpoint import checkpoint_kind, export_generator, save_checkpoint

    target = _output_file(out, "export", may_replace=lambda p: checkpoint_kind(p) == "export")
    if target.exists() and target.resolve() == source.resolve():
        raise InputError(f"{target}: is the checkpoint being exported; choose another "
                         f"{setting('out_file')}")
    return save_checkpoint(export_generator(ckpt, critic=critic), target)


def _export_folder(ckpt: dict, out: Path, critic: bool, source: Path) -> Path:
    from .calibration import with_ratio
    from .modelfolder import check_model_out, model_card, write_folder
    from .sample import generator_from

    check_model_out(out, source)
    if critic:
        ckpt = with_ratio(ckpt, source, lambda message: say(f"note: {message}"))
    samples = generator_from(ckpt, out).sample(8, seed=0)
    return write_folder(ckpt, out, critic, model_card(ckpt, samples, out.name, critic))


@app.command(short_help="Fit the density ratio resampling weighs by, into a model folder.",
             epilog="Example: textwgan calibrate models/my-model")
@friendly
def calibrate(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", show_default=False,
                                           help="A model folder (textwgan export --out DIR).")],
    corpus: Annotated[str | None, typer.Option(
        metavar="CORPUS", show_default=False,
        help="Fit on this corpus (folder, bundled name or text file); default: the one the "
             "model was trained on.")] = None,
    steps: Annotated[int | None, typer.Option(
        metavar="N", show_default=False, help="Classifier steps (default 600).")] = None,
):
    """Fit the calibrated density ratio that `sample --rerank K` resamples by (a copy of the
    critic refit to tell training lines from the generator's samples, then Platt-calibrated
    on the validation split) and keep it in the model folder. `export` does this already
    when the corpus is at hand; this refits, or fits one where it was not."""
    from .calibration import calibrate_folder

    if steps is not None:
        from .errors import check_int

        check_int("steps", steps, 1, 1_000_000)
    record = calibrate_folder(folder, corpus, steps, lambda message: say(f"note: {message}"))
    say(f"wrote {folder}: density ratio of {record['steps']} steps, "
        f"{record['validation_accuracy']:.1%} of validation lines told from samples")


@app.command(short_help="Sample a Kneser-Ney character model (the baseline).",
             epilog="Example: textwgan baseline coco --order 5 -n 640 --out kn5.txt")
@friendly
def baseline(
    corpus: Annotated[str, typer.Argument(
        metavar="CORPUS", show_default=False,
        help="Corpus folder, bundled corpus name (coco), or text file (its training split).")],
    order: Annotated[int, typer.Option(metavar="N", help="n-gram order of the Kneser–Ney "
                                                          "model.")] = _BASELINE["order"],
    n: Annotated[int, typer.Option("-n", "--n", metavar="N", help="Number of samples.")
                 ] = _BASELINE["n"],
    temperature: Annotated[float, typer.Option(
        metavar="T", help="1 samples the model as it is; lower is more conservative; 0 is "
                          "greedy (every sample alike).")] = _BASELINE["temperature"],
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the draws.")
                    ] = _BASELINE["seed"],
    out_file: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", show_default=False,
        help="Write here instead of standard output.")] = None,
):
    """Sample text from an interpolated Kneser–Ney character model of a corpus's training split:
    the autoregressive baseline to put beside a GAN in `textwgan bench`.
    """
    from .fileio import write_lines

    target = _output_file(out_file, "samples")
    texts = sample_baseline(corpus, order=order, n=n, temperature=temperature, seed=seed)
    if target is None:
        write_stdout("".join(t.replace("\n", " ") + "\n" for t in texts))
    else:
        write_lines(target, texts, output="samples")
        say(f"wrote {len(texts)} samples to {target}")


# --------------------------------------------------------------------------------------------
# eval, bench


ROW_METRICS = [  # (key, label, short label, format, in the default bench table)
    ("js1", "JS-1", "JS-1", ".4f", False), ("js2", "JS-2", "JS-2", ".4f", False),
    ("js3", "JS-3", "JS-3", ".4f", False), ("js4", "JS-4", "JS-4", ".4f", True),
    ("copy_rate", "copy rate", "copies", ".1%", True),
    ("distinct", "distinct", "distinct", ".1%", True),
    ("distinct_4", "distinct-4", "dist-4", ".1%", False),
    ("word_validity", "word validity", "words", ".1%", True),
    ("lm_bpc", "LM bits/char", "LM", ".3f", True),
    ("reverse_lm_bpc", "reverse LM bits/char", "rev LM", ".3f", True),
    ("critic_w", "critic distance", "critic", ".3f", True),
]


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _metric_rows(report: dict) -> list[tuple[str, str, str]]:
    na = report.get("unseparated", {})  # figures that cannot tell junk from real text here
    keys = [(k, label, spec) for k, label, _, spec, _ in ROW_METRICS
            if report.get(k) is not None or k in na]
    extra = [(f"js{n}", f"JS-{n}", ".4f") for n in report["orders"] if n > 4]
    rows = [(label, "n/a" if k in na else _fmt(report[k], spec),
             _fmt(report.get(f"floor_{k}"), spec))
            for k, label, spec in keys[:4] + extra + keys[4:]
            if k in report and (not k.startswith("js") or int(k[2:]) in report["orders"])]
    if "lm_bpc" in report and "word_validity" not in report:  # the notes say why
        rows.append(("word validity", "n/a", "n/a"))
    return rows


InputArg = Annotated[str, typer.Argument(
    metavar="INPUT", show_default=False,
    help="Samples file (one per line, - for standard input), checkpoint file, run or model "
         "folder, or a shipped model by name (textwgan models).")]
CorpusOpt = Annotated[str | None, typer.Option(
    metavar="CORPUS", show_default=False,
    help="Score against this corpus's held-out split, floors from real text: a corpus "
         "folder, a bundled corpus by name (coco; a local folder of that name wins), or a "
         "text file, prepared as train prepares it. Default for a run or checkpoint: the "
         "corpus it trained on. One of --corpus and --reference is needed for samples.")]
ReferenceOpt = Annotated[Path | None, typer.Option(
    metavar="FILE", show_default=False,
    help="Reference text file instead of a corpus (raw code points).")]
TrainOpt = Annotated[Path | None, typer.Option(
    "--train", metavar="FILE", show_default=False,
    help="With --reference: the training text (floors, copy rate, LM).")]
SeedOpt = Annotated[int, typer.Option(metavar="N", help="Seed of every random draw (samples, "
                                                        "floors).")]
OrdersOpt = Annotated[str, typer.Option(metavar="LIST", help="n-gram orders for JS.")]
ProtocolOpt = Annotated[str, typer.Option(
    metavar="NAME",
    help="heldout (vs the corpus's test split), validation (vs the held-out lines training "
         "evaluates on and picks best.pt by) or paper (gan_language.py: 640 samples vs the "
         "training split, 640 training lines held back as the floor).")]
CriticOpt = Annotated[bool, typer.Option(
    "--critic", metavar="",
    help="Also train a fresh critic to tell samples from real text (slower).")]
LmOrderOpt = Annotated[int, typer.Option(metavar="N",
                                         help="Order of the Kneser–Ney character LM.")]
ThreadsOpt = Annotated[int | None, typer.Option(
    metavar="N", show_default=False, help="CPU threads for sampling (default: all cores).")]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print one JSON object.")]


def _keyword(name: str, annotation, default) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


# What eval and bench both take: where the reference comes from and how it is scored.
SCORING_OPTIONS = [
    _keyword("corpus", CorpusOpt, None), _keyword("reference", ReferenceOpt, None),
    _keyword("train_file", TrainOpt, None), _keyword("seed", SeedOpt, 0),
    _keyword("orders", OrdersOpt, "1,2,3,4"), _keyword("protocol", ProtocolOpt, "heldout"),
    _keyword("critic", CriticOpt, False), _keyword("lm_order", LmOrderOpt, 5),
    _keyword("threads", ThreadsOpt, None), _keyword("as_json", JsonOpt, False),
]


def scoring_settings(options: dict, seq_len: int | None = None):
    """The shared scoring options as one ScoringOptions (`friendly` applies --threads)."""
    from .scoring import ScoringOptions

    return ScoringOptions.of(
        corpus=options["corpus"], reference=options["reference"], train=options["train_file"],
        seed=options["seed"], orders=tuple(parse_numbers(options["orders"], "orders")),
        protocol=options["protocol"], lm_order=options["lm_order"], critic=options["critic"],
        seq_len=seq_len)


@app.command("eval", short_help="Score samples or a run against held-out text.",
             epilog="Example: textwgan eval samples.txt --corpus coco --json")
@friendly
@with_options(SCORING_OPTIONS)
def eval_(
    source: InputArg,
    n: Annotated[int | None, typer.Option(
        "--n", metavar="N", show_default=False,
        help="Samples to score: the first N of a file, or N drawn from a checkpoint (default: "
             "all of a file; 640 from a checkpoint).")] = None,
    temperature: Annotated[float, typer.Option(
        metavar="T", help="From a checkpoint: 0 decodes by argmax, above 0 samples at that "
                          "temperature.")] = 0.0,
    gan_bpc: Annotated[int | None, typer.Option(
        metavar="K", show_default=False,
        help="From a checkpoint, with --corpus: also a Monte-Carlo upper bound on the bits per "
             "character the generator gives held-out text, from K noise draws (slow; see "
             "docs/benchmark.md).")] = None,
    seq_len: Annotated[int | None, typer.Option(
        metavar="N", show_default=False,
        help="With --reference: sequence length (default 32).")] = None,
    **scoring,
):
    """Score samples against held-out text, each metric beside the value real text gets."""
    from .evaluation import evaluate

    with err.status("scoring…"):
        report = evaluate(source, scoring_settings(scoring, seq_len), n=n,
                          temperature=temperature, gan_bpc=gan_bpc).to_dict()
    for note in report.get("notes", []):
        say(f"note: {note}", "yellow")
    if scoring["as_json"]:
        write_stdout(json.dumps(report) + "\n")
        return
    against = {"paper": "held-back training", "reference": "reference"}.get(
        report["protocol"], "held-out")
    table = Table(title=Text(f"{report['input']}: {report['n']:,} samples vs "
                             f"{report['reference_size']:,} {against} sequences"),
                  box=box.SIMPLE)
    table.add_column("metric")
    table.add_column("samples", justify="right", no_wrap=True)
    lines = report.get("floor_lines") or report["n"]
    table.add_column(f"real text ({report['n']:,})" if lines >= report["n"] else
                     f"real text ({lines:,} lines, {report['n']:,} draws)", justify="right",
                     no_wrap=True)
    for row in _metric_rows(report):
        table.add_row(*map(Text, row))
    if report.get("gan_bpc") is not None:
        table.add_row(Text(f"GAN bits/char bound (K={report['gan_bpc_draws']:,})"),
                      Text(f"{report['gan_bpc']:.3f}"), Text("-"))
    out.print(table)
    out.print(Text(report["signature"], style="dim"), soft_wrap=True)


@app.command(short_help="Score several inputs side by side, with baselines.",
             epilog="Example: textwgan bench run1/ samples.txt --corpus coco "
                    "--temperatures 0.7,1.0 --baseline kn5")
@friendly
@with_options(SCORING_OPTIONS)
def bench(
    sources: Annotated[list[str] | None, typer.Argument(
        metavar="[INPUT]...", show_default=False,
        help="Samples files, checkpoints, run or model folders, shipped models by name.")
    ] = None,
    n: Annotated[int | None, typer.Option(
        "--n", metavar="N", show_default=False,
        help="Sequences per input, the same for every row (default: the smallest samples "
             "file, else 640).")] = None,
    temperatures: Annotated[str | None, typer.Option(
        metavar="LIST", show_default=False,
        help="Also score checkpoints and run folders at these sampling temperatures, e.g. "
             "0.5,0.7,1.0,1.3 (argmax is always a row).")] = None,
    reranks: Annotated[str | None, typer.Option(
        metavar="LIST", show_default=False,
        help="Also score checkpoints and run folders reranked by their critic, K candidates "
             "drawn per sample kept, at each K, e.g. 2,5,10 (argmax).")] = None,
    truncations: Annotated[str | None, typer.Option(
        metavar="LIST", show_default=False,
        help="Also score them with the noise truncated toward its mean at each PSI, e.g. "
             "0.5,0.7,0.9 (argmax).")] = None,
    baseline: Annotated[str | None, typer.Option(
        metavar="knN", show_default=False,
        help="Add the Kneser–Ney character model of order N (e.g. kn5), trained on the "
             "training text, at each temperature (1.0 if none given).")] = None,
    plot_file: Annotated[Path | None, typer.Option(
        "--plot", metavar="FILE.png", show_default=False,
        help="Draw the quality–diversity plane and JS-4 against temperature (needs "
             "pip install 'textwgan[plot]').")] = None,
    wide: Annotated[bool, typer.Option("--wide", metavar="",
                                       help="Show every metric (wide terminals).")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", metavar="",
                                           help="Print a Markdown table (every metric).")
                        ] = False,
    **scoring,
):
    """Score several inputs side by side at one common N, plus a real-text row, by JS-4."""
    from .compare import bench as bench_rows

    settings = scoring_settings(scoring)
    if plot_file is not None:
        from .plot import check_png_output

        check_png_output(plot_file, "plot_file")
    with err.status("scoring…"):
        result = bench_rows(sources or [], settings, n=n, temperatures=temperatures,
                            baseline=baseline, reranks=reranks, truncations=truncations)
    if plot_file is not None:
        from .plot import plot_bench

        plot_bench(result, plot_file)
        say(f"wrote {plot_file}")
    _report_bench(result, scoring["as_json"], markdown, wide)


def _report_bench(result: dict, as_json: bool, markdown: bool, wide: bool) -> None:
    if as_json:
        write_stdout(json.dumps(result) + "\n")
        return
    present = [m for m in ROW_METRICS if any(r.get(m[0]) is not None for r in result["rows"])]
    if markdown:
        write_stdout(_bench_markdown(result, present))
    else:
        _show_bench(result, present, wide)


def _bench_markdown(result: dict, present: list) -> str:
    header = ["input", "n", *[label for _, label, _, _, _ in present]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([r["input"], f"{r['n']:,}",
                                 *[_fmt(r.get(k), spec) for k, _, _, spec, _ in present]])
              + " |" for r in result["rows"]]
    return "\n".join(lines) + f"\n\n`{result['signature']}`\n"


def _show_bench(result: dict, present: list, wide: bool) -> None:
    cols = present if wide else [m for m in present if m[4]]
    table = Table(title=Text(f"textwgan bench: {result['n']:,} sequences per row"),
                  box=box.SIMPLE, pad_edge=False)
    table.add_column("input", overflow="fold", ratio=1, min_width=12)
    for _, label, short, _, _ in cols:
        table.add_column(label if wide else short, justify="right", no_wrap=True)
    for r in result["rows"]:
        table.add_row(Text(r["input"]), *[Text(_fmt(r.get(k), spec))
                                          for k, _, _, spec, _ in cols])
    out.print(table)
    if not wide and len(cols) < len(present):
        say("more metrics: --wide, --markdown or --json")
    out.print(Text(result["signature"], style="dim"), soft_wrap=True)


# --------------------------------------------------------------------------------------------
# plot


@app.command(short_help="Plot training curves and critic diagnostics.",
             epilog="Example: textwgan plot checkpoints/gp checkpoints/clip --out runs.png")
@friendly
def plot(
    runs: Annotated[list[Path], typer.Argument(metavar="RUN...", show_default=False,
                                               help="Run folders (or their log.jsonl).")],
    out_file: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE.png", show_default=False,
        help="PNG to write (needs matplotlib: pip install 'textwgan[plot]'); without it, a "
             "terminal summary.")] = None,
):
    """Plot training curves, critic weight histograms and per-layer gradient norms of runs."""
    from .plot import check_png_output, plot_runs, read_run, run_summaries, sparkline

    if out_file is not None:
        check_png_output(out_file)
    logs = [read_run(r) for r in runs]
    if out_file is not None:
        plot_runs(logs, out_file)
        say(f"wrote {out_file}")
        return
    # One block per run, not a table: sparklines stay readable in a narrow terminal.
    for r in run_summaries(logs):
        out.print(Text(f"{r['run']}  {r['steps']:,} steps", style="bold"))
        out.print(Text(f"  W estimate  {sparkline(r['w'])}  last {_fmt(r['w_last'], '.4f')}"))
        out.print(Text(f"  JS-4        {sparkline(r['js4'])}  best {_fmt(r['js4_best'], '.3f')}"
                       f", last {_fmt(r['js4_last'], '.3f')}"))
        if r["slope_mean"] is not None:
            out.print(Text(f"  ‖∇D‖ at interpolates {r['slope_mean']:.3f}, weights at bound "
                           f"{r['at_bound']:.1%} (last diagnostic)"))


def main() -> None:
    """The installed command: every failure, writing the output included, is one line."""
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
        say("error: standard output is closed; nothing can be shown", "bold red")
        raise SystemExit(2)
    try:
        app()
    except BrokenPipeError:  # `textwgan ... | head`: the reader has all it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (no flush error at exit)
        raise SystemExit(141) from None
    except TextWGANError as e:  # raised outside a command (--version onto a full disk)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (no flush error at exit)
        say(f"error: {e.message}", "bold red")
        raise SystemExit(e.exit_code) from None
    except OSError as e:  # writing standard output failed (a full disk, /dev/full)
        say(f"error: standard output: could not write ({e.strerror or e})", "bold red")
        raise SystemExit(1) from None

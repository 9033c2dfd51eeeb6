"""The exception types of textwgan, and how a message names a setting.

Library code raises `TextWGANError` (`InputError` for bad input and options); only the CLI
turns it into a one-line message and an exit code. A message names a setting with
`setting("seq_len")`: a Python caller reads `seq_len`, the command line reads `--seq-len`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_MARK = "\x1f"  # a control character no path or value typed by a user contains
_SETTING = re.compile(f"{_MARK}(\\w+){_MARK}")


def setting(name: str) -> str:
    """A setting's name inside an error message, rendered by whoever shows the message."""
    return f"{_MARK}{name}{_MARK}"


def render(message: str, name_of: Callable[[str], str] = lambda name: name) -> str:
    """The message with every `setting(...)` shown as `name_of(name)`."""
    return _SETTING.sub(lambda m: name_of(m.group(1)), message)


class TextWGANError(Exception):
    """A failure the user can understand and act on. `exit_code` is what the CLI exits with."""

    exit_code = 1  # runtime failure

    def __init__(self, message: str):
        self.raw = message
        self.message = render(message)
        super().__init__(self.message)

    def render(self, name_of: Callable[[str], str]) -> str:
        return render(self.raw, name_of)


class InputError(TextWGANError):
    """Bad input: a missing or unreadable file, a bad option value, an incompatible artifact,
    or more than the machine can hold (what the user chose, and can change)."""

    exit_code = 2


class WriteError(TextWGANError):
    """A file could not be written (a full disk, a quota, a vanished folder); what was there
    before is kept."""


def as_path(value, name: str):
    """`value` as a Path, or one InputError naming the setting: a Python caller who passes a
    number where a path goes gets the same kind of message as a command-line user."""
    import os
    from pathlib import Path

    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        return Path(value)
    raise InputError(f"{setting(name)} must be a path (a str or a pathlib.Path), got "
                     f"{type(value).__name__} {value!r}")


# --------------------------------------------------------------------------------------------
# The limits every module shares, and the checks of plain values (one wording everywhere).

MAX_SEED = 2**63 - 1  # torch and numpy seeds are 64-bit
MAX_TEMPERATURE = 1000.0  # far past uniform sampling already


def is_number(x) -> bool:
    import math

    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def parse_numbers(text, name: str, kind: type = int, example: str = "") -> list:
    """A comma-separated list of numbers (`0.5,0.7`), or a sequence from Python, as `kind`; one
    InputError naming the setting for anything else."""
    try:
        return [kind(x) for x in (text.split(",") if isinstance(text, str) else text)
                if str(x).strip()]
    except (TypeError, ValueError):
        eg = f", e.g. {example}" if example else ""
        raise InputError(f"{setting(name)} must be comma-separated numbers{eg}, got {text!r}"
                         ) from None


def share(part: int, whole: int) -> str:
    """part/whole as a percentage for a message, never rounded to 100% when some are missing
    or to 0% when some are there (4,987 of 5,000 is 99.7%, not 100%)."""
    if whole <= 0:
        return "0%"
    text = f"{part / whole:.0%}"
    if part < whole and text == "100%":
        text = f"{min(part / whole, 0.999):.1%}"
    elif part > 0 and text == "0%":
        text = f"{max(part / whole, 0.001):.1%}"
    return text


def check_int(name: str, value, low: int, high: int, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{setting(name)} must be an integer from {low:,} to {high:,}"
                         f"{' ' + why if why else ''}, got {value!r}")


def check_seed(seed) -> None:
    check_int("seed", seed, 0, MAX_SEED)


MAX_RERANK = 1000  # candidates per kept sample: past this, a larger n or seed is the better way
MAX_STEPS = 10_000  # gradient steps of a prompt search


def check_truncation(psi, name: str = "truncation") -> None:
    if not is_number(psi) or not 0 < psi <= 1:
        raise InputError(f"{setting(name)} must be a number in (0, 1] (1: plain "
                         f"sampling; lower: nearer the mean, less varied), got {psi!r}")


def check_rerank(k, name: str = "rerank") -> None:
    check_int(name, k, 1, MAX_RERANK, "(candidates drawn per sample kept)")


def check_temperature(temperature, name: str = "temperature") -> None:
    if not is_number(temperature) or not 0 <= temperature <= MAX_TEMPERATURE:
        raise InputError(f"{setting(name)} must be 0 (argmax) or a positive number up to "
                         f"{MAX_TEMPERATURE:g}, got {temperature!r}")


# --------------------------------------------------------------------------------------------
# A run that stops: as asked (a signal), or because it cannot go on.


class Interrupted(TextWGANError):
    """SIGINT or SIGTERM: the run saved its state and stopped, as asked. Exit 128 + signal."""

    stopped_as_asked = True  # the CLI prints it as a note, not as an error

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class Diverged(TextWGANError):
    """A loss became NaN or Inf; the last good checkpoint (if any) is kept."""

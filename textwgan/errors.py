"""The one exception type of textwgan.

Library code raises `TextWGANError` (or `InputError` for bad input and options); only the CLI
turns it into a one-line message and an exit code.
"""


class TextWGANError(Exception):
    """A failure the user can understand and act on. `exit_code` is what the CLI exits with."""

    exit_code = 1  # runtime failure

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InputError(TextWGANError):
    """Bad input: a missing or unreadable file, a bad option value, an incompatible artifact."""

    exit_code = 2

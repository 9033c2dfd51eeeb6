"""`python -m textwgan`, e.g. under torchrun."""

from .cli import main

main()

"""The Typer app every command module registers on (`main` imports them all: this module
imports none of them, so the registration has no import cycle)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="segsync",
    help="Keeps LMS course groups in step with site-wide user segments.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    pretty_exceptions_enable=False,
)

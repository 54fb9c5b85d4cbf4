"""What every command shares: settings, logging, the store, and one-line failures."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer

from worker import logs, shutdown
from worker.engine.brake import BrakeLimits
from worker.engine.dlq import DlqLimit
from worker.errors import ConfigError, FatalError, SegsyncError
from worker.ports import StateStore
from worker.settings import Settings, load_settings, unknown_environment
from worker.store.factory import open_store as open_url

R = TypeVar("R")


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"segsync: {message}".splitlines()[0], file=sys.stderr)
    raise SystemExit(code)


def run_app(app: typer.Typer) -> NoReturn:
    """Run the Typer app without its standalone mode: a usage error (unknown option, `release
    abc`, a missing file) becomes one line `segsync: <command>: <reason>`, exit 2, instead of
    a framed box; an unexpected exception is one line too, exit 1 (its traceback only with
    SEGSYNC_LOG_LEVEL=debug)."""
    bad = next((a for a in sys.argv[1:] if not _utf8(a)), None)
    if bad is not None:
        fail(f"argument {bad.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8", 2)
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="segsync", standalone_mode=False)
    except typer.TyperException as exc:  # click's ClickException and UsageError
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.format_message(), file=sys.stderr)
        else:
            path = ctx.command_path.removeprefix("segsync").strip() if ctx else ""
            fail(
                f"{path}{': ' if path else ''}{' '.join(exc.format_message().split())}",
                exc.exit_code,
            )
        code = exc.exit_code
    except typer.Abort:
        fail("aborted", 1)
    except Exception as exc:
        if os.environ.get("SEGSYNC_LOG_LEVEL", "").lower() == "debug":
            raise
        fail(f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}", 1)
    raise SystemExit(code if isinstance(code, int) else 0)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def guarded(fn: Callable[[], R], graceful: bool = False) -> R:
    """Run a command body; known failures become one line on stderr and an exit code.

    `graceful` (the worker): a stop signal is a request the body reads (worker/shutdown.py);
    otherwise it interrupts the body at once: one line, exit 130."""
    try:
        if not graceful:
            shutdown.interruptible()
        return fn()
    except KeyboardInterrupt as exc:
        fail(str(exc) or "interrupted", shutdown.EXIT_INTERRUPTED)
    except ConfigError as exc:
        fail(str(exc), 2)
    except FatalError as exc:
        fail(str(exc), 1)
    except SegsyncError as exc:
        fail(str(exc), 1)


def settings_and_logs() -> Settings:
    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level)
    logs.protect(settings)  # secret values are masked wherever they would appear
    unknown = unknown_environment()
    if unknown:
        # Not an error: the environment is shared (Kubernetes adds SEGSYNC_SERVICE_HOST...).
        logs.get("segsync").warning("ignored: not a setting", variables=unknown)
    return settings


def open_store(settings: Settings, migrate: bool = True) -> StateStore:
    """The configured store (SqliteStore or PostgresStore), migrated to head unless told not."""
    return open_url(settings.sqlalchemy_url(), migrate)


def brake_limits(settings: Settings) -> BrakeLimits | None:
    """The mass-removal brake's limits from settings; None when it is off (switched off, or
    both of its limits 0)."""
    if not settings.brake_enabled:
        return None
    limits = BrakeLimits(
        settings.brake_max_removals, settings.brake_max_share, settings.brake_min_removals
    )
    return None if not (limits.max_removals or limits.max_share) else limits


def dlq_limit(settings: Settings) -> DlqLimit | None:
    """The DLQ flood halt's limit from settings; None when the share is 0 (off)."""
    if not settings.dlq_max_share:
        return None
    return DlqLimit(settings.dlq_max_share, settings.dlq_window)

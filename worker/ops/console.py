"""What the ops commands share on the terminal side: progress bars, times, content ids."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol

from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

from schemas.events import UtcDatetime
from worker.codec import time_to_us
from worker.errors import ConfigError

_TIME = TypeAdapter(UtcDatetime)


class Progress(Protocol):
    """One progress bar; `advance` is cheap, so callers may call it per record."""

    def advance(self, n: int = 1) -> None: ...
    def total(self, total: int | None) -> None: ...


class _NoProgress:
    def advance(self, n: int = 1) -> None:
        pass

    def total(self, total: int | None) -> None:
        pass


class _RichProgress:
    def __init__(self, bar: RichProgress, task: TaskID) -> None:
        self._bar = bar
        self._task = task
        self._pending = 0

    def advance(self, n: int = 1) -> None:
        # Rich re-renders on its own thread; batch the updates so tight loops stay fast.
        self._pending += n
        if self._pending >= 1000:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._bar.advance(self._task, self._pending)
            self._pending = 0

    def total(self, total: int | None) -> None:
        self._bar.update(self._task, total=total)


def show_progress() -> bool:
    """Progress bars go to stderr, and only when a person is watching it."""
    return sys.stderr.isatty()


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Progress]:
    """A progress bar on a terminal's stderr; nothing at all when stderr is piped."""
    if not show_progress():
        yield _NoProgress()
        return
    bar = RichProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with bar:
        handle = _RichProgress(bar, bar.add_task(description, total=total))
        try:
            yield handle
        finally:
            handle.flush()


def say(message: str) -> None:
    """A line for the person or the pipeline log: always stderr, stdout carries data."""
    print(message, file=sys.stderr, flush=True)


def parse_time(value: str | None, option: str) -> int:
    """An RFC 3339 time (with offset) as microseconds since the epoch; None means now."""
    if value is None:
        return time_to_us(datetime.now(UTC))
    try:
        return time_to_us(_TIME.validate_python(value))
    except ValidationError:
        raise ConfigError(
            f"{option}: expected an RFC 3339 time with offset, e.g. 2024-05-01T12:00:00Z, "
            f"got {value[:64]!r}"
        ) from None


def content_id(prefix: str, *parts: str) -> str:
    """`prefix:` + sha256 of the parts (unit-separated): the same content, the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}:{digest}"

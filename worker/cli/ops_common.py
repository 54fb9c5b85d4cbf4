"""What the ops commands of `segsync` share (import, links apply, plan, diff, status, why).

Data goes to stdout, summaries and progress bars to stderr (bars only on a terminal). Exit
codes: 0 ok, 1 failure, 2 usage (bad options or settings); every failure is one line on
stderr.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from worker.cli.common import fail, guarded, open_store, settings_and_logs
from worker.ports import StateStore
from worker.settings import Settings

R = TypeVar("R")


def csv_file(flag: str, help: str) -> Path | None:
    """An optional CSV file option: it must exist and be a readable file."""
    option: Path | None = typer.Option(
        None, flag, help=help, exists=True, dir_okay=False, readable=True
    )
    return option


def ops_settings() -> Settings:
    """Settings and logs; kafka-python's own retries stay quiet unless debugging: a failure
    ends as one line on stderr."""
    settings = settings_and_logs()
    if settings.log_level != "debug":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    return settings


def existing_store(settings: Settings) -> StateStore:
    """The state store, which must exist already (reading commands never create one)."""
    from worker.store.factory import sqlite_path

    path = sqlite_path(settings.sqlalchemy_url())
    if path is not None and not Path(path).exists():
        fail(f"no state store at {path} (run `segsync migrate` or the worker first)")
    return open_store(settings, migrate=False)


def run_ops(body: Callable[[], R]) -> R:
    """guarded(), plus one-line failures for the store and Kafka."""
    from kafka.errors import KafkaError

    from worker.store.factory import store_error

    def wrapped() -> R:
        try:
            return body()
        except KafkaError as exc:
            fail(f"Kafka: {exc}")
        except Exception as exc:
            message = store_error(exc)
            if message is None:
                raise
            fail(f"state store: {message}")

    return guarded(wrapped)

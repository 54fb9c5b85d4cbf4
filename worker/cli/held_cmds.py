"""`segsync held`, `segsync release ID`, `segsync discard ID`: the mass-removal brake's desk."""

from __future__ import annotations

import dataclasses
import json
import sys

import typer

from worker.cli.app import app
from worker.cli.common import fail, guarded, open_store, settings_and_logs
from worker.ports import HeldBatch

# A store's ids are 64-bit: a bigger number is a usage error, not a database overflow.
BATCH_ID = typer.Argument(..., min=1, max=2**63 - 1, help="Batch id from `segsync held`.")


@app.command()
def held(
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    all_batches: bool = typer.Option(False, "--all", help="Also released and discarded ones."),
) -> None:
    """List removal batches held by the mass-removal brake, with their cause.

    Example: segsync held --json
    """

    def body() -> None:
        store = open_store(settings_and_logs())
        try:
            batches = store.held_batches(None if all_batches else "held")
        finally:
            store.close()
        if as_json or not sys.stdout.isatty():
            for b in batches:
                print(json.dumps(_as_dict(b)))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(batches)} held batch(es)")
        for col in ("id", "site", "cause", "commands", "status", "detail"):
            table.add_column(col)
        for b in batches:
            table.add_row(
                str(b.id),
                b.source,
                f"{b.cause_type} {b.cause_event_id}",
                str(b.commands),
                b.status,
                b.detail,
            )
        Console().print(table)

    guarded(body)


def _as_dict(b: HeldBatch) -> dict[str, object]:
    return dataclasses.asdict(b)


def _close(batch_id: int, release: bool) -> None:
    from worker.adapters.kafka_io import KafkaSink
    from worker.engine.publisher import publish_pending

    settings = settings_and_logs()
    store = open_store(settings)
    try:
        try:
            n = store.close_held(batch_id, release)
        except (LookupError, ValueError) as exc:
            fail(str(exc))
        if release:
            sink = KafkaSink(settings)
            try:
                publish_pending(store, sink)
            finally:
                sink.close()
    finally:
        store.close()
    print(f"{'released' if release else 'discarded'} batch {batch_id}: {n} command(s)")


@app.command()
def release(batch_id: int = BATCH_ID) -> None:
    """Publish a held batch's commands (in their original order, with their original ids).

    Example: segsync release 3
    """
    guarded(lambda: _close(batch_id, True))


@app.command()
def discard(batch_id: int = BATCH_ID) -> None:
    """Drop a held batch; it stays listed as discarded (`segsync held --all`). Use
    `segsync diff --publish` later if the LMS and desired() should be brought together.

    Example: segsync discard 3
    """
    guarded(lambda: _close(batch_id, False))

"""`segsync plan [--since TIME]`: what a fresh worker would emit, without emitting anything.

Reads the input topics from the start (or from the first record at/after TIME), with no
consumer group, up to the end offsets at start-up, into a scratch SQLite store in a temporary
folder, applying every poll's records as one batch exactly as the worker does. The commands
land in the scratch outbox; they are written to `out` as JSON lines in outbox order (the exact
bytes a worker would publish) and removed, so the scratch store stays small.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from schemas.commands import MAX_LINK_IDS
from worker import gc_policy
from worker.destinations import COMMAND, ENROL_COMMAND
from worker.engine.apply import BatchConfig, apply_batch
from worker.engine.records import InRecord, decode
from worker.ops import console
from worker.ops.bus import Reader
from worker.ports import StateStore
from worker.settings import Settings
from worker.store.factory import open_store

SCRATCH_GROUP = "segsync-plan"


@dataclass(slots=True)
class PlanResult:
    records: int = 0
    partitions: int = 0
    counts: Counter[str] = field(default_factory=Counter)


def scratch_store(folder: Path) -> StateStore:
    return open_store(f"sqlite:///{folder / 'plan.sqlite'}")


def apply_and_drain(
    store: StateStore, batch: list[InRecord], cfg: BatchConfig, out: BinaryIO
) -> Counter[str]:
    """Apply one batch like the worker, then write and drop the commands it owes."""
    decoded = [decode(r, cfg.max_future_s) for r in batch]
    with store.transaction() as tx:
        result = apply_batch(tx, decoded, cfg, checkpoint=tx.commit)
    while rows := store.pending(5000):
        for row in rows:
            if row.destination in (COMMAND, ENROL_COMMAND) and row.value is not None:
                out.write(row.value + b"\n")
                # A quote inside a JSON string is escaped: only the key itself matches.
                if b'"link_count":' in row.value:
                    result.counts["commands.links_cut"] += 1
        store.remove_pending([r.seq for r in rows])
    out.flush()
    return result.counts


def run_plan(settings: Settings, since_us: int | None, out: BinaryIO) -> PlanResult:
    cfg = BatchConfig(
        group_id=SCRATCH_GROUP,
        chunk=settings.backfill_chunk,
        max_future_s=settings.max_future_s,  # the worker's rule for events dated too far ahead
    )
    result = PlanResult()
    gc_policy.for_batches()  # the worker's batches, and the worker's collector settings
    reader = Reader(settings, max_poll_records=settings.batch_max_records)
    try:
        since_ms = None if since_us is None else since_us // 1000
        spans = reader.spans(settings.input_topics, since_ms)
        result.partitions = len(spans)
        total = sum(s.end - s.start for s in spans.values())
        with (
            tempfile.TemporaryDirectory(prefix="segsync-plan-") as tmp,
            console.progress("replaying into a scratch store", total) as bar,
        ):
            store = scratch_store(Path(tmp))
            try:
                for batch in reader.read(spans):
                    result.counts.update(apply_and_drain(store, batch, cfg, out))
                    result.records += len(batch)
                    bar.advance(len(batch))
            finally:
                store.close()
    finally:
        reader.close()
    return result


def summary(result: PlanResult) -> str:
    c = result.counts
    applied = sum(n for name, n in c.items() if name.startswith("events.applied."))
    stale = sum(n for name, n in c.items() if name.startswith("events.stale."))
    return (
        f"plan: {result.records} records from {result.partitions} partitions: "
        f"{applied} applied, {stale} stale, {c['events.duplicate']} duplicate, "
        f"{c['events.unknown']} unknown type, {c['events.dlq']} for the DLQ; "
        f"commands: {c['commands.add']} add, {c['commands.remove']} remove, "
        f"{c['commands.enrol']} enrol, {c['commands.unenrol']} unenrol"
        + _links_cut(c["commands.links_cut"])
    )


def _links_cut(n: int) -> str:
    if not n:
        return ""
    what = "command" if n == 1 else "commands"
    return (
        f"; warning: {n} {what} with link_ids cut to the first {MAX_LINK_IDS} "
        "(data.link_count has the full count)"
    )

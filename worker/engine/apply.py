"""Apply one batch of decoded records to the state store, inside the caller's transaction.

Order inside the transaction (the caller commits it, then publishes, then commits to Kafka):
  1. skip events already applied (by source + id), within the batch and in the store;
  2. fold the rest into the stored facts, newest (time, id) wins, and save what changed;
  3. recompute justifications for every touched scope and settle the pairs: owed commands
     go to the outbox; bulk scopes run in chunks and may `checkpoint()` (commit) between
     chunks, which is safe because every step is idempotent and re-running an unfinished
     event (its fact is then SAME, not STALE) continues the recompute;
  4. mark the events processed, bump counters, store the next input offsets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.domain.enrol import EnrolCommand
from worker.domain.facts import Verdict
from worker.domain.transitions import BatchCauses, Cause, Command
from worker.domain.updates import (
    BulkScope,
    FactUpdate,
    MarkUpdate,
    scope_of,
    to_update,
)
from worker.engine import bulk, enrol, recompute
from worker.engine.brake import BrakeLimits
from worker.engine.dlq import DlqLimit, dead_letters, dlq_record
from worker.engine.records import Decoded
from worker.ports import StoreTx


@dataclass(frozen=True, slots=True)
class BatchConfig:
    group_id: str
    chunk: int = 5000
    brake: BrakeLimits | None = None  # None: the mass-removal brake is off
    dlq_limit: DlqLimit | None = None  # None: no DLQ flood halt
    # Applied by records.decode (the caller decodes): None, events may be dated any time ahead.
    max_future_s: int | None = None


@dataclass(slots=True)
class BatchResult:
    commands: list[Command] = field(default_factory=list)
    enrol_commands: list[EnrolCommand] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    # Per (topic, partition, name): what `progress` writes (or the caller, for a lane).
    partition_counts: Counter[tuple[str, int, str]] = field(default_factory=Counter)


def apply_batch(
    tx: StoreTx,
    items: list[Decoded],
    cfg: BatchConfig,
    checkpoint: Callable[[], None] = lambda: None,
    progress: bool = True,
) -> BatchResult:
    """`progress`: also bump the counters and store the next input offsets in this
    transaction (step 4); a lane of a batch split by site (`engine.lanes`) leaves them to
    its caller, which stores them once every lane has committed."""
    result = BatchResult()
    per_partition = result.partition_counts

    def count(d: Decoded, name: str) -> None:
        per_partition[(d.rec.topic, d.rec.partition, name)] += 1
        result.counts[name] += 1

    bad: list[Decoded] = []
    fresh: list[Decoded] = []
    in_batch: set[tuple[str, str]] = set()
    for d in items:
        key = (d.rec.topic, d.rec.partition)
        result.next_offsets[key] = max(result.next_offsets.get(key, 0), d.rec.offset + 1)
        if d.replayed is not None:
            count(d, "events.duplicate")  # applied before: recognised from its envelope
        elif d.error is not None:
            bad.append(d)
        elif d.unknown_type is not None:
            count(d, "events.unknown")
        elif d.event is not None:
            ev_key = (d.event.source, d.event.event_id)
            if ev_key in in_batch:
                count(d, "events.duplicate")
            else:
                in_batch.add(ev_key)
                fresh.append(d)
    # First, before any chunk commit: a DLQ flood stops the batch with nothing written.
    to_dlq, _ = dead_letters(tx, bad, cfg.dlq_limit)
    # Their copies go in with that memory, i.e. in the first commit (maybe a chunk's): a crash
    # after a chunk commit must not leave them remembered as dead-lettered yet never queued.
    tx.add_outbox([dlq_record(d) for d in to_dlq])
    fresh_ids = {id(d) for d in to_dlq}
    for d in bad:
        count(d, "events.dlq" if id(d) in fresh_ids else "events.dlq_repeat")
    seen = tx.seen_events(in_batch)
    new: list[Decoded] = []
    for d in fresh:
        assert d.event is not None
        if (d.event.source, d.event.event_id) in seen:
            count(d, "events.duplicate")
        else:
            new.append(d)

    scopes = _fold_and_save(tx, new, count)
    batch_causes = _batch_causes(scopes.bulk)
    result.commands.extend(recompute.user_scopes(tx, scopes.users, batch_causes))
    by_source: dict[str, dict[BulkScope, Cause]] = defaultdict(dict)
    for scope, cause in scopes.bulk.items():
        if scope.selector[0] != "enrol_link":  # enrol links: the enrolment pass below
            by_source[scope.source][scope] = cause
    for source, source_scopes in sorted(by_source.items()):
        result.commands.extend(
            bulk.bulk_scopes(
                tx,
                source,
                source_scopes,
                batch_causes,
                cfg.chunk,
                checkpoint,
                cfg.brake,
            )
        )

    enrol_cfg = enrol.EnrolConfig(cfg.chunk, cfg.brake)
    result.enrol_commands = enrol.enrol_pass(tx, scopes.users, scopes.bulk, enrol_cfg, checkpoint)

    tx.mark_processed((d.event.source, d.event.event_id) for d in new if d.event)
    for c in result.commands:
        result.counts[f"commands.{c.kind}"] += 1
    for e in result.enrol_commands:
        result.counts[f"commands.{e.kind}"] += 1
    if items and (result.commands or result.enrol_commands):
        # Commands are counted against the partition of the batch's first record: totals
        # are what `status` shows, and one row per partition keeps workers apart.
        first = items[0].rec
        for kind in ("add", "remove", "enrol", "unenrol"):
            per_partition[(first.topic, first.partition, f"commands.{kind}")] += result.counts[
                f"commands.{kind}"
            ]
    if progress:
        store_progress(tx, cfg.group_id, result)
    return result


def store_progress(tx: StoreTx, group_id: str, result: BatchResult) -> None:
    """Step 4: the batch's counters and its next input offsets."""
    tx.bump_counters(result.partition_counts)
    tx.save_offsets(group_id, result.next_offsets)


def _batch_causes(bulk: dict[BulkScope, Cause]) -> BatchCauses:
    causes = BatchCauses({}, {}, {}, {})
    for scope, cause in bulk.items():
        sel = scope.selector
        if sel[0] == "enrol_link":
            continue  # ids of their own: never a group link's cause
        if sel[0] == "link":
            causes.links[(scope.source, sel[1])] = cause
        elif sel[0] == "segment":
            causes.segments[(scope.source, sel[1])] = cause
        elif sel[0] == "group":
            causes.groups[(scope.source, sel[1], sel[2])] = cause
        else:
            causes.courses[(scope.source, sel[1])] = cause
    return causes


@dataclass(slots=True)
class Scopes:
    users: dict[tuple[str, str], recompute.UserWork]
    bulk: dict[BulkScope, Cause]


def _fold_and_save(
    tx: StoreTx, new: list[Decoded], count: Callable[[Decoded, str], None]
) -> Scopes:
    by_kind: dict[str, list[tuple[Decoded, FactUpdate | MarkUpdate]]] = defaultdict(list)
    for order, d in enumerate(new):
        assert d.event is not None
        u = to_update(d.event, order)
        by_kind[u.kind].append((d, u))

    scopes = Scopes({}, {})
    for kind, pairs in by_kind.items():
        updates = [u for _, u in pairs]
        if isinstance(updates[0], FactUpdate):
            facts = [u for u in updates if isinstance(u, FactUpdate)]
            verdicts = tx.fold_facts(kind, [(u.key, u.fact) for u in facts])
        else:
            marks = [u for u in updates if isinstance(u, MarkUpdate)]
            verdicts = tx.fold_marks(kind, [(u.key, u.at) for u in marks])
        stale = Verdict.STALE
        for (d, u), verdict in zip(pairs, verdicts, strict=True):
            assert d.event is not None
            if verdict is stale:
                count(d, "events.stale." + d.event.event_type)
            else:
                count(d, "events.applied." + d.event.event_type)
                _add_scope(scopes, u)
    return scopes


def _add_scope(scopes: Scopes, u: FactUpdate | MarkUpdate) -> None:
    # Enrolments and memberships (nearly every event): the user's work directly, what
    # `scope_of` + `UserWork.add` would do, without a scope object per event.
    kind, key = u.kind, u.key
    if kind == "enrollment" or kind == "membership":
        work = scopes.users.get((key[0], key[2]))
        if work is None:
            work = scopes.users[(key[0], key[2])] = recompute.UserWork(key[0], key[2])
        if kind == "enrollment":
            work.courses.add(key[1])
            work.causes.append((u.cause, key[1], None))
        else:
            work.segments.add(key[1])
            work.causes.append((u.cause, None, key[1]))
        return
    scope = scope_of(kind, key)
    if isinstance(scope, BulkScope):
        # Later NEWER/SAME events of one key come later in the batch: the last one is the fact.
        scopes.bulk[scope] = u.cause
        return
    work = scopes.users.get((scope.source, scope.user_id))
    if work is None:
        work = recompute.UserWork(scope.source, scope.user_id)
        scopes.users[(scope.source, scope.user_id)] = work
    work.add(scope, u.cause)

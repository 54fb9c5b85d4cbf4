"""Recompute justifications for a candidate set, then settle the pairs they touch.

This is where state changes turn into commands: the justification diff is applied, each
touched pair is compared with its command history, and owed commands go to the outbox in
the same transaction as the state that owes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from schemas.commands import ADD_TYPE, REMOVE_TYPE
from worker.codec import COMMAND_CONTENT_TYPE, encode_command
from worker.destinations import COMMAND
from worker.domain.transitions import Cause, Command, PairKey, decide
from worker.store import held_repo, outbox_repo
from worker.store import justify_repo as jr
from worker.store.justify_repo import PairT, Row

CausesFor = Callable[[PairT, frozenset[str]], Iterable[Cause]]


@dataclass(frozen=True, slots=True)
class Diff:
    inserts: set[Row]
    deletes: set[Row]


def diff(truth: set[Row], existing: set[Row], only: set[tuple[str, str]] | None = None) -> Diff:
    """Rows to add and to drop; `only` limits both sides to these (link, user) candidates."""
    if only is not None:
        truth = {r for r in truth if (r[0], r[1]) in only}
        existing = {r for r in existing if (r[0], r[1]) in only}
    return Diff(truth - existing, existing - truth)


def settle(
    conn: Connection,
    source: str,
    d: Diff,
    causes_for: CausesFor,
    hold: int | None = None,
) -> list[Command]:
    """`hold`: the brake's batch id when this scope's removals must be held, not published."""
    if not d.inserts and not d.deletes:
        return []
    jr.apply_diff(conn, source, d.inserts, d.deletes)
    added: dict[PairT, set[str]] = defaultdict(set)
    dropped: dict[PairT, set[str]] = defaultdict(set)
    for link_id, user, course, group in d.inserts:
        added[(course, group, user)].add(link_id)
    for link_id, user, course, group in d.deletes:
        dropped[(course, group, user)].add(link_id)
    touched = set(added) | set(dropped)
    now = jr.pair_links(conn, source, touched)
    history = jr.pair_transitions(conn, source, touched)
    commands: list[Command] = []
    publish: list[outbox_repo.OutboxRecord] = []
    held: dict[int, list[held_repo.HeldRecord]] = defaultdict(list)
    saved: dict[PairT, jr.Saved] = {}
    for p in sorted(touched):
        after = frozenset(now.get(p, ()))
        before = (after - added.get(p, set())) | dropped.get(p, set())
        count, queued_behind = history.get(p, (0, None))
        cmd = decide(PairKey(source, *p), count, before, after, causes_for(p, before | after))
        if cmd is None:
            continue
        commands.append(cmd)
        # A pair with held commands queues later ones behind them: per-pair order survives.
        batch = queued_behind or (hold if cmd.kind == "remove" else None)
        record = to_record(cmd)
        if batch is None:
            publish.append(record)
        else:
            held[batch].append(held_repo.HeldRecord(*p, record))
        saved[p] = (cmd.number + 1, batch, cmd.reason, cmd.caused_by, cmd.time_us)
    jr.save_transitions(conn, source, saved)
    outbox_repo.add(conn, publish)
    for batch_id, records in held.items():
        held_repo.add(conn, batch_id, records)
    return commands


def to_record(cmd: Command) -> outbox_repo.OutboxRecord:
    p = cmd.pair
    value = encode_command(
        command_id=cmd.command_id,
        source=p.source,
        kind=cmd.kind,
        course_id=p.course_id,
        group_id=p.group_id,
        user_id=p.user_id,
        link_ids=cmd.link_ids,
        reason=cmd.reason,
        caused_by=cmd.caused_by,
        time_us=cmd.time_us,
    )
    headers: outbox_repo.Headers = [("content-type", COMMAND_CONTENT_TYPE.encode())]
    ce_type = ADD_TYPE if cmd.kind == "add" else REMOVE_TYPE
    meta = outbox_repo.CommandMeta(ce_type, cmd.reason, cmd.time_us)
    return outbox_repo.OutboxRecord(COMMAND, p.user_id.encode(), value, headers, meta=meta)

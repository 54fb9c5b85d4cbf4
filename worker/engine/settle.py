"""Recompute justifications for a candidate set, then settle the pairs they touch.

This is where state changes turn into commands: the store has applied the justification diff,
each touched pair is compared with its command history, and owed commands go to the outbox
in the same transaction as the state that owes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from schemas.commands import ADD_TYPE, REMOVE_TYPE
from worker.codec import encode_command
from worker.destinations import COMMAND
from worker.domain.justify import Diff, Row
from worker.domain.transitions import Cause, Command, PairKey, decide
from worker.engine.owed import Owed, link_deltas, outbox_record, owed_commands
from worker.ports import OutboxRecord, PairT, SitePair, StoreTx

CausesFor = Callable[[PairT, frozenset[str]], Iterable[Cause]]
SiteCausesFor = Callable[[str, PairT, frozenset[str]], Iterable[Cause]]


def settle(
    tx: StoreTx,
    source: str,
    d: Diff,
    causes_for: CausesFor,
    hold: int | None = None,
) -> list[Command]:
    """`d`: a justification diff already applied (`StoreTx.apply_truth`). `hold`: the
    brake's batch id when this scope's removals must be held, not published."""
    return settle_sites(tx, {source: d}, lambda _, p, links: causes_for(p, links), hold)


def settle_sites(
    tx: StoreTx,
    diffs: Mapping[str, Diff],
    causes_for: SiteCausesFor,
    hold: int | None = None,
) -> list[Command]:
    """`settle` of several sites' diffs at once: one read of their pairs' states."""
    added, dropped = link_deltas(((s, d.inserts, d.deletes) for s, d in diffs.items()), _site_pair)
    touched = set(added) | set(dropped)
    if not touched:
        return []
    states = tx.pair_states(touched)

    def decide_one(
        sp: SitePair, count: int, before: frozenset[str], after: frozenset[str]
    ) -> Command | None:
        causes = causes_for(sp[0], sp[1:], before | after)
        return decide(PairKey(*sp), count, before, after, causes)

    commands: list[Command] = []
    owed: Owed[PairT] = Owed()
    owing = owed_commands(touched, states, added, dropped, decide_one, hold, "remove")
    for sp, cmd, batch in owing:
        commands.append(cmd)
        p = (sp[1], sp[2], sp[3])
        owed.add(sp[0], p, cmd, to_record(cmd), batch, p)
    owed.write(tx, tx.save_transitions)
    return commands


def _site_pair(source: str, row: Row) -> SitePair:
    return (source, row[2], row[3], row[1])  # row: (link, user, course, group)


def to_record(cmd: Command) -> OutboxRecord:
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
    ce_type = ADD_TYPE if cmd.kind == "add" else REMOVE_TYPE
    return outbox_record(COMMAND, p.user_id, value, ce_type, cmd.reason, cmd.time_us)

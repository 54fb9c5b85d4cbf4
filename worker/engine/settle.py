"""Recompute justifications for a candidate set, then settle the pairs they touch.

This is where state changes turn into commands: the store has applied the justification diff,
each touched pair is compared with its command history, and owed commands go to the outbox
in the same transaction as the state that owes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, Protocol, TypeVar

from schemas.commands import ADD_TYPE, REMOVE_TYPE
from worker.codec import COMMAND_HEADER, encode_command
from worker.destinations import COMMAND
from worker.domain.justify import Diff
from worker.domain.transitions import Cause, Command, PairKey, decide, owes_command
from worker.ports import (
    CommandMeta,
    Headers,
    HeldRecord,
    OutboxRecord,
    PairState,
    PairT,
    Saved,
    SitePair,
    StoreTx,
)

_NONE: PairState = (frozenset(), 0, None)  # no links, no history
_EMPTY: frozenset[str] = frozenset()
CausesFor = Callable[[PairT, frozenset[str]], Iterable[Cause]]
SiteCausesFor = Callable[[str, PairT, frozenset[str]], Iterable[Cause]]
P = TypeVar("P")  # a pair: (course, group, user), or an enrolment pair (course, user)


class Decided(Protocol):
    """A command of either side, as far as its pair's history goes."""

    @property
    def number(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def caused_by(self) -> str: ...
    @property
    def time_us(self) -> int: ...


class Owed(Generic[P]):
    """What a settle's commands owe, group or enrolment side: each command's outbox record,
    published now or held behind a brake batch, and its pair's history, per site."""

    def __init__(self) -> None:
        self.publish: list[OutboxRecord] = []
        self.held: dict[int, list[HeldRecord]] = defaultdict(list)
        self.saved: dict[str, dict[P, Saved]] = defaultdict(dict)

    def add(
        self,
        source: str,
        pair: P,
        cmd: Decided,
        record: OutboxRecord,
        batch: int | None,
        held_key: tuple[str, str, str],  # (course, group or "", user) of a held record
    ) -> None:
        if batch is None:
            self.publish.append(record)
        else:
            self.held[batch].append(HeldRecord(*held_key, record))
        self.saved[source][pair] = (cmd.number + 1, batch, cmd.reason, cmd.caused_by, cmd.time_us)

    def write(self, tx: StoreTx, save: Callable[[str, dict[P, Saved]], None]) -> None:
        for source, counts in self.saved.items():
            save(source, counts)
        tx.add_outbox(self.publish)
        for batch_id, records in self.held.items():
            tx.add_held(batch_id, records)


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
    added: dict[SitePair, set[str]] = defaultdict(set)
    dropped: dict[SitePair, set[str]] = defaultdict(set)
    for source, d in diffs.items():
        for link_id, user, course, group in d.inserts:
            added[(source, course, group, user)].add(link_id)
        for link_id, user, course, group in d.deletes:
            dropped[(source, course, group, user)].add(link_id)
    touched = set(added) | set(dropped)
    if not touched:
        return []
    states = tx.pair_states(touched)
    commands: list[Command] = []
    owed: Owed[PairT] = Owed()
    for sp in sorted(touched):
        source, p = sp[0], (sp[1], sp[2], sp[3])
        after, count, queued_behind = states.get(sp, _NONE)
        if not owes_command(count, after):
            continue  # its history already says what its links say: no causes to gather
        before = (after - added.get(sp, _EMPTY)) | dropped.get(sp, _EMPTY)
        cmd = decide(PairKey(*sp), count, before, after, causes_for(source, p, before | after))
        if cmd is None:
            continue
        commands.append(cmd)
        # A pair with held commands queues later ones behind them: per-pair order survives.
        batch = queued_behind or (hold if cmd.kind == "remove" else None)
        owed.add(source, p, cmd, to_record(cmd), batch, p)
    owed.write(tx, tx.save_transitions)
    return commands


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
    headers: Headers = [COMMAND_HEADER]
    ce_type = ADD_TYPE if cmd.kind == "add" else REMOVE_TYPE
    meta = CommandMeta(ce_type, cmd.reason, cmd.time_us)
    return OutboxRecord(COMMAND, p.user_id.encode(), value, headers, meta=meta)

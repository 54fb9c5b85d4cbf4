"""What the two settles share (groups: `worker.engine.settle`, enrolments:
`worker.engine.enrol_settle`): turning applied justification diffs into touched pairs, the
walk over those pairs that decides which owe a command, and what the owed commands write.

A site pair is `(source, *pair)`: `(source, course, group, user)` on the group side,
`(source, course, user)` on the enrolment side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, Protocol, TypeVar

from worker.codec import COMMAND_HEADER
from worker.domain.transitions import owes_command
from worker.ports import (
    CommandMeta,
    Headers,
    HeldRecord,
    OutboxRecord,
    PairState,
    Saved,
    StoreTx,
)

NONE: PairState = (frozenset(), 0, None)  # no links, no history
EMPTY: frozenset[str] = frozenset()
K = TypeVar("K", bound=tuple[str, ...])  # a site pair
P = TypeVar("P")  # a pair without its site
R = TypeVar("R", bound=tuple[str, ...])  # a justification row: (link id, user, course[, group])


class Decided(Protocol):
    """A command of either side, as far as its pair's history goes."""

    @property
    def kind(self) -> str: ...
    @property
    def number(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def caused_by(self) -> str: ...
    @property
    def time_us(self) -> int: ...


C = TypeVar("C", bound=Decided)


def link_deltas(
    diffs: Iterable[tuple[str, Iterable[R], Iterable[R]]],
    key: Callable[[str, R], K],
) -> tuple[dict[K, set[str]], dict[K, set[str]]]:
    """Per site pair, the link ids a diff added and dropped; `diffs`: (source, inserted
    rows, deleted rows); `key`: a row's site pair. A row's link id is its first field."""
    added: dict[K, set[str]] = defaultdict(set)
    dropped: dict[K, set[str]] = defaultdict(set)
    for source, inserts, deletes in diffs:
        for row in inserts:
            added[key(source, row)].add(row[0])
        for row in deletes:
            dropped[key(source, row)].add(row[0])
    return added, dropped


def owed_commands(
    touched: Iterable[K],
    states: Mapping[K, PairState],
    added: Mapping[K, set[str]],
    dropped: Mapping[K, set[str]],
    decide: Callable[[K, int, frozenset[str], frozenset[str]], C | None],
    hold: int | None,
    held_kind: str,
) -> Iterator[tuple[K, C, int | None]]:
    """The touched pairs that owe a command, in pair order: (site pair, command, brake
    batch it waits behind or None). `decide(site pair, count, links before, links after)`
    is the side's rule; `hold`: the brake's batch for this scope's `held_kind` commands."""
    for sp in sorted(touched):
        after, count, queued_behind = states.get(sp, NONE)
        if not owes_command(count, after):
            continue  # its history already says what its links say: no causes to gather
        before = (after - added.get(sp, EMPTY)) | dropped.get(sp, EMPTY)
        cmd = decide(sp, count, before, after)
        if cmd is None:
            continue
        # A pair with held commands queues later ones behind them: per-pair order survives.
        yield sp, cmd, queued_behind or (hold if cmd.kind == held_kind else None)


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


def outbox_record(
    topic: str, user_id: str, value: bytes, ce_type: str, reason: str, time_us: int
) -> OutboxRecord:
    """A command's outbox record: keyed by its user (one user's commands stay in order)."""
    headers: Headers = [COMMAND_HEADER]
    meta = CommandMeta(ce_type, reason, time_us)
    return OutboxRecord(topic, user_id.encode(), value, headers, meta=meta)

"""Writes of an engine transaction held until they must go: one statement per table.

A batch settles each site on its own (four sites: four settles, each writing its pairs'
histories and its commands), so a thin batch wrote the `pair`, `enrol_pair` and `outbox`
tables once per site. Nothing in the transaction reads the outbox, and a site's pair
histories are read only by a later settle of the same site, so these rows wait here:
- every held row goes out before the transaction commits (`SqlTx.commit`: a checkpoint of
  a big recompute, or the end of the batch), in the order it came, so outbox sequence
  numbers keep the order the commands were decided in;
- a site's pending pair histories go out before that site's pairs are read again.
The batch's bookkeeping (the processed-event log, counters, offsets) is held the same way.
On PostgreSQL everything held goes out in one statement (`db.combined`): a thin batch's
writes were six round trips at its commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy.engine import Connection

from worker.ports import TP, EPair, OutboxRecord, PairT, Saved
from worker.store import db, enrol_repo, justify_repo, outbox_repo

MarkProcessed = Callable[[Connection, Sequence[tuple[str, str]]], None]


class WriteBehind:
    def __init__(self, mark_processed: MarkProcessed) -> None:
        self._mark_processed = mark_processed
        self._reset()

    def _reset(self) -> None:
        self._pairs: dict[tuple[str, str, str, str], Saved] = {}
        self._enrol_pairs: dict[tuple[str, str, str], Saved] = {}
        self._pair_sites: set[str] = set()
        self._enrol_sites: set[str] = set()
        self._outbox: list[OutboxRecord] = []
        self._processed: set[tuple[str, str]] = set()
        self._processed_out: set[tuple[str, str]] = set()  # written before a seen read
        self._counters: Counter[tuple[str, int, str]] = Counter()
        self._offsets: dict[str, dict[TP, int]] = {}  # per consumer group

    def save_pairs(self, source: str, counts: dict[PairT, Saved]) -> None:
        if counts:
            self._pair_sites.add(source)
            self._pairs.update({(source, c, g, u): s for (c, g, u), s in counts.items()})

    def save_enrol_pairs(self, source: str, counts: dict[EPair, Saved]) -> None:
        if counts:
            self._enrol_sites.add(source)
            self._enrol_pairs.update({(source, c, u): s for (c, u), s in counts.items()})

    def add_outbox(self, records: Sequence[OutboxRecord]) -> None:
        self._outbox.extend(records)

    def mark_processed(self, keys: Iterable[tuple[str, str]]) -> None:
        self._processed.update(keys)
        self._processed -= self._processed_out  # each key is inserted once (no ON CONFLICT)

    def bump_counters(self, counts: dict[tuple[str, int, str], int]) -> None:
        self._counters.update(counts)

    def save_offsets(self, group_id: str, offsets: dict[TP, int]) -> None:
        self._offsets.setdefault(group_id, {}).update(offsets)

    def before_seen_read(self, conn: Connection) -> None:
        if self._processed:
            self._mark_processed(conn, list(self._processed))  # each writer sorts
            self._processed_out |= self._processed
            self._processed = set()

    def before_pair_read(self, conn: Connection, source: str) -> None:
        if source in self._pair_sites:
            justify_repo.save_transitions(conn, self._pairs)
            self._pairs, self._pair_sites = {}, set()

    def before_enrol_pair_read(self, conn: Connection, source: str) -> None:
        if source in self._enrol_sites:
            enrol_repo.save_transitions(conn, self._enrol_pairs)
            self._enrol_pairs, self._enrol_sites = {}, set()

    def flush(self, conn: Connection) -> None:
        """Everything held, before a commit (one table each: `db.combined` needs that)."""
        with db.combined(conn):
            if self._pairs:
                justify_repo.save_transitions(conn, self._pairs)
            if self._enrol_pairs:
                enrol_repo.save_transitions(conn, self._enrol_pairs)
            if self._outbox:
                outbox_repo.add(conn, self._outbox)
            if self._processed:
                self._mark_processed(conn, list(self._processed))  # each writer sorts
            if self._counters:
                outbox_repo.bump_counters(conn, dict(self._counters))
            groups = sorted(self._offsets.items())
            if groups:
                outbox_repo.save_offsets(conn, *groups[0])
        for group in groups[1:]:  # a second group in one transaction: tests only
            outbox_repo.save_offsets(conn, *group)
        self._reset()

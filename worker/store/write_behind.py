"""Writes of an engine transaction held until they must go: one statement per table.

A batch settles each site on its own (four sites: four settles, each writing its pairs'
histories and its commands), so a thin batch wrote the `pair`, `enrol_pair` and `outbox`
tables once per site. Nothing in the transaction reads the outbox, and a site's pair
histories are read only by a later settle of the same site, so these rows wait here:
- every held row goes out before the transaction commits (`SqlTx.commit`: a checkpoint of
  a big recompute, or the end of the batch), in the order it came, so outbox sequence
  numbers keep the order the commands were decided in;
- a site's pending pair histories go out before that site's pairs are read again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from worker.ports import EPair, OutboxRecord, PairT, Saved
from worker.store import enrol_repo, justify_repo, outbox_repo


class WriteBehind:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pairs: dict[tuple[str, str, str, str], Saved] = {}
        self._enrol_pairs: dict[tuple[str, str, str], Saved] = {}
        self._pair_sites: set[str] = set()
        self._enrol_sites: set[str] = set()
        self._outbox: list[OutboxRecord] = []

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

    def before_pair_read(self, conn: Connection, source: str) -> None:
        if source in self._pair_sites:
            justify_repo.save_transitions(conn, self._pairs)
            self._pairs, self._pair_sites = {}, set()

    def before_enrol_pair_read(self, conn: Connection, source: str) -> None:
        if source in self._enrol_sites:
            enrol_repo.save_transitions(conn, self._enrol_pairs)
            self._enrol_pairs, self._enrol_sites = {}, set()

    def flush(self, conn: Connection) -> None:
        """Everything held, before a commit."""
        if self._pairs:
            justify_repo.save_transitions(conn, self._pairs)
        if self._enrol_pairs:
            enrol_repo.save_transitions(conn, self._enrol_pairs)
        if self._outbox:
            outbox_repo.add(conn, self._outbox)
        self._reset()

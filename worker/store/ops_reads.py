"""The store's reads for the ops commands (`why`, `diff`, `resync`) and the brake's desk
(`held`, `release`, `discard`): each on a connection of its own, outside any batch."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine, select, union
from sqlalchemy.engine import Connection

from worker.ports import EPair, HeldBatch, PairT
from worker.store import enrol_repo as er
from worker.store import held_repo, why_repo
from worker.store import justify_repo as jr
from worker.store.tables import link, pair


class OpsReads:
    engine: Engine

    def _reader(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def read_user(self, source: str, user: str, course: str | None) -> dict[str, Any]:
        with self._reader() as conn:
            return why_repo.read_user(conn, source, user, course)

    def managed_groups(self, source: str) -> set[tuple[str, str]]:
        """The group of some link, or a group the worker ever sent a command for."""
        q = union(
            select(link.c.course_id, link.c.group_id).where(
                link.c.source == source, link.c.course_id.is_not(None)
            ),
            select(pair.c.course_id, pair.c.group_id).where(pair.c.source == source),
        )
        with self._reader() as conn:
            return {(r[0], r[1]) for r in conn.execute(q)}

    def desired_pairs(self, source: str) -> Iterator[PairT]:
        """The pairs whose number of commands is odd: what the worker has told the LMS."""
        q = select(pair.c.course_id, pair.c.group_id, pair.c.user_id).where(
            pair.c.source == source, pair.c.transitions % 2 == 1
        )
        with self._reader() as conn:
            found = [(r[0], r[1], r[2]) for r in conn.execute(q)]
        return iter(found)

    def pair_links(self, source: str, pairs: Iterable[PairT]) -> dict[PairT, set[str]]:
        with self._reader() as conn:
            return jr.pair_links(conn, source, pairs)

    def managed_courses(self, source: str) -> set[str]:
        with self._reader() as conn:
            return er.managed_courses(conn, source)

    def desired_enrolments(self, source: str) -> Iterator[EPair]:
        with self._reader() as conn:
            return iter(er.desired_enrolments(conn, source))

    def enrol_resync_attrs(
        self, source: str, pairs: Sequence[EPair]
    ) -> dict[EPair, tuple[list[str], list[str], str]]:
        with self._reader() as conn:
            return er.resync_attrs(conn, source, pairs)

    # --- the brake's desk ---
    def held_batches(self, status: str | None = None) -> list[HeldBatch]:
        with self._reader() as conn:
            return held_repo.batches(conn, status)

    def transaction(self, sites: Collection[str] = ()) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def close_held(self, batch_id: int, release: bool) -> int:
        with self._reader() as conn:
            source = held_repo.source_of(conn, batch_id)
        # It clears its pairs' hold: it takes its site's turn like a batch (ADR 0013).
        with self.transaction([source] if source is not None else []) as tx:
            return held_repo.close(tx.conn, batch_id, release)

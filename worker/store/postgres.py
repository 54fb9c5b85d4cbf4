"""PostgresStore: the production store, set-based. Lookups and writes are fixed statements
over arrays (`pg`), the justification rule and its diff one statement per chunk
(`justify_pg`), publishers serialised by an advisory lock (docs/adr/0004, 0005)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from worker.domain.candidates import TouchingLinks
from worker.domain.enrol import EnrolLinkState
from worker.domain.facts import Fact, Verdict
from worker.domain.justify import Diff, Row
from worker.ports import (
    ERow,
    FactKey,
    PairState,
    Sample,
    SiteELinkRow,
    SiteEPair,
    SiteKey,
    SitePair,
)
from worker.store import enrol_pg, fold_pg, justify_pg, site_locks, user_truth_pg
from worker.store import enrol_repo as er
from worker.store.sql_base import SqlStore
from worker.store.sql_tx import SqlTx
from worker.store.sqlite import HELD_SQL

# One publisher at a time across workers sharing a PostgreSQL, so that per-pair command
# order on the topic is outbox order (a pair's later transition always has a larger seq).
PUBLISH_LOCK = 0x5E65_0001


# The batch statements join the batch's arrays to the state tables, and PostgreSQL plans
# them from the tables' statistics. A first load (a new deployment's import, a benchmark)
# grows them far faster than autovacuum samples them, and plans made for empty tables ran
# a 100,000-event load 3x slower (docs/BENCHMARKS.md). So the store refreshes them itself
# each time this process has doubled the rows it wrote: a handful of times per load, each
# a sample, taking no lock that blocks writes. The batch statements need row counts and
# rough distinct counts, not fine histograms: a sample of 3,000 rows per table (statistics
# target 10) does, at a sixth of the default's cost (100: 30,000 rows, measured 310 ms vs
# 50 ms on a 100,000-event store; ANALYZE was ~5 % of PostgreSQL's time per event).
FIRST_ANALYZE_ROWS = 5_000
ANALYZE_TARGET = 10
STATE_TABLES = (
    "enrollment_method, membership, link, processed_event, justification, pair,"
    " enrol_link, enrol_justification, enrol_pair"
)


@dataclass(slots=True)
class _Growth:
    written: int = 0
    next_at: int = FIRST_ANALYZE_ROWS


_growth: WeakKeyDictionary[Engine, _Growth] = WeakKeyDictionary()


class PostgresTx(SqlTx):
    def _wrote(self, rows: int) -> None:
        g = _growth.setdefault(self.conn.engine, _Growth())
        g.written += rows
        if g.written >= g.next_at:
            g.next_at = 2 * g.written
            # For this transaction only; autovacuum's own ANALYZE keeps the default.
            self.conn.exec_driver_sql(f"SET LOCAL default_statistics_target = {ANALYZE_TARGET}")
            self.conn.exec_driver_sql(f"ANALYZE {STATE_TABLES}")

    def fold_facts(self, kind: str, updates: Sequence[tuple[FactKey, Fact]]) -> list[Verdict]:
        self._wrote(len(updates))
        return fold_pg.fold_facts(self.conn, kind, updates)

    @staticmethod
    def _mark_processed(conn: Connection, keys: Sequence[tuple[str, str]]) -> None:
        fold_pg.mark_processed(conn, keys)

    def seen_events(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        self.behind.before_seen_read(self.conn)
        return fold_pg.seen_events(self.conn, keys)

    def fold_marks(self, kind: str, updates: Sequence[tuple[FactKey, int]]) -> list[Verdict]:
        self._wrote(len(updates))
        return fold_pg.fold_marks(self.conn, kind, updates)

    def truth_diff(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: Sequence[tuple[str, str]] | None = None,
    ) -> Diff:
        if candidates is None:
            return Diff(*justify_pg.truth_diff(self.conn, source, links=link_ids, users=users))
        return Diff(*justify_pg.truth_diff(self.conn, source, candidates))

    def apply_truth(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: Sequence[tuple[str, str]] | None = None,
    ) -> Diff:
        # One statement: the rule, the difference with the stored rows, and its writes.
        if candidates is None:
            got = justify_pg.truth_diff(self.conn, source, links=link_ids, users=users, apply=True)
        else:
            got = justify_pg.truth_diff(self.conn, source, candidates, apply=True)
        return Diff(*got)

    def apply_truth_sites(
        self, candidates: Mapping[str, Sequence[tuple[str, str]]]
    ) -> dict[str, Diff]:
        got = justify_pg.pairs_diff(self.conn, candidates, apply=True)
        return {source: Diff(*d) for source, d in got.items()}

    def apply_user_truth(
        self,
        changed: Mapping[SiteKey, tuple[AbstractSet[str], AbstractSet[str]]],
        touching: TouchingLinks,
    ) -> dict[str, Diff]:
        # One statement: the narrowing, the rule and its writes; the holdings stay here.
        return user_truth_pg.apply_user_truth(self.conn, changed)

    def next_users(
        self, source: str, link_ids: Sequence[str], after: str | None, limit: int
    ) -> list[str]:
        return justify_pg.next_users(self.conn, source, link_ids, after, limit)

    def enrol_next_users(
        self, source: str, link_ids: Sequence[str], after: str | None, limit: int
    ) -> list[str]:
        return enrol_pg.next_users(self.conn, source, link_ids, after, limit)

    def pair_states(self, pairs: Iterable[SitePair]) -> dict[SitePair, PairState]:
        wanted = list(pairs)
        for source in {p[0] for p in wanted}:
            self.behind.before_pair_read(self.conn, source)
        return justify_pg.pair_states(self.conn, wanted)

    def enrol_pair_states(self, pairs: Iterable[SiteEPair]) -> dict[SiteEPair, PairState]:
        wanted = list(pairs)
        for source in {p[0] for p in wanted}:
            self.behind.before_enrol_pair_read(self.conn, source)
        return enrol_pg.pair_states(self.conn, wanted)

    def links_touching(
        self, courses: Iterable[tuple[str, str]], segments: Iterable[tuple[str, str]]
    ) -> list[tuple[str, str, str | None, str | None]]:
        cs, ss = sorted(set(courses)), sorted(set(segments))
        return justify_pg.links_touching(self.conn, cs, ss)

    def apply_diff(self, source: str, inserts: set[Row], deletes: set[Row]) -> None:
        if deletes:
            justify_pg.delete_rows(self.conn, source, sorted((a, u) for a, u, _, _ in deletes))
        super().apply_diff(source, inserts, set())

    def enrol_links_selected(
        self,
        links: Iterable[SiteKey],
        segments: Iterable[SiteKey],
        courses: Iterable[SiteKey],
    ) -> list[SiteELinkRow]:
        return enrol_pg.links_selected(self.conn, links, segments, courses)

    def enrol_link_states(self, links: Iterable[SiteKey]) -> dict[SiteKey, EnrolLinkState]:
        return enrol_pg.link_states(self.conn, links)

    def enrol_truth_diff(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: set[tuple[str, str]],
    ) -> tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]:
        return enrol_pg.truth_diff(self.conn, source, link_ids, users, candidates)

    def enrol_truth_diff_sites(
        self, candidates: Mapping[str, set[tuple[str, str]]]
    ) -> dict[str, tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]]:
        return enrol_pg.truth_diff_sites(self.conn, candidates)

    def enrol_apply_diff(self, diffs: Mapping[str, tuple[set[ERow], set[ERow]]]) -> None:
        # Every site in one statement each: the deletions, then the insertions.
        deletes = [(s, a, u) for s, (_, d) in diffs.items() for a, u, _ in d]
        if deletes:
            enrol_pg.delete_rows(self.conn, deletes)
        er.insert_rows(self.conn, {s: i for s, (i, _) in diffs.items()})

    def large_recompute(self) -> None:
        # A big recompute fills justification and pair faster than autovacuum samples them;
        # stale statistics turn the per-chunk lookups into filters over every row of the
        # group (seen: a 100,000-user backfill taking minutes). Once per large recompute,
        # refresh them: a sample, cheap, and no lock that blocks writes.
        # At the default statistics target, even after a refresh of this transaction's.
        self.conn.exec_driver_sql("SET LOCAL default_statistics_target TO DEFAULT")
        self.conn.exec_driver_sql("ANALYZE justification, pair")


class PostgresStore(SqlStore):
    name = "postgresql"
    publishes_while_applying = True
    concurrent_sites = True
    tx_class = PostgresTx

    @contextmanager
    def _one_read(self) -> Iterator[Connection]:
        # Autocommit: one round trip, not BEGIN, read, COMMIT. No rollback either, so the
        # connection keeps its prepared statements (`SqlStore._reader`).
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    def _take_sites(self, conn: Connection, sites: Collection[str]) -> site_locks.Held | None:
        # Batches of one site take turns (ADR 0010).
        return site_locks.Held(conn, sites) if site_locks.take(conn, sites) else None

    def seen_events(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        # One statement per chunk, each on its own: an applied event stays applied.
        with self._one_read() as conn:
            return fold_pg.seen_events(conn, keys)

    def _publisher_connection(self) -> Connection:
        # The advisory lock already serialises publishers; SSI here would only add aborts.
        return self.engine.connect().execution_options(isolation_level="READ COMMITTED")

    def _publish_lock(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PUBLISH_LOCK})

    def sample(self) -> Sample:
        with self.engine.connect().execution_options(isolation_level="READ COMMITTED") as conn:
            backlog = int(conn.execute(text("SELECT count(*) FROM outbox")).scalar_one())
            held: int | None
            try:
                with conn.begin_nested():
                    held = int(conn.execute(text(HELD_SQL)).scalar_one())
            except Exception:
                held = None
            conn.commit()  # reads only; a rollback would drop the prepared statements
        return Sample(backlog, held)

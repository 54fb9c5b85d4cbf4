"""The engine transaction both SQL stores share (`StoreTx`): SQLAlchemy Core statements over
one Connection. SqliteStore's and PostgresStore's own transactions override only where their
database differs (the justification rule, row deletion, folding in SQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from itertools import repeat

from sqlalchemy.engine import Connection

from worker.domain.candidates import NO_HOLDINGS, TouchingLinks, UserHoldings
from worker.domain.facts import Fact, Verdict, fold, fold_marks
from worker.domain.justify import Diff, Row
from worker.domain.updates import Selector
from worker.ports import (
    TP,
    FactKey,
    HeldRecord,
    LinkRow,
    OutboxRecord,
    PairState,
    PairT,
    Saved,
    SiteKey,
    SitePair,
)
from worker.store import (
    brake_sql,
    dead_letter_repo,
    held_repo,
)
from worker.store import facts_repo as fr
from worker.store import justify_repo as jr
from worker.store.enrol_tx import EnrolTx
from worker.store.site_keys import by_site, pair_state_of
from worker.store.write_behind import WriteBehind


class SqlTx(EnrolTx):
    """One engine transaction on one connection (`StoreTx`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # Pair histories, outbox rows and the batch's bookkeeping: one write per table.
        self.behind = WriteBehind(self._mark_processed)
        self.pass_turn: Callable[[], None] = lambda: None  # set when the store took sites

    @staticmethod
    def _mark_processed(conn: Connection, keys: Sequence[tuple[str, str]]) -> None:
        fr.mark_processed(conn, keys)

    def commit(self) -> None:
        self.behind.flush(self.conn)
        self.conn.commit()

    def give_turn(self) -> None:
        self.pass_turn()

    def seen_events(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        self.behind.before_seen_read(self.conn)
        return fr.seen_events(self.conn, keys)

    def mark_processed(self, keys: Iterable[tuple[str, str]]) -> None:
        self.behind.mark_processed(keys)

    def load_facts(self, kind: str, keys: Iterable[FactKey]) -> dict[FactKey, Fact]:
        return fr.load_facts(self.conn, kind, keys)

    def save_facts(self, kind: str, facts: dict[FactKey, Fact]) -> None:
        fr.save_facts(self.conn, kind, facts)

    def load_marks(self, kind: str, keys: Iterable[FactKey]) -> dict[FactKey, int]:
        return fr.load_marks(self.conn, kind, keys)

    def save_marks(self, kind: str, marks: dict[FactKey, int]) -> None:
        fr.save_marks(self.conn, kind, marks)

    def fold_facts(self, kind: str, updates: Sequence[tuple[FactKey, Fact]]) -> list[Verdict]:
        # The reference: read, fold in the domain, write what changed.
        folded = fold(self.load_facts(kind, (k for k, _ in updates)), list(updates))
        self.save_facts(kind, folded.write)
        return folded.verdicts

    def fold_marks(self, kind: str, updates: Sequence[tuple[FactKey, int]]) -> list[Verdict]:
        folded = fold_marks(self.load_marks(kind, (k for k, _ in updates)), list(updates))
        self.save_marks(kind, folded.write)
        return folded.verdicts

    def links_touching(
        self, courses: Iterable[tuple[str, str]], segments: Iterable[tuple[str, str]]
    ) -> list[tuple[str, str, str | None, str | None]]:
        by_site: dict[str, tuple[set[str], set[str]]] = {}
        for s, c in courses:
            by_site.setdefault(s, (set(), set()))[0].add(c)
        for s, g in segments:
            by_site.setdefault(s, (set(), set()))[1].add(g)
        return [
            (s, *row)
            for s, (cs, gs) in sorted(by_site.items())
            for row in jr.links_touching(self.conn, s, cs, gs)
        ]

    def links_selected(
        self, source: str, links: Iterable[str], segments: Iterable[str], courses: Iterable[str]
    ) -> list[LinkRow]:
        return jr.links_selected(self.conn, source, links, segments, courses)

    def user_holdings(self, users: Iterable[SiteKey]) -> dict[SiteKey, UserHoldings]:
        return jr.user_holdings(self.conn, users)

    def justification_counts(self, source: str, link_ids: Sequence[str]) -> dict[str, int]:
        return jr.justification_counts(self.conn, source, link_ids)

    def next_users(
        self, source: str, link_ids: Sequence[str], after: str | None, limit: int
    ) -> list[str]:
        return jr.next_users(self.conn, source, link_ids, after, limit)

    def truth_diff(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: Sequence[tuple[str, str]] | None = None,
    ) -> Diff:
        raise NotImplementedError

    def apply_diff(self, source: str, inserts: set[Row], deletes: set[Row]) -> None:
        # Deletes first: a moved link's row changes its (course, group) under the same key.
        if deletes:
            jr.delete_rows(self.conn, source, deletes)
        jr.insert_rows(self.conn, source, inserts)

    def apply_truth(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: Sequence[tuple[str, str]] | None = None,
    ) -> Diff:
        d = self.truth_diff(source, link_ids, users, candidates)
        if d.inserts or d.deletes:
            self.apply_diff(source, d.inserts, d.deletes)
        return d

    def apply_truth_sites(
        self, candidates: Mapping[str, Sequence[tuple[str, str]]]
    ) -> dict[str, Diff]:
        out: dict[str, Diff] = {}
        for s, pairs in sorted(candidates.items()):
            links, users = sorted({a for a, _ in pairs}), sorted({u for _, u in pairs})
            out[s] = self.apply_truth(s, links, users, list(pairs))
        return out

    def apply_user_truth(
        self,
        changed: Mapping[SiteKey, tuple[AbstractSet[str], AbstractSet[str]]],
        touching: TouchingLinks,
    ) -> dict[str, Diff]:
        # The reference path: what each user holds, read back; the narrowing in the domain.
        holdings = self.user_holdings(changed)
        candidates: dict[str, set[tuple[str, str]]] = {}
        for (source, user), (courses, segments) in changed.items():
            held = holdings.get((source, user), NO_HOLDINGS)
            found = touching.candidates(source, courses, segments, held)
            if found:
                candidates.setdefault(source, set()).update(zip(found, repeat(user)))
        if not candidates:
            return {}
        return self.apply_truth_sites({s: sorted(c) for s, c in candidates.items()})

    def large_recompute(self) -> None:
        return None

    def pair_links(self, source: str, pairs: Iterable[PairT]) -> dict[PairT, set[str]]:
        return jr.pair_links(self.conn, source, pairs)

    def pair_transitions(
        self, source: str, pairs: Iterable[PairT]
    ) -> dict[PairT, tuple[int, int | None]]:
        self.behind.before_pair_read(self.conn, source)
        return jr.pair_transitions(self.conn, source, pairs)

    def pair_states(self, pairs: Iterable[SitePair]) -> dict[SitePair, PairState]:
        out: dict[SitePair, PairState] = {}
        for s, wanted in sorted(by_site((s, (c, g, u)) for s, c, g, u in pairs).items()):
            states = pair_state_of(self.pair_links(s, wanted), self.pair_transitions(s, wanted))
            out.update({(s, *p): state for p, state in states.items()})
        return out

    def save_transitions(self, source: str, counts: dict[PairT, Saved]) -> None:
        self.behind.save_pairs(source, counts)

    def add_outbox(self, records: Sequence[OutboxRecord]) -> None:
        self.behind.add_outbox(records)

    def removal_estimate(
        self, source: str, selector: Selector, link_ids: Sequence[str]
    ) -> list[tuple[str, str, int, int]]:
        return brake_sql.estimate(self.conn, source, selector, link_ids)

    def open_held_batch(
        self, source: str, cause_event_id: str, cause_type: str, detail: str
    ) -> int:
        return held_repo.open_batch(self.conn, source, cause_event_id, cause_type, detail)

    def add_held(self, batch_id: int, records: Sequence[HeldRecord]) -> None:
        held_repo.add(self.conn, batch_id, records)

    def dead_letters_in_range(self, tp: TP, first: int, last: int) -> dict[int, bytes]:
        return dead_letter_repo.in_range(self.conn, tp, first, last)

    def record_dead_letters(self, rows: Iterable[tuple[str, int, int, bytes]]) -> None:
        dead_letter_repo.record(self.conn, rows)

    def bump_counters(self, counts: dict[tuple[str, int, str], int]) -> None:
        self.behind.bump_counters(counts)

    def save_offsets(self, group_id: str, offsets: dict[TP, int]) -> None:
        self.behind.save_offsets(group_id, offsets)

"""The enrolment side of an engine transaction (`StoreTx`'s enrol_* methods), shared by
both stores; PostgresTx overrides the steps it does in one statement for every site."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy.engine import Connection

from worker.domain.enrol import EnrolLinkState
from worker.ports import EPair, ERow, PairState, Saved, SiteELinkRow, SiteEPair, SiteKey
from worker.store import enrol_repo as er
from worker.store import enrol_truth
from worker.store.site_keys import by_site, pair_state_of
from worker.store.write_behind import WriteBehind


class EnrolTx:
    conn: Connection
    behind: WriteBehind

    def enrol_linked_sites(self, sources: Iterable[str]) -> set[str]:
        return er.linked_sites(self.conn, sources)

    def enrol_links_selected(
        self,
        links: Iterable[SiteKey],
        segments: Iterable[SiteKey],
        courses: Iterable[SiteKey],
    ) -> list[SiteELinkRow]:
        by_site: dict[str, tuple[set[str], set[str], set[str]]] = {}
        for n, keys in enumerate((links, segments, courses)):
            for s, v in keys:
                by_site.setdefault(s, (set(), set(), set()))[n].add(v)
        return [
            (s, *row)
            for s, (ls, ss, cs) in sorted(by_site.items())
            for row in er.links_selected(self.conn, s, ls, ss, cs)
        ]

    def enrol_link_states(self, links: Iterable[SiteKey]) -> dict[SiteKey, EnrolLinkState]:
        out: dict[SiteKey, EnrolLinkState] = {}
        for s, ids in sorted(by_site(links).items()):
            out.update({(s, a): st for a, st in er.link_states(self.conn, s, ids).items()})
        return out

    def enrol_link_course(self, source: str, link_id: str) -> tuple[bool, str | None] | None:
        return er.link_course(self.conn, source, link_id)

    def enrol_justification_counts(self, source: str, link_ids: Sequence[str]) -> dict[str, int]:
        return er.justification_counts(self.conn, source, link_ids)

    def enrol_next_users(
        self, source: str, link_ids: Sequence[str], after: str | None, limit: int
    ) -> list[str]:
        return er.next_users(self.conn, source, link_ids, after, limit)

    def enrol_truth_diff(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: set[tuple[str, str]],
    ) -> tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]:
        return enrol_truth.truth_diff(self.conn, source, link_ids, users, candidates)

    def enrol_truth_diff_sites(
        self, candidates: Mapping[str, set[tuple[str, str]]]
    ) -> dict[str, tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]]:
        out = {}
        for s, pairs in sorted(candidates.items()):
            links, users = sorted({a for a, _ in pairs}), sorted({u for _, u in pairs})
            out[s] = self.enrol_truth_diff(s, links, users, pairs)
        return out

    def enrol_apply_diff(self, diffs: Mapping[str, tuple[set[ERow], set[ERow]]]) -> None:
        for s, (inserts, deletes) in sorted(diffs.items()):
            er.apply_diff(self.conn, s, inserts, deletes)

    def enrol_pair_links(self, source: str, pairs: Iterable[EPair]) -> dict[EPair, set[str]]:
        return er.pair_links(self.conn, source, pairs)

    def enrol_pair_transitions(
        self, source: str, pairs: Iterable[EPair]
    ) -> dict[EPair, tuple[int, int | None]]:
        self.behind.before_enrol_pair_read(self.conn, source)
        return er.pair_transitions(self.conn, source, pairs)

    def enrol_pair_states(self, pairs: Iterable[SiteEPair]) -> dict[SiteEPair, PairState]:
        out: dict[SiteEPair, PairState] = {}
        for s, wanted in sorted(by_site((s, (c, u)) for s, c, u in pairs).items()):
            links = self.enrol_pair_links(s, wanted)
            states = pair_state_of(links, self.enrol_pair_transitions(s, wanted))
            out.update({(s, *p): state for p, state in states.items()})
        return out

    def enrol_save_transitions(self, source: str, counts: dict[EPair, Saved]) -> None:
        self.behind.save_enrol_pairs(source, counts)

    def unenrol_estimate(
        self, source: str, link_ids: Sequence[str], keep_course: str | None
    ) -> list[tuple[str, int, int]]:
        return er.unenrol_estimate(self.conn, source, link_ids, keep_course)

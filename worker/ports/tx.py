"""`StoreTx`: one transaction of the engine, the reads and writes of a batch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol

from worker.domain.candidates import TouchingLinks, UserHoldings
from worker.domain.enrol import EnrolLinkState
from worker.domain.facts import Fact, Verdict
from worker.domain.justify import Diff, Row
from worker.domain.updates import Selector
from worker.ports.records import HeldRecord, OutboxRecord
from worker.ports.shapes import (
    TP,
    EPair,
    ERow,
    FactKey,
    LinkRow,
    PairState,
    PairT,
    Saved,
    SiteELinkRow,
    SiteEPair,
    SiteKey,
    SitePair,
)


class StoreTx(Protocol):
    """One transaction of the engine. Every method reads or writes many keys at once;
    `commit()` ends the transaction (a checkpoint) and the next call opens a new one."""

    def commit(self) -> None: ...

    def give_turn(self) -> None:
        """Right after a checkpoint's commit: batches of the same sites that wait for this
        one go first, then it takes its sites again (ADR 0010). A long recompute holds
        them for one chunk at a time, not for the whole batch."""
        ...

    # --- the processed-event log ---
    def seen_events(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]: ...
    def mark_processed(self, keys: Iterable[tuple[str, str]]) -> None:
        """Keys this transaction's `seen_events` did not find (a key marked twice in one
        transaction is written once). On PostgreSQL a key another transaction wrote
        meanwhile is a conflict (`is_transient`: the batch is retried and finds it)."""

    # --- facts (kind: enrollment | membership | link) and deletion marks ---
    def load_facts(self, kind: str, keys: Iterable[FactKey]) -> dict[FactKey, Fact]: ...
    def save_facts(self, kind: str, facts: dict[FactKey, Fact]) -> None: ...
    def load_marks(self, kind: str, keys: Iterable[FactKey]) -> dict[FactKey, int]: ...
    def save_marks(self, kind: str, marks: dict[FactKey, int]) -> None: ...
    def fold_facts(self, kind: str, updates: Sequence[tuple[FactKey, Fact]]) -> list[Verdict]:
        """Fold a batch's candidate facts, in batch order, into the stored ones, newest
        (time, id) wins (`worker.domain.facts.fold`); save what changed (for enrolments,
        also what the methods make of (course, user)); one verdict per update."""
        ...

    def fold_marks(self, kind: str, updates: Sequence[tuple[FactKey, int]]) -> list[Verdict]:
        """The same for deletion marks (`worker.domain.facts.fold_marks`)."""
        ...

    # --- links and justifications ---
    # A batch's user work reads every site at once: a thin batch's time is its statements.
    def links_touching(
        self, courses: Iterable[tuple[str, str]], segments: Iterable[tuple[str, str]]
    ) -> list[tuple[str, str, str | None, str | None]]:
        """(source, link_id, course_id, segment_id) of every link on one of these
        (source, course_id) or (source, segment_id)."""
        ...

    def links_selected(
        self, source: str, links: Iterable[str], segments: Iterable[str], courses: Iterable[str]
    ) -> list[LinkRow]: ...
    def user_holdings(self, users: Iterable[SiteKey]) -> dict[SiteKey, UserHoldings]:
        """Per (source, user_id) that holds anything: its `UserHoldings`, read by the user."""
        ...

    def justification_counts(self, source: str, link_ids: Sequence[str]) -> dict[str, int]: ...
    def next_users(
        self, source: str, link_ids: Sequence[str], after: str | None, limit: int
    ) -> list[str]: ...
    def truth_diff(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: Sequence[tuple[str, str]] | None = None,
    ) -> Diff:
        """Justification rows to add and drop among the (link, user) candidates; None:
        every link of `link_ids` with every user of `users`."""
        ...

    def apply_diff(self, source: str, inserts: set[Row], deletes: set[Row]) -> None: ...
    def apply_truth(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: Sequence[tuple[str, str]] | None = None,
    ) -> Diff:
        """`truth_diff`, applied: afterwards the stored rows of the candidates are the rule's.
        Returns what changed."""
        ...

    def apply_truth_sites(
        self, candidates: Mapping[str, Sequence[tuple[str, str]]]
    ) -> dict[str, Diff]:
        """`apply_truth` of (link, user) candidates per site, all sites at once; a site
        whose rows do not change may be left out of the answer."""
        ...

    def apply_user_truth(
        self,
        changed: Mapping[SiteKey, tuple[AbstractSet[str], AbstractSet[str]]],
        touching: TouchingLinks,
    ) -> dict[str, Diff]:
        """A batch's user work: per (source, user_id) the courses and segments whose facts
        changed for the user, `touching` the links on them. Applies the rule to every
        (link, user) pair those changes can move (`worker.domain.candidates`) and returns
        what changed, per site (a site without changes may be left out)."""
        ...

    def large_recompute(self) -> None:
        """A recompute is filling justification and pair fast: refresh what plans rely on."""
        ...

    # --- pairs and commands ---
    def pair_links(self, source: str, pairs: Iterable[PairT]) -> dict[PairT, set[str]]: ...
    def pair_transitions(
        self, source: str, pairs: Iterable[PairT]
    ) -> dict[PairT, tuple[int, int | None]]: ...
    def pair_states(self, pairs: Iterable[SitePair]) -> dict[SitePair, PairState]:
        """`pair_links` and `pair_transitions` at once, any sites: per pair with justifying
        links or a history, (its links now, commands so far, held batch it queues behind)."""
        ...

    def save_transitions(self, source: str, counts: dict[PairT, Saved]) -> None: ...
    def add_outbox(self, records: Sequence[OutboxRecord]) -> None: ...

    # --- the mass-removal brake ---
    def removal_estimate(
        self, source: str, selector: Selector, link_ids: Sequence[str]
    ) -> list[tuple[str, str, int, int]]:
        """(course, group, would-be removals, current members) per group the links reach."""
        ...

    def open_held_batch(
        self, source: str, cause_event_id: str, cause_type: str, detail: str
    ) -> int: ...
    def add_held(self, batch_id: int, records: Sequence[HeldRecord]) -> None: ...

    # --- segment sync enrolment: enrol links, their justifications, (course, user) pairs ---
    def enrol_linked_sites(self, sources: Iterable[str]) -> set[str]: ...
    # Keys carry their site: a batch's user work reads every site at once.
    def enrol_links_selected(
        self,
        links: Iterable[SiteKey],
        segments: Iterable[SiteKey],
        courses: Iterable[SiteKey],
    ) -> list[SiteELinkRow]:
        """(source, link, course, segment) of these (source, link_id) enrol links and of
        every enrol link on these (source, segment_id) or (source, course_id), by key."""
        ...

    def enrol_link_states(self, links: Iterable[SiteKey]) -> dict[SiteKey, EnrolLinkState]: ...
    def enrol_link_course(self, source: str, link_id: str) -> tuple[bool, str | None] | None: ...
    def enrol_justification_counts(
        self, source: str, link_ids: Sequence[str]
    ) -> dict[str, int]: ...
    def enrol_next_users(
        self, source: str, link_ids: Sequence[str], after: str | None, limit: int
    ) -> list[str]: ...
    def enrol_truth_diff(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: set[tuple[str, str]],
    ) -> tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]:
        """Rows to add and drop among the candidates, and the links' states."""
        ...

    def enrol_truth_diff_sites(
        self, candidates: Mapping[str, set[tuple[str, str]]]
    ) -> dict[str, tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]]:
        """`enrol_truth_diff` of (link, user) candidates per site, every site at once."""
        ...

    def enrol_apply_diff(self, diffs: Mapping[str, tuple[set[ERow], set[ERow]]]) -> None:
        """Per site: (rows to insert, rows to delete)."""
        ...

    def enrol_pair_links(self, source: str, pairs: Iterable[EPair]) -> dict[EPair, set[str]]: ...
    def enrol_pair_transitions(
        self, source: str, pairs: Iterable[EPair]
    ) -> dict[EPair, tuple[int, int | None]]: ...
    def enrol_pair_states(self, pairs: Iterable[SiteEPair]) -> dict[SiteEPair, PairState]:
        """The same for enrolment pairs (source, course_id, user_id)."""
        ...

    def enrol_save_transitions(self, source: str, counts: dict[EPair, Saved]) -> None: ...
    def unenrol_estimate(
        self, source: str, link_ids: Sequence[str], keep_course: str | None
    ) -> list[tuple[str, int, int]]:
        """(course, would-be unenrols, current enrolled users) per course the links reach;
        `keep_course`: a re-created link's course, whose users are not at risk."""
        ...

    # --- dead letters (once per store, by topic, partition and offset) ---
    def dead_letters_in_range(self, tp: TP, first: int, last: int) -> dict[int, bytes]:
        """offset -> content digest of the records of `tp` dead-lettered in [first, last]."""
        ...

    def record_dead_letters(self, rows: Iterable[tuple[str, int, int, bytes]]) -> None:
        """Remember (topic, partition, offset, digest); a known offset's digest is replaced."""
        ...

    # --- bookkeeping ---
    def bump_counters(self, counts: dict[tuple[str, int, str], int]) -> None: ...
    def save_offsets(self, group_id: str, offsets: dict[TP, int]) -> None: ...

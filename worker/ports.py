"""The state store port: what the engine, the health sampler and the ops commands need from
the store, as Protocols (docs/adr/0005-state-store-port.md).

`worker.store` implements it twice: `SqliteStore` (the rule in the domain, in Python: the
embedded default and the reference) and `PostgresStore` (set-based statements). Nothing
outside `worker/store/` writes SQL, holds a connection or asks which database it is; the
layering is schemas ← domain ← ports ← adapters / store ← cli.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from worker.domain.candidates import TouchingLinks, UserHoldings
from worker.domain.enrol import EnrolLinkState
from worker.domain.facts import Fact, Verdict
from worker.domain.justify import Diff, Row
from worker.domain.updates import Selector

Headers = Sequence[tuple[str, bytes | None]]  # a Kafka header value may be null
TP = tuple[str, int]  # (topic, partition)
PairT = tuple[str, str, str]  # (course_id, group_id, user_id)
SitePair = tuple[str, str, str, str]  # (source, course_id, group_id, user_id)
LinkRow = tuple[str, str | None, str | None, str | None]  # (link, course, segment, group)
FactKey = tuple[str, ...]
# A pair's history after a command: (commands so far, held batch it queues behind, and the
# last command's reason, caused_by, time)
Saved = tuple[int, int | None, str, str, int]
# A pair's justifying links now, its commands so far and the held batch it queues behind.
PairState = tuple[frozenset[str], int, int | None]
ERow = tuple[str, str, str]  # an enrol justification row: (link_id, user_id, course_id)
EPair = tuple[str, str]  # an enrolment pair: (course_id, user_id)
ELinkRow = tuple[str, str | None, str | None]  # (enrol link, course, segment)
SiteKey = tuple[str, str]  # (source, an id of that site)
SiteEPair = tuple[str, str, str]  # (source, course_id, user_id)
SiteELinkRow = tuple[str, str, str | None, str | None]  # (source, enrol link, course, segment)


class CommandMeta(NamedTuple):
    """What the metrics need of a command once acknowledged, kept beside its bytes."""

    command_type: str
    reason: str
    cause_time_us: int


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    destination: str  # a role (worker/destinations.py), not a topic name
    key: bytes | None
    value: bytes | None
    headers: Headers
    # Kafka record timestamp; None: the producer's clock (commands). DLQ copies keep theirs.
    timestamp_ms: int | None = field(default=None, kw_only=True)
    meta: CommandMeta | None = field(default=None, kw_only=True)  # commands only


@dataclass(frozen=True, slots=True)
class PendingRecord(OutboxRecord):
    seq: int


@dataclass(frozen=True, slots=True)
class HeldBatch:
    id: int
    source: str
    cause_event_id: str
    cause_type: str
    detail: str
    status: str
    commands: int


@dataclass(frozen=True, slots=True)
class HeldRecord:
    course_id: str
    group_id: str
    user_id: str
    record: OutboxRecord


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """What `segsync status` reads from the store."""

    offsets: dict[TP, int]
    counters: dict[str, int]
    outbox_backlog: int
    held_batches: int
    held_commands: int


@dataclass(frozen=True, slots=True)
class Sample:
    """What the health sampler reads; `held` is None where the store cannot say."""

    outbox_backlog: int
    held: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class RecordSink(Protocol):
    """Publishes records and returns only once all are acknowledged (acks=all)."""

    def send_all(self, records: list[PendingRecord]) -> None: ...


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
    def mark_processed(self, keys: Iterable[tuple[str, str]]) -> None: ...

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


class StateStore(Protocol):
    """The store as a whole: transactions for the engine, the outbox for the publisher,
    reads for health, status, diff and the brake's desk."""

    name: str  # "sqlite" | "postgresql", for logs and metrics only
    # Whether the outbox can be published (its own connection) while a batch's transaction
    # is open: PostgreSQL yes; SQLite has one writer, so a publish would wait for the apply.
    publishes_while_applying: bool
    # Whether transactions of different sites may run at once, each on its own connection
    # (the loop's apply lanes, ADR 0013): PostgreSQL yes; SQLite has one writer.
    concurrent_sites: bool

    def transaction(self, sites: Collection[str] = ()) -> AbstractContextManager[StoreTx]:
        """Commits on a clean exit, rolls back on an exception. `sites`: the LMS sites whose
        events the transaction applies; on a store shared by several workers, transactions
        of one site take turns, so that big batches do not abort each other (ADR 0010)."""
        ...

    def is_transient(self, exc: BaseException) -> bool:
        """An error a retry with backoff may cure (lost connection, serialization failure)."""
        ...

    def close(self) -> None: ...

    # --- the publisher ---
    def publish_pending(self, send: Callable[[list[PendingRecord]], None], batch: int) -> int:
        """Hand every outbox row committed before the call to `send`, oldest first, one
        publisher at a time across workers; rows are deleted only after `send` returned
        (all acknowledged). (Rows committed meanwhile may wait for the next call.)"""
        ...

    def pending(self, limit: int) -> list[PendingRecord]: ...
    def remove_pending(self, seqs: Sequence[int]) -> None: ...

    # --- reads ---
    def seen_events(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (source, id) of these already in the processed-event log (which only grows:
        safe to read outside the batch's transaction)."""
        ...

    def load_offsets(self, group_id: str, partitions: Iterable[TP]) -> dict[TP, int]: ...
    def all_offsets(self, group_id: str) -> dict[TP, int]:
        """Every partition's stored next offset for this group (any member's)."""
        ...

    def sample(self) -> Sample: ...
    def status(self, group_id: str) -> StoreStatus: ...
    def has_schema(self) -> bool: ...
    def read_user(self, source: str, user: str, course: str | None) -> dict[str, Any]:
        """`segsync why`'s raw rows for one user (by index: user first)."""
        ...

    def managed_groups(self, source: str) -> set[tuple[str, str]]: ...
    def managed_courses(self, source: str) -> set[str]:
        """Courses of some enrol link, or that segsync sent an enrolment command for."""
        ...

    def desired_enrolments(self, source: str) -> Iterator[EPair]: ...
    def enrol_resync_attrs(
        self, source: str, pairs: Sequence[EPair]
    ) -> dict[EPair, tuple[list[str], list[str], str]]:
        """(justifying links, their roles, on_leave) per (course, user), for resyncs."""
        ...

    def desired_pairs(self, source: str) -> Iterator[PairT]: ...
    def pair_links(self, source: str, pairs: Iterable[PairT]) -> dict[PairT, set[str]]: ...

    # --- the brake's desk ---
    def held_batches(self, status: str | None = None) -> list[HeldBatch]: ...
    def close_held(self, batch_id: int, release: bool) -> int:
        """Release (to the outbox, in order) or discard; raises LookupError / ValueError."""
        ...

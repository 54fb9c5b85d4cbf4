"""`StateStore`: the store as a whole, and what its reads return."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from worker.ports.records import HeldBatch, PendingRecord
from worker.ports.shapes import TP, EPair, PairT
from worker.ports.tx import StoreTx


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

"""Small helpers for the explicit engine scenarios (tests/engine/test_scenarios_*.py).

`Lms` builds events with readable names and automatic ids; `Run` feeds them to the engine
through the harness and returns the commands each step added to the outbox, as `Cmd` tuples
that read well in assertion diffs. Every command `Run` reads is also checked for shape:
subject, source, type, and an id that depends only on (pair, how many commands before).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from tests.support.engine_harness import CFG, apply_in_batches, outbox_commands, records_of
from tests.support.event_types import (
    COURSE_DEL,
    ENROL,
    ENROL_LINK,
    ENROL_UNLINK,
    GROUP_DEL,
    JOIN,
    LEAVE,
    LINK,
    SEG_DEL,
    UNENROL,
    UNLINK,
)
from tests.support.reference import EnrolPair, Ev, Pair, check, check_enrol, desired, desired_enrol
from tests.support.subjects import segment
from worker.destinations import ENROL_COMMAND
from worker.domain.enrol import EnrolPairKey, enrol_command_id
from worker.domain.transitions import PairKey, command_id
from worker.engine.apply import BatchConfig, BatchResult, apply_batch
from worker.engine.records import InRecord, decode
from worker.ports import OutboxRecord
from worker.store.factory import open_store
from worker.store.sql_base import SqlStore

T0 = 1_700_000_000_000_000  # microseconds
SEC = 1_000_000


@contextmanager
def migrated(db_url: str) -> Iterator[SqlStore]:
    """The store of `db_url` (SqliteStore or PostgresStore), migrated, closed afterwards."""
    store = open_store(db_url)
    try:
        yield store
    finally:
        store.close()


def apply_once(store: SqlStore, records: Sequence[InRecord], cfg: BatchConfig = CFG) -> BatchResult:
    """One batch through `apply_batch` directly, committed: for its counts."""
    with store.transaction() as tx:
        return apply_batch(tx, [decode(r) for r in records], cfg, checkpoint=tx.commit)


def outbox_rows(store: SqlStore, destination: str) -> list[OutboxRecord]:
    return [r for r in store.pending(1_000_000) if r.destination == destination]


class Lms:
    """One LMS site: events at `T0 + at` seconds, ids e1, e2, ... unless given."""

    def __init__(self, source: str = "site-a") -> None:
        self.source = source
        self.n = 0
        self.history: list[Ev] = []

    def ev(self, type_: str, at: float, id_: str | None = None, **data: str) -> Ev:
        """`at` in seconds after T0 (a fraction down to the microsecond)."""
        self.n += 1
        time_us = T0 + round(at * SEC)
        e = Ev(self.source, id_ or f"e{self.n}", type_, time_us, tuple(sorted(data.items())))
        self.history.append(e)
        return e

    def enrol(
        self, user: str, course: str, at: float, id_: str | None = None, method: str = ""
    ) -> Ev:
        m = {"method": method} if method else {}
        return self.ev(ENROL, at, id_, user_id=user, course_id=course, **m)

    def unenrol(
        self, user: str, course: str, at: float, id_: str | None = None, method: str = ""
    ) -> Ev:
        m = {"method": method} if method else {}
        return self.ev(UNENROL, at, id_, user_id=user, course_id=course, **m)

    def enrol_link(
        self, link: str, course: str, segment: str, at: float, id_: str | None = None, **opt: str
    ) -> Ev:
        """A segment enrol link; `opt`: role, on_leave."""
        return self.ev(
            ENROL_LINK, at, id_, link_id=link, course_id=course, segment_id=segment, **opt
        )

    def enrol_unlink(self, link: str, at: float, id_: str | None = None) -> Ev:
        return self.ev(ENROL_UNLINK, at, id_, link_id=link)

    def join(self, user: str, segment: str, at: float, id_: str | None = None) -> Ev:
        return self.ev(JOIN, at, id_, user_id=user, segment_id=segment)

    def leave(self, user: str, segment: str, at: float, id_: str | None = None) -> Ev:
        return self.ev(LEAVE, at, id_, user_id=user, segment_id=segment)

    def link(
        self, link: str, course: str, segment: str, group: str, at: float, id_: str | None = None
    ) -> Ev:
        return self.ev(
            LINK, at, id_, link_id=link, course_id=course, segment_id=segment, group_id=group
        )

    def unlink(self, link: str, at: float, id_: str | None = None) -> Ev:
        return self.ev(UNLINK, at, id_, link_id=link)

    def seg_del(self, segment: str, at: float, id_: str | None = None) -> Ev:
        return self.ev(SEG_DEL, at, id_, segment_id=segment)

    def grp_del(self, course: str, group: str, at: float, id_: str | None = None) -> Ev:
        return self.ev(GROUP_DEL, at, id_, course_id=course, group_id=group)

    def crs_del(self, course: str, at: float, id_: str | None = None) -> Ev:
        return self.ev(COURSE_DEL, at, id_, course_id=course)


class Cmd(NamedTuple):
    kind: str  # "add" | "remove"
    course: str
    group: str
    user: str
    reason: str
    links: tuple[str, ...]
    caused_by: str


def add(c: str, g: str, u: str, reason: str, links: Sequence[str], by: str | Ev) -> Cmd:
    return Cmd("add", c, g, u, reason, tuple(links), by if isinstance(by, str) else by.id)


def remove(c: str, g: str, u: str, reason: str, links: Sequence[str], by: str | Ev) -> Cmd:
    return Cmd("remove", c, g, u, reason, tuple(links), by if isinstance(by, str) else by.id)


def brief(cmd: dict[str, Any]) -> Cmd:
    d = cmd["data"]
    kind = {"lms.group.member.add": "add", "lms.group.member.remove": "remove"}[cmd["type"]]
    links = tuple(d["link_ids"])
    return Cmd(
        kind, d["course_id"], d["group_id"], d["user_id"], d["reason"], links, d["caused_by"]
    )


def pair_of(cmd: dict[str, Any]) -> Pair:
    d = cmd["data"]
    return (cmd["source"], d["course_id"], d["group_id"], d["user_id"])


def check_shapes(commands: Sequence[dict[str, Any]]) -> None:
    """Every command of the outbox, in order: wire shape, and id = f(pair, commands before)."""
    before: dict[Pair, int] = {}
    for cmd in commands:
        d = cmd["data"]
        p = pair_of(cmd)
        assert cmd["specversion"] == "1.0"
        assert cmd["subject"] == "course/{}/group/{}/user/{}".format(*map(segment, p[1:]))
        assert set(d) == {
            "course_id",
            "group_id",
            "user_id",
            "link_ids",
            "reason",
            "caused_by",
            "component",
        }
        assert d["component"] == "segsync"
        assert list(d["link_ids"]) == sorted(set(d["link_ids"]))
        n = before.get(p, 0)
        assert cmd["id"] == command_id(PairKey(*p), n), (p, n)
        before[p] = n + 1


class ECmd(NamedTuple):
    kind: str  # "enrol" | "unenrol"
    course: str
    user: str
    reason: str
    links: tuple[str, ...]
    roles: tuple[str, ...]
    on_leave: str
    caused_by: str


def enrol(
    c: str,
    u: str,
    reason: str,
    links: Sequence[str],
    by: str | Ev,
    roles: Sequence[str] = ("student",),
    on_leave: str = "unenrol",
) -> ECmd:
    return ECmd(
        "enrol",
        c,
        u,
        reason,
        tuple(links),
        tuple(roles),
        on_leave,
        by if isinstance(by, str) else by.id,
    )


def unenrol(
    c: str,
    u: str,
    reason: str,
    links: Sequence[str],
    by: str | Ev,
    roles: Sequence[str] = ("student",),
    on_leave: str = "unenrol",
) -> ECmd:
    return ECmd(
        "unenrol",
        c,
        u,
        reason,
        tuple(links),
        tuple(roles),
        on_leave,
        by if isinstance(by, str) else by.id,
    )


def ebrief(cmd: dict[str, Any]) -> ECmd:
    d = cmd["data"]
    kind = {"lms.course.enrol": "enrol", "lms.course.unenrol": "unenrol"}[cmd["type"]]
    return ECmd(
        kind,
        d["course_id"],
        d["user_id"],
        d["reason"],
        tuple(d["link_ids"]),
        tuple(d["roles"]),
        d["on_leave"],
        d["caused_by"],
    )


def check_enrol_shapes(commands: Sequence[dict[str, Any]]) -> None:
    """Every enrolment command of the outbox, in order: wire shape, id = f(pair, number)."""
    before: dict[EnrolPair, int] = {}
    for cmd in commands:
        d = cmd["data"]
        p = (cmd["source"], d["course_id"], d["user_id"])
        assert cmd["specversion"] == "1.0"
        assert cmd["subject"] == f"course/{segment(p[1])}/user/{segment(p[2])}"
        assert set(d) == {
            "course_id", "user_id", "method", "link_ids", "roles", "on_leave", "reason",
            "caused_by", "component",
        }  # fmt: skip
        assert (d["method"], d["component"]) == ("segment_sync", "segsync")
        assert list(d["link_ids"]) == sorted(set(d["link_ids"]))
        assert list(d["roles"]) == sorted(set(d["roles"]))
        n = before.get(p, 0)
        assert cmd["id"] == enrol_command_id(EnrolPairKey(*p), n), (p, n)
        before[p] = n + 1


class Run:
    """Feeds events to one store and returns, per step, the commands that step added."""

    def __init__(self, store: SqlStore, cfg: BatchConfig = CFG) -> None:
        self.store = store
        self.cfg = cfg
        self.read = 0
        self.read_enrol = 0
        self.fed: list[Ev] = []

    def raw(self) -> list[dict[str, Any]]:
        return outbox_commands(self.store)

    def new(self) -> list[dict[str, Any]]:
        cmds = self.raw()
        fresh = cmds[self.read :]
        self.read = len(cmds)
        check_shapes(cmds)
        return fresh

    def feed(self, *events: Ev, batch: int | None = None) -> list[Cmd]:
        """Apply `events` (in this order, in batches of `batch`, default all in one)."""
        self.fed.extend(events)
        if events:
            apply_in_batches(self.store, records_of(events), batch or len(events), self.cfg)
        return [brief(c) for c in self.new()]

    def enrols(self) -> list[ECmd]:
        """The enrolment commands added since the last call."""
        cmds = outbox_commands(self.store, ENROL_COMMAND)
        fresh = cmds[self.read_enrol :]
        self.read_enrol = len(cmds)
        check_enrol_shapes(cmds)
        return [ebrief(c) for c in fresh]

    def each(self, *events: Ev) -> list[Cmd]:
        """Apply `events` one batch each."""
        return self.feed(*events, batch=1)

    def agrees(self, history: Sequence[Ev] | None = None) -> set[Pair]:
        """Guarantees 1 and 2 over the whole outbox against the reference; the final set."""
        verdict = check(self.raw(), desired(self.fed if history is None else history))
        assert verdict.violations == []
        return verdict.final

    def agrees_enrol(self, history: Sequence[Ev] | None = None) -> set[EnrolPair]:
        """The same for enrolment commands against desired_enrol()."""
        cmds = outbox_commands(self.store, ENROL_COMMAND)
        verdict = check_enrol(cmds, desired_enrol(self.fed if history is None else history))
        assert verdict.violations == []
        return verdict.final

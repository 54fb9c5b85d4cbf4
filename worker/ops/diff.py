"""`segsync diff --source S --groups FILE [--publish]`: drift between the LMS and desired().

desired() is what the worker has told the LMS: the pairs of the source whose number of
commands (`pair.transitions`) is odd. The LMS's actual memberships come from its CSV export
`course_id,group_id,user_id`. Only groups segsync manages (the group of some link, or a group
it ever sent a command for) are compared: members of other groups are the LMS's own business.

`--publish` sends the commands that close the gap straight to the command topic, reason
`resync`, `caused_by` "resync", ids `resync:` + sha256(pair, direction, run id). They are
outside the per-pair alternation (guarantee 1) and do not touch the pair's history.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from worker.codec import COMMAND_HEADER, encode_command, time_to_us
from worker.destinations import COMMAND
from worker.errors import FatalError
from worker.ops import console
from worker.ops.bus import Publisher, require_topic
from worker.ops.csvio import rows
from worker.ports import OutboxRecord, StateStore
from worker.settings import Settings

COLUMNS: Final = ("course_id", "group_id", "user_id")
RESYNC: Final = "resync"
Pair = tuple[str, str, str]  # (course_id, group_id, user_id)


@dataclass(slots=True)
class GroupDiff:
    course_id: str
    group_id: str
    missing: list[str] = field(default_factory=list)  # desired, not in the LMS group
    extra: list[str] = field(default_factory=list)  # in the LMS group, not desired


@dataclass(slots=True)
class DiffResult:
    source: str
    groups: list[GroupDiff]
    compared: int = 0  # CSV rows in managed groups
    ignored: int = 0  # CSV rows in groups segsync does not manage
    desired: int = 0
    published: int = 0
    run_id: str = ""

    @property
    def missing(self) -> int:
        return sum(len(g.missing) for g in self.groups)

    @property
    def extra(self) -> int:
        return sum(len(g.extra) for g in self.groups)


def require_tables(store: StateStore) -> None:
    if not store.has_schema():
        raise FatalError(
            "the state store has no segsync tables yet (run `segsync migrate` or the worker)"
        )


def compute(store: StateStore, source: str, groups_csv: Path) -> DiffResult:
    require_tables(store)
    managed = store.managed_groups(source)
    desired = set(store.desired_pairs(source))
    result = DiffResult(source, [], desired=len(desired))
    actual: set[Pair] = set()
    size = groups_csv.stat().st_size
    with console.progress(f"reading {groups_csv.name}", size) as bar:
        for _line, (course, group, user) in rows(groups_csv, COLUMNS, bar):
            if (course, group) in managed:
                actual.add((course, group, user))
                result.compared += 1
            else:
                result.ignored += 1
    by_group: dict[tuple[str, str], GroupDiff] = {}

    def of(p: Pair) -> GroupDiff:
        return by_group.setdefault((p[0], p[1]), GroupDiff(p[0], p[1]))

    for p in sorted(desired - actual):
        of(p).missing.append(p[2])
    for p in sorted(actual - desired):
        of(p).extra.append(p[2])
    result.groups = [by_group[k] for k in sorted(by_group)]
    return result


def resync_id(source: str, p: Pair, kind: str, run_id: str) -> str:
    return console.content_id(RESYNC, source, *p, kind, run_id)


def commands(store: StateStore, result: DiffResult, run_id: str) -> list[OutboxRecord]:
    """The commands that close the gap: add the missing members, remove the extra ones."""
    source = result.source
    wanted: list[tuple[Pair, Literal["add", "remove"]]] = []
    for g in result.groups:
        wanted += [((g.course_id, g.group_id, u), "add") for u in g.missing]
        wanted += [((g.course_id, g.group_id, u), "remove") for u in g.extra]
    links = store.pair_links(source, [p for p, k in wanted if k == "add"])
    now_us = time_to_us(datetime.now(UTC))
    out = []
    for p, kind in wanted:
        course, group, user = p
        value = encode_command(
            command_id=resync_id(source, p, kind, run_id),
            source=source,
            kind=kind,
            course_id=course,
            group_id=group,
            user_id=user,
            link_ids=sorted(links.get(p, ())) if kind == "add" else [],
            reason=RESYNC,
            caused_by=RESYNC,
            time_us=now_us,
        )
        headers = [COMMAND_HEADER]
        out.append(OutboxRecord(COMMAND, user.encode("utf-8"), value, headers))
    return out


def publish(
    settings: Settings, store: StateStore, result: DiffResult, run_id: str | None = None
) -> None:
    run_id = run_id or uuid.uuid4().hex
    result.published = publish_records(
        settings, settings.command_topic, commands(store, result, run_id)
    )
    result.run_id = run_id


def publish_records(settings: Settings, topic: str, records: list[OutboxRecord]) -> int:
    """Publish resync commands (both kinds) with a progress bar; returns how many were acked."""
    require_topic(settings, topic)
    publisher = Publisher(settings)
    try:
        with console.progress(f"publishing to {topic}", len(records)) as bar:
            for rec in records:
                publisher.send(rec)
                bar.advance()
            publisher.flush()
    finally:
        publisher.close()
    return publisher.acked

"""`segsync diff --enrolments FILE [--publish]`: drift between the enrolments segment sync
holds in the LMS and desired_enrol().

desired_enrol() as the worker has told the LMS: the (course, user) pairs of the source whose
number of enrolment commands is odd. The LMS's side is its CSV export `course_id,user_id` of
the enrolments segment sync (the `segsync` component) holds. Only courses segsync manages
(the course of some enrol link, or one it ever sent an enrolment command for) are compared.

`--publish` sends `lms.course.enrol` for the missing and `lms.course.unenrol` for the extra
ones, reason `resync`, ids `resync:` + sha256(pair, direction, run id), outside the per-pair
alternation like group resyncs. An unenrol says `suspend` when an enrol link of the course
says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from worker.codec import COMMAND_HEADER, encode_enrol_command, time_to_us
from worker.destinations import ENROL_COMMAND
from worker.ops import console
from worker.ops.csvio import rows
from worker.ops.diff import RESYNC, publish_records, require_tables
from worker.ports import OutboxRecord, StateStore
from worker.settings import Settings

COLUMNS: Final = ("course_id", "user_id")
EPair = tuple[str, str]  # (course_id, user_id)


@dataclass(slots=True)
class CourseDiff:
    course_id: str
    missing: list[str] = field(default_factory=list)  # desired_enrol, not enrolled in the LMS
    extra: list[str] = field(default_factory=list)  # enrolled by segment sync, not desired


@dataclass(slots=True)
class EnrolDiffResult:
    source: str
    courses: list[CourseDiff]
    compared: int = 0
    ignored: int = 0  # rows of courses segsync does not manage
    desired: int = 0
    published: int = 0

    @property
    def missing(self) -> int:
        return sum(len(c.missing) for c in self.courses)

    @property
    def extra(self) -> int:
        return sum(len(c.extra) for c in self.courses)


def compute(store: StateStore, source: str, enrolments_csv: Path) -> EnrolDiffResult:
    require_tables(store)
    managed = store.managed_courses(source)
    desired = set(store.desired_enrolments(source))
    result = EnrolDiffResult(source, [], desired=len(desired))
    actual: set[EPair] = set()
    with console.progress(f"reading {enrolments_csv.name}", enrolments_csv.stat().st_size) as bar:
        for _line, (course, user) in rows(enrolments_csv, COLUMNS, bar):
            if course in managed:
                actual.add((course, user))
                result.compared += 1
            else:
                result.ignored += 1
    by_course: dict[str, CourseDiff] = {}
    for c, u in sorted(desired - actual):
        by_course.setdefault(c, CourseDiff(c)).missing.append(u)
    for c, u in sorted(actual - desired):
        by_course.setdefault(c, CourseDiff(c)).extra.append(u)
    result.courses = [by_course[k] for k in sorted(by_course)]
    return result


def commands(store: StateStore, result: EnrolDiffResult, run_id: str) -> list[OutboxRecord]:
    source = result.source
    wanted: list[tuple[EPair, Literal["enrol", "unenrol"]]] = []
    for c in result.courses:
        wanted += [((c.course_id, u), "enrol") for u in c.missing]
        wanted += [((c.course_id, u), "unenrol") for u in c.extra]
    attrs = store.enrol_resync_attrs(source, [p for p, _ in wanted])
    now_us = time_to_us(datetime.now(UTC))
    out = []
    for p, kind in wanted:
        links, roles, on_leave = attrs.get(p, ([], [], "unenrol"))
        value = encode_enrol_command(
            command_id=console.content_id(RESYNC, source, "enrol", *p, kind, run_id),
            source=source,
            kind=kind,
            course_id=p[0],
            user_id=p[1],
            link_ids=links if kind == "enrol" else [],
            roles=roles if kind == "enrol" else [],
            on_leave="suspend" if on_leave == "suspend" else "unenrol",
            reason=RESYNC,
            caused_by=RESYNC,
            time_us=now_us,
        )
        headers = [COMMAND_HEADER]
        out.append(OutboxRecord(ENROL_COMMAND, p[1].encode("utf-8"), value, headers))
    return out


def publish(settings: Settings, store: StateStore, result: EnrolDiffResult, run_id: str) -> None:
    result.published = publish_records(
        settings, settings.enrollment_command_topic, commands(store, result, run_id)
    )

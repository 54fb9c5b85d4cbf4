"""`segsync import`: bootstrap from an LMS's CSV exports.

Each row becomes the `created`/`added` event it stands for, at one time T, on the first input
topic. Event ids are derived from the content (source, type, row values; not T), so importing
the same files again publishes the same ids and the worker skips them as duplicates. A live
event newer than T wins over the snapshot, an older one loses (newest (time, id) per fact).

Every file is validated completely before the first event is published; a malformed row stops
the command with `file:line: reason` and nothing published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from schemas import event_types as et
from schemas.events import SOURCE_MAX_LENGTH
from worker.destinations import INPUT
from worker.errors import ConfigError, FatalError
from worker.ops import console
from worker.ops.bus import Publisher, cloud_event, require_topic
from worker.ops.csvio import CsvProblem, count_rows, rows
from worker.settings import Settings

ID_PREFIX: Final = "import"


@dataclass(frozen=True, slots=True)
class ExportKind:
    option: str
    columns: tuple[str, ...]
    event_type: str
    key_column: str  # the contract's partition key for this event type
    optional: tuple[str, ...] = ()  # columns that may be absent or empty (then not sent)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


ENROLMENTS: Final = ExportKind(
    "--enrolments", ("user_id", "course_id"), et.ENROLLMENT_CREATED, "user_id"
)
SEGMENT_MEMBERS: Final = ExportKind(
    "--segment-members", ("user_id", "segment_id"), et.MEMBER_ADDED, "user_id"
)
LINKS: Final = ExportKind(
    "--links",
    ("link_id", "course_id", "segment_id", "group_id"),
    et.GROUP_LINK_CREATED,
    "course_id",
)

ENROL_LINKS: Final = ExportKind(
    "--enrol-links",
    ("link_id", "course_id", "segment_id"),
    et.ENROL_LINK_CREATED,
    "course_id",
    optional=("role", "on_leave"),
    choices={"on_leave": ("unenrol", "suspend")},
)


@dataclass(frozen=True, slots=True)
class ImportFile:
    kind: ExportKind
    path: Path


@dataclass(frozen=True, slots=True)
class ImportResult:
    topic: str
    time_us: int
    rows: dict[str, int]  # per option
    published: int


def check_source(source: str) -> str:
    if not 0 < len(source) <= SOURCE_MAX_LENGTH or "\x00" in source:
        raise ConfigError(f"--source: must be 1 to {SOURCE_MAX_LENGTH} characters, no NUL")
    return source


def event_id(source: str, kind: ExportKind, values: Sequence[str]) -> str:
    """The id of the event a row stands for: the same row of the same source, the same id."""
    return console.content_id(ID_PREFIX, source, kind.event_type, *values)


def run_import(
    settings: Settings, source: str, time_us: int, files: Sequence[ImportFile]
) -> ImportResult:
    check_source(source)
    if not files:
        raise ConfigError(
            "nothing to import: give --enrolments, --segment-members, --links and/or --enrol-links"
        )
    topic = settings.input_topics[0]

    # 1. Validate every file completely: nothing is published from a malformed export.
    counts: dict[str, int] = {}
    for f in files:
        with console.progress(f"checking {f.path.name}", f.path.stat().st_size) as bar:
            k = f.kind
            counts[k.option] = count_rows(f.path, k.columns, bar, k.optional, k.choices)
    total = sum(counts.values())

    require_topic(settings, topic)

    # 2. Publish, streaming the files a second time.
    publisher = Publisher(settings)
    try:
        with console.progress(f"publishing to {topic}", total) as bar:
            for f in files:
                _publish_file(publisher, source, time_us, f, bar)
            publisher.flush()
    except CsvProblem as exc:  # the file changed between the two passes
        publisher.flush()
        raise FatalError(
            f"{exc}; {publisher.acked} of {total} events were published before it "
            "(importing again is safe: the same rows give the same ids)"
        ) from None
    except FatalError as exc:
        raise FatalError(
            f"{exc} (importing again is safe: the same rows give the same ids)"
        ) from None
    finally:
        publisher.close()
    return ImportResult(topic, time_us, counts, publisher.acked)


def _publish_file(
    publisher: Publisher,
    source: str,
    time_us: int,
    f: ImportFile,
    bar: console.Progress,
) -> None:
    kind = f.kind
    key_at = kind.columns.index(kind.key_column)
    names = (*kind.columns, *kind.optional)
    for _line, values in rows(f.path, kind.columns, None, kind.optional, kind.choices):
        # An empty optional field is not sent: the event means its default.
        data = {n: v for n, v in zip(names, values, strict=True) if v or n in kind.columns}
        publisher.send(
            cloud_event(
                INPUT,
                key=values[key_at],
                source=source,
                event_id=event_id(source, kind, values),
                event_type=kind.event_type,
                time_us=time_us,
                data=data,
            )
        )
        bar.advance()

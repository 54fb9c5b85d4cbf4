"""Group and enrolment commands as Kafka records: structured-mode CloudEvent JSON, written
with orjson, without pydantic (the models of `schemas.commands` are the reference)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

import orjson

from schemas.commands import (
    ADD_TYPE,
    COMPONENT,
    ENROL_METHOD,
    ENROL_REASONS,
    ENROL_TYPE,
    MAX_LINK_IDS,
    REASONS,
    REMOVE_TYPE,
    UNENROL_TYPE,
    enrol_subject_of,
    subject_of,
)
from worker.codec.times import us_to_rfc3339

COMMAND_CONTENT_TYPE: Final = "application/cloudevents+json"
# The one header of every command record (group and enrolment, worker and ops alike).
COMMAND_HEADER: Final[tuple[str, bytes | None]] = ("content-type", COMMAND_CONTENT_TYPE.encode())

_COMMAND_TYPES: Final = {"add": ADD_TYPE, "remove": REMOVE_TYPE}
_ENROL_TYPES: Final = {"enrol": ENROL_TYPE, "unenrol": UNENROL_TYPE}


def _bounded_links(link_ids: Sequence[str]) -> dict[str, Any]:
    """`link_ids` of a command, bounded in size: past MAX_LINK_IDS, the first ids in sorted
    order and `link_count` with how many there were (a command must always be publishable)."""
    if len(link_ids) > MAX_LINK_IDS:
        return {"link_ids": sorted(link_ids)[:MAX_LINK_IDS], "link_count": len(link_ids)}
    # orjson writes lists and tuples natively; copy only other sequences.
    return {"link_ids": link_ids if isinstance(link_ids, list | tuple) else list(link_ids)}


def encode_command(
    *,
    command_id: str,
    source: str,
    kind: Literal["add", "remove"],
    course_id: str,
    group_id: str,
    user_id: str,
    link_ids: Sequence[str],
    reason: str,
    caused_by: str,
    time_us: int,
) -> bytes:
    """The structured-mode CloudEvent JSON of one group command (value of the record)."""
    event_type = _COMMAND_TYPES.get(kind)
    if event_type is None:
        raise ValueError(f"unknown command kind {kind!r}")
    if reason not in REASONS:
        raise ValueError(f"unknown command reason {reason!r}")
    data: dict[str, Any] = {
        "course_id": course_id,
        "group_id": group_id,
        "user_id": user_id,
        **_bounded_links(link_ids),
        "reason": reason,
        "caused_by": caused_by,
        "component": COMPONENT,
    }
    subject = subject_of(course_id, group_id, user_id)
    return _envelope(command_id, source, event_type, subject, time_us, data)


def encode_enrol_command(
    *,
    command_id: str,
    source: str,
    kind: Literal["enrol", "unenrol"],
    course_id: str,
    user_id: str,
    link_ids: Sequence[str],
    roles: Sequence[str],
    on_leave: Literal["unenrol", "suspend"],
    reason: str,
    caused_by: str,
    time_us: int,
) -> bytes:
    """The structured-mode CloudEvent JSON of one enrolment command (segment sync)."""
    event_type = _ENROL_TYPES.get(kind)
    if event_type is None:
        raise ValueError(f"unknown enrolment command kind {kind!r}")
    if reason not in ENROL_REASONS:
        raise ValueError(f"unknown enrolment command reason {reason!r}")
    if on_leave not in ("unenrol", "suspend"):
        raise ValueError(f"unknown on_leave {on_leave!r}")
    data = {
        "course_id": course_id,
        "user_id": user_id,
        "method": ENROL_METHOD,
        **_bounded_links(link_ids),
        "roles": list(roles),
        "on_leave": on_leave,
        "reason": reason,
        "caused_by": caused_by,
        "component": COMPONENT,
    }
    subject = enrol_subject_of(course_id, user_id)
    return _envelope(command_id, source, event_type, subject, time_us, data)


def _envelope(
    command_id: str, source: str, event_type: str, subject: str, time_us: int, data: Any
) -> bytes:
    """A command's structured-mode CloudEvent, either kind (the attributes in this order)."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": command_id,
            "source": source,
            "type": event_type,
            "subject": subject,
            "time": us_to_rfc3339(time_us),
            "datacontenttype": "application/json",
            "data": data,
        }
    )

"""worker.codec for segment sync enrolment: `method` on enrolments, segment enrol links in,
enrolment commands out (percent-encoded subjects, `component`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import events as ev
from schemas.commands import (
    MAX_LINK_IDS,
    EnrolCommand,
    GroupCommand,
    enrol_subject_of,
    path_segment,
)
from worker.codec import decode_record, encode_command, encode_enrol_command
from worker.errors import InvalidEvent

CE_JSON = [("content-type", b"application/cloudevents+json")]


def decode(event_type: str, data: dict[str, Any]) -> ev.LmsEvent:
    event = {
        "specversion": "1.0",
        "id": "e1",
        "source": "s",
        "type": event_type,
        "time": "2024-05-01T12:00:00Z",
        "data": data,
    }
    return decode_record(orjson.dumps(event), CE_JSON, 0)


def reason(event_type: str, data: dict[str, Any]) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode(event_type, data)
    return info.value.reason


@pytest.mark.parametrize("given", [{}, {"method": None}])
def test_an_enrolment_without_method_has_the_method_empty(given: dict[str, Any]) -> None:
    event = decode("lms.enrollment.deleted", {"user_id": "u", "course_id": "c", **given})
    assert isinstance(event, ev.EnrollmentDeleted)
    assert event.data.method == ""


def test_method_is_1_to_128_characters_of_text() -> None:
    base = {"user_id": "u", "course_id": "c"}
    ok = decode("lms.enrollment.created", {**base, "method": "segment_sync:L/1"})
    assert isinstance(ok, ev.EnrollmentCreated) and ok.data.method == "segment_sync:L/1"
    assert decode("lms.enrollment.created", {**base, "method": "m" * 128}).data.method == "m" * 128  # type: ignore[union-attr]
    assert reason("lms.enrollment.created", {**base, "method": ""}).startswith("data.method: ")
    assert reason("lms.enrollment.created", {**base, "method": "m" * 129}).startswith(
        "data.method: "
    )
    assert reason("lms.enrollment.created", {**base, "method": 7}).startswith("data.method: ")
    assert reason("lms.enrollment.created", {**base, "method": "a\x00"}).startswith("data.method: ")


def test_enrol_link_defaults_and_checks() -> None:
    base = {"link_id": 5, "course_id": "c", "segment_id": "S"}
    link = decode("lms.segment_enrol_link.created", base)
    assert isinstance(link, ev.EnrolLinkCreated)
    assert link.data.model_dump() == {
        **base,
        "link_id": "5",
        "role": "student",
        "on_leave": "unenrol",
    }
    nulls = decode("lms.segment_enrol_link.created", {**base, "role": None, "on_leave": None})
    assert nulls.data == link.data
    assert reason("lms.segment_enrol_link.created", {**base, "on_leave": "drop"}).startswith(
        "data.on_leave: "
    )
    assert reason("lms.segment_enrol_link.created", {**base, "role": ""}).startswith("data.role: ")
    assert reason("lms.segment_enrol_link.created", {"link_id": "l"}).startswith("data.course_id")
    gone = decode("lms.segment_enrol_link.deleted", {"link_id": "l"})
    assert isinstance(gone, ev.EnrolLinkDeleted)


def enrol_command(**changes: Any) -> bytes:
    args: dict[str, Any] = {
        "command_id": "cmd-1",
        "source": "moodle.example.org",
        "kind": "enrol",
        "course_id": "c/1%",
        "user_id": "u 1",
        "link_ids": ["L1", "L2"],
        "roles": ["student"],
        "on_leave": "unenrol",
        "reason": "joined_segment",
        "caused_by": "evt-9",
        "time_us": 1_714_564_800_000_001,
    }
    args.update(changes)
    return encode_enrol_command(**args)


@pytest.mark.parametrize("kind", ["enrol", "unenrol"])
def test_enrol_command_validates_and_round_trips(kind: str) -> None:
    raw = enrol_command(kind=kind, on_leave="suspend")
    cmd = EnrolCommand.model_validate_json(raw)
    assert cmd.type == f"lms.course.{kind}"
    assert cmd.subject == "course/c%2F1%25/user/u%201"
    assert cmd.data.model_dump(exclude_none=True) == {
        "course_id": "c/1%",
        "user_id": "u 1",
        "method": "segment_sync",
        "link_ids": ["L1", "L2"],
        "roles": ["student"],
        "on_leave": "suspend",
        "reason": "joined_segment",
        "caused_by": "evt-9",
        "component": "segsync",
    }
    assert orjson.loads(cmd.model_dump_json(exclude_none=True)) == orjson.loads(raw)


def test_enrol_command_refuses_what_the_contract_does_not_name() -> None:
    for bad in ({"kind": "add"}, {"reason": "enrolled"}, {"on_leave": "drop"}):
        with pytest.raises(ValueError):
            enrol_command(**bad)
    payload = orjson.loads(enrol_command())
    payload["subject"] = "course/c/1%/user/u 1"
    with pytest.raises(ValidationError):
        EnrolCommand.model_validate(payload)


def test_group_commands_carry_the_component() -> None:
    raw = encode_command(
        command_id="x",
        source="s",
        kind="remove",
        course_id="c",
        group_id="g",
        user_id="u",
        link_ids=["l"],
        reason="left_segment",
        caused_by="e",
        time_us=0,
    )
    assert GroupCommand.model_validate_json(raw).data.component == "segsync"
    payload = orjson.loads(raw)
    del payload["data"]["component"]
    with pytest.raises(ValidationError):
        GroupCommand.model_validate(payload)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [("c1", "c1"), ("a/b", "a%2Fb"), ("100%", "100%25"), ("é ?#", "%C3%A9%20%3F%23")],
)
def test_path_segments(raw: str, encoded: str) -> None:
    assert path_segment(raw) == encoded
    assert enrol_subject_of(raw, "u") == f"course/{encoded}/user/u"


def test_enrol_command_link_ids_are_bounded_like_group_commands() -> None:
    many = [f"L{i:04d}" for i in range(MAX_LINK_IDS + 7)][::-1]
    cmd = EnrolCommand.model_validate_json(enrol_command(link_ids=many))
    assert cmd.data.link_ids == sorted(many)[:MAX_LINK_IDS]
    assert cmd.data.link_count == MAX_LINK_IDS + 7


@settings(max_examples=500)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
    | st.text(alphabet="".join(map(chr, range(128))), max_size=12)
)
def test_path_segment_is_quote_whatever_the_id(raw: str) -> None:
    # The unquoted fast path returns only what quote would return unchanged.
    assert path_segment(raw) == quote(raw, safe="!$&'()*+,;=:@")

"""worker.codec: CloudEvents Kafka records in, group commands out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas import events as ev
from schemas.commands import MAX_LINK_IDS, GroupCommand
from worker.codec import (
    COMMAND_CONTENT_TYPE,
    decode_record,
    encode_command,
    time_to_us,
    us_to_rfc3339,
)
from worker.errors import InvalidEvent, UnknownEventType

RECORD_MS = 1_700_000_000_123
RECORD_TIME = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
CE_JSON = [("content-type", b"application/cloudevents+json")]

# One valid `data` per input type, and the model it decodes to.
SAMPLES: dict[str, tuple[type[ev.EventBase], dict[str, Any]]] = {
    "lms.enrollment.created": (
        ev.EnrollmentCreated,
        {"user_id": "u1", "course_id": "c1", "method": "manual"},
    ),
    "lms.enrollment.deleted": (
        ev.EnrollmentDeleted,
        {"user_id": "u1", "course_id": "c1", "method": "manual"},
    ),
    "lms.segment.member.added": (ev.SegmentMemberAdded, {"user_id": "u1", "segment_id": "s1"}),
    "lms.segment.member.removed": (
        ev.SegmentMemberRemoved,
        {"user_id": "u1", "segment_id": "s1"},
    ),
    "lms.segment.deleted": (ev.SegmentDeleted, {"segment_id": "s1"}),
    "lms.segment_group_link.created": (
        ev.LinkCreated,
        {"link_id": "l1", "course_id": "c1", "segment_id": "s1", "group_id": "g1"},
    ),
    "lms.segment_group_link.deleted": (ev.LinkDeleted, {"link_id": "l1"}),
    "lms.group.deleted": (ev.GroupDeleted, {"course_id": "c1", "group_id": "g1"}),
    "lms.course.deleted": (ev.CourseDeleted, {"course_id": "c1"}),
    "lms.segment_enrol_link.created": (
        ev.EnrolLinkCreated,
        {
            "link_id": "l1",
            "course_id": "c1",
            "segment_id": "s1",
            "role": "teacher",
            "on_leave": "suspend",
        },
    ),
    "lms.segment_enrol_link.deleted": (ev.EnrolLinkDeleted, {"link_id": "l1"}),
}


def envelope(event_type: str = "lms.enrollment.created", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "moodle.example.org",
        "type": event_type,
        "time": "2024-05-01T12:00:00Z",
        "data": dict(SAMPLES[event_type][1]) if event_type in SAMPLES else {},
    }
    event.update(changes)
    return event


def structured(event: dict[str, Any], ms: int = RECORD_MS) -> ev.LmsEvent:
    return decode_record(orjson.dumps(event), CE_JSON, ms)


def binary(event: dict[str, Any], ms: int = RECORD_MS) -> ev.LmsEvent:
    """Send `event` in binary mode: attributes in ce_ headers, data as the value."""
    headers: list[tuple[str, bytes | None]] = [("content-type", b"application/json")]
    for name, attr in event.items():
        if name != "data" and attr is not None:
            headers.append((f"ce_{name}", str(attr).encode()))
    return decode_record(orjson.dumps(event["data"]), headers, ms)


def invalid(value: bytes | None, headers: Any = None, ms: int = RECORD_MS) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode_record(value, headers, ms)
    reason = info.value.reason
    assert "\n" not in reason and len(reason) <= 300
    return reason


def invalid_event(**changes: Any) -> str:
    return invalid(orjson.dumps(envelope(**changes)))


# -- every type, both content modes ------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
@pytest.mark.parametrize("mode", [structured, binary])
def test_every_type_decodes_in_both_modes(event_type: str, mode: Any) -> None:
    model, data = SAMPLES[event_type]
    event: ev.LmsEvent = mode(envelope(event_type))
    assert (event.specversion, event.id, event.source, event.type) == (
        "1.0",
        "evt-1",
        "moodle.example.org",
        event_type,
    )
    assert event.time == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert event.data.model_dump() == data
    assert type(event) is model


def test_known_types_match_the_contract() -> None:
    assert frozenset(SAMPLES) == ev.KNOWN_TYPES


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        b"application/cloudevents+json",
        b"application/cloudevents+json; charset=utf-8",
        b"Application/CloudEvents+JSON;charset=UTF-8",
    ],
)
def test_structured_content_types(content_type: bytes | None) -> None:
    headers = None if content_type is None else [("content-type", content_type)]
    event = decode_record(orjson.dumps(envelope()), headers, RECORD_MS)
    assert isinstance(event, ev.EnrollmentCreated)


@pytest.mark.parametrize("content_type", [b"application/json", b"text/plain", b""])
def test_without_ce_headers_the_value_is_a_structured_event(content_type: bytes) -> None:
    # Contract v2: SDKs send structured events with content-type application/json (the
    # event's datacontenttype), or none; no ce_ header means structured.
    event = decode_record(orjson.dumps(envelope()), [("content-type", content_type)], RECORD_MS)
    assert isinstance(event, ev.EnrollmentCreated)


def test_the_cloudevents_content_type_means_structured_whatever_ce_headers_say() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_type", b"not.this"),
        ("content-type", b"application/cloudevents+json; charset=utf-8"),
    ]
    event = decode_record(orjson.dumps(envelope()), headers, RECORD_MS)
    assert isinstance(event, ev.EnrollmentCreated)
    reason = invalid(orjson.dumps(envelope()), [("content-type", b"application/cloudevents+avro")])
    assert "not JSON" in reason


def test_any_ce_header_means_binary() -> None:
    # No ce_specversion, but a ce_ header: binary mode, so the missing attribute is an error.
    assert invalid(orjson.dumps(envelope()), [("ce_id", b"x")]) == "missing specversion"


def test_binary_mode_rejects_non_json_data_content_type() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e"),
        ("ce_source", b"s"),
        ("ce_type", b"lms.course.deleted"),
        ("content-type", b"application/avro"),
    ]
    assert "not JSON" in invalid(b'{"course_id": "c"}', headers)


def test_binary_mode_without_content_type_and_with_extensions() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e"),
        ("ce_source", b"s"),
        ("ce_type", b"lms.course.deleted"),
        ("ce_subject", b"anything"),
        ("traceparent", b"00-abc"),
    ]
    event = decode_record(b'{"course_id": 42}', headers, RECORD_MS)
    assert isinstance(event, ev.CourseDeleted)
    assert event.data.course_id == "42"
    assert event.time == RECORD_TIME


def test_extra_fields_are_ignored() -> None:
    event = structured(
        envelope(data={"user_id": "u", "course_id": "c", "role": "student"}, traceid="x")
    )
    assert event.data.model_dump() == {"user_id": "u", "course_id": "c", "method": ""}


def test_models_are_frozen() -> None:
    event = structured(envelope())
    with pytest.raises(ValidationError):
        event.id = "other"  # type: ignore[misc]


# -- ids ---------------------------------------------------------------------------


def test_integer_ids_become_decimal_strings() -> None:
    event = structured(envelope(id=17, data={"user_id": 12345, "course_id": -3}))
    assert isinstance(event, ev.EnrollmentCreated)
    assert (event.id, event.data.user_id, event.data.course_id) == ("17", "12345", "-3")
    big = structured(envelope(data={"user_id": 2**63 - 1, "course_id": 0}))
    assert isinstance(big, ev.EnrollmentCreated)
    assert big.data.user_id == str(2**63 - 1)


@pytest.mark.parametrize("bad", [True, False, 1.5, 1.0, [], {}, None])
def test_other_id_types_are_rejected_naming_the_field(bad: Any) -> None:
    reason = invalid_event(data={"user_id": bad, "course_id": "c"})
    assert reason.startswith("data.user_id: ")


def test_integer_beyond_64_bits_is_read_as_its_decimal_string() -> None:
    # The contract reads a JSON integer as its decimal string, whatever its size: such a
    # document takes the exact parser (orjson would turn the integer into a float).
    value = b'{"specversion":"1.0","id":184467440737095516160,"source":"s",'
    value += b'"type":"lms.course.deleted","time":"2024-01-01T00:00:00Z",'
    value += b'"data":{"course_id":18446744073709551616}}'
    event = decode_record(value, CE_JSON, 0)
    assert isinstance(event, ev.CourseDeleted)
    assert (event.id, event.data.course_id) == ("184467440737095516160", "18446744073709551616")


@pytest.mark.parametrize("field", ["user_id", "course_id"])
def test_id_length_limits(field: str) -> None:
    data = {"user_id": "u", "course_id": "c"}
    ok = structured(envelope(data={**data, field: "x" * 128}))
    assert getattr(ok.data, field) == "x" * 128
    reason = invalid_event(data={**data, field: "x" * 129})
    assert reason == f"data.{field}: String should have at most 128 characters"
    assert invalid_event(data={**data, field: ""}).startswith(f"data.{field}: ")


def test_event_id_limits_and_nul() -> None:
    assert structured(envelope(id="e" * 128)).id == "e" * 128
    assert invalid_event(id="e" * 129).startswith("id: ")
    assert invalid_event(id="").startswith("id: ")
    assert invalid_event(data={"user_id": "a\x00b", "course_id": "c"}).startswith("data.user_id")


def test_source_limits() -> None:
    assert structured(envelope(source="s" * 255)).source == "s" * 255
    assert invalid_event(source="s" * 256).startswith("source: ")
    assert invalid_event(source="").startswith("source: ")
    assert invalid_event(source="a\x00").startswith("source: ")


# -- time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01t12:00:00z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01 12:00:00+00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00-00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:30:00+02:30", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T07:00:00.5-05:00", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T12:00:00.123456789Z", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_rfc3339_times_are_normalised_to_utc(text: str, expected: datetime) -> None:
    for mode in (structured, binary):
        event = mode(envelope(time=text))
        assert event.time == expected
        assert event.time.tzinfo is UTC


@pytest.mark.parametrize(
    "bad",
    [
        1714564800,
        1714564800.5,
        "1714564800",
        "2024-05-01",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00Z",
        "2024-05-01T12:00:00+0200",
        "2024-05-01T12:00:00 Z",
        "2024-05-01T12:00:00Zjunk",
        "2024-02-30T12:00:00Z",
        "2024-05-01T25:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "Wed, 01 May 2024 12:00:00 GMT",
        "",
        True,
        {},
    ],
)
def test_bad_time_forms_are_invalid(bad: Any) -> None:
    assert invalid_event(time=bad).startswith("time: ")


def test_bad_time_in_binary_mode_is_invalid() -> None:
    with pytest.raises(InvalidEvent, match=r"^time: "):
        binary(envelope(time="2024-05-01"))


@pytest.mark.parametrize("mode", [structured, binary])
def test_missing_or_null_time_takes_the_record_timestamp(mode: Any) -> None:
    event = envelope()
    del event["time"]
    assert mode(event).time == RECORD_TIME
    assert mode(envelope(time=None)).time == RECORD_TIME


def test_missing_time_without_record_timestamp_is_invalid() -> None:
    assert "timestamp" in invalid(orjson.dumps(envelope(time=None)), CE_JSON, -1)


# -- envelope errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (b"not json", "value is not JSON"),
        (b"", "value is not JSON"),
        (b"\xff\xfe", "value is not JSON"),
        (b"[1, 2]", "JSON array, not an object"),
        (b'"text"', "JSON string, not an object"),
        (b"null", "JSON null, not an object"),
        (None, "no value"),
    ],
)
def test_not_a_json_object(value: bytes | None, fragment: str) -> None:
    assert fragment in invalid(value, CE_JSON)


@pytest.mark.parametrize("name", ["specversion", "id", "source", "type"])
def test_missing_or_non_string_envelope_attributes(name: str) -> None:
    event = envelope()
    del event[name]
    assert invalid(orjson.dumps(event)) == f"missing {name}"
    assert invalid_event(**{name: ["x"]}) == f"{name} is a JSON array, not a string"


def test_wrong_specversion() -> None:
    assert invalid_event(specversion="0.3") == "specversion is not 1.0"


def test_missing_data_names_the_field() -> None:
    event = envelope()
    del event["data"]
    assert invalid(orjson.dumps(event)) == "data: Field required"
    assert invalid_event(data=[]).startswith("data: ")
    assert invalid_event(data={"user_id": "u"}) == "data.course_id: Field required"


def test_unknown_type_needs_only_an_envelope() -> None:
    with pytest.raises(UnknownEventType) as info:
        structured(envelope("lms.badge.awarded", data="whatever", time=12))
    assert (info.value.source, info.value.event_type) == ("moodle.example.org", "lms.badge.awarded")
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e"),
        ("ce_source", b"site"),
        ("ce_type", b"lms.badge.awarded"),
    ]
    with pytest.raises(UnknownEventType):
        decode_record(b"\x00 not json", headers, RECORD_MS)
    # ...but a broken envelope is still invalid, whatever the type.
    assert invalid_event(event_type="x", specversion="2.0") == "specversion is not 1.0"
    assert invalid_event(type="x" * 256).startswith("type: ")


def test_binary_header_problems() -> None:
    base = [("ce_specversion", b"1.0"), ("ce_source", b"s"), ("ce_type", b"lms.course.deleted")]
    assert invalid(b'{"course_id":"c"}', base) == "missing id"
    assert "not UTF-8" in invalid(b'{"course_id":"c"}', [*base, ("ce_id", b"\xc3(")])
    assert "duplicate" in invalid(b'{"course_id":"c"}', [*base, ("ce_id", b"a"), ("ce_id", b"b")])
    assert invalid(b"{nope", [*base, ("ce_id", b"a")]).startswith("data is not JSON")


def test_reasons_never_quote_payload_values() -> None:
    secret = "SECRET-" + "x" * 200
    for changes in (
        {"data": {"user_id": secret, "course_id": "c"}},
        {"id": secret},
        {"source": secret + "y" * 100},
        {"time": secret},
    ):
        assert "SECRET" not in invalid_event(**changes)


def test_garbage_never_escapes_as_another_exception() -> None:
    deep = b"[" * 5000 + b"]" * 5000
    assert "not JSON" in invalid(deep)
    assert invalid(b'{"a": 1e999}').startswith("value is not JSON")
    assert invalid(orjson.dumps(envelope()), [("ce_id", None), ("ce_id", b"x")])
    assert invalid(orjson.dumps(envelope(time=None)), None, 10**18)


# -- encoding commands -------------------------------------------------------------


def command(**changes: Any) -> bytes:
    args: dict[str, Any] = {
        "command_id": "cmd-1",
        "source": "moodle.example.org",
        "kind": "add",
        "course_id": "c/1",
        "group_id": "g1",
        "user_id": "u1",
        "link_ids": ["l1", "l2"],
        "reason": "joined_segment",
        "caused_by": "evt-9",
        "time_us": 1_714_564_800_000_001,
    }
    args.update(changes)
    return encode_command(**args)


@pytest.mark.parametrize("kind", ["add", "remove"])
def test_encoded_command_validates_and_round_trips(kind: str) -> None:
    raw = command(kind=kind, link_ids=("l1",))
    cmd = GroupCommand.model_validate_json(raw)
    assert cmd.type == f"lms.group.member.{kind}"
    assert cmd.subject == "course/c%2F1/group/g1/user/u1"
    assert (cmd.id, cmd.source, cmd.datacontenttype) == (
        "cmd-1",
        "moodle.example.org",
        "application/json",
    )
    assert cmd.data.model_dump(exclude_none=True) == {
        "course_id": "c/1",
        "group_id": "g1",
        "user_id": "u1",
        "link_ids": ["l1"],
        "reason": "joined_segment",
        "caused_by": "evt-9",
        "component": "segsync",
    }
    assert time_to_us(cmd.time) == 1_714_564_800_000_001
    assert orjson.loads(raw)["time"] == "2024-05-01T12:00:00.000001Z"
    assert orjson.loads(cmd.model_dump_json(exclude_none=True)) == orjson.loads(raw)
    assert COMMAND_CONTENT_TYPE == "application/cloudevents+json"


def test_link_ids_are_bounded_and_say_how_many() -> None:
    many = [f"l{i:04d}" for i in range(250)][::-1]
    cmd = GroupCommand.model_validate_json(command(link_ids=many))
    assert cmd.data.link_ids == sorted(many)[:MAX_LINK_IDS]
    assert cmd.data.link_count == 250
    exact = GroupCommand.model_validate_json(command(link_ids=many[:MAX_LINK_IDS]))
    assert exact.data.link_count is None and len(exact.data.link_ids) == MAX_LINK_IDS
    assert "link_count" not in orjson.loads(command(link_ids=many[:MAX_LINK_IDS]))["data"]
    payload = orjson.loads(command(link_ids=many))
    payload["data"]["link_ids"] = payload["data"]["link_ids"][:3]
    with pytest.raises(ValidationError, match="link_count"):
        GroupCommand.model_validate(payload)


def test_encode_rejects_unknown_kind_or_reason() -> None:
    with pytest.raises(ValueError):
        command(kind="toggle")
    with pytest.raises(ValueError):
        command(reason="because")


def test_command_subject_must_match_its_data() -> None:
    payload = orjson.loads(command())
    payload["subject"] = "course/c/1/group/g1/user/u1"  # not percent-encoded
    with pytest.raises(ValidationError, match="subject"):
        GroupCommand.model_validate(payload)


def test_time_helpers() -> None:
    for us in (0, 1, -1, 1_714_564_800_123_456, 253_402_300_799_999_999):
        assert time_to_us(datetime.fromisoformat(us_to_rfc3339(us))) == us
    assert us_to_rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    plus2 = datetime(2024, 5, 1, 16, tzinfo=timezone(timedelta(hours=2)))
    assert time_to_us(plus2) == 1_714_572_000_000_000
    with pytest.raises(ValueError):
        time_to_us(datetime(2024, 5, 1))

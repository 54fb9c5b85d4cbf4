"""The lean decoder against the full one on each rule's edges, one change at a time, in both
content modes (the Hypothesis tests beside it cover the space between); and that common
events do take the lean path."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
from pydantic import StringConstraints

from bench.history import history_records
from schemas import event_types as et
from schemas import events as ev
from tests.support.lean_check import IDS, TEXTS, TIMES, assert_same, binary, structured
from tests.support.sdk_events import VARIANTS, Variant, sdk_record
from worker import lean
from worker.engine.records import InRecord, decode_full

BASES: dict[str, dict[str, Any]] = {
    t: {
        "specversion": "1.0",
        "id": "e1",
        "source": "site",
        "type": t,
        "time": "2024-05-01T12:00:00.123Z",
        "data": data,
    }
    for t, data in [
        (et.ENROLLMENT_CREATED, {"user_id": "u", "course_id": "c", "method": "manual"}),
        (et.ENROL_LINK_CREATED, {"link_id": "l", "course_id": 7, "segment_id": "s", "role": "r"}),
        (et.GROUP_DELETED, {"course_id": "c", "group_id": "g"}),
    ]
}
DATA: list[Any] = [None, [], "x", {}, {"extra": 1}]
ON_LEAVE: list[Any] = ["suspend", "unenrol", "Suspend", "", None, 1, ["suspend"]]
CASES: list[tuple[str, str, Any]] = [
    *((t, "id", v) for t in BASES for v in IDS),
    *((et.GROUP_DELETED, "data.course_id", v) for v in IDS),
    *((et.ENROL_LINK_CREATED, "data.link_id", v) for v in IDS),
    *((et.GROUP_DELETED, "source", v) for v in ["s" * 255, "s" * 256, "", "s\x00", 5, None]),
    *((et.GROUP_DELETED, "source", "\U0001d11e" * n) for n in (255, 256)),
    *((et.GROUP_DELETED, "specversion", v) for v in ["1.0", "1.1", "1", 1.0, None, "1.0 "]),
    *((et.GROUP_DELETED, "type", v) for v in ["lms.unknown", "", "x" * 256, 7, None]),
    *((et.ENROLLMENT_CREATED, "time", v) for v in TIMES),
    *((et.ENROLLMENT_CREATED, "data.method", v) for v in TEXTS),
    *((et.ENROL_LINK_CREATED, "data.role", v) for v in TEXTS),
    *((et.ENROL_LINK_CREATED, "data.on_leave", v) for v in ON_LEAVE),
    *((t, "data", v) for t in BASES for v in DATA),
    *((t, "data.extra", v) for t in BASES for v in [None, 1, "x" * 300, "a\x00"]),
    *((t, "subject", v) for t in BASES for v in [None, 1, {"a": None}]),
]  # fmt: skip
DELETIONS = [(t, name) for t, base in BASES.items() for name in [*base, *base["data"]]]
TIMESTAMPS = [0, -1, 253_402_300_799_999, 253_402_300_800_000, 2**63 - 1]


def changed(etype: str, path: str, value: Any, delete: bool = False) -> dict[str, Any]:
    event = copy.deepcopy(BASES[etype])
    target, _, name = path.rpartition(".")
    where = event["data"] if target == "data" else event
    if delete:
        where.pop(name if target else path, None)
    else:
        where[name if target else path] = value
    return event


@pytest.mark.parametrize(("etype", "path", "value"), CASES)
def test_one_change(etype: str, path: str, value: Any) -> None:
    event = changed(etype, path, value)
    for ctype in (None, b"application/cloudevents+json"):
        assert_same(structured(event, 1_000, ctype))
    if isinstance(event.get("data"), dict) and path != "data":
        for ctype in (None, b"application/json"):
            assert_same(binary(event, 1_000, ctype))


@pytest.mark.parametrize(("etype", "name"), DELETIONS)
def test_one_deletion(etype: str, name: str) -> None:
    path = name if name in BASES[etype] else f"data.{name}"
    event = changed(etype, path, None, delete=True)
    for ts in TIMESTAMPS:
        assert_same(structured(event, ts))
        if "data" in event:
            assert_same(binary(event, ts))


HEADERS: list[list[tuple[str, bytes | None]]] = [
    [("content-type", None)],
    [("content-type", b"application/json"), ("content-type", b"application/json")],
    [("Content-Type", b"APPLICATION/CLOUDEVENTS+JSON ; charset=utf-8")],
    [("content-type", b"application/cloudevents+xml")],
    [("content-type", b"application/cloudevents")],
    [("content-type", b"text/plain")],
    [("content-type", b"\xff")],
    [("ce_x", b"1")],
    [("ce_x", b"1"), ("CE_X", b"2")],
    [("ce_", b"")],
    [("ce_id", None)],
    [("x-other", b"1"), ("ce_id", b"\xff")],
]


@pytest.mark.parametrize("extra", HEADERS)
def test_odd_headers(extra: list[tuple[str, bytes | None]]) -> None:
    event = BASES[et.ENROLLMENT_CREATED]
    for rec in (structured(event), binary(event)):
        for hdrs in (list(rec.headers) + extra, extra + list(rec.headers)):
            assert_same(InRecord("t", 0, 0, None, rec.value, hdrs, 0))


def test_valid_edges_take_the_lean_path() -> None:
    """The edges of the common forms are read by the lean path, not only left to the other."""
    for etype, path, value in [
        (et.GROUP_DELETED, "id", "x" * 128),
        (et.GROUP_DELETED, "id", 10**18 - 1),  # 19 digits would take the exact parser
        (et.GROUP_DELETED, "source", "s" * 255),
        (et.ENROLLMENT_CREATED, "time", "2024-05-01 12:00:00.123456789-23:59"),
        (et.ENROLLMENT_CREATED, "data.method", None),
        (et.ENROL_LINK_CREATED, "data.on_leave", "suspend"),
    ]:
        for rec in (structured(changed(etype, path, value)), binary(changed(etype, path, value))):
            assert lean.lean_view(rec.value, rec.headers, rec.timestamp_ms) is not None
            assert_same(rec)


def test_the_bench_history_takes_the_lean_path() -> None:
    """Common events, both content modes: every one is read by the lean decoder alone."""
    _, recs = history_records(3000)
    for i, (key, value, hdrs) in enumerate(recs):
        rec = InRecord("t", 0, i, key, value, hdrs, 1_750_000_000_000 + i)
        view = lean.lean_view(value, hdrs, rec.timestamp_ms)
        assert view is not None
        assert view == decode_full(rec).event


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdk_events_take_the_lean_path(variant: Variant) -> None:
    """What the CloudEvents SDKs' Kafka bindings produce, either mode and API."""
    for at in (datetime(2024, 5, 1, 12, 0, 0, 123456, UTC), datetime(2024, 5, 1, tzinfo=UTC)):
        data = {"user_id": "u", "course_id": "c"}
        key, value, hdrs = sdk_record(variant, "e1", et.ENROLLMENT_CREATED, at, data)
        rec = InRecord("t", 0, 0, key, value, hdrs, 0)
        assert lean.lean_view(value, hdrs, 0) is not None
        assert_same(rec)


def test_a_long_number_leaves_the_record_to_the_full_decode() -> None:
    """A digit run past orjson's exact range makes the full decode parse with `json`, which
    refuses nesting that orjson takes: the lean path must not read such a record itself."""
    deep = "[" * 990 + "]" * 990
    value = (
        '{"specversion":"1.0","id":"e","source":"s","type":"lms.course.deleted","time":'
        f'"2024-05-01T12:00:00Z","data":{{"course_id":"c"}},"x":{deep},"n":1234567890123456789}}'
    ).encode()
    rec = InRecord("t", 0, 0, None, value, [], 0)
    assert decode_full(rec).error is not None
    assert_same(rec)


def test_every_type_has_a_lean_plan() -> None:
    """A model rule worker.lean does not know leaves its type to the full decode: slower,
    so it must be taught (this fails until then)."""
    assert not lean.UNPLANNED, f"no lean plan for {sorted(lean.UNPLANNED)}"


def test_a_type_without_a_plan_goes_to_the_full_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(lean._PLANS, et.GROUP_DELETED)
    rec = structured(BASES[et.GROUP_DELETED])
    assert lean.lean_view(rec.value, rec.headers, 0) is None
    assert decode_full(rec).event is not None
    assert_same(rec)


def test_a_rule_the_lean_path_does_not_know_leaves_the_type_to_the_full_decode() -> None:
    """A field kind worker.lean has no check for (here a pattern) gets no plan."""

    class PatternData(ev.NullMeansAbsent):
        code: Annotated[str, StringConstraints(pattern="^[a-z]+$")] = "x"

    class Patterned(ev.EventBase):
        data: PatternData

    with pytest.raises(lean.UnknownRule, match=r"PatternData\.code"):
        lean._plan(Patterned)

"""Scenarios: bad input goes to the DLQ unchanged with its reason; unknown types are skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.histories import rfc3339, to_record
from tests.support.reference import Ev
from tests.support.scenario_kit import (
    SEC,
    T0,
    Lms,
    Run,
    add,
    apply_once,
    brief,
    migrated,
    outbox_rows,
)
from worker.engine.apply import BatchResult
from worker.engine.records import InRecord

TOPIC, PARTITION, OFFSET = "lms.events", 2, 41
STAMP_MS = (T0 + 100 * SEC) // 1000  # the Kafka record timestamp
ORIGINAL_HEADERS: list[tuple[str, bytes | None]] = [
    ("content-type", b"application/cloudevents+json"),
    ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("x-raw", bytes(range(256))),  # any bytes: must come back as they were
]


@pytest.fixture
def run(db_url: str) -> Iterator[Run]:
    with migrated(db_url) as store:
        yield Run(store)


def event(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": "bad-1",
        "source": "site-a",
        "type": "lms.enrollment.created",
        "time": rfc3339(T0 + 2 * SEC),
        "data": {"user_id": "u1", "course_id": "c1"},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def structured(body: Any, offset: int = OFFSET) -> InRecord:
    value = body if isinstance(body, bytes) else json.dumps(body).encode()
    return InRecord(TOPIC, PARTITION, offset, b"u1", value, ORIGINAL_HEADERS, STAMP_MS)


def binary(data: bytes, **ce: str) -> InRecord:
    attrs = {"specversion": "1.0", "id": "bad-2", "source": "site-a"}
    attrs |= {"type": "lms.enrollment.created", "time": rfc3339(T0 + 2 * SEC)} | ce
    headers: list[tuple[str, bytes | None]] = [(f"ce_{k}", v.encode()) for k, v in attrs.items()]
    headers += [("content-type", b"application/json")]
    return InRecord(TOPIC, PARTITION, OFFSET, b"u1", data, headers, STAMP_MS)


BAD: dict[str, InRecord] = {
    "not JSON": structured(b'{"specversion": "1.0", "id": '),
    "JSON array": structured([event()]),
    "JSON string": structured(b'"lms.enrollment.created"'),
    "no value": InRecord(TOPIC, PARTITION, OFFSET, b"u1", None, ORIGINAL_HEADERS, STAMP_MS),
    "missing specversion": structured(event(specversion=None)),
    "specversion 0.3": structured(event(specversion="0.3")),
    "missing id": structured(event(id=None)),
    "missing source": structured(event(source=None)),
    "data missing course_id": structured(event(data={"user_id": "u1"})),
    "link data missing group_id": structured(
        event(
            type="lms.segment_group_link.created",
            data={"link_id": "L", "course_id": "c1", "segment_id": "S"},
        )
    ),
    "data not an object": structured(event(data=["u1", "c1"])),
    "event id of 300 chars": structured(event(id="x" * 300)),
    "user_id of 300 chars": structured(event(data={"user_id": "u" * 300, "course_id": "c1"})),
    "empty course_id": structured(event(data={"user_id": "u1", "course_id": ""})),
    "time not a date": structured(event(time="yesterday")),
    "time month 13": structured(event(time="2024-13-01T00:00:00Z")),
    "time without offset": structured(event(time="2024-01-01T00:00:00")),
    "time as a number": structured(event(time=1_700_000_000)),
    "binary: bad ce_time": binary(b'{"user_id": "u1", "course_id": "c1"}', time="noon"),
    "binary: data not JSON": binary(b"user_id=u1"),
    "binary: data missing user_id": binary(b'{"course_id": "c1"}'),
}


def _at(offset: int, rec: InRecord) -> InRecord:
    return InRecord(rec.topic, rec.partition, offset, rec.key, rec.value, rec.headers, STAMP_MS)


def _setup_then(run: Run, bad: list[InRecord]) -> tuple[BatchResult, Ev]:
    """u1 is one enrolment away from (c1, g1); one batch: the `bad` records, that enrolment."""
    lms = Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1), lms.join("u1", "S1", 1))
    good = lms.enrol("u1", "c1", 3)
    key, value, headers = to_record(good)
    follow = InRecord(TOPIC, PARTITION, OFFSET + len(bad), key, value, headers, STAMP_MS)
    return apply_once(run.store, [*bad, follow]), good


def test_bad_input_goes_to_the_dlq_unchanged_and_processing_goes_on(run: Run) -> None:
    cases = sorted(BAD)
    bad = [_at(OFFSET + i, BAD[case]) for i, case in enumerate(cases)]
    result, good = _setup_then(run, bad)
    assert result.counts["events.dlq"] == len(cases)
    rows = outbox_rows(run.store, "dlq")
    assert len(rows) == len(cases)
    problems: dict[str, str] = {}
    for case, rec, row in zip(cases, bad, rows, strict=True):
        original = list(rec.headers)  # unchanged, null header values included
        extra = dict(row.headers[len(original) :])
        error = extra.get("segsync_error") or b""
        if (row.key, row.value) != (rec.key, rec.value):
            problems[case] = "key or value changed"
        elif row.headers[: len(original)] != original:
            problems[case] = f"original headers changed: {row.headers}"
        elif extra != {
            "segsync_error": error,
            "segsync_source_topic": TOPIC.encode(),
            "segsync_source_partition": str(PARTITION).encode(),
            "segsync_source_offset": str(rec.offset).encode(),
        }:
            problems[case] = f"headers: {extra}"
        elif not error.strip() or b"\n" in error:
            problems[case] = f"segsync_error: {error!r}"
    assert problems == {}
    # The event after them was applied as usual.
    assert [brief(c) for c in run.new()] == [add("c1", "g1", "u1", "enrolled", ["L1"], good)]


def test_unknown_type_is_skipped_and_counted_not_dead_lettered(run: Run) -> None:
    unknown = [
        structured(event(type="lms.quiz.attempted", data={"quiz": 1})),
        binary(b'{"quiz": 1}', type="lms.quiz.attempted"),
    ]
    result = apply_once(run.store, unknown)
    assert result.counts["events.unknown"] == 2
    assert result.counts["events.dlq"] == 0
    assert result.commands == []
    assert outbox_rows(run.store, "dlq") == [] and outbox_rows(run.store, "command") == []
    # In a batch with real events, these are applied around them.
    result, good = _setup_then(run, [_at(OFFSET + i, r) for i, r in enumerate(unknown)])
    assert result.counts["events.unknown"] == 2 and result.counts["events.dlq"] == 0
    assert outbox_rows(run.store, "dlq") == []
    assert [brief(c) for c in run.new()] == [add("c1", "g1", "u1", "enrolled", ["L1"], good)]


def test_an_id_of_128_characters_is_fine(run: Run) -> None:
    user, link = "u" * 128, "L" * 128
    lms = Lms()
    run.feed(lms.enrol(user, "c1", 1), lms.join(user, "S1", 1))
    created = lms.link(link, "c1", "S1", "g1", 2, "i" * 128)
    assert run.feed(created) == [add("c1", "g1", user, "link_created", [link], created)]
    assert outbox_rows(run.store, "dlq") == []


def test_integer_ids_are_their_decimal_strings(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("7", "c1", "S1", "g1", 1), lms.join("42", "S1", 1))
    numeric = event(id=1001, data={"user_id": 42, "course_id": "c1"})
    result = apply_once(run.store, [structured(numeric)])
    assert result.counts["events.dlq"] == 0
    assert [brief(c) for c in run.new()] == [add("c1", "g1", "42", "enrolled", ["7"], "1001")]
    # The same event id as a string is the same event.
    again = apply_once(run.store, [structured(event(id="1001", type="lms.enrollment.deleted"))])
    assert again.counts["events.duplicate"] == 1 and run.new() == []


def test_absent_time_is_the_record_timestamp(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1), lms.join("u1", "S1", 1))
    # The unenrolment says 50 s; the enrolment has no time and a record timestamp of 100 s.
    run.feed(lms.unenrol("u1", "c1", 50))
    untimed = apply_once(run.store, [structured(event(id="untimed", time=None))])
    assert untimed.counts["events.dlq"] == 0
    assert [brief(c) for c in run.new()] == [add("c1", "g1", "u1", "enrolled", ["L1"], "untimed")]
    assert run.feed(lms.unenrol("u1", "c1", 99)) == []  # older than the record timestamp


def test_time_offsets_are_instants(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1), lms.join("u1", "S1", 1))

    def enrolment(id_: str, type_: str, time: str, offset: int) -> InRecord:
        return structured(event(id=id_, type=type_, time=time), offset)

    # 12:00+02:00 is 10:00Z: the unenrolment at 10:00:00.5Z is newer whatever the ids.
    late = enrolment("a", "lms.enrollment.deleted", "2024-01-01T10:00:00.5Z", 1)
    early = enrolment("z", "lms.enrollment.created", "2024-01-01T12:00:00+02:00", 2)
    apply_once(run.store, [late])
    apply_once(run.store, [early])
    assert run.new() == []
    # The same instant written two ways: a tie, decided by id ("y" > "b").
    tie_on = enrolment("y", "lms.enrollment.created", "2024-01-01T09:00:00-02:00", 3)
    tie_off = enrolment("b", "lms.enrollment.deleted", "2024-01-01T11:00:00Z", 4)
    apply_once(run.store, [tie_on])
    assert [brief(c) for c in run.new()] == [add("c1", "g1", "u1", "enrolled", ["L1"], "y")]
    apply_once(run.store, [tie_off])
    assert run.new() == []

"""The replay fast path's envelope reading never raises on hostile JSON (a `type` that is a
list or an object crashed the worker with `unhashable type`: the fault suite's hostile
stream and the issue 12 soak found it)."""

from __future__ import annotations

import orjson
import pytest

from worker.engine.records import InRecord, decode_batch
from worker.envelope import identity

CE_JSON = [("content-type", b"application/cloudevents+json")]


@pytest.mark.parametrize("bad", [[1], {"a": 1}, None, 3.5, True])
@pytest.mark.parametrize("field", ["type", "source", "id", "specversion"])
def test_unhashable_or_odd_attributes_are_left_to_the_decoder(field: str, bad: object) -> None:
    body: dict[str, object] = {
        "specversion": "1.0",
        "id": "x",
        "source": "s",
        "type": "lms.course.deleted",
    }
    body[field] = bad
    value = orjson.dumps({**body, "data": {"course_id": "c"}})
    assert identity(value, CE_JSON) is None
    (d,) = decode_batch([InRecord("t", 0, 0, b"k", value, CE_JSON, 0)], lambda ids: set())
    assert d.error is not None  # the full decoder dead-letters it, with a reason


@pytest.mark.parametrize(
    ("source", "event_id"), [("s\x00", "x"), ("s", "x\x00"), ("s" * 256, "x"), ("s", "i" * 129)]
)
def test_ids_the_decoder_rejects_never_reach_the_store(source: str, event_id: str) -> None:
    body = {"specversion": "1.0", "id": event_id, "source": source, "type": "lms.course.deleted"}
    value = orjson.dumps({**body, "data": {"course_id": "c"}})
    assert identity(value, CE_JSON) is None
    binary = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", b"lms.course.deleted"),
    ]
    assert identity(b'{"course_id": "c"}', binary) is None

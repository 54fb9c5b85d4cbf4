"""The replay fast path's envelope reading (`worker.envelope.identity`) held to the full
decoder: on every event the decoder accepts, the fast path reads the same (source, id,
type), in both content modes; on arbitrary input it never crashes and never names an
identity the decoder would give another (source, id, type)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_codec_hypothesis import as_binary, decode_or_reject, headers, valid_events
from worker.envelope import identity

RELAXED = settings(deadline=None, max_examples=300)


def _expected(event: dict[str, Any]) -> tuple[str, str, str]:
    return (event["source"], str(event["id"]), event["type"])


@RELAXED
@given(event=valid_events(), binary=st.booleans(), content_type=st.booleans())
def test_every_valid_event_is_recognised_as_the_decoder_reads_it(
    event: dict[str, Any], binary: bool, content_type: bool
) -> None:
    event = {k: v for k, v in event.items() if not k.startswith("_")}
    if binary:
        value, hdrs = as_binary(event)
        if content_type:
            hdrs.append(("content-type", b"application/json"))
    else:
        value = orjson.dumps(event)
        hdrs = [("content-type", b"application/cloudevents+json")] if content_type else []
    decoded = decode_or_reject(value, hdrs, 1_700_000_000_000)
    assert decoded is not None
    assert (decoded.source, decoded.id, decoded.type) == _expected(event)
    assert identity(value, hdrs) == _expected(event)


@RELAXED
@given(
    value=st.none() | st.binary(max_size=60) | valid_events().map(orjson.dumps),
    hdrs=headers,
)
def test_arbitrary_records_never_get_another_identity(value: bytes | None, hdrs: Any) -> None:
    got = identity(value, hdrs or [])
    decoded = decode_or_reject(value, hdrs, 1_700_000_000_000)
    if got is not None and decoded is not None:
        assert got == (decoded.source, decoded.id, decoded.type)


def test_a_structured_content_type_wins_over_ce_headers() -> None:
    body = {"specversion": "1.0", "id": "e1", "source": "s", "type": "lms.segment.deleted"}
    value = orjson.dumps({**body, "data": {"segment_id": "S"}})
    hdrs = [("ce_id", b"other"), ("content-type", b"application/cloudevents+json; charset=x")]
    assert identity(value, hdrs) == ("s", "e1", "lms.segment.deleted")
    assert identity(value, [("content-type", b"application/cloudevents+xml")]) is None
    assert identity(value, [("ce_id", b"e1"), ("ce_id", b"e2")]) is None  # duplicate header


def test_a_type_that_is_no_string_is_no_identity() -> None:
    """A hostile record with a list or object as its `type` crashed every worker (TypeError:
    unhashable type) on the replay fast path, before the decoder could dead-letter it."""
    for bad in ([1], {"a": 1}, ["lms.course.deleted"]):
        body = {"specversion": "1.0", "id": "e", "source": "s", "type": bad, "data": {}}
        assert identity(json.dumps(body).encode(), []) is None


def test_what_the_decoder_refuses_is_left_to_it() -> None:
    """A NUL in the source or id reached the store's processed-event lookup, where PostgreSQL
    text cannot hold it: the worker exited 1 on every start (a crash loop)."""
    for source, event_id in (("site\x00x", "e"), ("s", "e\x00"), ("", "e"), ("s", "i" * 129)):
        body = {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": "lms.course.deleted",
        }
        assert identity(json.dumps(body).encode(), []) is None

"""The one comparison every lean-decoder test makes: the engine's result for a record, by
the lean path and by the full decode (the definition), and the replay identity."""

from __future__ import annotations

import json
from typing import Any

from worker import lean
from worker.engine.records import Decoded, InRecord, decode, decode_batch, decode_full
from worker.envelope import identity

Hdrs = list[tuple[str, bytes | None]]
ATTRIBUTES = ("specversion", "id", "source", "type", "time")

# Values on and past the edges of each rule (valid and not), for both kinds of tests.
# fmt: off
IDS = ["x" * 128, "x" * 129, "", "a\x00b", "\x00", "é" * 128, "\U0001d11e" * 129, True, False,
       1.0, None, [], {}, 0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30]
TEXTS = ["x" * 128, "x" * 129, "", "a\x00", None, 5, True, ["a"], "student"]
TIMES = [
    "2024-05-01t12:00:00z", "2024-05-01 12:00:00Z", "2024-05-01T12:00:60Z",
    "2024-05-01T12:00:60.5+02:00", "2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.1Z",
    "2024-05-01T12:00:00.1234567891234Z", "2024-05-01T12:00:00-00:00", "2024-05-01T12:00:00+23:59",
    "2024-05-01T12:00:00-23:59", "2024-05-01T12:00:00+24:00", "2024-05-01T12:00:00+01:60",
    "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
    "2024-04-31T00:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:01", "0001-01-01T00:00:00-00:01", "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-00:01", "9999-12-31T23:59:59+00:01", "2024-05-01T12:00:00",
    "2024-05-01", "2024-05-01T12:00Z", "2024-05-01T12:00:00+01", "2024-05-01T12:00:00+0100",
    "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00,5Z", "2024-05-01T12:00:00.5.5Z",
    "\uff12\uff10\uff12\uff14-05-01T12:00:00Z", "2024-05-01T12:00:00Z ", " 2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00Z\n", "20240501T120000Z", "2024-W18-3T12:00:00Z", "2024-05-01T12:00:00.-5Z",
    "2024-5-01T12:00:00Z", "+2024-05-01T12:00:00Z", 1714564800, 1714564800.5, None, "", [],
]
# fmt: on


def result(d: Decoded) -> tuple[Any, ...]:
    return (d.event, d.error, d.unknown_type)


def assert_same(rec: InRecord) -> None:
    """Same event view, DLQ reason or unknown type by `decode`, `decode_batch` (lean first)
    and by the full decode; a record the lean path reads has the replay path's identity.
    (The lean path only ever says "valid, this view" or leaves the record to the other.)"""
    full = decode_full(rec)
    assert result(decode(rec)) == result(full)
    (batch,) = decode_batch([rec], lambda wanted: set())
    assert result(batch) == result(full)
    view = lean.lean_view(rec.value, rec.headers, rec.timestamp_ms)
    if view is not None:  # the replay fast path knows the event by the same identity
        assert identity(rec.value, rec.headers) == (view.source, view.event_id, view.event_type)


def header_value(v: Any) -> bytes | None:
    if v is None:
        return None
    return v.encode() if type(v) is str else json.dumps(v).encode()


def structured(event: dict[str, Any], ts: int = 0, ctype: bytes | None = None) -> InRecord:
    hdrs: Hdrs = [] if ctype is None else [("content-type", ctype)]
    return InRecord("t", 0, 0, b"k", json.dumps(event).encode(), hdrs, ts)


def binary(event: dict[str, Any], ts: int = 0, ctype: bytes | None = None) -> InRecord:
    """Attributes in ce_ headers (JSON text for a non-string), `data` as the value."""
    hdrs: Hdrs = [(f"ce_{k}", header_value(v)) for k, v in event.items() if k in ATTRIBUTES]
    if ctype is not None:
        hdrs.append(("content-type", ctype))
    value = json.dumps(event["data"]).encode() if "data" in event else None
    return InRecord("t", 0, 0, b"k", value, hdrs, ts)

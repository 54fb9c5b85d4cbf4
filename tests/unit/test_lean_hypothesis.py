"""The lean decoder (worker.lean) against the full one (pydantic, the definition): on valid,
near-valid (one thing changed) and junk records, in both content modes, the engine gets the
same result, the same event view or the same DLQ reason or the same unknown type, and the
replay fast path the same identity."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from schemas import events as ev
from tests.support.lean_check import IDS, TEXTS, TIMES, Hdrs, assert_same, header_value
from worker import lean
from worker.engine.records import InRecord, decode_full

SETTINGS = settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])


def data_fields(model: type[ev.EventBase]) -> dict[str, FieldInfo]:
    data = model.model_fields["data"].annotation
    assert isinstance(data, type) and issubclass(data, BaseModel)
    return data.model_fields


FIELDS = {ev.event_type_of(m): data_fields(m) for m in ev.EVENT_MODELS}
REQUIRED = {t: [n for n, f in fields.items() if f.is_required()] for t, fields in FIELDS.items()}
OPTIONAL = {
    t: [n for n, f in fields.items() if not f.is_required()] for t, fields in FIELDS.items()
}
TYPES = sorted(FIELDS)
WITH_OPTIONAL = [t for t in TYPES if OPTIONAL[t]]
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")  # NUL: BAD_TEXTS
# (JSON and UTF-8 carry no lone surrogate.)


def sized(*lengths: int) -> st.SearchStrategy[str]:
    """Text of exactly one of these lengths, astral characters included."""
    return st.sampled_from(lengths).flatmap(lambda n: st.text(chars, min_size=n, max_size=n))


texts = st.text(chars, min_size=1, max_size=10) | sized(1, 127, 128)  # valid ids and texts
ids = texts | st.integers(-(10**12), 10**12) | st.integers(-(2**63), 2**63 - 1)
sources = st.text(chars, min_size=1, max_size=10) | sized(254, 255)
BAD_TEXTS = (
    sized(0, 129, 130)
    | st.text(chars, max_size=6).map(lambda t: f"{t}\x00{t}")
    | st.sampled_from([None, True, 1.5, 7, [], {}, ["a"], {"a": "b"}])
)
BAD_IDS = BAD_TEXTS.filter(lambda v: type(v) is not int) | st.sampled_from(
    [2**63, 2**64 - 1, 2**64, 2**70, -(2**63) - 1, 10**200]
)
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=offsets
)
timestamps = st.integers(0, MAX_MS) | st.sampled_from([0, MAX_MS])
BAD_TIMESTAMPS = st.sampled_from([-1, -2, MAX_MS + 1, 2**63 - 1])
OPTIONAL_VALUES: dict[str, Any] = {
    "method": texts,
    "role": texts,
    "on_leave": st.sampled_from(["unenrol", "suspend"]),
}
BAD_OPTIONAL = {"on_leave": st.sampled_from(["Suspend", "", " unenrol", 1, True, ["suspend"]])}
JUNK = (
    st.sampled_from([*IDS, *TEXTS, 1.5, 1e300, " ", [1], {"a": 1}, 10**400, "1.0", "lms.x"])
    | st.text(chars, max_size=12)
    | st.integers()
    | st.floats(allow_nan=False)
)
BAD_TIMES = st.sampled_from(TIMES)  # some of them valid


@st.composite
def times(draw: st.DrawFn) -> str:
    """An RFC 3339 time in any of the spellings the schema allows, or close to one."""
    dt = draw(moments)
    off = dt.utcoffset() or timedelta(0)
    sign, mins = ("-", -off) if off < timedelta(0) else ("+", off)
    zone = f"{sign}{mins.seconds // 3600:02d}:{mins.seconds // 60 % 60:02d}"
    if not off:
        zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
    digits = draw(st.sampled_from([0, 0, 3, 6, 6, 1, 9, 10, 12]))
    frac = f"{dt.microsecond:06d}{draw(st.integers(0, 999_999)):06d}"[:digits]
    sec = draw(st.sampled_from([f"{dt.second:02d}"] * 9 + ["60"]))
    sep = draw(st.sampled_from("TTTTTTt "))
    day = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
    return f"{day}{sep}{dt.hour:02d}:{dt.minute:02d}:{sec}{'.' if digits else ''}{frac}{zone}"


@st.composite
def valid_events(draw: st.DrawFn, types: list[str] = TYPES) -> dict[str, Any]:
    etype = draw(st.sampled_from(types))
    data: dict[str, Any] = {name: draw(ids) for name in REQUIRED[etype]}
    for name in OPTIONAL[etype]:
        choice = draw(st.sampled_from(["absent", "value", "value", "null"]))
        if choice != "absent":
            data[name] = draw(OPTIONAL_VALUES[name]) if choice == "value" else None
    if draw(st.booleans()):
        data[draw(st.text(max_size=8))] = draw(JUNK)  # producers may add fields
    event: dict[str, Any] = {"specversion": "1.0", "id": draw(ids), "source": draw(sources)}
    event |= {"type": etype, "data": data}
    when = draw(st.sampled_from(["time", "time", "time", "absent", "null"]))
    if when != "absent":
        event["time"] = draw(times()) if when == "time" else None
    if draw(st.booleans()):
        event |= {"datacontenttype": "application/json", "subject": draw(JUNK)}
    return event


GOOD_STRUCTURED = st.sampled_from(
    [
        None,
        b"application/cloudevents+json",
        b"Application/CloudEvents+JSON; charset=utf-8",
        b"application/json",
    ]
)
GOOD_BINARY = st.sampled_from([None, b"application/json", b"application/x+json; v=1"])
ODD_CONTENT_TYPES = st.sampled_from(
    [
        None,
        b"application/cloudevents+xml",
        b"text/plain",
        b"application/cloudevents",
        b"application/cloudevents-batch+json",
        b"\xff\xfe",
        b"",
        b"application/json",
    ]
)
ODD_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "ce_id",
                "CE_Source",
                "ce_type",
                "ce_time",
                "ce_x",
                "content-type",
                "Content-Type",
                "x-trace",
                "ce_specversion",
                "ce_",
            ]
        ),
        st.none() | st.sampled_from([b"1.0", b"e1", b"\xff", b"application/json", b""]),
    ),
    min_size=1,
    max_size=2,
)


@st.composite
def records(draw: st.DrawFn, events: st.SearchStrategy[dict[str, Any]], odd: bool) -> InRecord:
    """An event as a record, structured or binary; `odd`: sometimes with odd headers, an odd
    content type, or no usable record timestamp."""
    event = draw(events)
    ascii_only = draw(st.booleans())
    oddity = draw(st.sampled_from(["headers", "content-type", "timestamp", "", ""])) if odd else ""
    ts = draw(BAD_TIMESTAMPS if oddity == "timestamp" else timestamps)
    if draw(st.integers(0, 4)) == 0:  # binary, about 20 % as in the bench history
        hdrs: Hdrs = [
            (draw(st.sampled_from([f"ce_{k}", f"ce_{k}", f"CE_{k.upper()}"])), header_value(v))
            for k, v in event.items()
            if k != "data" and (v is not None or draw(st.booleans()))
        ]
        value = json.dumps(event.get("data"), ensure_ascii=ascii_only).encode()
        ctype = draw(ODD_CONTENT_TYPES if oddity == "content-type" else GOOD_BINARY)
        if ctype is not None or oddity == "content-type":
            hdrs.append(("content-type", ctype))
    else:
        value = json.dumps(event, ensure_ascii=ascii_only).encode()
        ctype = draw(ODD_CONTENT_TYPES if oddity == "content-type" else GOOD_STRUCTURED)
        hdrs = [] if ctype is None and oddity != "content-type" else [("content-type", ctype)]
    if oddity == "headers":
        for h in draw(ODD_HEADERS):
            hdrs.insert(draw(st.integers(0, len(hdrs))), h)
    return InRecord("t", 0, 0, b"k", value, hdrs, ts)


MUTATIONS = ["specversion", "id", "source", "time", "type", "data", "field", "optional", "delete"]
BAD_ATTRIBUTES = {
    "specversion": st.sampled_from(["1.1", "1", 1.0, None, " 1.0", "1.0\x00"]) | JUNK,
    "id": BAD_IDS,
    "source": BAD_TEXTS | sized(256),
    "time": BAD_TIMES | JUNK,
    "type": st.sampled_from(["lms.unknown", "", "x" * 256, None, 7, ["t"], "LMS.COURSE.DELETED"]),
    "data": JUNK,
}


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one rule broken: an attribute or a data field given a wrong value,
    or one of them deleted."""
    kind = draw(st.sampled_from(MUTATIONS))
    event = draw(valid_events(WITH_OPTIONAL if kind == "optional" else TYPES))
    data, etype = event["data"], event["type"]
    if kind in BAD_ATTRIBUTES:
        event[kind] = draw(BAD_ATTRIBUTES[kind])
    elif kind == "field":
        data[draw(st.sampled_from(REQUIRED[etype]))] = draw(BAD_IDS)
    elif kind == "optional":
        name = draw(st.sampled_from(OPTIONAL[etype]))
        data[name] = draw(BAD_OPTIONAL.get(name, BAD_TEXTS))
    else:
        target = draw(st.sampled_from([event, data]))
        target.pop(draw(st.sampled_from(sorted(target) or ["x"])), None)
    return event


junk_records = st.builds(
    InRecord,
    st.just("t"), st.just(0), st.just(0), st.none(),
    st.none() | st.binary(max_size=60) | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(chars, max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=8,
    ).map(lambda v: json.dumps(v).encode()),
    ODD_HEADERS | st.just([]), timestamps | BAD_TIMESTAMPS,
)  # fmt: skip


def observed(rec: InRecord) -> None:
    """Which path a generated record took (`pytest --hypothesis-show-statistics`)."""
    if lean.lean_view(rec.value, rec.headers, rec.timestamp_ms) is not None:
        event("lean path")
    else:
        event("full decode: " + ("valid" if decode_full(rec).event else "invalid"))


@SETTINGS
@given(records(valid_events(), odd=False))
def test_valid_events(rec: InRecord) -> None:
    observed(rec)
    assert_same(rec)


@settings(SETTINGS, max_examples=800)
@given(records(near_valid(), odd=False))
def test_near_valid_events(rec: InRecord) -> None:
    observed(rec)
    assert_same(rec)


@SETTINGS
@given(records(valid_events(), odd=True))
def test_valid_events_in_odd_records(rec: InRecord) -> None:
    observed(rec)
    assert_same(rec)


@SETTINGS
@given(junk_records)
def test_junk(rec: InRecord) -> None:
    observed(rec)
    assert_same(rec)

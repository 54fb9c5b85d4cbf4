"""Property tests of the decoder: a trust boundary that must never crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import events as ev
from worker.codec import decode_record
from worker.errors import InvalidEvent, UnknownEventType

# The first decode builds pydantic validators: no per-example deadline.
RELAXED = settings(deadline=None)

I64 = (-(2**63), 2**63 - 1)
DATA_MODELS: dict[str, type[Any]] = {
    ev.event_type_of(model): model.model_fields["data"].annotation  # type: ignore[misc]
    for model in ev.EVENT_MODELS
}
# The id fields (required) of each type's data; the optional ones are drawn apart.
DATA_FIELDS: dict[str, tuple[str, ...]] = {
    t: tuple(n for n, f in m.model_fields.items() if f.is_required())
    for t, m in DATA_MODELS.items()
}
TYPES = sorted(DATA_FIELDS)

# Anything valid in a str except NUL (refused on purpose) and lone surrogates
# (JSON and UTF-8 cannot carry them).
text_chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
ids = st.text(text_chars, min_size=1, max_size=128) | st.integers(*I64)
sources = st.text(text_chars, min_size=1, max_size=255)
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31), timezones=offsets
)
timestamps = st.integers(0, 4_102_444_800_000)  # up to 2100

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(*I64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
header_keys = st.sampled_from(
    ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type", "ce_x"]
) | st.text(max_size=12)
header_values = (
    st.none()
    | st.binary(max_size=30)
    | st.sampled_from(
        [
            b"1.0",
            b"lms.enrollment.created",
            b"lms.segment.deleted",
            b"application/cloudevents+json",
            b"application/json",
            b"2024-01-01T00:00:00Z",
        ]
    )
)
headers = st.none() | st.lists(st.tuples(header_keys, header_values), max_size=8)


def decode_or_reject(value: bytes | None, hdrs: Any, ms: int) -> ev.LmsEvent | None:
    """Decode; the only acceptable failures are the two named errors."""
    try:
        event = decode_record(value, hdrs, ms)
    except InvalidEvent as exc:
        assert "\n" not in exc.reason and 0 < len(exc.reason) <= 300
        return None
    except UnknownEventType as exc:
        assert exc.event_type not in ev.KNOWN_TYPES
        return None
    assert event.type in ev.KNOWN_TYPES
    assert event.time.tzinfo is UTC
    return event


def rfc3339(dt: datetime, separator: str, zulu: str) -> str:
    text = dt.isoformat().replace("T", separator)
    return text[:-6] + zulu if dt.utcoffset() == timedelta(0) and zulu else text


OPTIONAL = {
    "method": st.text(text_chars, min_size=1, max_size=128),
    "role": st.text(text_chars, min_size=1, max_size=128),
    "on_leave": st.sampled_from(["unenrol", "suspend"]),
}


def expected_data(event: dict[str, Any]) -> dict[str, str]:
    """The decoded data: ids as strings, absent optional fields at their defaults."""
    model = DATA_MODELS[event["type"]]
    defaults = {n: f.default for n, f in model.model_fields.items() if not f.is_required()}
    return {**defaults, **{k: str(v) for k, v in event["data"].items()}}


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from(TYPES))
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": draw(ids),
        "source": draw(sources),
        "type": event_type,
        "data": {name: draw(ids) for name in DATA_FIELDS[event_type]},
    }
    for name, values in OPTIONAL.items():
        if name in DATA_MODELS[event_type].model_fields and draw(st.booleans()):
            event["data"][name] = draw(values)
    if draw(st.booleans()):  # absent time: the record timestamp stands in
        moment = draw(times)
        event["time"] = rfc3339(
            moment, draw(st.sampled_from("Tt ")), draw(st.sampled_from(["", "Z", "z"]))
        )
        event["_expected_time"] = moment.astimezone(UTC)
    return event


def as_binary(event: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes | None]]]:
    hdrs: list[tuple[str, bytes | None]] = [
        (f"ce_{name}", str(event[name]).encode())
        for name in ("specversion", "id", "source", "type", "time")
        if name in event
    ]
    return orjson.dumps(event["data"]), hdrs


@RELAXED
@given(st.binary(max_size=200), headers, st.integers(-(2**70), 2**70))
def test_arbitrary_bytes_never_crash(value: bytes, hdrs: Any, ms: int) -> None:
    decode_or_reject(value, hdrs, ms)


@RELAXED
@given(json_values, headers, timestamps)
def test_arbitrary_json_never_crashes(value: Any, hdrs: Any, ms: int) -> None:
    decode_or_reject(orjson.dumps(value), hdrs, ms)


@settings(deadline=None, max_examples=300)
@given(
    valid_events(),
    st.lists(
        st.tuples(
            st.sampled_from(["specversion", "id", "source", "type", "time", "data", "data.*"]),
            st.just(None) | json_values,
            st.booleans(),
        ),
        min_size=1,
        max_size=3,
    ),
    timestamps,
    st.booleans(),
)
def test_mutated_events_never_crash(
    event: dict[str, Any], mutations: list[Any], ms: int, binary: bool
) -> None:
    event.pop("_expected_time", None)
    for name, replacement, delete in mutations:
        target = event
        if name == "data.*" and isinstance(event.get("data"), dict) and event["data"]:
            target, name = event["data"], sorted(event["data"])[0]
        if delete:
            target.pop(name, None)
        else:
            target[name] = replacement
    if binary and "data" in event:
        value, hdrs = as_binary(event)
        decode_or_reject(value, hdrs, ms)
    else:
        decode_or_reject(orjson.dumps(event), None, ms)


@RELAXED
@given(valid_events(), timestamps)
def test_valid_events_decode_the_same_in_both_modes(event: dict[str, Any], ms: int) -> None:
    expected_time = event.pop("_expected_time", None)
    if expected_time is None:
        expected_time = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    value, hdrs = as_binary(event)
    decoded = [
        decode_record(orjson.dumps(event), None, ms),
        decode_record(orjson.dumps(event), [("content-type", b"application/cloudevents+json")], ms),
        decode_record(value, hdrs, ms),
    ]
    for got in decoded:
        assert type(got).__name__ == type(decoded[0]).__name__
        assert (got.id, got.source, got.type) == (str(event["id"]), event["source"], event["type"])
        assert got.time == expected_time
        assert got.data.model_dump() == expected_data(event)


@RELAXED
@given(valid_events(), st.integers(0, 300), st.data())
def test_ids_of_every_length(event: dict[str, Any], length: int, data: st.DataObject) -> None:
    event.pop("_expected_time", None)
    fields = DATA_FIELDS[event["type"]]
    field = data.draw(st.sampled_from(["id", *(f"data.{f}" for f in fields)]))
    new_id = data.draw(st.text(text_chars, min_size=length, max_size=length))
    if field == "id":
        event["id"] = new_id
    else:
        event["data"][field[5:]] = new_id
    try:
        got = decode_record(orjson.dumps(event), None, 0)
    except InvalidEvent as exc:
        assert not 1 <= length <= 128
        assert exc.reason.startswith(f"{field}: ")
    else:
        assert 1 <= length <= 128
        value = got.id if field == "id" else getattr(got.data, field[5:])
        assert value == new_id

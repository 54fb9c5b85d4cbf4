"""Kafka record -> CloudEvent: decoding input events.

The decoder is a trust boundary on the hot path: whatever the bytes, it returns
a validated event or raises `InvalidEvent` / `UnknownEventType`, nothing else.
Reasons are one short line that never quotes payload values (they go into DLQ
headers and logs).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Final

import orjson
from pydantic import ValidationError

from schemas.events import KNOWN_TYPES, LMS_EVENT_ADAPTER, SOURCE_MAX_LENGTH, LmsEvent
from worker.codec.times import EPOCH
from worker.errors import InvalidEvent, UnknownEventType
from worker.ports import Headers

_REASON_MAX: Final = 300
_TYPE_MAX: Final = 255
_ENVELOPE: Final = ("specversion", "id", "source", "type")
_JSON_KINDS: Final[dict[type, str]] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
}


def decode_record(value: bytes | None, headers: Headers | None, timestamp_ms: int) -> LmsEvent:
    """Decode one Kafka record (either CloudEvents content mode) into a validated event.

    Raises InvalidEvent (goes to the DLQ) or UnknownEventType (skipped), nothing else.
    """
    try:
        return _decode(value, headers, timestamp_ms)
    except (InvalidEvent, UnknownEventType):
        raise
    except Exception as exc:  # trust boundary: no input may crash the consumer loop
        raise InvalidEvent(f"undecodable record ({type(exc).__name__})") from None


def _decode(value: bytes | None, headers: Headers | None, timestamp_ms: int) -> LmsEvent:
    """The content mode as the Kafka binding and the SDKs read it (contract v2): a content
    type starting with application/cloudevents is structured whatever other headers say;
    otherwise any ce_ header means binary; otherwise the value is a structured event (SDKs
    send those with content type application/json, or none)."""
    ce: dict[str, bytes | None] | None = None
    content_type: bytes | None = None
    for key, raw in headers or ():
        if key[:3].lower() == "ce_":
            if ce is None:
                ce = {}
            name = key[3:].lower()
            if name in ce:
                raise InvalidEvent(f"duplicate header {_short(key)}")
            ce[name] = raw
        elif key.lower() == "content-type":
            content_type = raw
    media = None if content_type is None else media_type(content_type)
    if media is not None and media.startswith("application/cloudevents"):
        if not media.endswith("+json"):
            raise InvalidEvent(f"structured content type {_short(media)} is not JSON")
        return _decode_structured(value, timestamp_ms)
    if ce is not None:
        return _decode_binary(value, ce, media, timestamp_ms)
    return _decode_structured(value, timestamp_ms)


def _decode_structured(value: bytes | None, timestamp_ms: int) -> LmsEvent:
    obj = _loads(value, "value")
    if type(obj) is not dict:
        raise InvalidEvent(f"value is a JSON {_json_kind(obj)}, not an object")
    event_type = _check_envelope(obj)
    if obj.get("time") is None:
        obj["time"] = _record_time(timestamp_ms)
    return _validate(obj, event_type)


def _decode_binary(
    value: bytes | None,
    ce: dict[str, bytes | None],
    media: str | None,
    timestamp_ms: int,
) -> LmsEvent:
    event: dict[str, Any] = {}
    for name in (*_ENVELOPE, "time"):
        raw = ce.get(name)
        if raw is not None:
            try:
                event[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidEvent(f"header ce_{name} is not UTF-8") from None
    event_type = _check_envelope(event)
    # Only a known type says what `data` must be: check its encoding after that.
    if media is not None and media != "application/json" and not media.endswith("+json"):
        raise InvalidEvent(f"data content type {_short(media)} is not JSON")
    event["data"] = _loads(value, "data")
    if event.get("time") is None:
        event["time"] = _record_time(timestamp_ms)
    return _validate(event, event_type)


def _check_envelope(obj: dict[str, Any]) -> str:
    """Check the attributes any CloudEvent has; return its `type` if segsync knows it."""
    for name in _ENVELOPE:
        attr = obj.get(name)
        if attr is None:
            raise InvalidEvent(f"missing {name}")
        # An integer `id` is allowed: the contract reads it as its decimal string.
        if type(attr) is not str and not (name == "id" and type(attr) is int):
            raise InvalidEvent(f"{name} is a JSON {_json_kind(attr)}, not a string")
    if obj["specversion"] != "1.0":
        raise InvalidEvent("specversion is not 1.0")
    source: str = obj["source"]
    if not 0 < len(source) <= SOURCE_MAX_LENGTH or "\x00" in source:
        raise InvalidEvent(f"source: must be 1 to {SOURCE_MAX_LENGTH} characters, no NUL")
    event_type: str = obj["type"]
    if event_type not in KNOWN_TYPES:
        if not 0 < len(event_type) <= _TYPE_MAX:
            raise InvalidEvent(f"type: must be 1 to {_TYPE_MAX} characters")
        raise UnknownEventType(source, event_type)
    return event_type


def _validate(obj: dict[str, Any], event_type: str) -> LmsEvent:
    try:
        return LMS_EVENT_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        # `from None`: the pydantic error quotes the input, which must not leak into logs.
        raise InvalidEvent(_describe(exc, event_type)) from None


def _describe(exc: ValidationError, event_type: str) -> str:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    parts = []
    for error in errors[:3]:
        loc = error["loc"]
        if loc and loc[0] == event_type:  # drop the discriminator's tag
            loc = loc[1:]
        path = ".".join(str(p)[:64] for p in loc) or "event"
        parts.append(f"{path}: {error['msg']}")
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more errors")
    return _one_line("; ".join(parts))


# 2**63 has 19 digits: orjson's exact range ends there. (Digits mapped to one byte and
# a substring search: a regex takes several times longer on the hot path.)
_DIGITS_AS_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN: Final = b"0" * 19


def long_digits(value: bytes) -> bool:
    """Whether `value` has 19 or more ASCII digits in a row."""
    return _LONG_RUN in value.translate(_DIGITS_AS_ZERO)


def _loads(value: bytes | None, what: str) -> Any:
    if value is None:
        raise InvalidEvent("record has no value")
    try:
        if long_digits(value):
            # orjson reads integers beyond 64 bits as floats, losing digits; the contract reads
            # a JSON integer as its decimal string, so such documents take the exact parser.
            return json.loads(value)
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        # orjson's message says where and what, never quotes the document.
        raise InvalidEvent(f"{what} is not JSON: {_one_line(str(exc), 120)}") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent(f"{what} is not JSON: {_one_line(str(exc), 120)}") from None


def _record_time(timestamp_ms: int) -> datetime:
    # Kafka uses -1 for "no timestamp": there is then no time to stand in.
    if timestamp_ms < 0:
        raise InvalidEvent("time is absent and the record has no timestamp")
    try:
        return EPOCH + timedelta(milliseconds=timestamp_ms)
    except OverflowError:
        raise InvalidEvent("time is absent and the record timestamp is out of range") from None


def media_type(content_type: bytes) -> str:
    # Parameters (charset=...) are ignored: orjson accepts UTF-8 only anyway.
    return content_type.decode("utf-8", "replace").partition(";")[0].strip().lower()


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _short(text: str, limit: int = 64) -> str:
    # repr() escapes control characters, keeping the reason on one line.
    return repr(text[:limit])


def _one_line(text: str, limit: int = _REASON_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

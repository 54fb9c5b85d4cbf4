"""Lean decoding: the engine's view of a common, valid event, read without pydantic.

The models in `schemas.events` stay the definition of a valid event; this reads only the
fields the rule uses and checks on them exactly what the models check. It answers only
"valid, and here is the view" or None: anything else, and anything unusual (an odd header,
a leap second, a lower-case 'z', a 19-digit number, an unknown type...), is left to the full
decode (worker.codec), which then gives the verdict and the DLQ reason. So the lean path can
make a record cheaper, never judge it otherwise; tests/unit/test_lean_hypothesis.py holds
the two equal. The field table is read from the models at import; an event type whose model
uses a rule this module does not know gets no table (UNPLANNED), so the full decode reads all
of its events (slower, never wrong), and a unit test fails until this module learns it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, NamedTuple, get_args, get_origin

import orjson
from pydantic import BaseModel

from schemas import events as ev
from worker.codec import long_digits, media_type
from worker.domain.updates import EventView
from worker.ports import Headers

_ID: Final = list(get_args(ev.Id)[1:])
_TEXT: Final = list(get_args(ev.Text)[1:])
_ID_MAX: Final = ev.ID_MAX_LENGTH
_SOURCE_MAX: Final = ev.SOURCE_MAX_LENGTH
_ATTRIBUTES: Final = ("specversion", "id", "source", "type", "time")
_TEXT_MAX: Final = ev.ID_MAX_LENGTH
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)
_MIN_US: Final = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _ONE_US
_MAX_US: Final = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _ONE_US
# The common subset of the schema's RFC 3339 form: upper-case 'T' (or a space) and 'Z', no
# leap second, an offset within a day; datetime.fromisoformat reads it as pydantic does
# (fractions past microseconds cut, not rounded). Other forms take the full decode.
_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)
_MEDIA: Final = {
    b"application/cloudevents+json": "application/cloudevents+json",
    b"application/json": "application/json",
}


class _Optional(NamedTuple):
    name: str
    default: str
    allowed: frozenset[str] | None  # a Literal's values; None: free text (1 to 128, no NUL)


class _Plan(NamedTuple):
    required: tuple[str, ...]  # ids: a string of 1 to 128 characters (no NUL) or an integer
    optional: tuple[_Optional, ...]
    null_is_absent: bool


class UnknownRule(Exception):
    """A model checks something this module does not check the same way."""


def _plan(model: type[ev.EventBase]) -> _Plan:
    """What the data model of one event type checks, refusing any rule not known here."""
    data = model.model_fields["data"].annotation
    if not (isinstance(data, type) and issubclass(data, BaseModel)):
        raise UnknownRule(f"{model.__name__}.data is not a model")
    name = data.__name__
    validators = set(data.__pydantic_decorators__.model_validators)
    if data.model_config.get("extra") != "ignore" or data.__pydantic_decorators__.field_validators:
        raise UnknownRule(f"{name} has rules worker.lean does not know")
    null_is_absent = issubclass(data, ev.NullMeansAbsent)
    if validators != ({"_null_is_absent"} if null_is_absent else set()):
        raise UnknownRule(f"{name} has validators worker.lean does not know")
    required: list[str] = []
    optional: list[_Optional] = []
    for field, info in data.model_fields.items():
        if info.alias is not None or info.validation_alias is not None:
            raise UnknownRule(f"{name}.{field} has an alias")
        literal = get_origin(info.annotation) is Literal and not info.metadata
        values = get_args(info.annotation) if literal else ()
        if info.is_required() and info.annotation is str and info.metadata == _ID:
            required.append(field)
        elif info.is_required() or type(info.default) is not str:
            raise UnknownRule(f"{name}.{field} is not a kind worker.lean knows")
        elif info.annotation is str and info.metadata == _TEXT:
            optional.append(_Optional(field, info.default, None))
        elif values and all(type(v) is str for v in values):
            optional.append(_Optional(field, info.default, frozenset(values)))
        else:
            raise UnknownRule(f"{name}.{field} is not a kind worker.lean knows")
    return _Plan(tuple(required), tuple(optional), null_is_absent)


def _check_envelope(model: type[ev.EventBase]) -> None:
    base = {n: f.metadata for n, f in ev.EventBase.model_fields.items()}
    known = {
        "specversion": [],
        "id": _ID,
        "source": list(get_args(ev.Source)[1:]),
        "time": list(get_args(ev.UtcDatetime)[1:]),
    }
    if base != known or ev.EventBase.model_config.get("extra") != "ignore":
        raise UnknownRule("the CloudEvents attributes have rules it does not know")
    decorators = model.__pydantic_decorators__
    if set(model.model_fields) != {*known, "type", "data"} or decorators.model_validators:
        raise UnknownRule(f"{model.__name__} has fields or validators it does not know")
    if decorators.field_validators or model.model_config.get("extra") != "ignore":
        raise UnknownRule(f"{model.__name__} has rules it does not know")


def _plans() -> dict[str, _Plan]:
    plans = {}
    for model in ev.EVENT_MODELS:
        try:
            _check_envelope(model)
            plans[ev.event_type_of(model)] = _plan(model)
        except UnknownRule:
            continue  # the full decode reads this type's events
    return plans


_PLANS: Final = _plans()
UNPLANNED: Final = ev.KNOWN_TYPES - _PLANS.keys()


def lean_view(value: bytes | None, headers: Headers, timestamp_ms: int) -> EventView | None:
    """The view of a valid event of a known type, as the full decode would give it; None
    when the record is invalid, of an unknown type, or anything this path is unsure of."""
    try:
        return _lean(value, headers, timestamp_ms)
    except Exception:  # a trust boundary: whatever the input, the full decode decides
        return None


def _lean(value: bytes | None, headers: Headers, timestamp_ms: int) -> EventView | None:
    ce: dict[str, bytes | None] | None = None
    content_type: bytes | None = None
    for key, raw in headers:  # the content mode, by the decoder's own rule (worker.codec)
        if key[:3].lower() == "ce_":
            name = key[3:].lower()
            if ce is None:
                ce = {name: raw}
            elif name in ce:
                return None
            else:
                ce[name] = raw
        elif key.lower() == "content-type":
            if content_type is not None or raw is None:
                return None
            content_type = raw
    # A long digit run makes the full decode use the exact (slower) parser: leave it those.
    if value is None or long_digits(value):
        return None
    media = None if content_type is None else _MEDIA.get(content_type) or media_type(content_type)
    if media is not None and media.startswith("application/cloudevents"):
        if not media.endswith("+json"):
            return None
        obj = orjson.loads(value)
    elif ce is not None:
        if media is not None and media != "application/json" and not media.endswith("+json"):
            return None
        obj = {name: raw.decode() for name in _ATTRIBUTES if (raw := ce.get(name)) is not None}
        obj["data"] = orjson.loads(value)
    else:
        obj = orjson.loads(value)
    if type(obj) is not dict:
        return None
    etype = obj.get("type")
    if type(etype) is not str:
        return None
    plan = _PLANS.get(etype)
    source = obj.get("source")
    event_id = obj.get("id")
    if type(event_id) is not str or not 0 < len(event_id) <= _ID_MAX or "\x00" in event_id:
        event_id = _id(event_id)  # an integer, or refused
    data = obj.get("data")
    if plan is None or event_id is None or type(data) is not dict:
        return None
    if obj.get("specversion") != "1.0" or type(source) is not str or "\x00" in source:
        return None
    time_us = _time_us(obj.get("time"), timestamp_ms)
    if time_us is None or not 0 < len(source) <= _SOURCE_MAX:
        return None
    fields: dict[str, str] = {}
    for name in plan.required:
        v = data.get(name)
        if type(v) is not str or not 0 < len(v) <= _ID_MAX or "\x00" in v:
            v = _id(v)  # an integer, or refused
            if v is None:
                return None
        fields[name] = v
    for name, default, allowed in plan.optional:
        t = data.get(name)
        if t is None:
            if name in data and not plan.null_is_absent:
                return None
            fields[name] = default
        elif type(t) is not str:
            return None
        elif allowed is not None:
            if t not in allowed:
                return None
            fields[name] = t
        elif 0 < len(t) <= _TEXT_MAX and "\x00" not in t:
            fields[name] = t
        else:
            return None
    return EventView(source, event_id, etype, time_us, fields)


def _id(v: object) -> str | None:
    if type(v) is str:
        return v if 0 < len(v) <= _ID_MAX and "\x00" not in v else None
    if type(v) is int:
        return str(v)  # orjson reads at most 64-bit integers: 20 digits at most
    return None


def _time_us(t: object, timestamp_ms: int) -> int | None:
    if t is None:  # absent: the record's timestamp stands in (if it has one)
        us = timestamp_ms * 1000
        return us if 0 <= us <= _MAX_US else None
    if type(t) is not str or _TIME.fullmatch(t) is None:
        return None
    try:
        us = (datetime.fromisoformat(t) - _EPOCH) // _ONE_US
    except ValueError:  # e.g. February 30th: the full decode says why
        return None
    # Outside datetime's range once in UTC (e.g. 0001-01-01T00:00:00+01:00): refused there.
    return us if _MIN_US <= us <= _MAX_US else None

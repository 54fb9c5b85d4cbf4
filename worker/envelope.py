"""A record's identity (source, id, type) read from its envelope alone, without validating
it: the replay fast path. An event already applied (its (source, id) is in the store's
processed-event log) is the same event by contract, so it is skipped before the full decode,
which on a replay is most of the cost. Anything unusual returns None: the full decode
decides, so the fast path never changes a verdict on a record it is unsure of."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from schemas.events import ID_MAX_LENGTH, KNOWN_TYPES, SOURCE_MAX_LENGTH

Identity = tuple[str, str, str]  # (source, id, type)
_NAMES = {"ce_source": "source", "ce_id": "id", "ce_type": "type", "ce_specversion": "sv"}
# The content types nearly every record carries, already in the form the rule reads.
_MEDIA = {t: t.decode() for t in (b"application/cloudevents+json", b"application/json")}


def identity(value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> Identity | None:
    """(source, id, type) as the decoder would read them, the content mode chosen by the
    same rule (worker.codec: application/cloudevents* is structured, else any ce_ header is
    binary, else structured); None when the decoder might judge the record otherwise."""
    ce: dict[str, bytes | None] = {}
    binary = False
    for key, raw in headers:
        low = key.lower()
        if low[:3] == "ce_":
            binary = True
            name = _NAMES.get(low)
            if name is not None:
                if name in ce:
                    return None  # a duplicate header: the decoder rejects the record
                ce[name] = raw
        elif low == "content-type":
            if raw is None:
                return None  # the decoder's own rule decides such a record
            media = (
                _MEDIA.get(raw) or raw.decode("utf-8", "replace").partition(";")[0].strip().lower()
            )
            if media.startswith("application/cloudevents"):
                if not media.endswith("+json"):
                    return None  # the decoder rejects a structured event that is not JSON
                binary = False  # structured, whatever the other headers say
                break
    spec: Any
    source: Any
    event_id: Any
    etype: Any
    try:
        if binary:
            parts = [ce.get(n) for n in ("sv", "source", "id", "type")]
            if any(p is None for p in parts):
                return None
            spec, source, event_id, etype = (p.decode("utf-8") for p in parts if p is not None)
        else:
            if value is None:
                return None
            obj = orjson.loads(value)
            if type(obj) is not dict:
                return None
            spec, source, event_id, etype = (
                obj.get("specversion"),
                obj.get("source"),
                obj.get("id"),
                obj.get("type"),
            )
            if type(event_id) is int:
                event_id = str(event_id)
    except (UnicodeDecodeError, orjson.JSONDecodeError):
        return None
    # `type` may be any JSON value in a hostile record: only a string can be a known type.
    if spec != "1.0" or type(etype) is not str or etype not in KNOWN_TYPES:
        return None
    if type(source) is not str or type(event_id) is not str:
        return None
    # What the decoder refuses (an empty, too long or NUL-bearing source or id) is left to it:
    # a NUL would also fail the store's lookup (PostgreSQL text cannot hold one).
    if not 0 < len(source) <= SOURCE_MAX_LENGTH or not 0 < len(event_id) <= ID_MAX_LENGTH:
        return None
    if "\x00" in source or "\x00" in event_id:
        return None
    return (source, event_id, etype)

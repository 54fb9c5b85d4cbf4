"""Records made by the CloudEvents Python SDK's own Kafka bindings: its 1.x API
(`cloudevents.v1.kafka`) and its core API (`cloudevents.core.bindings.kafka`), structured or
binary content mode, with or without `datacontenttype`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings import kafka as core_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as CoreEvent
from cloudevents.v1 import kafka as v1_kafka
from cloudevents.v1.http import CloudEvent as V1Event

from tests.support.reference import Ev

Variant = tuple[str, str, str | None]  # (api, mode, datacontenttype)
VARIANTS: list[Variant] = [
    (api, mode, dct)
    for api in ("v1", "core")
    for mode in ("structured", "binary")
    for dct in (None, "application/json")
]
Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def sdk_record(
    variant: Variant,
    id_: str,
    type_: str,
    at: datetime,
    data: dict[str, str],
    source: str = "site-a",
) -> Record:
    api, mode, dct = variant
    attrs: dict[str, Any] = {"type": type_, "source": source, "id": id_}
    if dct is not None:
        attrs["datacontenttype"] = dct
    if api == "v1":
        attrs["time"] = at.isoformat()
        if mode == "binary":  # the 1.x binding reads the attribute unconditionally
            attrs.setdefault("datacontenttype", None)
        event = V1Event(attrs, data)
        msg = (v1_kafka.to_structured if mode == "structured" else v1_kafka.to_binary)(event)
        headers, value = msg.headers, msg.value
    else:
        core = CoreEvent({**attrs, "specversion": "1.0", "time": at}, data)
        fmt = JSONFormat()
        cmsg = (
            core_kafka.to_structured(core, fmt)
            if mode == "structured"
            else core_kafka.to_binary(core, fmt)
        )
        headers, value = cmsg.headers, cmsg.value
    key = (data.get("user_id") or data.get("course_id") or data.get("link_id") or id_).encode()
    raw = value.encode() if isinstance(value, str) else value
    return key, raw, [(k, v) for k, v in headers.items()]


def sdk_record_of(e: Ev, variant: Variant) -> Record:
    """A reference event, as the SDK would produce it."""
    at = datetime.fromtimestamp(e.time_us / 1_000_000, UTC)
    return sdk_record(variant, e.id, e.type, at, dict(e.data), source=e.source)

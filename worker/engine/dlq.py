"""A record that cannot be processed goes to the DLQ unchanged, with headers saying why."""

from __future__ import annotations

from worker.engine.records import Decoded
from worker.store.outbox_repo import OutboxRecord

MAX_REASON = 1000  # header size stays bounded whatever the input was


def dlq_record(d: Decoded, dlq_topic: str) -> OutboxRecord:
    rec = d.rec
    headers: list[tuple[str, bytes | None]] = list(rec.headers)  # unchanged, nulls included
    headers += [
        ("segsync_error", (d.error or "unknown error")[:MAX_REASON].encode("utf-8", "replace")),
        ("segsync_source_topic", rec.topic.encode()),
        ("segsync_source_partition", str(rec.partition).encode()),
        ("segsync_source_offset", str(rec.offset).encode()),
    ]
    return OutboxRecord(dlq_topic, rec.key, rec.value, headers)

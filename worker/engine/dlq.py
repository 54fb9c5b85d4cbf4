"""Records that cannot be processed: what goes to the DLQ, once per store, and the flood halt.

A DLQ copy keeps the original key, value, headers (null values included) and timestamp, with
headers saying why. Each input record is dead-lettered once per store (by topic, partition and
offset, with a digest of its content): a replay under a new consumer group dead-letters nothing
again. When more than `max_share` of the last `window` records (offsets) of a partition would
be dead-lettered, the batch stops before anything is committed (like arroyo's DlqLimit): a
producer-side schema break halts the sync instead of emptying a stream into the DLQ. The window
is counted from the store's dead letters, so a restart meets the same flood and halts again.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from worker.destinations import DLQ
from worker.engine.records import Decoded, InRecord
from worker.errors import FatalError
from worker.ports import TP, OutboxRecord, StoreTx

MAX_REASON = 1000  # header size stays bounded whatever the input was


@dataclass(frozen=True, slots=True)
class DlqLimit:
    max_share: float  # 0: no limit
    window: int


class DlqFlood(FatalError):
    """Too many records of one partition cannot be processed: stop before committing them."""


def dlq_record(d: Decoded) -> OutboxRecord:
    rec = d.rec
    headers: list[tuple[str, bytes | None]] = list(rec.headers)  # unchanged, nulls included
    headers += [
        ("segsync_error", (d.error or "unknown error")[:MAX_REASON].encode("utf-8", "replace")),
        ("segsync_source_topic", rec.topic.encode()),
        ("segsync_source_partition", str(rec.partition).encode()),
        ("segsync_source_offset", str(rec.offset).encode()),
    ]
    stamp = rec.timestamp_ms if rec.timestamp_ms >= 0 else None
    return OutboxRecord(DLQ, rec.key, rec.value, headers, timestamp_ms=stamp)


def digest(rec: InRecord) -> bytes:
    """Content digest: tells a record from another at the same offset of a re-created topic."""
    h = hashlib.blake2b(digest_size=16)
    for part in (rec.key, rec.value):
        h.update(b"\x00" if part is None else b"\x01%d:" % len(part) + part)
    for name, value in rec.headers:
        raw = name.encode("utf-8", "replace")
        h.update(b"%d:" % len(raw) + raw)
        h.update(b"\x00" if value is None else b"\x01%d:" % len(value) + value)
    return h.digest()


def dead_letters(
    tx: StoreTx, bad: Sequence[Decoded], limit: DlqLimit | None
) -> tuple[list[Decoded], int]:
    """Of the batch's unprocessable records, those to dead-letter now (not yet dead-lettered
    in this store), and how many were dead-lettered before. Remembers the new ones; raises
    DlqFlood, before anything is written, if a partition's window overflows."""
    by_tp: dict[TP, list[Decoded]] = defaultdict(list)
    for d in bad:
        by_tp[(d.rec.topic, d.rec.partition)].append(d)
    window = limit.window if limit is not None and limit.max_share > 0 else 0
    fresh: list[Decoded] = []
    remember: list[tuple[str, int, int, bytes]] = []
    for tp, items in sorted(by_tp.items()):
        offsets = [d.rec.offset for d in items]
        lo, hi = min(offsets), max(offsets)
        known = tx.dead_letters_in_range(tp, max(0, lo - max(window, 1) + 1), hi)
        for d in items:
            dig = digest(d.rec)
            if known.get(d.rec.offset) != dig:
                fresh.append(d)
                remember.append((*tp, d.rec.offset, dig))
        if window and limit is not None:
            _check_window(tp, sorted(set(known) | set(offsets)), offsets, limit, items)
    tx.record_dead_letters(remember)
    return fresh, len(bad) - len(fresh)


def _check_window(
    tp: TP, all_bad: list[int], batch_bad: list[int], limit: DlqLimit, items: Sequence[Decoded]
) -> None:
    allowed = int(limit.max_share * limit.window)
    for off in batch_bad:
        # Dead letters among the `window` offsets ending at this one.
        n = bisect_right(all_bad, off) - bisect_left(all_bad, off - limit.window + 1)
        if n > allowed:
            first = all_bad[bisect_left(all_bad, off - limit.window + 1)]
            reason = next((d.error for d in items if d.error), None) or "unknown error"
            raise DlqFlood(
                f"DLQ flood on {tp[0]}:{tp[1]}: {n} of the last {limit.window} records "
                f"(offsets {first}..{off}) cannot be processed, more than "
                f"SEGSYNC_DLQ_MAX_SHARE={limit.max_share:g}; nothing from this batch was "
                f"committed; first reason: {reason[:200]}"
            )


TRUNCATED = "segsync_truncated"  # on a cut DLQ copy: the original value's length in bytes
_RECORD_OVERHEAD = 61 + 21 + 3 * 5  # batch header, record overhead, varints of the lengths
_MARGIN = 512  # what a size estimate may miss (attribute bytes, a later header's varints)


def is_dead_letter(rec: OutboxRecord) -> bool:
    return rec.destination == DLQ


def wire_size(rec: OutboxRecord) -> int:
    """An upper bound of the record's size in a one-record batch on the wire."""
    size = _RECORD_OVERHEAD + len(rec.key or b"") + len(rec.value or b"")
    for name, value in rec.headers:
        size += 10 + len(name.encode("utf-8", "replace")) + len(value or b"")
    return size


def fit(rec: OutboxRecord, budget: int) -> OutboxRecord:
    """A DLQ copy that fits `budget` bytes: unchanged if it does, else with its value cut
    (a prefix) and a `segsync_truncated` header giving the original length. Original
    headers that alone exceed the budget are dropped last to first (the segsync_* ones
    stay), and a key that does is cut, so the copy always goes out."""
    if wire_size(rec) + _MARGIN <= budget:
        return rec
    value = rec.value or b""
    headers = [*rec.headers, (TRUNCATED, str(len(value)).encode())]
    cut = OutboxRecord(rec.destination, rec.key, b"", headers, timestamp_ms=rec.timestamp_ms)
    room = budget - _MARGIN - wire_size(cut)
    theirs = [h for h in headers if not h[0].startswith("segsync_")]
    ours = [h for h in headers if h[0].startswith("segsync_")]
    while room < 0 and theirs:
        name, raw = theirs.pop()
        room += 10 + len(name.encode("utf-8", "replace")) + len(raw or b"")
    key = rec.key
    if room < 0 and key:  # a key of about the budget itself: the last thing to give up
        key = key[: max(0, len(key) + room)]
        room = 0
    kept = None if rec.value is None else value[: max(0, room)]
    return OutboxRecord(rec.destination, key, kept, theirs + ours, timestamp_ms=rec.timestamp_ms)


NULL_HEADERS = "segsync_null_headers"  # positions of original headers whose value was null


def without_nulls(rec: OutboxRecord) -> OutboxRecord:
    """The DLQ copy as kafka-python can send it: a null header value becomes empty, and
    `segsync_null_headers` lists the 0-based positions of those headers ("0,3")."""
    nulls = [i for i, (_, value) in enumerate(rec.headers) if value is None]
    if not nulls:
        return rec
    headers: list[tuple[str, bytes | None]] = [(k, v or b"") for k, v in rec.headers]
    headers.append((NULL_HEADERS, ",".join(map(str, nulls)).encode()))
    return OutboxRecord(rec.destination, rec.key, rec.value, headers, timestamp_ms=rec.timestamp_ms)

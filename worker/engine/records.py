"""Input records as the engine sees them, and their decoding (before any transaction)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from worker import lean
from worker.codec import decode_record, time_to_us
from worker.domain.updates import EventView
from worker.envelope import Identity, identity
from worker.errors import InvalidEvent, UnknownEventType
from worker.ports import Headers


# Not frozen: one of each per record read, and a frozen dataclass's __init__ costs ~1 µs
# more (a setattr call per field), a few % of a replay (bench/decode.py). Nothing assigns.
@dataclass(slots=True)
class InRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int


@dataclass(slots=True)
class Decoded:
    rec: InRecord
    event: EventView | None = None
    error: str | None = None  # set: the record goes to the DLQ with this reason
    unknown_type: str | None = None  # set: skipped and counted
    replayed: Identity | None = None  # set: applied before (replay fast path), not decoded

    @property
    def event_type(self) -> str | None:
        """The type of a known event (decoded or recognised as replayed), else None."""
        if self.event is not None:
            return self.event.event_type
        return None if self.replayed is None else self.replayed[2]


def decode_batch(
    records: Sequence[InRecord],
    seen: Callable[[Iterable[tuple[str, str]]], set[tuple[str, str]]] | None,
    max_future_s: int | None = None,
) -> list[Decoded]:
    """Decode a batch; with `seen` (one lookup for the batch), records whose (source, id)
    the store has applied already are recognised from their envelope and not decoded
    further. Without it every record is decoded (the transaction finds the duplicates).
    (Reading the envelope again in the decode costs less, measured, than keeping every
    record's parsed JSON from this first reading: bench/decode.py.)"""
    if seen is None:
        return [decode(r, max_future_s) for r in records]
    ids = [identity(r.value, r.headers) for r in records]
    wanted = {(i[0], i[1]) for i in ids if i is not None}
    known = seen(wanted) if wanted else set()
    return [
        Decoded(r, replayed=i)
        if i is not None and (i[0], i[1]) in known
        else decode(r, max_future_s)
        for r, i in zip(records, ids, strict=True)
    ]


def decode(rec: InRecord, max_future_s: int | None = None) -> Decoded:
    """Decode a record, the lean way when it can (worker.lean: a common valid event never
    meets pydantic); with `max_future_s`, an event dated further ahead is unprocessable."""
    view = lean.lean_view(rec.value, rec.headers, rec.timestamp_ms)
    d = decode_full(rec) if view is None else Decoded(rec, event=view)
    return not_too_far_ahead(d, max_future_s)


def decode_full(rec: InRecord) -> Decoded:
    """The full decode (pydantic, worker.codec): the definition the lean one is held to, and
    the verdict and DLQ reason of every record the lean decoder leaves to it."""
    try:
        ev = decode_record(rec.value, rec.headers, rec.timestamp_ms)
    except UnknownEventType as exc:
        return Decoded(rec, unknown_type=exc.event_type)
    except InvalidEvent as exc:
        return Decoded(rec, error=exc.reason)
    data = {k: v for k, v in ev.data.__dict__.items() if isinstance(v, str)}
    view = EventView(ev.source, ev.id, ev.type, time_to_us(ev.time), data)
    return Decoded(rec, event=view)


def not_too_far_ahead(d: Decoded, max_future_s: int | None) -> Decoded:
    """An event whose `time` is more than `max_future_s` after its record's timestamp cannot
    be processed: one LMS node with a wrong clock must not pin a fact forever."""
    if d.event is None or max_future_s is None or d.rec.timestamp_ms < 0:
        return d
    ahead_us = d.event.time_us - d.rec.timestamp_ms * 1000
    if ahead_us <= max_future_s * 1_000_000:
        return d
    ahead = (
        f"{ahead_us / 86_400e6:,.1f} days" if ahead_us >= 86_400e6 else f"{ahead_us / 1e6:,.0f} s"
    )
    reason = (
        f"time is {ahead} after the record timestamp "
        f"(more than SEGSYNC_MAX_FUTURE_S={max_future_s})"
    )
    return Decoded(d.rec, error=reason)

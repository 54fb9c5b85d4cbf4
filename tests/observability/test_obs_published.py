"""Published commands are counted from what their outbox row says (type, reason, cause time),
never by parsing each command's JSON again; the row keeps it through the store and through
the brake's hold and release."""

from __future__ import annotations

from worker.destinations import COMMAND, DLQ, ENROL_COMMAND
from worker.observability import metrics
from worker.ports import CommandMeta, HeldRecord, OutboxRecord, PendingRecord
from worker.store import held_repo, outbox_repo
from worker.store.db import make_engine
from worker.store.migrate import upgrade

ADD = "lms.group.member.add"
CAUSE_US = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z


def _count(type_: str, reason: str) -> float:
    return float(metrics.COMMANDS.labels(type_, reason)._value.get())


def _lag_count() -> float:
    return sum(
        s.value
        for f in metrics.REGISTRY.collect()
        for s in f.samples
        if s.name == "segsync_event_to_publish_lag_seconds_count"
    )


def test_counted_from_the_row_without_reading_the_value() -> None:
    before = _count(ADD, "enrolled"), metrics.DLQ_PUBLISHED._value.get(), _lag_count()
    meta = CommandMeta(ADD, "enrolled", CAUSE_US)
    records = [
        # a value no JSON parser accepts: only the row's own fields can have been used
        PendingRecord(COMMAND, b"u1", b"\xff not json", [], 1, meta=meta),
        PendingRecord(COMMAND, b"u2", b"\xff", [], 2, meta=meta),
        PendingRecord(DLQ, b"k", b"anything", [], 3),
    ]
    metrics.record_published(records, now=CAUSE_US / 1e6 + 2.5)
    assert _count(ADD, "enrolled") == before[0] + 2
    assert metrics.DLQ_PUBLISHED._value.get() == before[1] + 1
    assert _lag_count() == before[2] + 2


def test_a_row_without_meta_counts_as_other() -> None:
    """Rows queued before the outbox kept these fields (migration 0005)."""
    before = _count(metrics.OTHER, metrics.OTHER)
    metrics.record_published([PendingRecord(COMMAND, b"u", b"{}", [], 1)], now=0.0)
    assert _count(metrics.OTHER, metrics.OTHER) == before + 1


def test_meta_survives_the_store_and_the_brake(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    meta = CommandMeta("lms.group.member.remove", "left_segment", CAUSE_US)
    record = OutboxRecord(COMMAND, b"u1", b"v", [("content-type", b"x")], meta=meta)
    with engine.begin() as conn:
        outbox_repo.add(conn, [record, OutboxRecord(DLQ, b"k", b"v", [])])
        batch = held_repo.open_batch(conn, "src", "e1", "lms.segment.deleted", "test")
        held_repo.add(conn, batch, [HeldRecord("c1", "g1", "u2", record)])
    with engine.begin() as conn:
        got = outbox_repo.pending(conn, 10)
        assert [r.meta for r in got] == [meta, None]
        outbox_repo.remove(conn, [r.seq for r in got])
        held_repo.close(conn, batch, release=True)
    with engine.connect() as conn:
        [released] = outbox_repo.pending(conn, 10)
        assert released.meta == meta and released.value == b"v"
    engine.dispose()


def test_enrolment_commands_are_counted_as_commands_by_their_type() -> None:
    """Enrolment commands (their own destination) count under their own type, never as DLQ."""
    enrol = "lms.course.enrol"
    before = _count(enrol, "joined_segment"), metrics.DLQ_PUBLISHED._value.get()
    meta = CommandMeta(enrol, "joined_segment", CAUSE_US)
    metrics.record_published([PendingRecord(ENROL_COMMAND, b"u", b"\xff", [], 1, meta=meta)], 0.0)
    assert _count(enrol, "joined_segment") == before[0] + 1
    assert metrics.DLQ_PUBLISHED._value.get() == before[1]

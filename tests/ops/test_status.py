"""`segsync status`: offsets, lag and counters match what was sent."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import insert

from tests.ops.conftest import Ops
from tests.support.histories import to_record
from tests.support.kafka_io import consume_all, produce
from tests.support.scenario_kit import Lms
from worker.store.db import make_engine
from worker.store.tables import outbox


def test_status_numbers_match_what_was_sent(ops_db: Ops) -> None:
    ops = ops_db
    lms = Lms("site-a")
    events = [lms.link("L1", "c1", "S1", "g1", 0), lms.enrol_link("E1", "c1", "S1", 0)]
    for i in range(1, 6):
        events += [lms.enrol(f"u{i}", "c1", 10), lms.join(f"u{i}", "S1", 10)]
    events.append(lms.unenrol("u5", "c1", 5))  # older than u5's enrolment: stale
    records = [to_record(e) for e in events] + [to_record(e) for e in events[2:5]]  # 3 dups
    unknown = {
        "specversion": "1.0",
        "id": "x1",
        "source": "site-a",
        "type": "lms.badge.awarded",
        "time": "2024-01-01T00:00:00Z",
        "data": {},
    }
    records.append((b"u1", json.dumps(unknown).encode(), []))
    records.append((b"u1", b"{not json", []))
    bad = dict(unknown, id="x2", type="lms.enrollment.created", data={"user_id": "u1"})
    records.append((b"u1", json.dumps(bad).encode(), []))
    sent = produce(ops.bootstrap, ops.w.input_topics, records)
    per_partition = Counter(m.partition for m in sent)

    ops.segsync("migrate")
    fresh = ops.status()
    assert fresh["lag"] == len(records)
    assert all(p["committed"] is None and p["stored"] is None for p in fresh["partitions"])
    assert fresh["commands"] == {"add": 0, "remove": 0, "enrol": 0, "unenrol": 0}

    ops.worker()
    doc = ops.status()
    assert doc["group_id"] == ops.w.group_id
    assert [(p["topic"], p["partition"]) for p in doc["partitions"]] == [
        (ops.w.input_topics, i) for i in range(3)
    ]
    for p in doc["partitions"]:
        n = per_partition[p["partition"]]
        assert (p["end"], p["lag"]) == (n, 0)
        assert p["stored"] == p["committed"] == (n or None)  # no record, no offset to keep
    assert doc["lag"] == 0
    assert doc["events"] == {
        "applied": {
            "lms.enrollment.created": 5,
            "lms.segment.member.added": 5,
            "lms.segment_group_link.created": 1,
            "lms.segment_enrol_link.created": 1,
        },
        "stale": {"lms.enrollment.deleted": 1},
        "duplicate": 3,
        "unknown": 1,
        "dlq": 2,
    }
    commands = ops.commands()
    assert len(commands) == 5
    assert doc["commands"] == {"add": 5, "remove": 0, "enrol": 5, "unenrol": 0}
    assert len(ops.enrolments()) == 5
    assert len(consume_all(ops.bootstrap, ops.w.dlq_topic)) == 2
    assert doc["outbox_backlog"] == 0

    # Four more events the worker has not read yet: lag.
    more = [lms.enrol(f"u{i}", "c2", 20) for i in range(6, 10)]
    produce(ops.bootstrap, ops.w.input_topics, [to_record(e) for e in more])
    later = ops.status()
    assert later["lag"] == 4
    assert [p["stored"] for p in later["partitions"]] == [p["stored"] for p in doc["partitions"]]

    # An outbox row not yet published shows as backlog.
    engine = make_engine(ops.w.database_url)
    with engine.begin() as conn:
        conn.execute(insert(outbox), [{"destination": "command", "key": b"k", "value": b"v"}])
    engine.dispose()
    assert ops.status()["outbox_backlog"] == 1

    table = ops.segsync("status").stdout
    words = ("committed", "stored", "end", "lag", "lms.enrollment.created", "outbox backlog")
    for word in (*words, "commands enrol", "commands unenrol"):
        assert word in table
    assert "Example: segsync status" in ops.segsync("status", "--help").stdout


def test_status_without_a_store_or_topic_fails_in_one_line(ops: Ops) -> None:
    proc = ops.segsync("status", rc=1)
    assert proc.stderr.startswith("segsync: no state store at ")
    ops.segsync("migrate")
    proc = ops.segsync("status", rc=1, extra={"SEGSYNC_INPUT_TOPICS": "no-such-topic-here"})
    assert proc.stderr.strip() == "segsync: topic 'no-such-topic-here' does not exist on " + (
        ops.bootstrap
    )

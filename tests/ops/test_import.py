"""`segsync import`: CSV exports become created/added events with content-derived ids."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.ops.conftest import Ops
from tests.support.scenario_kit import Lms
from worker.ops.console import parse_time

T = "2024-03-01T08:00:00Z"
SOURCE = "moodle.example.edu"

# BOM, CRLF, quoted fields, an id with a space, an extra column, columns in another order,
# a blank line.
ENROLMENTS = (
    "\ufeffuser_id,course_id,enrolled_on\r\n"
    'u1,c1,2020-01-01\r\n"u2","c1",2020-01-02\r\n'
    "\r\n"
    'u3,c1,"2021"\r\n"u 4",c2,x\r\n'
)
MEMBERS = 'segment_id,user_id\nS1,u1\nS1,u2\n"S1","u 4"\nS2,u3\n'
LINKS = "link_id,course_id,segment_id,group_id\nL1,c1,S1,g1\nL2,c2,S1,g2\n"


def exports(ops: Ops) -> list[str]:
    return [
        "--enrolments",
        str(ops.file("enrolments.csv", ENROLMENTS)),
        "--segment-members",
        str(ops.file("members.csv", MEMBERS)),
        "--links",
        str(ops.file("links.csv", LINKS)),
    ]


def pairs(commands: list[dict[str, object]]) -> list[tuple[str, ...]]:
    out = []
    for c in commands:
        d = c["data"]
        assert isinstance(d, dict)
        kind = str(c["type"]).rsplit(".", 1)[1]
        out.append((kind, d["course_id"], d["group_id"], d["user_id"]))
    return sorted(out)


def test_import_twice_is_a_noop(ops_db: Ops) -> None:
    ops = ops_db
    first = ops.segsync("import", "--source", SOURCE, "--time", T, *exports(ops))
    assert "published 10 events" in first.stderr
    records = ops.inputs()
    assert len(records) == 10
    events = [json.loads(r.value) for r in records]
    for r, e in zip(records, events, strict=True):
        assert (e["specversion"], e["source"], e["time"]) == (
            "1.0",
            SOURCE,
            "2024-03-01T08:00:00.000000Z",
        )
        assert e["id"].startswith("import:")
        assert dict(r.headers)["content-type"] == b"application/cloudevents+json"
        key = e["data"]["course_id"] if "link_id" in e["data"] else e["data"]["user_id"]
        assert r.key == key.encode()
    assert {e["type"] for e in events} == {
        "lms.enrollment.created",
        "lms.segment.member.added",
        "lms.segment_group_link.created",
    }
    assert {"u 4"} <= {e["data"].get("user_id") for e in events}

    ops.worker()
    want = [("add", "c1", "g1", "u1"), ("add", "c1", "g1", "u2"), ("add", "c2", "g2", "u 4")]
    assert pairs(ops.commands()) == want

    # Same files again, at another time (default: now): the same ids, all duplicates.
    ops.segsync("import", "--source", SOURCE, *exports(ops))
    again = [json.loads(r.value) for r in ops.inputs()]
    assert len(again) == 20
    assert Counter(e["id"] for e in again) == Counter(2 * [e["id"] for e in events])
    ops.worker()
    assert pairs(ops.commands()) == want  # nothing new published
    status = ops.status()
    assert status["events"]["duplicate"] == 10
    assert sum(status["events"]["applied"].values()) == 10
    assert status["commands"] == {"add": 3, "remove": 0, "enrol": 0, "unenrol": 0}


def test_import_then_live_events_older_and_newer(ops: Ops) -> None:
    t_us = parse_time(T, "--time")
    ops.segsync("import", "--source", SOURCE, "--time", T, *exports(ops))
    ops.worker()
    lms = Lms(SOURCE)
    hour = 3600.0
    base = (t_us - 1_700_000_000_000_000) / 1_000_000  # seconds after the kit's T0
    lms.unenrol("u1", "c1", base - hour, "live-old-unenrol")  # older than the snapshot: stale
    lms.unenrol("u2", "c1", base + hour, "live-new-unenrol")  # newer: wins
    lms.leave("u 4", "S1", base - 1, "live-old-leave")  # older: stale
    lms.join("u3", "S1", base + hour, "live-new-join")  # newer: u3 joins g1
    ops.produce(lms.history)
    ops.worker()
    got = pairs(ops.commands())
    assert got == sorted(
        [
            ("add", "c1", "g1", "u1"),
            ("add", "c1", "g1", "u2"),
            ("add", "c2", "g2", "u 4"),
            ("remove", "c1", "g1", "u2"),
            ("add", "c1", "g1", "u3"),
        ]
    )
    removal = next(c for c in ops.commands() if c["type"].endswith("remove"))
    assert removal["data"]["caused_by"] == "live-new-unenrol"
    stale = ops.status()["events"]["stale"]
    assert stale == {"lms.enrollment.deleted": 1, "lms.segment.member.removed": 1}


def test_spaces_around_fields_are_stripped(ops: Ops) -> None:
    # An export written by hand or by a spreadsheet: "U1 , C1" is user U1 in course C1.
    padded = ops.file("e.csv", "user_id , course_id\nU1 , C1\n\tU 2\t, C1\n")
    ops.segsync("import", "--source", SOURCE, "--time", T, "--enrolments", str(padded))
    data = sorted(
        (e["data"]["user_id"], e["data"]["course_id"])
        for e in map(json.loads, (r.value for r in ops.inputs()))
    )
    assert data == [("U 2", "C1"), ("U1", "C1")]
    assert "Spaces and tabs around each field are stripped" in " ".join(
        ops.segsync("import", "--help").stdout.split()
    )


GOOD = "user_id,segment_id\nu1,S1\n"


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (GOOD + "u2,S1\nu3\n", 4, "expected 2 fields, got 1"),
        (GOOD + 'u2,S1\n"u3\nstill u3",S1\n"u4"x,S1\n', 6, "malformed CSV"),
        (GOOD + 'u2,"S1\n', 3, "malformed CSV (unexpected end of data)"),
        (GOOD + "u2,\n", 3, "segment_id is empty"),
        (GOOD + "  ,S1\n", 3, "user_id is empty"),
        (GOOD.encode() + b"u\xff2,S1\n", 3, "not valid UTF-8"),
        (GOOD + "u2," + "S" * 129 + "\n", 3, "longer than 128 characters"),
        ("user,segment_id\nu1,S1\n", 1, "header has no column 'user_id'"),
        (b"", 1, "empty file"),
    ],
)
def test_malformed_rows_name_file_and_line(
    ops: Ops, content: str | bytes, line: int, reason: str
) -> None:
    good = ops.file("enrolments.csv", "user_id,course_id\nu1,c1\nu2,c1\n")
    bad = ops.file("members.csv", content)
    proc = ops.segsync(
        "import",
        "--source",
        SOURCE,
        "--enrolments",
        str(good),
        "--segment-members",
        str(bad),
        rc=1,
    )
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"segsync: {bad}:{line}: "), message
    assert reason in message
    assert ops.inputs() == []  # validated first: nothing published, not even the good file


def test_usage_errors_exit_2(ops: Ops) -> None:
    good = ops.file("e.csv", "user_id,course_id\nu1,c1\n")
    proc = ops.segsync(
        "import", "--source", SOURCE, "--time", "yesterday", "--enrolments", str(good), rc=2
    )
    assert "--time" in proc.stderr
    ops.segsync("import", "--source", SOURCE, rc=2)  # nothing to import
    ops.segsync("import", "--enrolments", str(good), rc=2)  # --source is required
    ops.segsync("import", "--source", SOURCE, "--enrolments", str(Path(ops.tmp, "none.csv")), rc=2)
    assert ops.inputs() == []
    assert "Example: segsync import" in ops.segsync("import", "--help").stdout

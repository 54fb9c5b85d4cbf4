"""`segsync diff --enrolments`: planted drift between the enrolments segment sync holds in the
LMS and desired_enrol() is found, and --publish closes it (reason resync), beside --groups."""

from __future__ import annotations

import json

from tests.ops.conftest import Ops
from tests.support.scenario_kit import Lms


def history() -> Lms:
    lms = Lms("site-a")
    lms.enrol_link("E1", "c1", "S1", 0, role="student")
    lms.enrol_link("E2", "c2", "S2", 0, on_leave="suspend")
    lms.link("L1", "c1", "S1", "g1", 0)
    for user, segment in [("u1", "S1"), ("u2", "S1"), ("u3", "S1"), ("u4", "S2")]:
        lms.join(user, segment, 1)
    lms.leave("u3", "S1", 2)
    lms.enrol("u1", "c1", 3, method="segment_sync:E1")
    return lms


def test_enrolment_drift_is_found_and_closed(ops_db: Ops) -> None:
    ops = ops_db
    ops.produce(history().history)
    ops.worker()
    desired = {(c["data"]["course_id"], c["data"]["user_id"]) for c in ops.enrolments()}
    assert desired == {("c1", "u1"), ("c1", "u2"), ("c2", "u4")}
    # The LMS holds u1 (right), misses u2 and u4, still has u3, and u9 it should not have;
    # c7 is no course segsync manages.
    lms_side = "course_id,user_id\nc1,u1\nc1,u3\nc1,u9\nc2,u9\nc7,u5\n"
    enrolments = str(ops.file("sync_enrolments.csv", lms_side))
    groups = str(ops.file("groups.csv", "course_id,group_id,user_id\nc1,g1,u1\n"))
    proc = ops.segsync(
        "diff", "--source", "site-a", "--enrolments", enrolments, "--groups", groups, "--json"
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines == [
        {"kind": "enrolment", "source": "site-a", "course_id": "c1", "missing": ["u2"],
         "extra": ["u3", "u9"]},
        {"kind": "enrolment", "source": "site-a", "course_id": "c2", "missing": ["u4"],
         "extra": ["u9"]},
    ]  # fmt: skip
    assert "2 missing and 3 extra enrolments in 2 courses (4 rows compared, 1 in unmanaged" in (
        proc.stderr
    )
    resyncs = [c for c in ops.enrolments() if c["data"]["reason"] == "resync"]
    assert resyncs == []  # nothing sent without --publish

    done = ops.segsync("diff", "--source", "site-a", "--enrolments", enrolments, "--publish")
    assert "published 5 resync commands" in done.stderr
    sent = [c for c in ops.enrolments() if c["data"]["reason"] == "resync"]
    brief = sorted(
        (c["type"].rsplit(".", 1)[1], c["data"]["course_id"], c["data"]["user_id"],
         tuple(c["data"]["link_ids"]), c["data"]["on_leave"])
        for c in sent
    )  # fmt: skip
    assert brief == [
        ("enrol", "c1", "u2", ("E1",), "unenrol"),
        ("enrol", "c2", "u4", ("E2",), "suspend"),
        ("unenrol", "c1", "u3", (), "unenrol"),
        ("unenrol", "c1", "u9", (), "unenrol"),
        ("unenrol", "c2", "u9", (), "suspend"),  # E2 on c2 says suspend
    ]
    for c in sent:
        assert c["data"]["caused_by"] == "resync" and c["id"].startswith("resync:")
    # --groups was not asked for this time: no group resync.
    assert [c for c in ops.commands() if c["data"]["reason"] == "resync"] == []


def test_diff_needs_something_to_compare(ops: Ops) -> None:
    ops.segsync("migrate")
    proc = ops.segsync("diff", "--source", "site-a", rc=2)
    assert proc.stderr == "segsync: diff needs --groups and/or --enrolments\n"
    assert "--enrolments" in ops.segsync("diff", "--help").stdout

"""`segsync import --enrol-links`: segment enrol links (User Segment Sync) from a CSV export,
with the optional role and on_leave columns, through the real console script and worker."""

from __future__ import annotations

import json

from tests.ops.conftest import Ops

T = "2024-03-01T08:00:00Z"
SOURCE = "moodle.example.edu"
MEMBERS = "user_id,segment_id\nu1,S1\nu2,S1\nu2,S2\n"
ENROL_LINKS = "link_id,course_id,segment_id,role,on_leave\nE1,c1,S1,,\nE2,c1,S2,teacher,suspend\n"


def test_enrol_links_are_imported_and_enrol_the_members(ops_db: Ops) -> None:
    ops = ops_db
    files = [
        "--segment-members",
        str(ops.file("members.csv", MEMBERS)),
        "--enrol-links",
        str(ops.file("enrol_links.csv", ENROL_LINKS)),
    ]
    proc = ops.segsync("import", "--source", SOURCE, "--time", T, *files)
    assert "enrol-links: 2" in proc.stderr
    links = [e for e in map(json.loads, (r.value for r in ops.inputs())) if "link_id" in e["data"]]
    assert sorted((e["type"], e["data"]["link_id"]) for e in links) == [
        ("lms.segment_enrol_link.created", "E1"),
        ("lms.segment_enrol_link.created", "E2"),
    ]
    by_id = {e["data"]["link_id"]: e["data"] for e in links}
    # An empty optional field is not sent: the event means the default.
    assert by_id["E1"] == {"link_id": "E1", "course_id": "c1", "segment_id": "S1"}
    assert by_id["E2"]["role"] == "teacher" and by_id["E2"]["on_leave"] == "suspend"
    ops.segsync("import", "--source", SOURCE, "--time", T, *files)  # twice: same ids
    ops.worker()
    got = sorted(
        (c["data"]["user_id"], tuple(c["data"]["link_ids"]), tuple(c["data"]["roles"]))
        for c in ops.enrolments()
    )
    assert got == [("u1", ("E1",), ("student",)), ("u2", ("E1", "E2"), ("student", "teacher"))]
    assert ops.commands() == []  # nobody is enrolled yet as far as the LMS has said


def test_a_bad_enrol_link_row_publishes_nothing(ops: Ops) -> None:
    bad = ops.file("enrol_links.csv", "link_id,course_id,segment_id,on_leave\nE1,c1,S1,drop\n")
    proc = ops.segsync("import", "--source", SOURCE, "--enrol-links", str(bad), rc=1)
    assert proc.stderr == f"segsync: {bad}:2: on_leave must be one of unenrol, suspend\n"
    short = ops.file("short.csv", "link_id,course_id\nE1,c1\n")
    proc = ops.segsync("import", "--source", SOURCE, "--enrol-links", str(short), rc=1)
    assert "header has no column 'segment_id'" in proc.stderr
    assert ops.inputs() == []
    assert "--enrol-links" in ops.segsync("import", "--help").stdout

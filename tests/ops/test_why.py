"""`segsync why` through the real console script, after the real worker ran a history with
both link kinds and two enrolment methods, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from tests.ops.conftest import Ops
from tests.support.scenario_kit import Lms
from worker.domain.enrol import EnrolPairKey, enrol_command_id
from worker.domain.transitions import PairKey, command_id


def test_why_explains_both_kinds(ops_db: Ops) -> None:
    ops, lms = ops_db, Lms("site-a")
    setup = [
        lms.link("L1", "c1", "S1", "g1", 1),
        lms.link("L2", "c1", "S2", "g2", 1),
        lms.enrol_link("E1", "c1", "S1", 1, role="student", on_leave="suspend"),
        lms.join("u1", "S1", 2),
        lms.join("u1", "S2", 2),
        lms.enrol("u1", "c1", 3, method="manual"),
    ]
    reported = lms.enrol("u1", "c1", 4, method="segment_sync:E1")
    leave = lms.leave("u1", "S2", 5)
    unlink = lms.unlink("L2", 6)
    ops.produce(setup)
    ops.worker()
    ops.produce([reported, leave, unlink])  # after: the unlink must not overtake the link
    ops.worker()
    doc = json.loads(ops.segsync("why", "--source", "site-a", "--user", "u1", "--json").stdout)
    assert (doc["source"], doc["user_id"], doc["course_id"]) == ("site-a", "u1", None)
    assert [(e["course_id"], e["method"], e["enrolled"]) for e in doc["enrolments"]] == [
        ("c1", "manual", True),
        ("c1", "segment_sync:E1", True),
    ]
    assert doc["enrolled"] == [{"course_id": "c1", "enrolled": True}]
    assert [(m["segment_id"], m["member"], m["event_id"]) for m in doc["memberships"]] == [
        ("S1", True, setup[3].id),
        ("S2", False, leave.id),
    ]
    links = {x["link_id"]: x for x in doc["group_links"]}
    assert links["L1"]["active"] and links["L1"]["ended_by"] is None
    assert not links["L2"]["active"]
    assert links["L2"]["ended_by"].startswith(f"deleted by event {unlink.id} at ")
    (e1,) = doc["enrol_links"]
    assert (e1["link_id"], e1["active"], e1["role"], e1["on_leave"]) == (
        "E1", True, "student", "suspend",
    )  # fmt: skip
    assert doc["desired"] == [{"course_id": "c1", "group_id": "g1", "link_ids": ["L1"]}]
    assert doc["desired_enrol"] == [{"course_id": "c1", "link_ids": ["E1"]}]
    pairs = {(p["course_id"], p["group_id"]): p for p in doc["group_commands"]}
    g1, g2 = pairs[("c1", "g1")], pairs[("c1", "g2")]
    assert (g1["commands"], g1["last"]["type"], g1["last"]["reason"]) == (
        1, "lms.group.member.add", "enrolled",
    )  # fmt: skip
    assert g1["last"]["caused_by"] == setup[5].id
    assert g1["last"]["id"] == command_id(PairKey("site-a", "c1", "g1", "u1"), 0)
    assert (g2["commands"], g2["last"]["type"], g2["last"]["reason"]) == (
        2, "lms.group.member.remove", "left_segment",
    )  # fmt: skip
    assert g2["last"]["caused_by"] == leave.id
    (enrol,) = doc["enrolment_commands"]
    assert (enrol["commands"], enrol["last"]["type"], enrol["last"]["caused_by"]) == (
        1, "lms.course.enrol", setup[3].id,
    )  # fmt: skip
    assert enrol["last"]["id"] == enrol_command_id(EnrolPairKey("site-a", "c1", "u1"), 0)
    # The ids named are the ids the worker published.
    assert g1["last"]["id"] in {c["id"] for c in ops.commands()}
    assert enrol["last"]["id"] in {c["id"] for c in ops.enrolments()}

    only = json.loads(
        ops.segsync("why", "--source", "site-a", "--user", "u1", "--course", "c1", "--json").stdout
    )
    assert only["course_id"] == "c1" and only["desired"] == doc["desired"]
    table = ops.segsync("why", "--source", "site-a", "--user", "u1").stdout
    for words in ("enrolments by method", "segment_sync:E1", "desired_enrol()", "left_segment"):
        assert words in table


def test_why_refuses_what_it_cannot_answer(ops: Ops) -> None:
    ops.segsync("migrate")
    proc = ops.segsync("why", "--source", "site-a", "--user", "nobody", rc=1)
    assert proc.stderr == "segsync: the store knows nothing of user 'nobody' of 'site-a'\n"
    assert ops.segsync("why", "--user", "u1", rc=2).returncode == 2
    assert "Example: segsync why --source" in ops.segsync("why", "--help").stdout

"""`segsync diff`: planted drift between the LMS and desired() is found, and --publish closes it."""

from __future__ import annotations

import json
from typing import Any

from tests.ops.conftest import Ops
from tests.support.scenario_kit import Lms
from tests.support.subjects import segment as seg_enc

Row = tuple[str, str, str]  # (course, group, user)


def history() -> Lms:
    lms = Lms("site-a")
    lms.link("L1", "c1", "S1", "g1", 0)
    lms.link("L2", "c1", "S2", "g1", 0)  # two links into g1: an OR
    lms.link("L3", "c2", "S1", "g2", 0)
    for user, course in [("u1", "c1"), ("u2", "c1"), ("u3", "c1"), ("u3", "c2"), ("u4", "c2")]:
        lms.enrol(user, course, 1)
    for user, segment in [("u1", "S1"), ("u1", "S2"), ("u2", "S2"), ("u3", "S1"), ("u4", "S1")]:
        lms.join(user, segment, 2)
    return lms


DESIRED = {
    ("c1", "g1", "u1"),  # by L1 and L2
    ("c1", "g1", "u2"),
    ("c1", "g1", "u3"),
    ("c2", "g2", "u3"),
    ("c2", "g2", "u4"),
}


def csv_of(rows: set[Row]) -> str:
    lines = ["course_id,group_id,user_id"] + [",".join(r) for r in sorted(rows)]
    return "\n".join(lines) + "\n"


def diff_json(ops: Ops, path: str, *more: str) -> tuple[list[dict[str, Any]], str]:
    proc = ops.segsync("diff", "--source", "site-a", "--groups", path, "--json", *more)
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def test_diff_finds_planted_drift_and_publish_closes_it(ops_db: Ops) -> None:
    ops = ops_db
    ops.produce(history().history)
    ops.worker()
    before = ops.commands()
    assert {
        (c["data"]["course_id"], c["data"]["group_id"], c["data"]["user_id"]) for c in before
    } == DESIRED

    unmanaged = {("c1", "teachers", "u9"), ("c3", "g1", "u1")}  # groups segsync has no link to
    missing = {("c1", "g1", "u1"), ("c2", "g2", "u4")}
    extra = {("c1", "g1", "u7"), ("c2", "g2", "u8")}
    actual = (DESIRED - missing) | extra | unmanaged
    groups = ops.file("groups.csv", "\ufeff" + csv_of(actual))

    found, summary = diff_json(ops, str(groups))
    assert found == [
        {
            "source": "site-a",
            "course_id": "c1",
            "group_id": "g1",
            "missing": ["u1"],
            "extra": ["u7"],
        },
        {
            "source": "site-a",
            "course_id": "c2",
            "group_id": "g2",
            "missing": ["u4"],
            "extra": ["u8"],
        },
    ]
    assert "2 missing and 2 extra in 2 groups" in summary and "2 in unmanaged groups" in summary
    table = ops.segsync("diff", "--source", "site-a", "--groups", str(groups)).stdout
    assert "u7" in table and "u8" in table and "missing" in table
    assert ops.commands() == before  # without --publish nothing is sent

    _, summary = diff_json(ops, str(groups), "--publish")
    assert "published 4 resync commands" in summary
    resync = [c for c in ops.commands() if c["data"]["reason"] == "resync"]
    assert len(resync) == 4
    by_pair: dict[Row, dict[str, Any]] = {}
    for c in resync:
        d = c["data"]
        pair = (d["course_id"], d["group_id"], d["user_id"])
        by_pair[pair] = c
        assert c["id"].startswith("resync:") and d["caused_by"] == "resync"
        assert c["source"] == "site-a"
        assert c["subject"] == "course/{}/group/{}/user/{}".format(*map(seg_enc, pair[:3]))
    assert {p for p, c in by_pair.items() if c["type"] == "lms.group.member.add"} == missing
    assert {p for p, c in by_pair.items() if c["type"] == "lms.group.member.remove"} == extra
    assert by_pair[("c1", "g1", "u1")]["data"]["link_ids"] == ["L1", "L2"]
    assert by_pair[("c2", "g2", "u4")]["data"]["link_ids"] == ["L3"]
    assert by_pair[("c1", "g1", "u7")]["data"]["link_ids"] == []

    # The LMS applies them: no drift is left. The worker's own history is untouched.
    repaired = set(actual)
    for pair, c in by_pair.items():
        if c["type"].endswith("add"):
            repaired.add(pair)
        else:
            repaired.discard(pair)
    fixed = ops.file("groups-after.csv", csv_of(repaired))
    found, summary = diff_json(ops, str(fixed))
    assert found == [] and "0 missing and 0 extra" in summary
    assert "no drift" in ops.segsync("diff", "--source", "site-a", "--groups", str(fixed)).stdout
    ops.worker()
    assert len(ops.commands()) == len(before) + 4
    assert ops.status()["commands"] == {"add": len(before), "remove": 0, "enrol": 0, "unenrol": 0}


def test_diff_scopes_and_errors(ops: Ops) -> None:
    ops.produce(history().history)
    ops.worker()
    groups = ops.file("groups.csv", csv_of({("c1", "g1", "u1")}))
    found, _ = diff_json(ops, str(groups))
    assert [(g["group_id"], g["missing"], g["extra"]) for g in found] == [
        ("g1", ["u2", "u3"], []),
        ("g2", ["u3", "u4"], []),
    ]
    # Another site shares no groups with this one.
    other = ops.segsync("diff", "--source", "site-b", "--groups", str(groups), "--json")
    assert other.stdout == "" and "1 in unmanaged groups" in other.stderr

    bad = ops.file("bad.csv", "course_id,group_id,user_id\nc1,g1\n")
    proc = ops.segsync("diff", "--source", "site-a", "--groups", str(bad), rc=1)
    assert proc.stderr.strip() == f"segsync: {bad}:2: expected 3 fields, got 2"
    missing_db = {"SEGSYNC_DATABASE_URL": f"sqlite:///{ops.tmp / 'nothing.sqlite'}"}
    proc = ops.segsync(
        "diff", "--source", "site-a", "--groups", str(groups), rc=1, extra=missing_db
    )
    assert "no state store" in proc.stderr
    assert not (ops.tmp / "nothing.sqlite").exists()
    assert "Example: segsync diff" in ops.segsync("diff", "--help").stdout

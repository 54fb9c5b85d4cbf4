"""`segsync links apply` with `kind: enrol` links (User Segment Sync) beside group links, through
the real console script and worker: created, changed and deleted like group links, with their
own ids (a group link and an enrol link may share one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ops.conftest import Ops
from tests.support.scenario_kit import Lms
from worker.errors import ConfigError
from worker.ops import links_file

V1 = """
sources:
  site-a:
    - {id: cfg-1, course: c1, segment: S1, group: g1}
    - {id: cfg-1, kind: enrol, course: c1, segment: S1, role: teacher}
    - {id: cfg-2, kind: enrol, course: c2, segment: S1}
"""
# cfg-1 (enrol) now suspends on leave; cfg-2 (enrol) goes; the group link stays.
V2 = """
sources:
  site-a:
    - {id: cfg-1, course: c1, segment: S1, group: g1}
    - {id: cfg-1, kind: enrol, course: c1, segment: S1, role: teacher, on_leave: suspend}
"""


def enrol_link_events(ops: Ops) -> list[tuple[Any, dict[str, Any]]]:
    out = []
    for r in ops.inputs():
        e = json.loads(r.value)
        if e["type"].startswith("lms.segment_enrol_link."):
            out.append((r, e))
    return out


def test_enrol_links_as_code(ops: Ops) -> None:
    lms = Lms("site-a")
    lms.join("u1", "S1", 1)
    lms.join("u2", "S1", 1)
    ops.produce(lms.history)
    v1 = ops.file("links.yaml", V1)
    dry = ops.segsync("links", "apply", str(v1), "--dry-run").stdout.splitlines()
    assert dry == [
        "create site-a enrol link cfg-1: course=c1 segment=S1 role=teacher on_leave=unenrol",
        "create site-a enrol link cfg-2: course=c2 segment=S1 role=student on_leave=unenrol",
        "create site-a cfg-1: course=c1 segment=S1 group=g1",
    ]
    ops.segsync("links", "apply", str(v1))
    published = enrol_link_events(ops)
    assert sorted(e["data"]["link_id"] for _, e in published) == ["cfg-1", "cfg-2"]
    for r, e in published:
        assert e["id"].startswith("links-apply:")
        assert r.key == e["data"]["course_id"].encode()
    assert ops.segsync("links", "apply", str(v1)).stdout == ""  # nothing to do
    ops.worker()
    got = sorted(
        (c["type"], c["data"]["course_id"], c["data"]["user_id"], tuple(c["data"]["roles"]))
        for c in ops.enrolments()
    )
    assert got == [
        ("lms.course.enrol", "c1", "u1", ("teacher",)),
        ("lms.course.enrol", "c1", "u2", ("teacher",)),
        ("lms.course.enrol", "c2", "u1", ("student",)),
        ("lms.course.enrol", "c2", "u2", ("student",)),
    ]

    v2 = ops.file("links.yaml", V2)
    assert ops.segsync("links", "apply", str(v2)).stdout.splitlines() == [
        "create site-a enrol link cfg-1: course=c1 segment=S1 role=teacher on_leave=suspend"
        " (was course=c1 segment=S1 role=teacher on_leave=unenrol)",
        "delete site-a enrol link cfg-2: course=c2 segment=S1 role=student on_leave=unenrol",
    ]
    assert ops.segsync("links", "apply", str(v2)).stdout == ""
    ops.worker()
    unenrols = [c["data"] for c in ops.enrolments() if c["type"] == "lms.course.unenrol"]
    assert sorted((d["course_id"], d["user_id"], d["reason"]) for d in unenrols) == [
        ("c2", "u1", "link_deleted"),
        ("c2", "u2", "link_deleted"),
    ]
    assert ops.commands() == []  # the group link waits for the LMS's enrolments


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("{id: a, kind: enrol, course: c, segment: s, group: g}", "an enrol link has no group"),
        ("{id: a, course: c, segment: s}", "a group link needs a group"),
        ("{id: a, course: c, segment: s, group: g, role: r}", "role and on_leave are for"),
        ("{id: a, kind: enrol, course: c, segment: s, on_leave: drop}", "on_leave"),
        ("{id: a, kind: cohort, course: c, segment: s}", "kind"),
    ],
)
def test_bad_entries_name_file_and_line(tmp_path: Path, entry: str, reason: str) -> None:
    path = tmp_path / "links.yaml"
    path.write_text(f"sources:\n  s:\n    - {entry}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        links_file.load(path)
    assert str(info.value).startswith(f"{path}:3: sources.s[0]")
    assert reason in str(info.value)


def test_ids_are_unique_per_kind(tmp_path: Path) -> None:
    path = tmp_path / "links.yaml"
    twice = "    - {id: a, kind: enrol, course: c, segment: s}\n"
    path.write_text("sources:\n  s:\n" + twice + twice, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"4: sources.s\[1\]: enrol link id 'a' declared twice"):
        links_file.load(path)

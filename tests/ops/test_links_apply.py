"""`segsync links apply`: configured links on the bus; the LMS's own links left alone."""

from __future__ import annotations

import json
from typing import Any

from tests.ops.conftest import Ops
from tests.support.histories import T0
from tests.support.scenario_kit import Lms
from worker.ops.console import parse_time

V1 = """
sources:
  site-a:
    - {id: cfg-a, course: c1, segment: S2, group: g2}
    - {id: cfg-b, course: c1, segment: S3, group: g3}
  site-b:
    - {id: cfg-x, course: 9, segment: 9, group: 9}
"""
# cfg-a moves to g4, cfg-b and the whole of site-b go, cfg-c is new.
V2 = """
sources:
  site-a:
    - {id: cfg-a, course: c1, segment: S2, group: g4}
    - {id: cfg-c, course: c1, segment: S1, group: g5}
"""
# cfg-b comes back with its old attributes.
V3 = V2 + "    - {id: cfg-b, course: c1, segment: S3, group: g3}\n"


def link_events(ops: Ops) -> list[tuple[Any, dict[str, Any]]]:
    out = []
    for r in ops.inputs():
        e = json.loads(r.value)
        if e["type"].startswith("lms.segment_group_link."):
            out.append((r, e))
    return out


def brief(commands: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted(
        (c["type"].rsplit(".", 1)[1], c["data"]["group_id"], c["data"]["user_id"]) for c in commands
    )


def test_add_change_remove_and_lms_links_left_alone(ops: Ops) -> None:
    lms = Lms("site-a")
    lms.link("lms-1", "c1", "S1", "g1", 0, "lms-link-event")
    for user in ("u1", "u2", "u3"):
        lms.enrol(user, "c1", 1)
    lms.join("u1", "S1", 2)
    lms.join("u2", "S2", 2)
    lms.join("u3", "S3", 2)
    ops.produce(lms.history)
    ops.worker()
    assert brief(ops.commands()) == [("add", "g1", "u1")]

    v1 = ops.file("links.yaml", V1)
    dry = ops.segsync("links", "apply", str(v1), "--dry-run")
    assert dry.stdout.splitlines() == [
        "create site-a cfg-a: course=c1 segment=S2 group=g2",
        "create site-a cfg-b: course=c1 segment=S3 group=g3",
        "create site-b cfg-x: course=9 segment=9 group=9",
    ]
    assert "would publish 3 created and 0 deleted" in dry.stderr
    assert len(link_events(ops)) == 1  # a dry run publishes nothing

    ops.segsync("links", "apply", str(v1))
    published = [(r, e) for r, e in link_events(ops) if e["id"] != "lms-link-event"]
    assert len(published) == 3
    for r, e in published:
        assert e["id"].startswith("links-apply:")
        assert e["type"] == "lms.segment_group_link.created"
        assert r.key == e["data"]["course_id"].encode()  # link events are keyed by course
    first_ids = {e["data"]["link_id"]: e["id"] for _, e in published}

    again = ops.segsync("links", "apply", str(v1))  # same file: nothing to publish
    assert again.stdout == ""
    assert len(link_events(ops)) == 4
    ops.worker()
    assert brief(ops.commands()) == [("add", "g1", "u1"), ("add", "g2", "u2"), ("add", "g3", "u3")]

    v2 = ops.file("links.yaml", V2)
    plan = ops.segsync("links", "apply", str(v2), "--dry-run").stdout.splitlines()
    assert plan == [
        "create site-a cfg-a: course=c1 segment=S2 group=g4 (was course=c1 segment=S2 group=g2)",
        "create site-a cfg-c: course=c1 segment=S1 group=g5",
        "delete site-a cfg-b: course=c1 segment=S3 group=g3",
        "delete site-b cfg-x: course=9 segment=9 group=9",
    ]
    ops.segsync("links", "apply", str(v2))
    events = link_events(ops)
    assert len(events) == 8
    # Only the LMS ever published an event for its own link.
    assert [e["id"] for _, e in events if e["data"]["link_id"] == "lms-1"] == ["lms-link-event"]
    ops.segsync("links", "apply", str(v2))
    assert len(link_events(ops)) == 8
    ops.worker()
    assert brief(ops.commands()) == [
        ("add", "g1", "u1"),  # the LMS's own link: never touched
        ("add", "g2", "u2"),
        ("add", "g3", "u3"),
        ("add", "g4", "u2"),
        ("add", "g5", "u1"),
        ("remove", "g2", "u2"),
        ("remove", "g3", "u3"),
    ]

    # Declaring a deleted link again re-creates it, under a new id (not a duplicate).
    v3 = ops.file("links.yaml", V3)
    assert ops.segsync("links", "apply", str(v3)).stdout.splitlines() == [
        "create site-a cfg-b: course=c1 segment=S3 group=g3"
    ]
    recreated = [e for _, e in link_events(ops) if e["data"]["link_id"] == "cfg-b"][-1]
    assert recreated["type"].endswith("created") and recreated["id"] != first_ids["cfg-b"]
    ops.worker()
    assert brief(ops.commands()) == [
        ("add", "g1", "u1"),
        ("add", "g2", "u2"),
        ("add", "g3", "u3"),
        ("add", "g3", "u3"),  # back in g3 (the pair's third command)
        ("add", "g4", "u2"),
        ("add", "g5", "u1"),
        ("remove", "g2", "u2"),
        ("remove", "g3", "u3"),
    ]
    assert ops.segsync("links", "apply", str(v3)).stdout == ""


def test_lms_deleting_a_configured_link_is_repaired(ops: Ops) -> None:
    v = ops.file(
        "links.yaml", "sources:\n  site-a:\n    - {id: cfg-a, course: c1, segment: S1, group: g1}\n"
    )
    ops.segsync("links", "apply", str(v))
    created = json.loads(ops.inputs()[0].value)
    lms = Lms("site-a")
    # The LMS deletes it, later than our event: the bus no longer agrees with the file.
    at = (parse_time(created["time"], "time") - T0) / 1e6 + 1
    lms.unlink("cfg-a", at, "lms-unlink")
    ops.produce(lms.history)
    out = ops.segsync("links", "apply", str(v)).stdout.splitlines()
    assert out == ["create site-a cfg-a: course=c1 segment=S1 group=g1"]


def test_bad_files_are_usage_errors(ops: Ops) -> None:
    cases = {
        "broken.yaml": ("sources: [unclosed", "not valid YAML"),
        "shape.yaml": ("links: []\n", "expected a mapping with one key, sources"),
        "keys.yaml": (
            "sources:\n  s:\n    - {id: a, course: c}\n",
            "sources.s[0]: expected exactly",
        ),
        "twice.yaml": (
            "sources:\n  s:\n    - {id: a, course: c, segment: s, group: g}\n"
            "    - {id: a, course: c, segment: s, group: h}\n",
            "sources.s[1]: link id 'a' declared twice",
        ),
        "empty-id.yaml": (
            "sources:\n  s:\n    - {id: '', course: c, segment: s, group: g}\n",
            "sources.s[0].id: id is empty",
        ),
    }
    for name, (text, reason) in cases.items():
        path = ops.file(name, text)
        proc = ops.segsync("links", "apply", str(path), rc=2)
        assert proc.stderr.startswith(f"segsync: {path}"), proc.stderr
        assert reason in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert ops.inputs() == []
    assert "Example: segsync links apply" in ops.segsync("links", "apply", "--help").stdout

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


def test_ids_are_the_text_written_not_yaml_numbers(ops: Ops) -> None:
    # YAML 1.1 would read these as 65, 8, 31, 750, 1000 and 12: links to other courses.
    v = ops.file(
        "links.yaml",
        "sources:\n"
        "  site-a:\n"
        "    - {id: 0101, course: 0101, segment: 010, group: 0x1F}\n"
        "    - id: 12:30\n"
        "      course: 1_000\n"
        "      segment: +12\n"
        "      group: 1e3\n"
        "  0777:\n"
        "    - {id: 'quoted', course: \"0101\", segment: 7, group: true}\n",
    )
    out = ops.segsync("links", "apply", str(v)).stdout.splitlines()
    assert out == [
        "create 0777 quoted: course=0101 segment=7 group=true",
        "create site-a 0101: course=0101 segment=010 group=0x1F",
        "create site-a 12:30: course=1_000 segment=+12 group=1e3",
    ]
    published = {(e["source"], e["data"]["link_id"]): e["data"] for _, e in link_events(ops)}
    assert published[("site-a", "0101")]["course_id"] == "0101"
    assert published[("site-a", "12:30")]["course_id"] == "1_000"
    assert published[("0777", "quoted")]["group_id"] == "true"


SITE = "sources:\n  s:\n    - {id: a, course: c, segment: s, group: g}\n"


BAD_FILES: list[tuple[str, int, str]] = [
    ("sources: [unclosed", 1, "not valid YAML"),
    ("links: []\n", 1, "expected a mapping with one key, sources"),
    (SITE + "extra: 1\n", 4, "extra: unknown key"),
    ("sources:\n  s:\n    - {id: a, course: c}\n", 3, "sources.s[0].segment: missing"),
    (SITE + "    - {id: b, course: c, segment: s, group: g, grup: h}\n", 4, "grup: unknown"),
    (SITE + "    - {id: a, course: c, segment: s, group: h}\n", 4, "id 'a' declared twice"),
    ("sources:\n  s:\n    - {id: '', course: c, segment: s, group: g}\n", 3, "id: is empty"),
    ("sources:\n  s:\n    - {id: a, course: ~, segment: s, group: g}\n", 3, "got nothing"),
    ("sources:\n  s:\n    - {id: a, course: [1], segment: s, group: g}\n", 3, "a list"),
    ("sources:\n  s:\n    - id: a\n      course: " + "c" * 129 + "\n", 4, "longer than 128"),
    ("sources:\n  s: {id: a}\n", 2, "sources.s: expected a list"),
    ("sources:\n  s:\n    - 0101\n", 3, "sources.s[0]: expected a mapping"),
    # A key written twice: YAML's "last one wins" would silently drop the first.
    (
        SITE + "  t: []\n  s:\n    - {id: b, course: c, segment: s, group: g}\n",
        5,
        "sources.s: key written twice (first at line 2)",
    ),
    (
        "sources:\n  s:\n    - {id: a, course: c, segment: s, group: g, course: d}\n",
        3,
        "sources.s[0].course: key written twice (first at line 3)",
    ),
    ("sources: {}\nsources: {}\n", 2, "sources: key written twice (first at line 1)"),
    # An alias could recurse (a: &x [*x]) or expand a few lines into millions of values.
    ("sources:\n  s: &x\n    - *x\n", 2, "sources.s[0]: YAML aliases (*name) are not supported"),
    (
        "sources:\n  s:\n    - {id: a, course: &c c1, segment: s, group: g}\n"
        "    - {id: b, course: *c, segment: s, group: g}\n",
        4,
        "sources.s[1].course: YAML aliases",
    ),
]


def test_bad_files_are_refused_with_file_and_line(ops: Ops) -> None:
    for i, (text, line, reason) in enumerate(BAD_FILES):
        path = ops.file(f"bad-{i}.yaml", text)
        proc = ops.segsync("links", "apply", str(path), rc=2)
        assert proc.stderr.startswith(f"segsync: {path}:{line}: "), (text, proc.stderr)
        assert reason in proc.stderr, (text, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert ops.inputs() == []


def test_help_has_an_example(ops: Ops) -> None:
    assert "Example: segsync links apply" in ops.segsync("links", "apply", "--help").stdout

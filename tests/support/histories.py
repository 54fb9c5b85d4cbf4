"""Random multi-site LMS histories over small id spaces (so that events interact a lot),
and their encodings as Kafka records in both CloudEvents content modes."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from tests.support.reference import Ev

T0 = 1_700_000_000_000_000  # microseconds; all times are T0 + small offsets (ties happen)


def random_history(
    rng: random.Random,
    n: int,
    sources: int = 2,
    users: int = 6,
    courses: int = 2,
    segments: int = 3,
    groups: int = 2,
    links: int = 4,
    time_span: int = 50,
    enrol: bool = False,
) -> list[Ev]:
    """`enrol`: also enrolment methods (`manual`, `self` or none) and segment enrol links
    (their own link ids), so that both kinds and several methods interact."""
    weights: dict[str, float] = {
        "lms.enrollment.created": 10,
        "lms.enrollment.deleted": 4,
        "lms.segment.member.added": 10,
        "lms.segment.member.removed": 4,
        "lms.segment_group_link.created": 4,
        "lms.segment_group_link.deleted": 2,
        "lms.segment.deleted": 0.3,
        "lms.group.deleted": 0.3,
        "lms.course.deleted": 0.3,
    }
    if enrol:
        weights["lms.segment_enrol_link.created"] = 3
        weights["lms.segment_enrol_link.deleted"] = 1.5
    types, w = zip(*weights.items(), strict=True)
    out: list[Ev] = []
    for i in range(n):
        t = rng.choices(types, w)[0]
        s = f"site-{rng.randrange(sources)}"
        u = f"u{rng.randrange(users)}"
        c = f"c{rng.randrange(courses)}"
        seg = f"S{rng.randrange(segments)}"
        g = f"g{rng.randrange(groups)}"
        lnk = f"l{rng.randrange(links)}"
        data = {
            "lms.enrollment.created": {"user_id": u, "course_id": c},
            "lms.enrollment.deleted": {"user_id": u, "course_id": c},
            "lms.segment.member.added": {"user_id": u, "segment_id": seg},
            "lms.segment.member.removed": {"user_id": u, "segment_id": seg},
            "lms.segment_group_link.created": {
                "link_id": lnk,
                "course_id": c,
                "segment_id": seg,
                "group_id": g,
            },
            "lms.segment_group_link.deleted": {"link_id": lnk},
            "lms.segment.deleted": {"segment_id": seg},
            "lms.group.deleted": {"course_id": c, "group_id": g},
            "lms.course.deleted": {"course_id": c},
            "lms.segment_enrol_link.created": {
                "link_id": lnk,
                "course_id": c,
                "segment_id": seg,
            },
            "lms.segment_enrol_link.deleted": {"link_id": lnk},
        }[t]
        if enrol:
            _enrol_extras(rng, t, data)
        time_us = T0 + rng.randrange(time_span) * 1_000_000
        out.append(Ev(s, f"e{i}", t, time_us, tuple(sorted(data.items()))))
    return out


def _enrol_extras(rng: random.Random, event_type: str, data: dict[str, str]) -> None:
    if event_type.startswith("lms.enrollment."):
        method = rng.choice(["", "", "manual", "self"])
        if method:
            data["method"] = method
    elif event_type == "lms.segment_enrol_link.created":
        if rng.random() < 0.5:
            data["role"] = rng.choice(["student", "teacher"])
        if rng.random() < 0.5:
            data["on_leave"] = rng.choice(["unenrol", "suspend"])


def shuffled_with_duplicates(rng: random.Random, events: list[Ev], dup_rate: float) -> list[Ev]:
    out = list(events) + [e for e in events if rng.random() < dup_rate]
    rng.shuffle(out)
    return out


def rfc3339(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1_000_000, UTC).isoformat().replace("+00:00", "Z")


def key_of(e: Ev) -> bytes:
    d = dict(e.data)
    return (d.get("user_id") or d.get("course_id") or d.get("link_id") or d["segment_id"]).encode()


def to_record(e: Ev, binary: bool = False) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) in structured (default) or binary content mode."""
    data = dict(e.data)
    if binary:
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", e.id.encode()),
            ("ce_source", e.source.encode()),
            ("ce_type", e.type.encode()),
            ("ce_time", rfc3339(e.time_us).encode()),
            ("content-type", b"application/json"),
        ]
        return key_of(e), json.dumps(data).encode(), headers
    body = {
        "specversion": "1.0",
        "id": e.id,
        "source": e.source,
        "type": e.type,
        "time": rfc3339(e.time_us),
        "datacontenttype": "application/json",
        "data": data,
    }
    headers = [("content-type", b"application/cloudevents+json")]
    return key_of(e), json.dumps(body).encode(), headers

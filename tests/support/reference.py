"""An independent reference: desired() and desired_enrol() recomputed from scratch over a set
of events, and the checkers of the contract's guarantees 1 and 2 over lists of published
group and enrolment commands.

Written straight from ../shared/CONTRACT.md, sharing no code with the worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Pair = tuple[str, str, str, str]  # (source, course, group, user)
EnrolPair = tuple[str, str, str]  # (source, course, user)


@dataclass(frozen=True)
class Ev:
    source: str
    id: str
    type: str
    time_us: int
    data: tuple[tuple[str, str], ...]

    def get(self, k: str, default: str | None = None) -> str:
        d = dict(self.data)
        return d[k] if default is None else d.get(k, default)


def desired(events: Iterable[Ev]) -> set[Pair]:
    return _state(events)[0]


def desired_enrol(events: Iterable[Ev]) -> set[EnrolPair]:
    return _state(events)[1]


def _state(events: Iterable[Ev]) -> tuple[set[Pair], set[EnrolPair]]:
    unique = {(e.source, e.id): e for e in events}.values()
    newest: dict[tuple[str, ...], Ev] = {}
    deleted: dict[tuple[str, ...], int] = {}

    def keep(key: tuple[str, ...], e: Ev) -> None:
        cur = newest.get(key)
        if cur is None or (e.time_us, e.id) > (cur.time_us, cur.id):
            newest[key] = e

    def mark(key: tuple[str, ...], t: int) -> None:
        deleted[key] = max(deleted.get(key, t), t)

    for e in unique:
        s = e.source
        if e.type.startswith("lms.enrollment."):
            # One fact per enrolment method; no method is the method "".
            keep(("enr", s, e.get("user_id"), e.get("course_id"), e.get("method", "")), e)
        elif e.type.startswith("lms.segment.member."):
            keep(("mem", s, e.get("user_id"), e.get("segment_id")), e)
        elif e.type.startswith("lms.segment_group_link."):
            keep(("link", s, e.get("link_id")), e)
        elif e.type.startswith("lms.segment_enrol_link."):
            keep(("elink", s, e.get("link_id")), e)
        elif e.type == "lms.segment.deleted":
            mark(("seg", s, e.get("segment_id")), e.time_us)
        elif e.type == "lms.group.deleted":
            mark(("grp", s, e.get("course_id"), e.get("group_id")), e.time_us)
        elif e.type == "lms.course.deleted":
            mark(("crs", s, e.get("course_id")), e.time_us)

    def killed(key: tuple[str, ...], t: int) -> bool:
        return key in deleted and deleted[key] >= t

    enrolled: set[tuple[str, str, str]] = set()
    member: set[tuple[str, str, str]] = set()
    links = []
    enrol_links = []
    for key, e in newest.items():
        kind, s = key[0], key[1]
        if kind == "enr" and e.type.endswith("created"):
            if not killed(("crs", s, key[3]), e.time_us):
                enrolled.add((s, key[2], key[3]))
        elif kind == "mem" and e.type.endswith("added"):
            if not killed(("seg", s, key[3]), e.time_us):
                member.add((s, key[2], key[3]))
        elif kind == "link" and e.type.endswith("created"):
            c, seg, g = e.get("course_id"), e.get("segment_id"), e.get("group_id")
            if not (
                killed(("grp", s, c, g), e.time_us)
                or killed(("crs", s, c), e.time_us)
                or killed(("seg", s, seg), e.time_us)
            ):
                links.append((s, c, seg, g))
        elif kind == "elink" and e.type.endswith("created"):
            c, seg = e.get("course_id"), e.get("segment_id")
            if not (killed(("crs", s, c), e.time_us) or killed(("seg", s, seg), e.time_us)):
                enrol_links.append((s, c, seg))
    out: set[Pair] = set()
    for s, c, seg, g in links:
        for s2, u, c2 in enrolled:
            if s2 == s and c2 == c and (s, u, seg) in member:
                out.add((s, c, g, u))
    out_enrol: set[EnrolPair] = set()
    for s, c, seg in enrol_links:
        for s2, u, seg2 in member:
            if s2 == s and seg2 == seg:
                out_enrol.add((s, c, u))
    return out, out_enrol


@dataclass
class Verdict:
    violations: list[str]
    final: set[Any]  # the pairs (group or enrolment) whose last command says "in"
    unique_commands: int


def check(commands: Iterable[dict[str, Any]], expected: set[Pair]) -> Verdict:
    """Guarantees 1 and 2 after de-duplicating by (source, id); commands in topic order
    (within one partition; all commands of a pair share a key, hence a partition)."""
    seen: set[tuple[str, str]] = set()
    last: dict[Pair, str] = {}
    violations: list[str] = []
    n = 0
    for cmd in commands:
        key = (cmd["source"], cmd["id"])
        if key in seen:
            continue
        seen.add(key)
        n += 1
        d = cmd["data"]
        p = (cmd["source"], d["course_id"], d["group_id"], d["user_id"])
        kind = cmd["type"].rsplit(".", 1)[1]
        want = "remove" if last.get(p) == "add" else "add"
        if kind != want:
            violations.append(f"{p}: {kind} after {last.get(p)}")
        last[p] = kind
    final = {p for p, k in last.items() if k == "add"}
    for p in sorted(final - expected):
        violations.append(f"{p}: in the group but not desired")
    for p in sorted(expected - final):
        violations.append(f"{p}: desired but not in the group")
    return Verdict(violations, final, n)


def check_enrol(commands: Iterable[dict[str, Any]], expected: set[EnrolPair]) -> Verdict:
    """The same guarantees for enrolment commands, per (source, course, user)."""
    seen: set[tuple[str, str]] = set()
    last: dict[EnrolPair, str] = {}
    violations: list[str] = []
    n = 0
    for cmd in commands:
        key = (cmd["source"], cmd["id"])
        if key in seen:
            continue
        seen.add(key)
        n += 1
        d = cmd["data"]
        p = (cmd["source"], d["course_id"], d["user_id"])
        kind = cmd["type"].rsplit(".", 1)[1]
        want = "unenrol" if last.get(p) == "enrol" else "enrol"
        if kind != want:
            violations.append(f"{p}: {kind} after {last.get(p)}")
        last[p] = kind
    final = {p for p, k in last.items() if k == "enrol"}
    for p in sorted(final - expected):
        violations.append(f"{p}: enrolled but not desired")
    for p in sorted(expected - final):
        violations.append(f"{p}: desired but not enrolled")
    return Verdict(violations, final, n)


def parse(values: Iterable[bytes]) -> list[dict[str, Any]]:
    return [json.loads(v) for v in values]

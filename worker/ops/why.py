"""`segsync why`: every group and enrolment decision for one user, explained from the store.

For each course and segment the user touches: each enrolment by method, each segment
membership, each link of both kinds (active, or what ended it and when), desired() and
desired_enrol(), and the last command of each pair with its reason and `caused_by`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

from schemas.commands import ADD_TYPE, ENROL_TYPE, REMOVE_TYPE, UNENROL_TYPE
from worker.codec import us_to_rfc3339
from worker.domain.enrol import EnrolPairKey, enrol_command_id
from worker.domain.facts import Fact, enrolment_of
from worker.domain.transitions import PairKey, command_id
from worker.ports import StateStore

Doc = dict[str, Any]


def _t(us: int | None) -> str | None:
    return None if us is None else us_to_rfc3339(us)


def _ended(row: Doc, marks: list[tuple[str, int | None]]) -> str | None:
    """Why a link is not active, or None when it is."""
    if not row["active"]:
        return f"deleted by event {row['ev_id']} at {_t(row['ev_time'])}"
    for what, at in marks:
        if at is not None and at >= row["ev_time"]:
            return f"{what} deleted at {_t(at)}"
    return None


def explain(store: StateStore, source: str, user: str, course: str | None = None) -> Doc:
    raw = store.read_user(source, user, course)
    cdel, sdel, gdel = raw["course_deleted"], raw["segment_deleted"], raw["group_deleted"]
    methods: dict[str, list[Fact]] = defaultdict(list)
    enrolments = []
    for r in sorted(raw["enrolments"], key=lambda r: (r["course_id"], r["method"])):
        methods[r["course_id"]].append(Fact(r["ev_time"], r["ev_id"], bool(r["active"])))
        enrolments.append(
            {"course_id": r["course_id"], "method": r["method"], "enrolled": bool(r["active"]),
             "event_id": r["ev_id"], "time": _t(r["ev_time"])}
        )  # fmt: skip
    enrolled = {}
    for c, facts in sorted(methods.items()):
        f = enrolment_of(facts)
        killed = f is not None and cdel.get(c) is not None and cdel[c] >= f.time_us
        enrolled[c] = bool(f and f.active and not killed)
    memberships = []
    for r in sorted(raw["memberships"], key=lambda r: r["segment_id"]):
        at = sdel.get(r["segment_id"])
        killed = at is not None and at >= r["ev_time"]
        memberships.append(
            {"segment_id": r["segment_id"], "member": bool(r["active"]) and not killed,
             "event_id": r["ev_id"], "time": _t(r["ev_time"]),
             "segment_deleted_at": _t(at)}
        )  # fmt: skip
    links = []
    for r in raw["links"]:
        marks = [
            (f"course {r['course_id']}", cdel.get(r["course_id"])),
            (f"segment {r['segment_id']}", sdel.get(r["segment_id"])),
            (f"group {r['group_id']}", gdel.get((r["course_id"], r["group_id"]))),
        ]
        ended = _ended(r, marks)
        links.append(
            {"link_id": r["link_id"], "course_id": r["course_id"], "segment_id": r["segment_id"],
             "group_id": r["group_id"], "active": ended is None, "ended_by": ended,
             "event_id": r["ev_id"], "time": _t(r["ev_time"])}
        )  # fmt: skip
    enrol_links = []
    for r in raw["enrol_links"]:
        marks = [
            (f"course {r['course_id']}", cdel.get(r["course_id"])),
            (f"segment {r['segment_id']}", sdel.get(r["segment_id"])),
        ]
        ended = _ended(r, marks)
        enrol_links.append(
            {"link_id": r["link_id"], "course_id": r["course_id"], "segment_id": r["segment_id"],
             "role": r["role"], "on_leave": r["on_leave"], "active": ended is None,
             "ended_by": ended, "event_id": r["ev_id"], "time": _t(r["ev_time"])}
        )  # fmt: skip
    desired: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in raw["justified"]:
        desired[(r["course_id"], r["group_id"])].append(r["link_id"])
    desired_enrol: dict[str, list[str]] = defaultdict(list)
    for r in raw["enrol_justified"]:
        desired_enrol[r["course_id"]].append(r["link_id"])
    group_pairs = []
    for r in sorted(raw["group_pairs"], key=lambda r: (r["course_id"], r["group_id"])):
        n = r["transitions"]
        key = PairKey(source, r["course_id"], r["group_id"], user)
        group_pairs.append(
            {"course_id": r["course_id"], "group_id": r["group_id"], "commands": n,
             "held_batch": r["held_batch"],
             "last": _last(n, ADD_TYPE, REMOVE_TYPE, command_id(key, n - 1) if n else None, r)}
        )  # fmt: skip
    enrol_pairs = []
    for r in sorted(raw["enrol_pairs"], key=lambda r: r["course_id"]):
        n = r["transitions"]
        ekey = EnrolPairKey(source, r["course_id"], user)
        eid = enrol_command_id(ekey, n - 1) if n else None
        enrol_pairs.append(
            {"course_id": r["course_id"], "commands": n, "held_batch": r["held_batch"],
             "last": _last(n, ENROL_TYPE, UNENROL_TYPE, eid, r)}
        )  # fmt: skip
    return {
        "source": source,
        "user_id": user,
        "course_id": course,
        "enrolments": enrolments,
        "enrolled": [{"course_id": c, "enrolled": v} for c, v in enrolled.items()],
        "memberships": memberships,
        "group_links": links,
        "enrol_links": enrol_links,
        "desired": [
            {"course_id": c, "group_id": g, "link_ids": sorted(v)}
            for (c, g), v in sorted(desired.items())
        ],
        "desired_enrol": [
            {"course_id": c, "link_ids": sorted(v)} for c, v in sorted(desired_enrol.items())
        ],
        "group_commands": group_pairs,
        "enrolment_commands": enrol_pairs,
    }


def _last(n: int, on: str, off: str, cid: str | None, r: Doc) -> Doc | None:
    if not n:
        return None
    return {
        "type": on if n % 2 else off,
        "id": cid,
        "reason": r["last_reason"],
        "caused_by": r["last_caused_by"],
        "time": _t(r["last_time"]),
    }


def _yes(v: bool) -> str:
    return "[green]yes[/green]" if v else "[red]no[/red]"


def render(doc: Doc, console: Console) -> None:
    where = f" in course {doc['course_id']}" if doc["course_id"] else ""
    console.print(f"[bold]user {doc['user_id']}[/bold] of {doc['source']}{where}")

    def table(title: str, cols: list[str], rows: list[list[str]]) -> None:
        t = Table(title=title, title_justify="left")
        for c in cols:
            t.add_column(c)
        for row in rows:
            t.add_row(*row)
        console.print(t if rows else f"{title}: none")

    enrolled = {e["course_id"]: e["enrolled"] for e in doc["enrolled"]}
    table(
        "enrolments by method",
        ["course", "method", "this method", "enrolled (any method)", "event", "time"],
        [[e["course_id"], e["method"] or '""', _yes(e["enrolled"]), _yes(enrolled[e["course_id"]]),
          e["event_id"], e["time"]] for e in doc["enrolments"]],
    )  # fmt: skip
    table(
        "segment memberships",
        ["segment", "member", "event", "time", "segment deleted"],
        [[m["segment_id"], _yes(m["member"]), m["event_id"], m["time"],
          m["segment_deleted_at"] or ""] for m in doc["memberships"]],
    )  # fmt: skip
    table(
        "group links (segment members enrolled in the course -> group)",
        ["link", "course", "segment", "group", "active", "ended by"],
        [[x["link_id"], x["course_id"] or "", x["segment_id"] or "", x["group_id"] or "",
          _yes(x["active"]), x["ended_by"] or ""] for x in doc["group_links"]],
    )  # fmt: skip
    table(
        "enrol links (segment sync: segment members -> enrolled in the course)",
        ["link", "course", "segment", "role", "on leave", "active", "ended by"],
        [[x["link_id"], x["course_id"] or "", x["segment_id"] or "", x["role"] or "",
          x["on_leave"] or "", _yes(x["active"]), x["ended_by"] or ""]
         for x in doc["enrol_links"]],
    )  # fmt: skip
    table(
        "desired(): groups the user belongs in",
        ["course", "group", "because of links"],
        [[d["course_id"], d["group_id"], ", ".join(d["link_ids"])] for d in doc["desired"]],
    )
    table(
        "desired_enrol(): courses segment sync enrols the user in",
        ["course", "because of links"],
        [[d["course_id"], ", ".join(d["link_ids"])] for d in doc["desired_enrol"]],
    )

    def last_rows(pairs: list[Doc], group: bool) -> list[list[str]]:
        out = []
        for p in pairs:
            last = p["last"] or {}
            held = f" (held in batch {p['held_batch']})" if p["held_batch"] else ""
            out.append(
                [p["course_id"], *([p["group_id"]] if group else []), str(p["commands"]),
                 str(last.get("type", "")) + held, str(last.get("reason", "")),
                 str(last.get("caused_by", "")), str(last.get("time", ""))]
            )  # fmt: skip
        return out

    table(
        "last group command per pair",
        ["course", "group", "commands", "last", "reason", "caused by", "time"],
        last_rows(doc["group_commands"], True),
    )
    table(
        "last enrolment command per course",
        ["course", "commands", "last", "reason", "caused by", "time"],
        last_rows(doc["enrolment_commands"], False),
    )


def known(doc: Doc) -> bool:
    """Whether the store holds anything about this user (else: a typo, most likely)."""
    parts = ("enrolments", "memberships", "desired", "desired_enrol")
    return any(doc[p] for p in (*parts, "group_commands", "enrolment_commands"))

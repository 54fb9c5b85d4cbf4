"""How the ops commands print their results: rich tables for people, JSON for pipelines."""

from __future__ import annotations

import sys

import orjson
from rich.console import Console
from rich.table import Table

from worker.ops.diff import DiffResult
from worker.ops.diff_enrol import EnrolDiffResult
from worker.ops.status import Status, render

SHOWN = 10  # user ids shown per cell in the diff table


def _json_line(doc: object) -> None:
    sys.stdout.buffer.write(orjson.dumps(doc) + b"\n")
    sys.stdout.buffer.flush()


def print_status(status: Status, json_out: bool) -> None:
    if json_out:
        _json_line(status.to_json())
    else:
        render(status, Console())


def _users(ids: list[str]) -> str:
    if not ids:
        return ""
    more = f" … (+{len(ids) - SHOWN})" if len(ids) > SHOWN else ""
    return f"{len(ids)}: " + ", ".join(ids[:SHOWN]) + more


def print_diff(result: DiffResult, json_out: bool) -> None:
    if json_out:
        for g in result.groups:
            _json_line(
                {
                    "source": result.source,
                    "course_id": g.course_id,
                    "group_id": g.group_id,
                    "missing": g.missing,
                    "extra": g.extra,
                }
            )
        return
    if not result.groups:
        Console().print(f"no drift: the LMS agrees with desired() for {result.source}")
        return
    table = Table(title=f"drift for {result.source}", title_justify="left")
    table.add_column("course")
    table.add_column("group")
    table.add_column("missing (desired, not in the LMS)", overflow="fold")
    table.add_column("extra (in the LMS, not desired)", overflow="fold")
    for g in result.groups:
        table.add_row(g.course_id, g.group_id, _users(g.missing), _users(g.extra))
    Console().print(table)


def print_enrol_diff(result: EnrolDiffResult, json_out: bool) -> None:
    if json_out:
        for c in result.courses:
            _json_line(
                {
                    "kind": "enrolment",
                    "source": result.source,
                    "course_id": c.course_id,
                    "missing": c.missing,
                    "extra": c.extra,
                }
            )
        return
    if not result.courses:
        Console().print(
            f"no drift: segment sync enrolments agree with desired_enrol() for {result.source}"
        )
        return
    table = Table(title=f"enrolment drift for {result.source}", title_justify="left")
    table.add_column("course")
    table.add_column("missing (desired_enrol, not enrolled)", overflow="fold")
    table.add_column("extra (enrolled by segment sync, not desired)", overflow="fold")
    for c in result.courses:
        table.add_row(c.course_id, _users(c.missing), _users(c.extra))
    Console().print(table)

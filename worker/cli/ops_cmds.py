"""The ops commands of `segsync` that read the store or replay the input: plan, diff,
status (import and links apply: input_cmds.py; why: why_cmd.py).

Importing this module registers them on the app of `worker.cli.app` (conventions:
worker/cli/ops_common.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from worker.cli.app import app
from worker.cli.ops_common import csv_file, existing_store, ops_settings, run_ops


@app.command(
    help="Dry run of a replay: the commands a fresh worker would emit, as JSON lines on stdout."
    "\n\nReads the input topics from the start (or --since) into a scratch store, with no "
    "consumer group and no effect on the live worker; publishes nothing. A summary goes to "
    "stderr.",
    epilog="Example: segsync plan --since 2024-05-01T00:00:00Z > commands.jsonl",
)
def plan(
    since: str | None = typer.Option(
        None, "--since", help="RFC 3339 time: start at the first record at or after it."
    ),
) -> None:
    """`segsync plan` (help text in the decorator)."""

    def body() -> None:
        from worker.ops.console import parse_time, say
        from worker.ops.plan import run_plan, summary

        settings = ops_settings()
        since_us = None if since is None else parse_time(since, "--since")
        try:
            result = run_plan(settings, since_us, sys.stdout.buffer)
        except BrokenPipeError:  # `segsync plan | head`
            sys.stderr.close()
            raise SystemExit(0) from None
        say(summary(result))

    run_ops(body)


@app.command(
    help="Compare the LMS's group memberships with desired() (--groups) and the enrolments "
    "segment sync holds with desired_enrol() (--enrolments); print what is missing and extra."
    "\n\nOnly groups and courses segsync manages are compared. With --publish, the commands "
    "that close the gap (add/remove, enrol/unenrol) go to the command topics, reason resync.",
    epilog="Example: segsync diff --source moodle.example.edu --groups group_members.csv "
    "--enrolments sync_enrolments.csv --publish",
)
def diff(
    source: str = typer.Option(..., "--source", help="The LMS site (CloudEvents `source`)."),
    groups: Path | None = csv_file(
        "--groups",
        "CSV export of actual memberships course_id,group_id,user_id (spaces around "
        "fields are stripped).",
    ),
    enrolments: Path | None = csv_file(
        "--enrolments",
        "CSV export course_id,user_id of the enrolments segment sync holds in the LMS.",
    ),
    publish: bool = typer.Option(
        False, "--publish", help="Send the commands that close the gap (reason resync)."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="JSON lines, one per group (and one per course)."
    ),
) -> None:
    """`segsync diff` (help text in the decorator)."""

    def body() -> None:
        import uuid

        from worker.cli.common import fail
        from worker.cli.ops_render import print_diff, print_enrol_diff
        from worker.ops import diff as d
        from worker.ops import diff_enrol as de
        from worker.ops.console import say
        from worker.ops.importer import check_source

        if groups is None and enrolments is None:
            fail("diff needs --groups and/or --enrolments", 2)
        settings = ops_settings()
        check_source(source)
        store = existing_store(settings)
        run_id = uuid.uuid4().hex
        try:
            result = d.compute(store, source, groups) if groups is not None else None
            enrol = de.compute(store, source, enrolments) if enrolments is not None else None
            if publish and result is not None and result.groups:
                d.publish(settings, store, result, run_id)
            if publish and enrol is not None and enrol.courses:
                de.publish(settings, store, enrol, run_id)
        finally:
            store.close()
        published = 0
        if result is not None:
            print_diff(result, json_out)
            say(
                f"diff: {result.missing} missing and {result.extra} extra in "
                f"{len(result.groups)} groups ({result.compared} rows compared, "
                f"{result.ignored} in unmanaged groups)"
            )
            published += result.published
        if enrol is not None:
            print_enrol_diff(enrol, json_out)
            say(
                f"diff: {enrol.missing} missing and {enrol.extra} extra enrolments in "
                f"{len(enrol.courses)} courses ({enrol.compared} rows compared, "
                f"{enrol.ignored} in unmanaged courses)"
            )
            published += enrol.published
        if publish:
            say(f"diff: published {published} resync commands (run {run_id})")

    run_ops(body)


@app.command(
    help="Where the worker is: per input partition the committed, stored and end offsets and "
    "the lag; events applied by type, duplicates, DLQ count, commands emitted and unpublished "
    "outbox rows.",
    epilog="Example: segsync status --json | jq .lag",
)
def status(
    json_out: bool = typer.Option(False, "--json", help="One JSON document, for pipelines."),
) -> None:
    """`segsync status` (help text in the decorator)."""

    def body() -> None:
        from worker.cli.ops_render import print_status
        from worker.ops.status import collect

        settings = ops_settings()
        store = existing_store(settings)
        try:
            result = collect(settings, store)
        finally:
            store.close()
        print_status(result, json_out)

    run_ops(body)

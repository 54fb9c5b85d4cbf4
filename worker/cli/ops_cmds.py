"""The ops commands of `segsync`: import, links apply, plan, diff, status.

Importing this module registers them on the app of `worker.cli.app`. Data goes to stdout,
summaries and progress bars to stderr (bars only on a terminal). Exit codes: 0 ok, 1 failure,
2 usage (bad options or settings); every failure is one line on stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from worker.cli.app import app
from worker.cli.common import fail, guarded, open_store, settings_and_logs
from worker.ports import StateStore
from worker.settings import Settings

R = TypeVar("R")

links_app = typer.Typer(
    name="links",
    help="Configured links of both kinds (segment to group, segment sync enrolment), kept on "
    "the bus.",
    epilog="Example: segsync links apply config/links.example.yaml --dry-run",
    no_args_is_help=True,
)
app.add_typer(links_app, name="links")


def _csv_file(flag: str, help: str) -> Path | None:
    """An optional CSV file option: it must exist and be a readable file."""
    option: Path | None = typer.Option(
        None, flag, help=help, exists=True, dir_okay=False, readable=True
    )
    return option


def _settings() -> Settings:
    """Settings and logs; kafka-python's own retries stay quiet unless debugging: a failure
    ends as one line on stderr."""
    settings = settings_and_logs()
    if settings.log_level != "debug":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    return settings


def _existing_store(settings: Settings) -> StateStore:
    """The state store, which must exist already (reading commands never create one)."""
    from worker.store.factory import sqlite_path

    path = sqlite_path(settings.sqlalchemy_url())
    if path is not None and not Path(path).exists():
        fail(f"no state store at {path} (run `segsync migrate` or the worker first)")
    return open_store(settings, migrate=False)


def _run(body: Callable[[], R]) -> R:
    """guarded(), plus one-line failures for the store and Kafka."""
    from kafka.errors import KafkaError

    from worker.store.factory import store_error

    def wrapped() -> R:
        try:
            return body()
        except KafkaError as exc:
            fail(f"Kafka: {exc}")
        except Exception as exc:
            message = store_error(exc)
            if message is None:
                raise
            fail(f"state store: {message}")

    return guarded(wrapped)


@app.command(
    "import",
    help="Bootstrap from an LMS's CSV exports: publish the equivalent created/added events."
    "\n\nEvery file is checked completely first: a bad row stops with file:line: reason and "
    "nothing is published. Spaces and tabs around each field are stripped (`U1 , C1` is "
    "user U1 in course C1); blanks inside an id are kept. Ids come from the content, so "
    "importing the same files twice changes nothing; live events newer than --time win over "
    "the snapshot.",
    epilog="Example: segsync import --source moodle.example.edu --time 2024-05-01T00:00:00Z "
    "--enrolments enrolments.csv --segment-members cohort_members.csv --links links.csv "
    "--enrol-links enrol_links.csv",
)
def import_(
    source: str = typer.Option(..., "--source", help="The LMS site (CloudEvents `source`)."),
    time: str | None = typer.Option(
        None, "--time", help="RFC 3339 time of the snapshot (default: now)."
    ),
    enrolments: Path | None = _csv_file(
        "--enrolments",
        "CSV export user_id,course_id.",
    ),
    segment_members: Path | None = _csv_file(
        "--segment-members",
        "CSV export user_id,segment_id.",
    ),
    links: Path | None = _csv_file(
        "--links",
        "CSV export link_id,course_id,segment_id,group_id.",
    ),
    enrol_links: Path | None = _csv_file(
        "--enrol-links",
        "CSV export of segment enrol links (User Segment Sync): "
        "link_id,course_id,segment_id[,role,on_leave] (role default student; on_leave "
        "unenrol, the default, or suspend).",
    ),
) -> None:
    """`segsync import` (help text in the decorator)."""

    def body() -> None:
        from worker.codec import us_to_rfc3339
        from worker.ops import importer
        from worker.ops.console import parse_time, say

        settings = _settings()
        at = parse_time(time, "--time")
        files = [
            importer.ImportFile(kind, path)
            for kind, path in (
                (importer.ENROLMENTS, enrolments),
                (importer.SEGMENT_MEMBERS, segment_members),
                (importer.LINKS, links),
                (importer.ENROL_LINKS, enrol_links),
            )
            if path is not None
        ]
        result = importer.run_import(settings, source, at, files)
        parts = ", ".join(f"{opt.lstrip('-')}: {n}" for opt, n in result.rows.items())
        say(
            f"import: published {result.published} events ({parts}) to {result.topic} "
            f"at {us_to_rfc3339(result.time_us)}"
        )

    _run(body)


@links_app.command(
    "apply",
    help="Publish the link events that make the bus agree with FILE.\n\n"
    "Each link names its kind: group (the default) or enrol (segment sync enrolment, with "
    "optional role and on_leave). Links FILE declared before and no longer does are deleted; "
    "links the LMS created itself are left alone. Re-running with the same file publishes "
    "nothing.",
    epilog="Example: segsync links apply config/links.yaml --dry-run",
)
def links_apply(
    file: Path = typer.Argument(
        ...,
        help="YAML: sources: {<source>: [{id, course, segment, group}]}",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, publish nothing."),
) -> None:
    """`segsync links apply` (help text in the decorator)."""

    def body() -> None:
        from worker.ops.console import say
        from worker.ops.links import apply_links

        settings = _settings()
        changes, view = apply_links(settings, file, dry_run)
        for ch in changes:
            print(ch.describe(), flush=True)
        creates = sum(1 for c in changes if c.action == "create")
        verb = "would publish" if dry_run else "published"
        say(
            f"links apply: {verb} {creates} created and {len(changes) - creates} deleted "
            f"link events (read {view.scanned} records of {settings.input_topics[0]})"
        )

    _run(body)


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

        settings = _settings()
        since_us = None if since is None else parse_time(since, "--since")
        try:
            result = run_plan(settings, since_us, sys.stdout.buffer)
        except BrokenPipeError:  # `segsync plan | head`
            sys.stderr.close()
            raise SystemExit(0) from None
        say(summary(result))

    _run(body)


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
    groups: Path | None = _csv_file(
        "--groups",
        "CSV export of actual memberships course_id,group_id,user_id (spaces around "
        "fields are stripped).",
    ),
    enrolments: Path | None = _csv_file(
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
        settings = _settings()
        check_source(source)
        store = _existing_store(settings)
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

    _run(body)


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

        settings = _settings()
        store = _existing_store(settings)
        try:
            result = collect(settings, store)
        finally:
            store.close()
        print_status(result, json_out)

    _run(body)

"""The ops commands of `segsync` that publish input events: import, links apply.

Importing this module registers them on the app of `worker.cli.app` (conventions:
worker/cli/ops_common.py).
"""

from __future__ import annotations

from pathlib import Path

import typer

from worker.cli.app import app
from worker.cli.ops_common import csv_file, ops_settings, run_ops

links_app = typer.Typer(
    name="links",
    help="Configured links of both kinds (segment to group, segment sync enrolment), kept on "
    "the bus.",
    epilog="Example: segsync links apply config/links.example.yaml --dry-run",
    no_args_is_help=True,
)
app.add_typer(links_app, name="links")


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
    enrolments: Path | None = csv_file(
        "--enrolments",
        "CSV export user_id,course_id.",
    ),
    segment_members: Path | None = csv_file(
        "--segment-members",
        "CSV export user_id,segment_id.",
    ),
    links: Path | None = csv_file(
        "--links",
        "CSV export link_id,course_id,segment_id,group_id.",
    ),
    enrol_links: Path | None = csv_file(
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

        settings = ops_settings()
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

    run_ops(body)


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

        settings = ops_settings()
        changes, view = apply_links(settings, file, dry_run)
        for ch in changes:
            print(ch.describe(), flush=True)
        creates = sum(1 for c in changes if c.action == "create")
        verb = "would publish" if dry_run else "published"
        say(
            f"links apply: {verb} {creates} created and {len(changes) - creates} deleted "
            f"link events (read {view.scanned} records of {settings.input_topics[0]})"
        )

    run_ops(body)

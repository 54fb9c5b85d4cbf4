"""`segsync why`: registered on the app of `worker.cli.app` when imported."""

from __future__ import annotations

import typer

from worker.cli.app import app
from worker.cli.ops_common import existing_store, ops_settings, run_ops


@app.command(
    help="Explain, from the store, every group and enrolment decision for one user: each "
    "enrolment by method, each segment membership, each link of both kinds (active, or what "
    "ended it and when), desired() and desired_enrol(), and the last command of each pair "
    "with its reason and caused_by. Exit 1 if the store knows nothing of the user.",
    epilog="Example: segsync why --source moodle.example.edu --user 4711 --course 12 --json",
)
def why(
    source: str = typer.Option(..., "--source", help="The LMS site (the events' source)."),
    user: str = typer.Option(..., "--user", help="The user id."),
    course: str | None = typer.Option(None, "--course", help="Only this course."),
    json_out: bool = typer.Option(False, "--json", help="One JSON document, for pipelines."),
) -> None:
    """`segsync why` (help text in the decorator)."""

    def body() -> None:
        import sys

        import orjson
        from rich.console import Console

        from worker.cli.common import fail
        from worker.ops.why import explain, known, render

        settings = ops_settings()
        store = existing_store(settings)
        try:
            doc = explain(store, source, user, course)
        finally:
            store.close()
        if not known(doc):
            where = f" in course {course}" if course else ""
            fail(f"the store knows nothing of user {user!r} of {source!r}{where}")
        if json_out:
            sys.stdout.buffer.write(orjson.dumps(doc) + b"\n")
        else:
            # Piped: wide enough that ids and times are not cut.
            render(doc, Console() if sys.stdout.isatty() else Console(width=240))

    run_ops(body)

"""The `segsync` console script."""

from __future__ import annotations

from worker import shutdown

shutdown.install()  # before the heavy imports: a stop during start-up is still graceful

import typer  # noqa: E402

from worker.cli.app import app  # noqa: E402
from worker.cli.common import guarded, open_store, settings_and_logs  # noqa: E402


def _show_version(value: bool) -> None:
    if value:
        from worker import __version__

        print(f"segsync {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Keeps LMS course groups in step with site-wide user segments."""


@app.command()
def run(
    until_caught_up: bool = typer.Option(
        False,
        "--until-caught-up",
        help="Exit 0 once every assigned partition is read up to its end offset at start-up "
        "and every owed command is published.",
    ),
) -> None:
    """Consume the input topics and publish group-membership commands.

    Example: SEGSYNC_KAFKA_BOOTSTRAP=localhost:9092 segsync run --until-caught-up
    """
    from worker.cli.run_cmd import run as run_worker

    guarded(lambda: run_worker(until_caught_up), graceful=True)


@app.command()
def migrate() -> None:
    """Apply the state store's migrations (run also does this at start-up).

    Example: SEGSYNC_DATABASE_URL=postgresql+psycopg://segsync@db/segsync segsync migrate
    """

    def body() -> None:
        open_store(settings_and_logs()).close()

    guarded(body)


import worker.cli.held_cmds  # noqa: E402  (registers the brake's commands)
import worker.cli.input_cmds  # noqa: E402  (registers import and links apply)
import worker.cli.ops_cmds  # noqa: E402  (registers plan, diff and status)
import worker.cli.why_cmd  # noqa: E402, F401  (registers `why`)


def main() -> None:
    """The console script: every failure, usage errors included, is one line on stderr."""
    from worker.cli.common import run_app

    run_app(app)

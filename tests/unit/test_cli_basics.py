"""`segsync --version` and Typer's shell completion, through the console script."""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import version

import worker
from tests.support.worker_proc import SEGSYNC


def segsync(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEGSYNC, *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version() -> None:
    proc = segsync("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"segsync {worker.__version__}\n"
    assert worker.__version__ == version("segsync")  # the installed metadata: the same one


def test_shell_completion_script_and_answers() -> None:
    # Typer finds the shell among the caller's ancestors (it takes no shell name): run it
    # from bash, not from whatever started pytest (a session re-parented to init has none).
    script = subprocess.run(
        ["bash", "-c", '"$0" --show-completion; exit $?', SEGSYNC],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0, script.stderr
    assert "_segsync_completion" in script.stdout and "complete " in script.stdout
    # What the installed script asks the program: the words so far, the word to complete.
    env = {"_SEGSYNC_COMPLETE": "complete_bash"}
    commands = segsync(**env, COMP_WORDS="segsync rel", COMP_CWORD="1")
    assert commands.stdout.split() == ["release"], commands.stderr
    sub = segsync(**env, COMP_WORDS="segsync links ", COMP_CWORD="2")
    assert sub.stdout.split() == ["apply"], sub.stderr
    options = segsync(**env, COMP_WORDS="segsync run --unt", COMP_CWORD="2")
    assert options.stdout.split() == ["--until-caught-up"], options.stderr

"""One frozen settings object with the contract's names; bad values stop with one line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.worker_proc import SEGSYNC
from worker.errors import ConfigError
from worker.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("SEGSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env, no config/ here


def test_defaults_are_the_contracts() -> None:
    s = load_settings()
    assert s.kafka_bootstrap == "localhost:9092"
    assert s.database_url.startswith("sqlite:///")
    assert s.input_topics == ("lms.events",)
    assert (s.command_topic, s.dlq_topic, s.group_id) == (
        "lms.group-commands",
        "lms.events.dlq",
        "segsync",
    )


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGSYNC_KAFKA_BOOTSTRAP", "k1:9092,k2:9093")
    monkeypatch.setenv("SEGSYNC_INPUT_TOPICS", "a, b")
    monkeypatch.setenv("SEGSYNC_GROUP_ID", "g")
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("SEGSYNC_DATABASE_PASSWORD", "s3cret")
    s = load_settings()
    assert s.input_topics == ("a", "b") and s.group_id == "g"
    assert "s3cret" not in repr(s)
    assert "s3cret" in s.sqlalchemy_url()
    with pytest.raises(ValidationError):
        s.group_id = "other"  # type: ignore[misc]  # frozen


def test_toml_file_and_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "segsync.toml").write_text('group_id = "from-file"\ndlq_topic = "d"\n')
    monkeypatch.setenv("SEGSYNC_GROUP_ID", "from-env")
    s = load_settings()
    assert (s.group_id, s.dlq_topic) == ("from-env", "d")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SEGSYNC_KAFKA_BOOTSTRAP", "no-port"),
        ("SEGSYNC_DATABASE_URL", "mysql://x"),
        ("SEGSYNC_INPUT_TOPICS", "a,,b"),
        ("SEGSYNC_BATCH_MAX_RECORDS", "lots"),
        ("SEGSYNC_DLQ_MAX_SHARE", "1.5"),
        ("SEGSYNC_DLQ_WINDOW", "0"),
        ("SEGSYNC_MAX_FUTURE_S", "-1"),
        ("SEGSYNC_KAFKA_MAX_REQUEST_BYTES", "1000"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert name in str(err.value) and "\n" not in str(err.value)


def test_bad_setting_stops_the_cli_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SEGSYNC_KAFKA_BOOTSTRAP": "nope"}
    proc = subprocess.run(
        [SEGSYNC, "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "SEGSYNC_KAFKA_BOOTSTRAP" in proc.stderr


def segsync(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script in `tmp_path` (its config/ and .env), with a SQLite store there."""
    base = {"PATH": "/usr/bin:/bin", "SEGSYNC_LOG_FORMAT": "json"}
    return subprocess.run(
        [SEGSYNC, *args],
        env={**base, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("toml", "first_line"),
    [
        (
            'group_id = "g"\nkafka_bootstrapp = "k:9092"\n',
            "segsync: config/segsync.toml:2: unknown setting 'kafka_bootstrapp' "
            "(did you mean 'kafka_bootstrap'?)",
        ),
        ("[kafka]\nbootstrap = 'k:9092'\n", "segsync: config/segsync.toml:1: unknown setting"),
        (
            'SEGSYNC_GROUP_ID = "g"\n',
            "segsync: config/segsync.toml:1: unknown setting 'SEGSYNC_GROUP_ID' "
            "(did you mean 'group_id'?)",
        ),
        ('group_id = "g\n', "segsync: config/segsync.toml:1: not valid TOML: "),
    ],
)
def test_unknown_key_in_the_settings_file_stops_start_up(
    tmp_path: Path, toml: str, first_line: str
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "segsync.toml").write_text(toml)
    proc = segsync(tmp_path, "migrate")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(first_line) and proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "segsync.sqlite").exists()  # stopped before touching anything


def test_unknown_segsync_variables_are_a_warning(tmp_path: Path) -> None:
    # The environment is shared: Kubernetes adds SEGSYNC_SERVICE_HOST for a Service "segsync".
    (tmp_path / ".env").write_text("SEGSYNC_GROUP_IDD=g\nOTHER_TOOL=1\n")
    proc = segsync(tmp_path, "migrate", SEGSYNC_KAFKA_BOOTSTRAPP="k:9092", OTHER="x")
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(x) for x in proc.stderr.splitlines() if "not a setting" in x]
    assert line["level"] == "warning"
    assert line["variables"] == [
        "SEGSYNC_GROUP_IDD (did you mean 'SEGSYNC_GROUP_ID'?)",
        "SEGSYNC_KAFKA_BOOTSTRAPP (did you mean 'SEGSYNC_KAFKA_BOOTSTRAP'?)",
    ]


def test_dotenv_that_is_not_utf8_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"SEGSYNC_LOG_LEVEL=info\nSEGSYNC_GROUP_ID=g\xff\n")
    proc = segsync(tmp_path, "migrate")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "segsync: .env:2: not valid UTF-8\n"

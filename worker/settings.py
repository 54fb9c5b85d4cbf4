"""The one frozen settings object. Names and defaults of the first six are fixed by the contract.

Sources, highest first: environment variables, a `.env` file in the working directory, then
the TOML settings file (`config/segsync.toml` or the path in `SEGSYNC_CONFIG_FILE`), in
which an unknown key is an error (worker/settings_files.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from worker import settings_checks as checks
from worker.errors import ConfigError
from worker.settings_files import (
    CONFIG_FILE_VARIABLE,
    StrictTomlSource,
    check_dotenv,
    unknown_variables,
)

ENV_PREFIX = "SEGSYNC_"
DEFAULT_CONFIG_FILE = Path("config/segsync.toml")

TopicList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # --- fixed by the contract ---
    kafka_bootstrap: str = "localhost:9092"
    database_url: str = "sqlite:///segsync.sqlite"
    input_topics: TopicList = ("lms.events",)
    command_topic: str = "lms.group-commands"
    dlq_topic: str = "lms.events.dlq"
    group_id: str = "segsync"
    enrollment_command_topic: str = "lms.enrollment-commands"

    # --- the project's own ---
    database_password: SecretStr | None = None  # merged into the URL, never logged
    batch_max_records: int = Field(5000, ge=1, le=100_000)
    poll_timeout_ms: int = Field(200, ge=1, le=60_000)
    # On PostgreSQL, a batch's events of different LMS sites are applied at once, on this
    # many connections (ADR 0013); 1 applies every batch in one transaction. SQLite: 1.
    apply_lanes: int = Field(2, ge=1, le=4)
    backfill_chunk: int = Field(5000, ge=1, le=1_000_000)
    retry_deadline_s: float = Field(120.0, gt=0)
    session_timeout_ms: int = Field(10_000, ge=1000, le=300_000)
    # Longest gap between two polls before the group takes the partitions away. A long batch
    # polls between its chunks (partitions paused), so this bounds one chunk, not a batch.
    max_poll_interval_ms: int = Field(300_000, ge=1000, le=3_600_000)
    # Static group membership: a restarted worker with the same id takes its partitions back
    # at once instead of waiting for the session timeout.
    instance_id: str | None = None
    # Kafka's client.id, per process so that broker logs, quotas and group listings tell
    # replicas apart: segsync-<instance id>, else segsync-<host name>-<pid> (a pod's host
    # name is its name). SEGSYNC_CLIENT_ID overrides it.
    client_id: str = Field(
        default_factory=lambda data: checks.client_id(data.get("instance_id")), min_length=1
    )
    # The producer's largest request (kafka-python's max_request_size): a DLQ copy bigger
    # than this, or than the DLQ topic's max.message.bytes, has its value cut.
    kafka_max_request_bytes: int = Field(1_048_576, ge=65_536, le=100 * 1024 * 1024)
    # Mass-removal brake: `brake_enabled=false` turns it off. 0 disables one limit (the
    # absolute one, or the share); min_removals is the share limit's floor, not a limit.
    brake_enabled: bool = True
    brake_max_removals: int = Field(500, ge=0)
    brake_max_share: float = Field(0.5, ge=0, le=1)
    brake_min_removals: int = Field(50, ge=0)
    # DLQ flood halt (contract): more than this share of the last `dlq_window` records of a
    # partition would be dead-lettered -> exit 1 before committing them; 0 turns it off.
    dlq_max_share: float = Field(0.5, ge=0, le=1)
    dlq_window: int = Field(1000, ge=1, le=1_000_000)
    # An event dated more than this after its record's timestamp goes to the DLQ (contract).
    max_future_s: int = Field(86_400, ge=0)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # --- observability (worker/observability): /metrics, /healthz, /readyz on one port ---
    metrics_port: int = Field(0, ge=0, le=65535)  # 0: no HTTP server
    metrics_host: str = "0.0.0.0"
    # /healthz fails when the loop has made no progress for this long while work is pending.
    liveness_timeout_s: float = Field(300.0, gt=0)
    # /readyz fails when the outbox has had rows and no successful publish for this long.
    outbox_stuck_s: float = Field(60.0, gt=0)

    # --- secure connections (Kafka: worker/adapters/security.py; PostgreSQL: below) ---
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None  # PEM; none: the system's trusted CAs
    kafka_ssl_certfile: Path | None = None  # PEM client certificate (mutual TLS)
    kafka_ssl_keyfile: Path | None = None  # PEM client key
    kafka_ssl_password: SecretStr | None = None  # of an encrypted client key
    kafka_ssl_check_hostname: bool = True
    # How long start-up waits for the brokers to answer (and to accept the credentials).
    kafka_connect_timeout_s: float = Field(30.0, gt=0)
    database_sslmode: (
        Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None
    ) = None
    database_sslrootcert: Path | None = None
    database_sslcert: Path | None = None
    database_sslkey: Path | None = None

    @field_validator("input_topics", mode="before")
    @classmethod
    def _split_topics(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = tuple(t.strip() for t in value.split(","))
        if isinstance(value, (list, tuple)):
            if not value or any(not isinstance(t, str) or not t for t in value):
                raise ValueError("must be a comma-separated list of non-empty topic names")
            return tuple(checks.topic_name(t) for t in value)
        return value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for broker in value.split(","):
            host, _, port = broker.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port[,host:port...], got {broker.strip()!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return checks.database_url(value)

    @field_validator("command_topic", "dlq_topic", "enrollment_command_topic")
    @classmethod
    def _check_topic(cls, value: str) -> str:
        return checks.topic_name(value)

    @field_validator("group_id")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _topics_apart(self) -> Settings:
        # A DLQ on the input topic dead-letters its own copies for ever (one bad record
        # became 240 growing copies in 10 s); commands on the input or the DLQ topic are read
        # back as events or lost among dead letters. Each role needs its own topic.
        roles = [("input_topics", t) for t in self.input_topics]
        roles += [("command_topic", self.command_topic), ("dlq_topic", self.dlq_topic)]
        roles += [("enrollment_command_topic", self.enrollment_command_topic)]
        seen: dict[str, str] = {}
        for field, topic in roles:
            other = seen.setdefault(topic, field)
            if other != field:
                raise ValueError(
                    f"{ENV_PREFIX}{field.upper()} and {ENV_PREFIX}{other.upper()} "
                    f"both name topic {topic!r}: each must have a topic of its own"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get(CONFIG_FILE_VARIABLE, DEFAULT_CONFIG_FILE))
        toml = StrictTomlSource(settings_cls, config_file)  # unknown keys are errors
        return (init_settings, env_settings, dotenv_settings, toml, file_secret_settings)

    @field_validator(
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        "database_sslrootcert",
        "database_sslcert",
        "database_sslkey",
    )
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not (value.is_file() and os.access(value, os.R_OK)):
            raise ValueError(f"{value} is not a readable file")
        return value

    def sqlalchemy_url(self) -> str:
        """The database URL with the secret password and the TLS options merged in (never
        log the result)."""
        query = self._postgres_ssl_query() if self.database_url.startswith("postgresql") else {}
        if self.database_password is None and not query:
            return self.database_url
        from worker.dburl import merge_url

        password = self.database_password
        return merge_url(
            self.database_url, None if password is None else password.get_secret_value(), query
        )

    def _postgres_ssl_query(self) -> dict[str, str]:
        """libpq TLS parameters for the URL's query string (psycopg passes them to libpq)."""
        out: dict[str, str] = {}
        if self.database_sslmode is not None:
            out["sslmode"] = self.database_sslmode
        for key in ("sslrootcert", "sslcert", "sslkey"):
            value = getattr(self, f"database_{key}")
            if value is not None:
                out[key] = str(value)
        return out


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning a validation error into a one-line ConfigError naming the variable."""
    check_dotenv()
    for name, value in os.environ.items():
        if name.startswith(ENV_PREFIX) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes, kept by Python as surrogates
                raise ConfigError(f"invalid setting {name}: not valid UTF-8") from None
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a rule over several settings: its message names them
            raise ConfigError(
                f"invalid settings: {err['msg'].removeprefix('Value error, ')}"
            ) from None
        field = str(err["loc"][0])
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {ENV_PREFIX}{field.upper()}: {message}") from None


def unknown_environment() -> list[str]:
    """`SEGSYNC_` variables (environment, `.env`) that are no setting: for a warning."""
    return unknown_variables(Settings.model_fields, ENV_PREFIX)

"""structlog set-up: JSON lines in production, readable lines on a terminal, always on stderr.

Secrets and payloads never reach a log line:
- a field whose name says secret (password, secret, token, credentials...) is masked;
- a field that would carry a record's content (payload, value, data, body, headers, record,
  key) is dropped to a marker: log ids, offsets and counts, never what an event says;
- every string (the message, fields, exception text, and the standard library's records,
  kafka-python's included) is scrubbed of the registered secret values (`protect`) and of
  the password part of URLs (`scheme://user:password@host`).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

import structlog

if TYPE_CHECKING:
    from worker.settings import Settings

MASK = "**redacted**"
OMITTED = "**omitted**"
SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "authorization")
PAYLOAD_KEYS = frozenset({"payload", "value", "data", "body", "headers", "record", "key"})
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s]+):[^@\s]+@")
_secrets: set[str] = set()


def protect(settings: Settings) -> None:
    """Register the settings' secret values, so that they are masked wherever they appear."""
    values = [settings.database_password, settings.kafka_sasl_password]
    values.append(settings.kafka_ssl_password)
    for v in values:
        if v is not None:
            add_secrets([v.get_secret_value()])
    try:
        from worker.dburl import url_password

        add_secrets([url_password(settings.database_url) or ""])
    except ValueError:  # a URL the settings accepted but that does not parse: nothing to add
        pass


def add_secrets(values: Iterable[str]) -> None:
    _secrets.update(v for v in values if isinstance(v, str) and len(v) >= 3)


def scrub(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if depth > 3:
        return value
    if isinstance(value, dict):
        return {k: _clean_field(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return OMITTED
    if type(value).__name__ == "SecretStr":
        return MASK
    return value


def _clean_field(key: str, value: Any, depth: int = 0) -> Any:
    lowered = key.lower()
    if any(w in lowered for w in SECRET_WORDS):
        return MASK
    if lowered in PAYLOAD_KEYS and not isinstance(value, int | float | bool | None):
        return OMITTED
    return _clean(value, depth)


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets, omit payloads (after exceptions are formatted)."""
    for key in list(event_dict):
        value = event_dict[key]
        event_dict[key] = scrub(str(value)) if key == "event" else _clean_field(key, value)
    return event_dict


def _cancelled_on_close(record: logging.LogRecord) -> bool:
    """kafka-python logs "Metadata refresh: failed Cancelled" at error level when a client
    closes with a refresh in flight: every normal exit. It is no failure."""
    if record.name != "kafka.cluster" or record.msg != "Metadata refresh: failed %s":
        return False
    args = record.args if isinstance(record.args, tuple) else ()
    return bool(args) and type(args[0]).__name__ == "Cancelled"


class _ToStructlog(logging.Handler):
    """The standard library's records (kafka-python, SQLAlchemy) as structlog lines: the same
    format (JSON in production) and the same scrubbing."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info and record.exc_info[0] is not None:
            fields["exception"] = logging.Formatter().formatException(record.exc_info)
        level = logging.DEBUG if _cancelled_on_close(record) else record.levelno
        try:
            get(record.name).log(level, message, **fields)
        except Exception:
            self.handleError(record)


def configure(
    fmt: Literal["auto", "json", "console"] = "auto",
    level: str = "info",
) -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # kafka-python logs through the standard library: keep only its warnings, as our lines.
    root = logging.getLogger()
    if not any(isinstance(h, _ToStructlog) for h in root.handlers):
        if not root.handlers:
            root.setLevel(logging.WARNING)
        root.addHandler(_ToStructlog(logging.WARNING))


def get(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]

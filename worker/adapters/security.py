"""Secure connections from settings: kafka-python SSL/SASL options, PostgreSQL TLS options,
and a start-up check that the brokers accept the credentials before anything is consumed.

Kafka: `SEGSYNC_KAFKA_SECURITY_PROTOCOL` is PLAINTEXT (default), SSL (optionally with a
client certificate: mutual TLS), SASL_PLAINTEXT or SASL_SSL; SASL takes
`SEGSYNC_KAFKA_SASL_MECHANISM` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512),
`SEGSYNC_KAFKA_SASL_USERNAME` and `SEGSYNC_KAFKA_SASL_PASSWORD`.
PostgreSQL: `SEGSYNC_DATABASE_SSLMODE` (libpq's sslmode) and `SEGSYNC_DATABASE_SSLROOTCERT`
(plus sslcert/sslkey for a client certificate) are merged into the URL's query by the
settings themselves (`Settings.sqlalchemy_url`): the settings never import an adapter.
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from worker.errors import ConfigError, FatalError
from worker.shutdown import StopRequested

if TYPE_CHECKING:
    from worker.settings import Settings

_KAFKA_LOGGER = "kafka"
_AUTH_MARKERS = ("SaslAuthenticationFailed", "Authentication failed", "AuthorizationError")
_SASL_DROPS = 10
_TLS_MARKERS = ("CERTIFICATE_VERIFY_FAILED", "Handshake failed", "SSLError", "certificate")
# The SASL exchange itself failed (a listener without SASL, a mechanism it does not offer):
# kafka-python says "SaslHandshake failed", which is no TLS failure.
_SASL_MARKERS = ("SaslHandshake failed", "IllegalSaslState", "UnsupportedSaslMechanism")


def kafka_security_kwargs(settings: Settings) -> dict[str, Any]:
    """The kafka-python options for the configured protocol (empty for PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    out: dict[str, Any] = {}
    if protocol == "PLAINTEXT":
        return out
    out["security_protocol"] = protocol
    if protocol in ("SSL", "SASL_SSL"):
        out["ssl_check_hostname"] = settings.kafka_ssl_check_hostname
        if settings.kafka_ssl_cafile is not None:
            out["ssl_cafile"] = str(settings.kafka_ssl_cafile)
        if (settings.kafka_ssl_certfile is None) != (settings.kafka_ssl_keyfile is None):
            raise ConfigError(
                "SEGSYNC_KAFKA_SSL_CERTFILE and SEGSYNC_KAFKA_SSL_KEYFILE go together "
                "(a client certificate needs its key)"
            )
        if settings.kafka_ssl_certfile is not None:
            out["ssl_certfile"] = str(settings.kafka_ssl_certfile)
            out["ssl_keyfile"] = str(settings.kafka_ssl_keyfile)
        if settings.kafka_ssl_password is not None:
            out["ssl_password"] = settings.kafka_ssl_password.get_secret_value()
    if protocol.startswith("SASL_"):
        mechanism = settings.kafka_sasl_mechanism
        if mechanism is None:
            raise ConfigError(f"SEGSYNC_KAFKA_SASL_MECHANISM is required with {protocol}")
        if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
            raise ConfigError(
                f"SEGSYNC_KAFKA_SASL_USERNAME and SEGSYNC_KAFKA_SASL_PASSWORD are required "
                f"with {protocol} {mechanism}"
            )
        out["sasl_mechanism"] = mechanism
        out["sasl_plain_username"] = settings.kafka_sasl_username
        out["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return out


def describe_kafka(settings: Settings) -> str:
    """Where and how we connect, for messages (never the password)."""
    how: str = settings.kafka_security_protocol
    if how.startswith("SASL_"):
        how += f" {settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username!r}"
    return f"{settings.kafka_bootstrap} ({how})"


class _Capture(logging.Handler):
    """Collects kafka-python's warnings while the check runs, instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0][:300] if record.msg else "")

    def count(self, marker: str) -> int:
        return sum(marker in m and "Transport" in m for m in self.messages)

    def find(self, markers: tuple[str, ...]) -> str | None:
        for message in self.messages:
            if any(m.lower() in message.lower() for m in markers):
                return message
        return None


@contextlib.contextmanager
def _captured_kafka_logs() -> Iterator[_Capture]:
    logger = logging.getLogger(_KAFKA_LOGGER)
    handler = _Capture()
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved


def _reason(message: str) -> str:
    """The broker's or the TLS library's own words, without kafka-python's wrapping."""
    for sep in ("SaslAuthenticationFailedError: ", "KafkaConnectionError: ", "Handshake failed: "):
        if sep in message:
            message = message.rsplit(sep, 1)[1]
            break
    message = re.sub(r"\s*\(backoff [^)]*\)$", "", message)
    return message[:-1] if message.endswith(")") and "(" not in message else message


def _check_tls_files(settings: Settings) -> None:
    """Load the CA and the client certificate and key here, where a bad file or a wrong key
    password can be named, rather than deep inside every connection attempt."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return
    context = ssl.create_default_context()
    if settings.kafka_ssl_cafile is not None:
        try:
            context.load_verify_locations(cafile=str(settings.kafka_ssl_cafile))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"SEGSYNC_KAFKA_SSL_CAFILE {settings.kafka_ssl_cafile}: not a PEM CA ({exc})"
            ) from None
    if settings.kafka_ssl_certfile is not None and settings.kafka_ssl_keyfile is not None:
        password = settings.kafka_ssl_password
        try:
            context.load_cert_chain(
                str(settings.kafka_ssl_certfile),
                str(settings.kafka_ssl_keyfile),
                # Never OpenSSL's own prompt: a key that needs a password and has none fails.
                password.get_secret_value() if password is not None else (lambda: ""),
            )
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                "cannot load the Kafka client certificate and key "
                f"(SEGSYNC_KAFKA_SSL_CERTFILE, SEGSYNC_KAFKA_SSL_KEYFILE; a wrong or missing "
                f"SEGSYNC_KAFKA_SSL_PASSWORD?): {exc}"
            ) from None


def check_kafka(
    settings: Settings, attempt_s: float = 1.0, stop: threading.Event | None = None
) -> None:
    """Fetch cluster metadata once with the configured security, before subscribing.

    Wrong credentials or an untrusted certificate fail at once with a FatalError naming
    the cause; an unreachable cluster fails after `kafka_connect_timeout_s`.
    """
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    kwargs = kafka_security_kwargs(settings)
    _check_tls_files(settings)
    where = describe_kafka(settings)
    deadline = time.monotonic() + settings.kafka_connect_timeout_s
    last = "no answer"
    sasl = settings.kafka_security_protocol.startswith("SASL_")
    with _captured_kafka_logs() as seen:
        while True:
            step = max(0.5, min(attempt_s, deadline - time.monotonic()))
            try:
                probe = KafkaConsumer(
                    bootstrap_servers=[b.strip() for b in settings.kafka_bootstrap.split(",")],
                    client_id=f"{settings.client_id}-startup-check",
                    group_id=None,
                    bootstrap_timeout_ms=int(step * 1000),
                    **kwargs,
                )
            except KafkaError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                probe.close()
                return
            auth = seen.find(_AUTH_MARKERS)
            if auth is not None:
                raise FatalError(f"Kafka at {where} rejected the credentials: {_reason(auth)}")
            if sasl and seen.count("socket disconnected") >= _SASL_DROPS:
                # The broker answers a failed SASL exchange and closes the connection; the
                # client sometimes sees only the close. Repeatedly, it is the same verdict.
                raise FatalError(
                    f"Kafka at {where} closed every connection during authentication: "
                    "wrong credentials, mechanism or listener?"
                )
            handshake = seen.find(_SASL_MARKERS) if sasl else None
            if handshake is not None:
                raise FatalError(
                    f"SASL handshake with Kafka at {where} failed: {_reason(handshake)} "
                    "(a listener without SASL, or a mechanism it does not offer?)"
                )
            tls = seen.find(_TLS_MARKERS) if "SSL" in settings.kafka_security_protocol else None
            if tls is not None:
                raise FatalError(f"TLS with Kafka at {where} failed: {_reason(tls)}")
            if time.monotonic() >= deadline:
                detail = _reason(seen.messages[-1]) if seen.messages else last
                raise FatalError(f"cannot connect to Kafka at {where}: {detail}")
            if stop is not None and stop.is_set():  # a stop while the brokers are away
                raise StopRequested(f"connecting to Kafka at {where}")

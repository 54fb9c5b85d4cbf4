"""Start-up checks on the topics the worker reads and writes.

With broker auto-creation off (as it should be), a missing topic is a typo or a deploy that
has not created it yet: the worker waits for it up to SEGSYNC_RETRY_DEADLINE_S, logging one
line when it starts waiting and one every `LOG_EVERY_S`, then stops with exit 2. A stop
signal ends the wait at once.
"""

from __future__ import annotations

import threading
import time
from typing import Final

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from worker import logs
from worker.adapters.kafka_io import client_config
from worker.errors import ConfigError
from worker.settings import Settings
from worker.shutdown import StopRequested

log = logs.get("segsync.topics")
LOG_EVERY_S: Final = 30.0
POLL_S: Final = 1.0


def required(settings: Settings) -> dict[str, str]:
    """Topic -> the setting that names it."""
    out = {t: "SEGSYNC_INPUT_TOPICS" for t in settings.input_topics}
    out.setdefault(settings.command_topic, "SEGSYNC_COMMAND_TOPIC")
    out.setdefault(settings.dlq_topic, "SEGSYNC_DLQ_TOPIC")
    out.setdefault(settings.enrollment_command_topic, "SEGSYNC_ENROLLMENT_COMMAND_TOPIC")
    return out


def wait_for_topics(settings: Settings, stop: threading.Event) -> None:
    """Return once every topic exists; StopRequested if a stop comes first; a ConfigError
    (exit 2) naming the missing topics when the deadline passes."""
    wanted = required(settings)
    deadline = time.monotonic() + settings.retry_deadline_s
    probe = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
    try:
        logged_at: float | None = None
        while True:
            try:
                missing = sorted(set(wanted) - set(probe.topics()))
                error = ""
            except KafkaError as exc:  # the broker went away after the connection check
                missing, error = sorted(wanted), str(exc)
            if not missing:
                return
            now = time.monotonic()
            if now >= deadline:
                names = ", ".join(f"{t!r} ({wanted[t]})" for t in missing)
                detail = f" ({error})" if error else ""
                raise ConfigError(
                    f"topic(s) {names} do not exist on {settings.kafka_bootstrap} after "
                    f"{settings.retry_deadline_s:g}s (SEGSYNC_RETRY_DEADLINE_S){detail}: "
                    "create them first, the worker never creates topics"
                )
            if logged_at is None or now - logged_at >= LOG_EVERY_S:
                logged_at = now
                log.warning("waiting for topics", missing=missing, error=error or None)
            if stop.wait(min(POLL_S, max(0.0, deadline - now))):
                raise StopRequested("waiting for topics")
    finally:
        probe.close()

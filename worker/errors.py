"""The named error hierarchy. Each class says what the loop does with it."""

from __future__ import annotations


class SegsyncError(Exception):
    """Base of every error segsync raises on purpose."""


class ConfigError(SegsyncError):
    """A bad setting: start-up stops with this one-line message."""


class InvalidEvent(SegsyncError):
    """The record cannot be processed: it goes to the DLQ with `reason`, processing goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownEventType(SegsyncError):
    """A valid CloudEvent of a type segsync does not handle: skipped and counted."""

    def __init__(self, source: str, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.source = source
        self.event_type = event_type


class TransientError(SegsyncError):
    """Broker or database unavailable for now: retry with backoff, never skip ahead."""


class FatalError(SegsyncError):
    """The worker cannot go on (retries exhausted, bad credentials): exit non-zero."""

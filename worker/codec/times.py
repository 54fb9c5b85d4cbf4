"""Times as the codec writes and reads them: microseconds since the epoch (the store's and
the domain's) and RFC 3339 UTC (a CloudEvent's `time`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
_ONE_US: Final = timedelta(microseconds=1)


def time_to_us(dt: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float)."""
    if dt.utcoffset() is None:
        raise ValueError("time_to_us needs a timezone-aware datetime")
    return (dt - EPOCH) // _ONE_US


@lru_cache(maxsize=4096)
def us_to_rfc3339(us: int) -> str:
    """RFC 3339 UTC with microseconds, e.g. '2024-05-01T12:00:00.000000Z'. Cached: the
    commands of one recompute share their cause's time (100,000 of a backfill, one time)."""
    return (_EPOCH_NAIVE + timedelta(microseconds=us)).isoformat(timespec="microseconds") + "Z"

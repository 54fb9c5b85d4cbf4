"""`input_consumer._snapshot_metadata` against kafka-python's internals, present or not. The
behaviour it exists for (one assignment per start) is tests/integration/test_consumer_join.py
on a real broker; here, what it does when those internals raise or are missing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kafka.errors import TopicAuthorizationFailedError

from worker.adapters.input_consumer import _snapshot_metadata


def _consumer(update: Any) -> Any:
    cluster = object()
    return SimpleNamespace(
        _coordinator=SimpleNamespace(_handle_metadata_update=update),
        _client=SimpleNamespace(cluster=cluster),
    )


def test_the_snapshot_is_taken_from_the_consumers_own_metadata() -> None:
    seen: list[Any] = []
    consumer = _consumer(seen.append)
    _snapshot_metadata(consumer)
    assert seen == [consumer._client.cluster]


def test_an_error_is_left_to_the_poll() -> None:
    def refuse(_cluster: Any) -> None:
        raise TopicAuthorizationFailedError({"in"})

    _snapshot_metadata(_consumer(refuse))  # no raise: the poll raises it, as before


@pytest.mark.parametrize(
    "consumer",
    [
        SimpleNamespace(),
        SimpleNamespace(_coordinator=SimpleNamespace(), _client=SimpleNamespace(cluster=1)),
        SimpleNamespace(_coordinator=SimpleNamespace(_handle_metadata_update=1)),
    ],
)
def test_internals_that_moved_change_nothing(consumer: Any) -> None:
    _snapshot_metadata(consumer)

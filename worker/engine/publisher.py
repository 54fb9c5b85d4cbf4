"""Publishes the outbox: the second step of every checkpoint (after the state commit)."""

from __future__ import annotations

from worker.ports import RecordSink, StateStore

__all__ = ["RecordSink", "publish_pending"]


def publish_pending(store: StateStore, sink: RecordSink, batch: int = 5000) -> int:
    """Publish every outbox row committed before the call, oldest first; rows are deleted
    only after the acks (the store serialises publishers, so per-pair order on the topic is
    outbox order)."""
    return store.publish_pending(sink.send_all, batch)

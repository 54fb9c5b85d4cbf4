"""The input consumer: partitions resume at the offsets stored with the state, a long batch
keeps the membership alive, and a topic that went backwards stops the worker."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from worker import logs, observability
from worker.adapters import lean_fetch
from worker.adapters.consumer_watchdog import Watchdog, read_membership
from worker.adapters.input_consumer import in_record, subscribe
from worker.adapters.input_offsets import partition_lags, raise_if_behind, seek_stored
from worker.engine.records import InRecord
from worker.errors import TransientError
from worker.ports import TP
from worker.settings import Settings

log = logs.get("segsync.kafka")
COMMIT_TIMEOUT_MS = 5000  # Kafka's copy of the offsets is for lag tools only


def _async_commit_done(_offsets: Any, response: Any) -> None:
    if isinstance(response, Exception):  # lag bookkeeping only: the next commit repairs it
        log.warning("kafka offset commit failed", error=str(response) or type(response).__name__)


class KafkaInput:
    """Consumes the input topics. On every assignment `seek_to` says where each partition
    resumes (the offsets stored with the state); partitions it does not know start at the
    beginning, since the store is the source of truth and has not seen them.

    `seek_to` runs on the caller's thread, in the poll() that brought the assignment, after
    kafka-python's own poll: that may already return records of the new partitions, read
    from Kafka's committed offset; they are dropped, and the partitions are sought to the
    store's offsets before poll() returns anything of them."""

    def __init__(
        self,
        settings: Settings,
        seek_to: Callable[[set[TP]], dict[TP, int]],
        lean: bool = True,
    ) -> None:
        """`lean`: records read by the lean fetch (ADR 0019); the benchmark's raw ceiling
        says False and keeps kafka-python's own."""
        self._seek_to = seek_to
        self._want_lean = lean
        self.assigned: set[TP] = set()
        self.joined = False
        self.rebalances = 0
        self._next: dict[TP, int] = {}  # next offset to read, where known (for the lag)
        self._status_at = 0.0
        self._polled_at = time.monotonic()
        self._to_check: dict[TP, int] = {}  # stored offsets of a new assignment, unchecked
        self._unsought: set[TP] = set()  # assigned, not yet sought to the store's offsets
        self._settings = settings
        self._watchdog = Watchdog.for_consumer(
            settings.max_poll_interval_ms, settings.session_timeout_ms
        )
        self._watched_at = 0.0
        self.recreated = 0
        self.consumer = self._subscribe()

    def _subscribe(self) -> KafkaConsumer:
        consumer = subscribe(self._settings, self)
        # Records straight into InRecords (ADR 0019); else kafka-python's, converted below.
        self._lean = self._want_lean and lean_fetch.install(consumer)
        return consumer

    def recreate(self, reason: str) -> None:
        """Close the consumer and subscribe a new one: it joins as a new member and its
        partitions resume at the store's offsets like any assignment (nothing is lost:
        the state, the outbox and the offsets live in the store)."""
        self.recreated += 1
        log.warning("recreating the kafka consumer", reason=reason, times=self.recreated)
        try:
            self.consumer.close(autocommit=False, timeout_ms=COMMIT_TIMEOUT_MS)
        except Exception as exc:  # it is being replaced because it misbehaves
            log.warning("closing the stuck kafka consumer failed", error=str(exc))
        if self.assigned:
            self.on_revoked(set(self.assigned))
        self._unsought.clear()
        self._to_check.clear()
        self._watchdog.reset()
        self.consumer = self._subscribe()

    def _watch(self, every_s: float = 1.0) -> None:
        now = time.monotonic()
        if now - self._watched_at < every_s:
            return
        self._watched_at = now
        m = read_membership(self.consumer, now)
        if self._watchdog.orphaned(m, now):
            assert m is not None
            log.warning("kafka consumer: a join nobody awaited; rejoining", detail=m.detail)
            try:
                self.consumer._coordinator.request_rejoin()
            except Exception as exc:  # internals moved: the limit below still applies
                log.warning("asking the kafka consumer to rejoin failed", error=str(exc))
        if self._watchdog.check(m, now):
            assert m is not None
            self.recreate(
                f"no healthy group membership for {self._watchdog.limit_s:.0f}s "
                f"(max.poll.interval.ms + session.timeout.ms): {m.detail}"
            )

    def on_revoked(self, revoked: set[TP]) -> None:
        self.assigned -= revoked
        self._unsought -= revoked
        for tp in revoked:
            self._next.pop(tp, None)
        observability.revoked(revoked, len(self.assigned))

    def on_assigned(self, assigned: set[TP]) -> None:
        self.joined = True
        self.rebalances += 1
        self.assigned = set(assigned)
        self._unsought = (self._unsought | assigned) & self.assigned
        observability.assigned(self.assigned)

    def _resume(self) -> None:
        """The new partitions resume at the store's offsets (`seek_to`: it publishes what is
        owed first, then reads them, retrying through an outage while heartbeats go on)."""
        tps = set(self._unsought)
        stored = {tp: off for tp, off in self._seek_to(tps).items() if tp in tps}
        seek_stored(self.consumer, tps, stored)
        self._unsought -= tps
        self._next.update(stored)
        self._to_check.update(stored)  # checked right after, before anything is returned

    def _check_not_behind(self) -> None:
        """A stored offset past a partition's end: the topic went backwards (re-created, or a
        broker that lost its data). Reading on would skip every new event below the stored
        offset (and Kafka's reset would replay it from the start): stop with the reason.
        Runs right after the seek to the stored offsets, before any record is returned."""
        stored, self._to_check = self._to_check, {}
        if not stored:
            return
        try:
            ends = self.consumer.end_offsets([TopicPartition(*tp) for tp in stored])
        except KafkaError as exc:
            self._to_check = stored  # check again after the next poll
            raise TransientError(f"reading end offsets failed: {exc}") from exc
        raise_if_behind(stored, ends)

    def keep_alive(self, every_s: float = 0.5) -> None:
        """Between the chunks of a long batch: a poll, so that the group does not count us
        gone (max.poll.interval.ms runs from the last poll) and a due rebalance happens now.
        The record it may return is not applied: its partition is sought back to it, so the
        next poll returns it again. (Not pause(): kafka-python 3.0.12 never fetches again a
        partition paused while its parsed records were in line: a silent stall.)"""
        if time.monotonic() - self._polled_at < every_s:
            return
        try:
            batches = self.consumer.poll(timeout_ms=0, max_records=1)
        except KafkaError as exc:  # the batch goes on: its own writes say what is wrong
            log.warning("keep-alive poll failed", error=str(exc))
            return
        finally:
            self._polled_at = time.monotonic()
        # Never skip: the next poll returns them again. A partition assigned by this poll
        # is sought to the store's offsets by the next poll() of the loop, not here (this
        # runs inside the batch's transaction).
        self._rewind(batches)
        self._check_not_behind()

    def _rewind(self, batches: dict[TopicPartition, list[Any]]) -> None:
        for tp, records in batches.items():
            if records:
                self.consumer.seek(tp, records[0].offset)

    def poll(self, timeout_ms: int) -> list[InRecord]:
        self._watch()  # before the poll: a replaced consumer's records are never returned
        try:
            batches = self.consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as exc:  # e.g. the coordinator unreachable while the broker restarts
            raise TransientError(f"polling Kafka failed: {exc}") from exc
        finally:
            self._polled_at = time.monotonic()
        if self._unsought:
            # Read from Kafka's committed offset, not the store's: never applied. The seek
            # below moves these partitions, so the records come again from the right place.
            batches = {
                tp: rs
                for tp, rs in batches.items()
                if (tp.topic, tp.partition) not in self._unsought
            }
        try:
            if self._unsought:
                self._resume()
            self._check_not_behind()
        except Exception:
            self._rewind(batches)  # never skip what this poll returned
            raise
        out: list[InRecord] = []
        for tp, records in batches.items():
            if self._lean:
                out.extend(records)
            else:
                out.extend(in_record(tp.topic, tp.partition, r) for r in records)
            if records:
                self._next[(tp.topic, tp.partition)] = records[-1].offset + 1
        self._report_status()
        return out

    def _report_status(self, every_s: float = 1.0) -> None:
        """At most once a second: coordinator reachable, and lag per assigned partition
        (high watermark from the last fetch minus the next offset to read)."""
        now = time.monotonic()
        if now - self._status_at < every_s:
            return
        self._status_at = now
        lags = partition_lags(self.consumer, self.assigned, self._next)
        try:
            broker_ok = not self.consumer._coordinator.coordinator_unknown()
        except Exception:  # kafka-python internals moved: fall back to "joined"
            broker_ok = self.joined
        observability.consumer_status(broker_ok, lags)

    def end_offsets(self, topics: Iterable[str]) -> dict[TP, int]:
        try:
            tps = [
                TopicPartition(t, p)
                for t in topics
                for p in sorted(self.consumer.partitions_for_topic(t) or ())
            ]
            ends = self.consumer.end_offsets(tps) if tps else {}
        except KafkaError as exc:
            raise TransientError(f"reading end offsets failed: {exc}") from exc
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}

    def position(self, tp: TP) -> int:
        if tp in self._unsought:  # kafka-python's position there is not the store's yet
            raise LookupError(f"{tp[0]}:{tp[1]} is not sought to its stored offset yet")
        return int(self.consumer.position(TopicPartition(*tp)))

    def commit(self, offsets: dict[TP, int], wait: bool = True) -> None:
        """Offsets go to Kafka too, for lag tools; the store's copy is what seeking uses.
        `wait=False`: sent, and its answer read by a later poll (a failure is logged)."""
        mine = {
            TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
            for (t, p), o in offsets.items()
            if (t, p) in self.assigned
        }
        if not mine:
            return
        if not wait:
            self.consumer.commit_async(mine, callback=_async_commit_done)
            return
        # Bounded: without a timeout kafka-python retries for ever while the coordinator
        # is away, and a stop would wait for the broker to come back.
        self.consumer.commit(mine, timeout_ms=COMMIT_TIMEOUT_MS)

    def close(self) -> None:
        # Bounded too (kafka-python's default is request_timeout_ms, 5 minutes).
        self.consumer.close(autocommit=False, timeout_ms=COMMIT_TIMEOUT_MS)

"""A consumer group member that dies holding partitions: `python -m tests.support.dead_member
BOOTSTRAP GROUP TOPIC SESSION_MS`.

It joins GROUP on TOPIC (alone, it gets every partition) and prints `joined` once that
membership is settled; when a rebalance shares the partitions with another member (the one
that joined) and hands it some of them, it prints them (`holding t:p ...`) and exits at once
with os._exit: no LeaveGroup, no more heartbeats. The group coordinator then believes it
alive, holding those partitions, until SESSION_MS have passed: what a kill -9 of a worker
leaves behind. On stderr, with the time, every assignment and revocation: the test shows
them when its premise did not happen.

"Settled": kafka-python 3.0.12 can lose a join that completes while no poll awaits it (the
worker's `consumer_watchdog` describes it): the member then holds its partitions with its
heartbeats off and never hears of the next rebalance. Seen here right after the first
assignment (a rejoin for the topic's metadata): `joined` was printed, the worker's join
waited out the session, and the member never held a share. So `joined` waits until the
client has been stable for a moment, and an orphaned join is asked to rejoin, as the worker
does.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition

from worker.adapters.consumer_watchdog import read_membership

SETTLED_S = 1.0  # stable this long after its assignment before it says `joined`


def _names(tps: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in tps)


def _say(what: str, parts: list[str]) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(stamp, what, " ".join(parts) or "-", file=sys.stderr, flush=True)


class _DieWhenShared(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.alone: list[str] = []  # what it held alone, once `joined` is said
        self.assigned: list[str] = []
        self.assigned_at = 0.0

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        _say("revoked", _names(revoked))
        self.assigned = []

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        parts = _names(assigned)
        _say("assigned", parts)
        if self.alone and parts and parts != self.alone:
            # (A rebalance that finished before the other member's join gives it all again.)
            print("holding", *parts, flush=True)
            os._exit(0)
        self.assigned, self.assigned_at = parts, time.monotonic()

    def settle(self, consumer: KafkaConsumer) -> None:
        """Says `joined` once the first assignment has held SETTLED_S with the client
        stable; rescues a join nobody awaited (before and after `joined`)."""
        m = read_membership(consumer)
        if m is not None and m.orphaned_join:
            _say("orphaned join: rejoining", [])
            consumer._coordinator.request_rejoin()
            return
        if self.alone or not self.assigned:  # (a join before the metadata assigns nothing)
            return
        if m is not None and m.stable and time.monotonic() - self.assigned_at >= SETTLED_S:
            self.alone = self.assigned
            print("joined", flush=True)


JOIN_S, TRIES = 30, 8


def _start_over_unless_joined(listener: _DieWhenShared) -> None:
    """kafka-python can also hang inside one poll (FindCoordinator retried without end, seen
    after a broker restart): the loop below never gets its turn. Not joined in JOIN_S, this
    process starts over as a new one (same pid and pipes); after TRIES, it says so and exits
    for the test to fail instead of waiting for ever."""
    time.sleep(JOIN_S)
    if listener.alone:
        return
    tries = int(os.environ.get("DEAD_MEMBER_TRY", "1"))
    if tries >= TRIES:
        print("never joined", flush=True)
        os._exit(1)
    os.environ["DEAD_MEMBER_TRY"] = str(tries + 1)
    os.execv(sys.executable, [sys.executable, "-m", "tests.support.dead_member", *sys.argv[1:]])


def main(bootstrap: str, group: str, topic: str, session_ms: int) -> None:
    listener = _DieWhenShared()
    threading.Thread(target=_start_over_unless_joined, args=(listener,), daemon=True).start()
    while True:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id="dead-member",
            enable_auto_commit=False,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(500, session_ms // 10),
            max_poll_interval_ms=max(session_ms, 10_000),
        )
        consumer.partitions_for_topic(topic)
        consumer.subscribe([topic], listener=listener)
        # kafka-python 3.0.12 was seen polling for minutes without ever joining (the broker's
        # group empty; docs/FAULTS.md): not joined in 30 s, a new consumer tries again.
        deadline = time.monotonic() + 30
        while listener.alone or time.monotonic() < deadline:
            # Long polls: a join answered after a poll gave up is the orphan described above.
            consumer.poll(timeout_ms=1000)
            listener.settle(consumer)
        consumer.close(autocommit=False, timeout_ms=2000)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

"""A consumer group member that dies holding partitions: `python -m tests.support.dead_member
BOOTSTRAP GROUP TOPIC SESSION_MS`.

It joins GROUP on TOPIC (alone, it gets every partition) and prints `joined`; when a
rebalance shares the partitions with another member (the one that joined) and hands it some
of them, it prints them (`holding t:p ...`) and exits at once with os._exit: no LeaveGroup,
no more heartbeats. The group coordinator
then believes it alive, holding those partitions, until SESSION_MS have passed: what a
kill -9 of a worker leaves behind.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition


class _DieWhenShared(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.alone: list[str] = []

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        pass

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        parts = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
        if not self.alone:  # (a join before the topic's metadata is assigned nothing)
            if parts:
                self.alone = parts
                print("joined", flush=True)
        elif parts and parts != self.alone:
            # (A rebalance that finished before the other member's join gives it all again.)
            print("holding", *parts, flush=True)
            os._exit(0)


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
            consumer.poll(timeout_ms=100)
        consumer.close(autocommit=False, timeout_ms=2000)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

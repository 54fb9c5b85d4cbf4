"""Every replica has its own Kafka client.id (broker logs, quotas and group listings tell
them apart): segsync-<host>-<pid>, segsync-<instance id>, or SEGSYNC_CLIENT_ID."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

from tests.integration.test_worker_e2e import TopicFactory, make_env
from tests.support.worker_proc import start, stop, wait_until


def test_each_worker_has_its_own_client_id(
    kafka_bootstrap: str, kafka_admin: Any, topic_factory: TopicFactory, sqlite_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, sqlite_url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start(w))
        procs.append(start(w))
        procs.append(start(w, instance_id="w-2"))
        w.extra["SEGSYNC_CLIENT_ID"] = "ops-chosen"
        procs.append(start(w))

        def members() -> list[dict[str, Any]]:
            group = kafka_admin.describe_groups([w.group_id])[w.group_id]
            return list(group.get("members") or [])

        assert wait_until(lambda: len(members()) == 4, timeout=90), members()
        got = sorted(m["client_id"] for m in members())
        host = socket.gethostname()
        assert got == sorted(
            [
                f"segsync-{host}-{procs[0].pid}",
                f"segsync-{host}-{procs[1].pid}",
                "segsync-w-2",
                "ops-chosen",
            ]
        )
    finally:
        for p in procs:
            stop(p)

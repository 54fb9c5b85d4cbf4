"""The demo: a sample multi-site LMS history on the local broker, the worker run until caught
up on the embedded SQLite store, and a readable account of the commands it emitted and why.

Run through `make demo` (which starts the local broker first). Fresh every time: the demo
topics and the demo store are recreated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import UnknownTopicOrPartitionError
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = os.environ.get("SEGSYNC_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
IN, CMD, DLQ = "lms.events", "lms.group-commands", "lms.events.dlq"
STORE = ROOT / ".run" / "demo" / "segsync.sqlite"
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
console = Console()


def story() -> list[tuple[str, str, dict[str, str], int]]:
    """(source, type, data, minutes after T0) — two LMS sites with the same ids, on purpose."""
    acme, globex = "https://lms.acme.example", "https://lms.globex.example"
    ev: list[tuple[str, str, dict[str, str], int]] = []
    for i, (user, team) in enumerate(
        [("ana", "sales"), ("ben", "sales"), ("cai", "marketing"), ("dee", "ops"), ("eli", "ops")]
    ):
        ev.append((acme, "lms.segment.member.added", {"user_id": user, "segment_id": team}, i))
        ev.append((acme, "lms.enrollment.created", {"user_id": user, "course_id": "onboarding"}, 10 + i))
    for link, team in (("L1", "sales"), ("L2", "marketing"), ("L3", "ops")):
        data = {"link_id": link, "course_id": "onboarding", "segment_id": team, "group_id": f"{team}-team"}
        ev.append((acme, "lms.segment_group_link.created", data, 20))
    ev += [
        (acme, "lms.segment.member.removed", {"user_id": "ben", "segment_id": "sales"}, 30),
        (acme, "lms.segment.member.added", {"user_id": "ben", "segment_id": "marketing"}, 31),
        (acme, "lms.enrollment.deleted", {"user_id": "eli", "course_id": "onboarding"}, 32),
        (acme, "lms.segment_group_link.deleted", {"link_id": "L3"}, 40),
        # Same ids on another site: nothing here touches acme.
        (globex, "lms.segment.member.added", {"user_id": "ana", "segment_id": "sales"}, 0),
        (globex, "lms.enrollment.created", {"user_id": "ana", "course_id": "onboarding"}, 1),
        (globex, "lms.segment_group_link.created", {"link_id": "L1", "course_id": "onboarding", "segment_id": "sales", "group_id": "sales-team"}, 2),
        (globex, "lms.course.deleted", {"course_id": "onboarding"}, 50),
    ]
    return ev


def records() -> list[tuple[bytes, bytes]]:
    out = []
    for n, (source, etype, data, minutes) in enumerate(story()):
        body = {
            "specversion": "1.0",
            "id": f"demo-{n}",
            "source": source,
            "type": etype,
            "time": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
            "data": data,
        }
        key = data.get("user_id") or data.get("course_id") or data["link_id"]
        out.append((key.encode(), json.dumps(body).encode()))
    out.append((b"ana", b"{this is not json"))  # a poison message: it goes to the DLQ
    return out


def reset_topics() -> None:
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        admin.delete_topics([IN, CMD, DLQ])
        time.sleep(1.5)
    except UnknownTopicOrPartitionError:
        pass
    for _ in range(20):
        try:
            admin.create_topics([NewTopic(IN, 3, 1), NewTopic(CMD, 3, 1), NewTopic(DLQ, 1, 1)])
            break
        except Exception:  # deletion still in flight
            time.sleep(0.5)
    admin.close()


def read_all(topic: str) -> list[bytes]:
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    ends = c.end_offsets(tps)
    out: list[bytes] = []
    while any(c.position(tp) < ends[tp] for tp in tps):
        for rs in c.poll(1000).values():
            out += [r.value for r in rs]
    c.close()
    return out


def main() -> int:
    console.print(f"[bold]segsync demo[/] — broker {BOOTSTRAP}, store {STORE.relative_to(ROOT)}")
    reset_topics()
    STORE.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{STORE}{suffix}").unlink(missing_ok=True)
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    recs = records()
    for key, value in recs:
        producer.send(IN, key=key, value=value, headers=[("content-type", b"application/cloudevents+json")])
    producer.flush()
    console.print(f"produced {len(recs)} LMS events (two sites, one poison message) to {IN}")
    env = dict(os.environ, SEGSYNC_KAFKA_BOOTSTRAP=BOOTSTRAP, SEGSYNC_DATABASE_URL=f"sqlite:///{STORE}")
    env["SEGSYNC_BATCH_MAX_RECORDS"] = "1"  # one event per batch: the story step by step
    segsync = str(Path(sys.executable).with_name("segsync"))
    console.print("running: segsync run --until-caught-up")
    proc = subprocess.run([segsync, "run", "--until-caught-up"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        console.print(proc.stderr[-3000:])
        return proc.returncode
    cmds = [json.loads(v) for v in read_all(CMD)]
    cmds.sort(key=lambda c: (c["time"], c["source"], c["subject"]))
    table = Table(title=f"{len(cmds)} commands on {CMD}")
    for col in ("site", "command", "course / group / user", "reason", "links", "caused by"):
        table.add_column(col)
    for c in cmds:
        d = c["data"]
        table.add_row(
            c["source"].removeprefix("https://"),
            c["type"].rsplit(".", 1)[1],
            f"{d['course_id']} / {d['group_id']} / {d['user_id']}",
            d["reason"],
            ",".join(d["link_ids"]),
            d["caused_by"],
        )
    console.print(table)
    dlq = read_all(DLQ)
    console.print(f"{len(dlq)} record(s) in {DLQ} (the poison message, unchanged, with its reason)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

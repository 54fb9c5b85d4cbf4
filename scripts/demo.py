"""The demo: a sample multi-site LMS history on the local broker, the worker run until caught
up on the embedded SQLite store, and a readable account of the commands it emitted and why:
group sync ("User segment members to group") and segment sync enrolment ("User Segment
Sync") working together.

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
ENROL = "lms.enrollment-commands"
STORE = ROOT / ".run" / "demo" / "segsync.sqlite"
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
console = Console()


def story() -> list[list[tuple[str, str, dict[str, str], int]]]:
    """Phases of (source, type, data, minutes after T0) — two LMS sites with the same ids, on
    purpose. The worker catches up after each phase, as time would pass between them."""
    acme, globex = "https://lms.acme.example", "https://lms.globex.example"
    ev: list[tuple[str, str, dict[str, str], int]] = []
    for i, (user, team) in enumerate(
        [("ana", "sales"), ("ben", "sales"), ("cai", "marketing"), ("dee", "ops"), ("eli", "ops")]
    ):
        ev.append((acme, "lms.segment.member.added", {"user_id": user, "segment_id": team}, i))
        ev.append(
            (acme, "lms.enrollment.created", {"user_id": user, "course_id": "onboarding"}, 10 + i)
        )
    for link, team in (("L1", "sales"), ("L2", "marketing"), ("L3", "ops")):
        data = {
            "link_id": link,
            "course_id": "onboarding",
            "segment_id": team,
            "group_id": f"{team}-team",
        }
        ev.append((acme, "lms.segment_group_link.created", data, 20))
    ev += [
        (acme, "lms.segment.member.removed", {"user_id": "ben", "segment_id": "sales"}, 30),
        (acme, "lms.segment.member.added", {"user_id": "ben", "segment_id": "marketing"}, 31),
        (acme, "lms.enrollment.deleted", {"user_id": "eli", "course_id": "onboarding"}, 32),
        (acme, "lms.segment_group_link.deleted", {"link_id": "L3"}, 40),
        # Same ids on another site: nothing here touches acme.
        (globex, "lms.segment.member.added", {"user_id": "ana", "segment_id": "sales"}, 0),
        (globex, "lms.enrollment.created", {"user_id": "ana", "course_id": "onboarding"}, 1),
        (
            globex,
            "lms.segment_group_link.created",
            {
                "link_id": "L1",
                "course_id": "onboarding",
                "segment_id": "sales",
                "group_id": "sales-team",
            },
            2,
        ),
        (globex, "lms.course.deleted", {"course_id": "onboarding"}, 50),
    ]
    # Both methods together on acme's compliance course: segment sync enrols every member of
    # "staff" (E1, suspend on leave), and group sync puts enrolled staff in "all-staff" (L4).
    # Group sync waits for the LMS to report an enrolment: it never assumes a command applied.
    sync = "segment_sync:E1"
    phases = [ev]
    phases.append(
        [
            (
                acme,
                "lms.segment_enrol_link.created",
                {
                    "link_id": "E1",
                    "course_id": "compliance",
                    "segment_id": "staff",
                    "on_leave": "suspend",
                },
                60,
            ),
            (
                acme,
                "lms.segment_group_link.created",
                {
                    "link_id": "L4",
                    "course_id": "compliance",
                    "segment_id": "staff",
                    "group_id": "all-staff",
                },
                60,
            ),
            # gus was enrolled by hand before; fay is new.
            (
                acme,
                "lms.enrollment.created",
                {"user_id": "gus", "course_id": "compliance", "method": "manual"},
                61,
            ),
            (acme, "lms.segment.member.added", {"user_id": "gus", "segment_id": "staff"}, 62),
            (acme, "lms.segment.member.added", {"user_id": "fay", "segment_id": "staff"}, 63),
        ]
    )
    phases.append(
        [
            # The LMS applied segsync's enrol commands and says so (method of the enrol link).
            (
                acme,
                "lms.enrollment.created",
                {"user_id": "fay", "course_id": "compliance", "method": sync},
                64,
            ),
            (
                acme,
                "lms.enrollment.created",
                {"user_id": "gus", "course_id": "compliance", "method": sync},
                64,
            ),
        ]
    )
    phases.append(
        [
            # Segment sync is removed from the course: both are unenrolled (suspended) by it ...
            (acme, "lms.segment_enrol_link.deleted", {"link_id": "E1"}, 70),
        ]
    )
    phases.append(
        [
            (
                acme,
                "lms.enrollment.deleted",
                {"user_id": "fay", "course_id": "compliance", "method": sync},
                71,
            ),
            (
                acme,
                "lms.enrollment.deleted",
                {"user_id": "gus", "course_id": "compliance", "method": sync},
                71,
            ),
            # ... fay leaves all-staff with her last enrolment; gus keeps it by his manual one.
        ]
    )
    return phases


def records(
    phase: list[tuple[str, str, dict[str, str], int]], first: int
) -> list[tuple[bytes, bytes]]:
    out = []
    for n, (source, etype, data, minutes) in enumerate(phase, first):
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
    return out


def reset_topics() -> None:
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        admin.delete_topics([IN, CMD, DLQ, ENROL])
        time.sleep(1.5)
    except UnknownTopicOrPartitionError:
        pass
    for _ in range(20):
        try:
            topics = [NewTopic(IN, 3, 1), NewTopic(CMD, 3, 1), NewTopic(DLQ, 1, 1)]
            admin.create_topics([*topics, NewTopic(ENROL, 3, 1)])
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
    env = dict(
        os.environ, SEGSYNC_KAFKA_BOOTSTRAP=BOOTSTRAP, SEGSYNC_DATABASE_URL=f"sqlite:///{STORE}"
    )
    env["SEGSYNC_BATCH_MAX_RECORDS"] = "1"  # one event per batch: the story step by step
    segsync = str(Path(sys.executable).with_name("segsync"))
    sent = 0
    for i, phase in enumerate(story()):
        recs = records(phase, sent)
        if i == 0:
            recs.append((b"ana", b"{this is not json"))  # a poison message: it goes to the DLQ
        for key, value in recs:
            producer.send(
                IN,
                key=key,
                value=value,
                headers=[("content-type", b"application/cloudevents+json")],
            )
        producer.flush()
        sent += len(phase)
        console.print(
            f"phase {i + 1}: produced {len(recs)} LMS events to {IN}; segsync run --until-caught-up"
        )
        proc = subprocess.run(
            [segsync, "run", "--until-caught-up"], env=env, capture_output=True, text=True
        )
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
    enrols = [json.loads(v) for v in read_all(ENROL)]
    enrols.sort(key=lambda c: (c["time"], c["source"], c["subject"]))
    table = Table(title=f"{len(enrols)} enrolment commands on {ENROL} (segment sync)")
    for col in (
        "site",
        "command",
        "course / user",
        "reason",
        "links",
        "roles",
        "on leave",
        "caused by",
    ):
        table.add_column(col)
    for c in enrols:
        d = c["data"]
        table.add_row(
            c["source"].removeprefix("https://"),
            c["type"].rsplit(".", 1)[1],
            f"{d['course_id']} / {d['user_id']}",
            d["reason"],
            ",".join(d["link_ids"]),
            ",".join(d["roles"]),
            d["on_leave"],
            d["caused_by"],
        )
    console.print(table)
    console.print("why gus is still in all-staff after segment sync unenrolled him:")
    why = [
        segsync,
        "why",
        "--source",
        "https://lms.acme.example",
        "--user",
        "gus",
        "--course",
        "compliance",
    ]
    sys.stdout.write(subprocess.run(why, env=env, capture_output=True, text=True).stdout)
    dlq = read_all(DLQ)
    console.print(f"{len(dlq)} record(s) in {DLQ} (the poison message, unchanged, with its reason)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The hostile-input soak (issue 12): one random multi-tenant history, delivered through every
seam that once stopped the sync, each record with what must become of it.

* most events as `faults_gen` encodes them (structured or binary), some as the CloudEvents
  SDK's Kafka bindings produce them (1.x and core APIs, both modes), some sent by kcat with
  an extra header whose value is null (Kafka allows it; kafka-python cannot send one);
* a tenant with more links into one group than a command may name (MAX_LINK_IDS);
* events dated far ahead of their record (2099, 9999-12-31): dead-lettered, so they are
  not part of the reference history;
* the hostile catalogue of `faults_gen`, records with a null `ce_specversion`, and records
  too big to dead-letter whole (a value just under the producer's limit plus the segsync_*
  headers, and - long form - 5 MB from a topic allowing 8 MB).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Literal

from tests.support.event_types import ENROL, JOIN, LINK
from tests.support.faults_gen import Hostile, Shape, delivery_order, evolving_history
from tests.support.faults_gen import hostile_records as catalogue
from tests.support.histories import T0, to_record
from tests.support.reference import Ev
from tests.support.sdk_events import VARIANTS, sdk_record_of

Expect = Literal["dlq", "ok", "either"]
Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]
BIG_SOURCE = "site-big"
BIG_LINKS = 150  # > MAX_LINK_IDS (100): the commands of that group are cut


@dataclass
class Item:
    """One record to produce, how (kafka-python or kcat) and what must become of it."""

    label: str
    record: Record
    expect: Expect
    via_kcat: bool = False
    big: bool = False  # needs a producer allowing large requests


@dataclass
class Soak:
    history: list[Ev]  # the reference: every event that must be applied
    items: list[Item] = field(default_factory=list)


def big_tenant(rng: random.Random, users: int) -> list[Ev]:
    """BIG_LINKS links into one group, then users enrolled and joined (each add names them
    all, so its link_ids is cut), and some of them leaving again."""
    out: list[Ev] = []
    t = T0

    def ev(type_: str, **data: str) -> None:
        nonlocal t
        t += 1_000_000
        out.append(Ev(BIG_SOURCE, f"big{len(out)}", type_, t, tuple(sorted(data.items()))))

    for i in range(BIG_LINKS):
        ev(LINK, link_id=f"L{i:03d}", course_id="C", segment_id="S", group_id="G")
    for u in range(users):
        ev(ENROL, user_id=f"bu{u}", course_id="C")
        ev(JOIN, user_id=f"bu{u}", segment_id="S")
    for u in rng.sample(range(users), users // 3):
        ev("lms.segment.member.removed", user_id=f"bu{u}", segment_id="S")
    return out


def far_future(rng: random.Random, history: list[Ev], n: int) -> list[Item]:
    """Real keys of the history, dated years ahead: applied, they would pin facts forever."""
    out = []
    for i in range(n):
        base = rng.choice(history)
        when = rng.choice(["2099-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
        body = {
            "specversion": "1.0",
            "id": f"future-{i}",
            "source": base.source,
            "type": rng.choice(["lms.course.deleted", ENROL]),
            "time": when,
            "data": {"course_id": dict(base.data).get("course_id", "c0"), "user_id": "u1"},
        }
        if body["type"] == "lms.course.deleted":
            body["data"] = {"course_id": body["data"]["course_id"]}  # type: ignore[index]
        value = json.dumps(body).encode()
        rec: Record = (b"u1", value, [("content-type", b"application/cloudevents+json")])
        out.append(Item(f"dated {when}", rec, "dlq"))
    return out


def null_header_items(rng: random.Random, events: list[Ev]) -> list[Item]:
    """Through kcat: valid events with an extra null header (processed), and records whose
    ce_specversion is null (dead-lettered)."""
    out = []
    for e in events:
        key, value, headers = to_record(e, binary=rng.random() < 0.5)
        extra: list[tuple[str, bytes | None]] = [*headers, ("x-trace", None)]
        rec: Record = (key, value, extra)
        out.append(Item("valid event with a null header", rec, "ok", True))
    for i in range(max(1, len(events) // 2)):
        value = json.dumps({"user_id": f"nu{i}", "course_id": "c0"}).encode()
        nulls: list[tuple[str, bytes | None]] = [("ce_specversion", None), ("ce_id", b"n")]
        out.append(Item("null ce_specversion", (b"nu", value, nulls), "dlq", True))
    return out


def oversized_items(long: bool) -> list[Item]:
    """Too big to dead-letter whole: cut, never fatal (the input topic allows 8 MB)."""
    sizes = [1_048_576 - 300] + ([5 * 1024 * 1024] if long else [])
    return [
        Item(
            f"{size:,} bytes of junk",
            (b"junk", f"junk-{i}-".encode() + b"j" * size, [("x-big", b"1")]),
            "dlq",
            big=True,
        )
        for i, size in enumerate(sizes)
    ]


def make_soak(rng: random.Random, events: int, hostile: int, long: bool) -> Soak:
    shape = Shape(users=120, burst_users=(10, 40))
    history = evolving_history(rng, events, shape) + big_tenant(rng, users=12)
    delivered = delivery_order(rng, history)
    soak = Soak(history)
    by_kcat = set(rng.sample(range(len(delivered)), min(12, len(delivered))))
    for i, e in enumerate(delivered):
        if i in by_kcat:
            continue
        roll = rng.random()
        if roll < 0.15:
            rec = sdk_record_of(e, rng.choice(VARIANTS))
            soak.items.append(Item("SDK-produced event", _record(rec), "ok"))
        else:
            rec2 = to_record(e, binary=roll < 0.4)
            soak.items.append(Item("event", _record(rec2), "ok"))
    # Hostile ones spread at random positions: the catalogue, far-future dates, oversized.
    bad = [_item(h) for h in catalogue(rng, hostile)]
    bad += far_future(rng, history, max(2, hostile // 10)) + oversized_items(long)
    for it in bad:
        soak.items.insert(rng.randrange(len(soak.items) + 1), it)
    soak.items += null_header_items(rng, [delivered[i] for i in sorted(by_kcat)])
    return soak


def _record(rec: tuple[bytes, bytes, list[tuple[str, bytes]]]) -> Record:
    key, value, headers = rec
    return key, value, list(headers)


def _item(h: Hostile) -> Item:
    key, value, headers = h.record
    return Item(h.label, (key, value, list(headers)), h.expect)


__all__ = ["BIG_LINKS", "BIG_SOURCE", "Item", "Soak", "make_soak"]

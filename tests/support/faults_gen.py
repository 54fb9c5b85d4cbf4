"""The fault suite's generator (Jepsen style): random multi-site LMS histories that evolve
over time, the order and form in which they reach the broker, and hostile records.

* `evolving_history` - a history whose clock moves forward (with jitter, so delivery is
  out of time order, and rounding, so ties happen), made of single events over small id
  spaces (so that events interact a lot) and of *bursts*: many users enrolled in one
  course and added to one segment, then a link created on them - the link event is bulk
  work, recomputed in chunks of SEGSYNC_BACKFILL_CHUNK users, which kills then hit. Both
  link kinds mix in: segment enrol links (ids shared with group links, on purpose: their
  namespaces are apart) and enrolments by several methods (`manual`, `segment_sync`, none).
* `delivery_order` - local reordering and late duplicates (the same (source, id) again).
* `encode` - each event in structured or binary CloudEvents content mode.
* `hostile_records` - records no decoder should crash on, each with what must become of
  it: `dlq` (dead-lettered with a reason), `ok` (processed or skipped, never
  dead-lettered) or `either`. Hostile events that are valid use ids outside the
  histories' id spaces (source `site-hostile`, users `hu…`, courses `hc…`), so whether
  they are processed or not never changes desired().
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Literal

from tests.support.event_types import (
    COURSE_DEL,
    ENROL,
    ENROL_LINK,
    ENROL_UNLINK,
    GROUP_DEL,
    LEAVE,
    LINK,
    SEG_DEL,
    UNENROL,
    UNLINK,
)
from tests.support.event_types import JOIN as ADD
from tests.support.histories import T0, key_of, to_record
from tests.support.kafka_io import Record
from tests.support.reference import Ev

WEIGHTS: dict[str, float] = {
    ENROL: 10,
    UNENROL: 4,
    ADD: 10,
    LEAVE: 4,
    LINK: 3,
    UNLINK: 1.5,
    SEG_DEL: 0.15,
    GROUP_DEL: 0.15,
    COURSE_DEL: 0.1,
    ENROL_LINK: 1.5,
    ENROL_UNLINK: 0.7,
}
METHODS = ("", "", "manual", "segment_sync")  # an enrolment's method; "" is none


@dataclass(frozen=True)
class Shape:
    """The id spaces and rhythm of a generated history."""

    sources: tuple[str, ...] = ("site-0", "site-1", "site-2")
    users: int = 400
    courses: int = 4
    segments: int = 4
    groups: int = 3
    links: int = 10
    burst_rate: float = 0.004  # chance per step of a bulk burst
    burst_users: tuple[int, int] = (40, 160)
    step_us: int = 20_000  # the clock's mean step between two events
    jitter_us: int = 3_000_000  # event times vs delivery order
    tick_us: int = 1_000_000  # times are rounded to this: ties happen


def _data(t: str, u: str, c: str, seg: str, g: str, lnk: str, method: str = "") -> dict[str, str]:
    if t in (ENROL, UNENROL):
        return {"user_id": u, "course_id": c, **({"method": method} if method else {})}
    if t == ENROL_LINK:
        return {"link_id": lnk, "course_id": c, "segment_id": seg}
    if t == ENROL_UNLINK:
        return {"link_id": lnk}
    if t in (ADD, LEAVE):
        return {"user_id": u, "segment_id": seg}
    if t == LINK:
        return {"link_id": lnk, "course_id": c, "segment_id": seg, "group_id": g}
    if t == UNLINK:
        return {"link_id": lnk}
    if t == SEG_DEL:
        return {"segment_id": seg}
    if t == GROUP_DEL:
        return {"course_id": c, "group_id": g}
    return {"course_id": c}


def evolving_history(
    rng: random.Random, n: int, shape: Shape = Shape(), id_prefix: str = "e"
) -> list[Ev]:
    """`n` events; ids `<id_prefix><i>` (unique over all sources)."""
    types, weights = zip(*WEIGHTS.items(), strict=True)
    out: list[Ev] = []
    clock = 0

    def emit(source: str, t: str, data: dict[str, str]) -> None:
        nonlocal clock
        clock += rng.randrange(1, 2 * shape.step_us)
        at = max(0, clock + rng.randrange(-shape.jitter_us, shape.jitter_us + 1))
        at -= at % shape.tick_us
        out.append(Ev(source, f"{id_prefix}{len(out)}", t, T0 + at, tuple(sorted(data.items()))))

    while len(out) < n:
        s = rng.choice(shape.sources)
        c = f"c{rng.randrange(shape.courses)}"
        seg = f"S{rng.randrange(shape.segments)}"
        g = f"g{rng.randrange(shape.groups)}"
        lnk = f"l{rng.randrange(shape.links)}"
        if rng.random() < shape.burst_rate:
            k = min(shape.users, rng.randint(*shape.burst_users))
            for u in rng.sample(range(shape.users), k):
                emit(s, ENROL, {"user_id": f"u{u}", "course_id": c})
                emit(s, ADD, {"user_id": f"u{u}", "segment_id": seg})
            # Bulk work of either kind: a group link, or (sometimes) a segment enrol link.
            kind = ENROL_LINK if rng.random() < 0.3 else LINK
            emit(s, kind, _data(kind, "", c, seg, g, lnk))
            continue
        t = rng.choices(types, weights)[0]
        method = rng.choice(METHODS) if t in (ENROL, UNENROL) else ""
        emit(s, t, _data(t, f"u{rng.randrange(shape.users)}", c, seg, g, lnk, method))
    return out[:n]


def delivery_order(
    rng: random.Random, events: list[Ev], dup_rate: float = 0.03, window: int = 40
) -> list[Ev]:
    """Shuffled within windows of `window` events; a `dup_rate` share delivered twice, the
    second copy up to 2,000 positions later."""
    keyed = [(i // window + rng.random(), e) for i, e in enumerate(events)]
    keyed += [
        (i // window + rng.uniform(0, 2000 / window), e)
        for i, e in enumerate(events)
        if rng.random() < dup_rate
    ]
    keyed.sort(key=lambda pair: pair[0])
    out = [e for _, e in keyed]
    return out


def encode(rng: random.Random, events: list[Ev], binary_rate: float = 0.3) -> list[Record]:
    return [to_record(e, binary=rng.random() < binary_rate) for e in events]


# ---------------------------------------------------------------- hostile records

Expect = Literal["dlq", "ok", "either"]
STRUCTURED = [("content-type", b"application/cloudevents+json")]
HOSTILE_SOURCE = "site-hostile"


@dataclass(frozen=True)
class Hostile:
    label: str
    record: Record
    expect: Expect


def _envelope(i: int, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "specversion": "1.0",
        "id": f"h{i}",
        "source": HOSTILE_SOURCE,
        "type": ENROL,
        "time": "2024-05-01T12:00:00Z",
        "data": {"user_id": f"hu{i}", "course_id": f"hc{i % 7}"},
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not _ABSENT}


_ABSENT = object()


def _structured(body: object, key: bytes = b"hu") -> Record:
    return (key, json.dumps(body).encode(), STRUCTURED)


def _binary(i: int, data: object, **ce: bytes) -> Record:
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": f"h{i}".encode(),
        "ce_source": HOSTILE_SOURCE.encode(),
        "ce_type": ENROL.encode(),
        "ce_time": b"2024-05-01T12:00:00Z",
        "content-type": b"application/json",
    }
    headers.update({k: v for k, v in ce.items()})
    return (b"hu", json.dumps(data).encode(), list(headers.items()))


ODD_TEXT = [
    "\u202eevil\u202c",  # right-to-left override
    "e\u0301\u0301\u0301",  # combining marks
    "\u200b\u200c\u200d\ufeff",  # zero-width characters and a BOM
    "\U0001f600\U0001f9d1\u200d\U0001f4bb",  # emoji, a ZWJ sequence
    "\uffff\ufffe\ufffd",  # noncharacters, the replacement character
    "ǅ\u0130\u00df",  # case-mapping oddities
    "\t \r",  # whitespace only
    "'; DROP TABLE facts; --",
    "%s%n{0}${x}",
]

RFC3339_OK = [
    "2024-05-01T12:00:00Z",
    "2024-05-01t12:00:00z",
    "2024-05-01 12:00:00Z",
    "2024-05-01T12:00:00.5Z",
    "2024-05-01T12:00:00.123456789Z",
    "2024-05-01T12:00:00+14:00",
    "2024-05-01T12:00:00-12:00",
    "2024-05-01T12:00:00-00:00",
    "2024-05-01T12:00:00+00:00",
    "2016-12-31T23:59:60Z",  # a leap second
    "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
]
RFC3339_BAD = [
    "2024-05-01",
    "2024-05-01T12:00:00",  # no offset
    "2024-05-01T12:00:00+0100",
    "2024-05-01T12:00Z",
    "2024-13-01T12:00:00Z",
    "2024-02-30T12:00:00Z",
    "2024-05-01T25:00:00Z",
    "9999-12-31T23:59:59-01:00",  # out of range in UTC
    "yesterday",
    "",
    "2024-05-01T12:00:00Z\x00",
    "\uff12\uff10\uff12\uff14-05-01T12:00:00Z",  # full-width digits
]


def hostile_records(rng: random.Random, n: int) -> list[Hostile]:
    """`n` hostile records drawn from a catalogue of every kind the issue names."""
    makers = [
        _random_bytes,
        _huge_json,
        _deep_json,
        _wrong_types,
        _huge_headers,
        _id_lengths,
        _odd_unicode,
        _times,
        _envelope_faults,
    ]
    out: list[Hostile] = []
    for i in range(n):
        out.append(makers[i % len(makers)](rng, 100_000 + i))
    return out


def _random_bytes(rng: random.Random, i: int) -> Hostile:
    size = rng.choice([0, 1, 2, 17, 300, 4000])
    value = rng.randbytes(size)
    kind = rng.randrange(4)
    if kind == 0:
        return Hostile("random bytes", (rng.randbytes(8), value, []), "dlq")
    if kind == 1:
        return Hostile("random bytes, structured", (None, value, STRUCTURED), "dlq")
    if kind == 2:
        return Hostile("no value (tombstone)", (b"hu", None, STRUCTURED), "dlq")
    hdrs = [("ce_specversion", b"1.0"), ("ce_" + rng.choice(["id", "type"]), rng.randbytes(9))]
    return Hostile("random binary-mode headers", (b"hu", value, hdrs), "dlq")


def _huge_json(rng: random.Random, i: int) -> Hostile:
    kind = rng.randrange(4)
    if kind == 0:
        body = _envelope(i, data={"user_id": f"hu{i}", "course_id": "hc1", "pad": "x" * 600_000})
        return Hostile("huge data (extra field)", _structured(body), "ok")
    if kind == 1:
        return Hostile("huge array", (b"hu", b"[" + b"1," * 200_000 + b"1]", []), "dlq")
    if kind == 2:
        body = _envelope(i, extensions={f"k{j}": j for j in range(20_000)})
        return Hostile("object with 20,000 keys", _structured(body), "ok")
    body = _envelope(i, data={"user_id": "u" * 300_000, "course_id": "hc1"})
    return Hostile("huge id", _structured(body), "dlq")


def _deep_json(rng: random.Random, i: int) -> Hostile:
    depth = rng.choice([100, 500, 2_000, 100_000])
    if rng.random() < 0.5:
        value = b"[" * depth + b"]" * depth
        return Hostile(f"array nested {depth} deep", (b"hu", value, []), "dlq")
    nested = "{}"
    for _ in range(min(depth, 2_000)):
        nested = '{"a":' + nested + "}"
    body = json.dumps(_envelope(i)).encode()
    value = body[:-1] + b', "deep": ' + nested.encode() + b"}"
    expect: Expect = "ok" if depth < 1000 else "either"  # JSON parsers cap nesting depth
    return Hostile(
        f"extra attribute nested {min(depth, 2000)} deep", (b"hu", value, STRUCTURED), expect
    )


def _wrong_types(rng: random.Random, i: int) -> Hostile:
    cases: list[tuple[str, object, Expect]] = [
        ("user_id", ["u1"], "dlq"),
        ("user_id", {"id": "u1"}, "dlq"),
        ("user_id", 1.5, "dlq"),
        ("user_id", True, "dlq"),
        ("user_id", None, "dlq"),
        ("user_id", 10**200, "dlq"),
        ("user_id", 4242 + i, "ok"),  # a JSON integer reads as its decimal string
        ("user_id", -7, "either"),
        ("specversion", 1.0, "dlq"),
        ("source", 7, "dlq"),
        ("type", ["lms.enrollment.created"], "dlq"),
        ("time", 1714564800, "dlq"),
        ("data", "user_id=u1", "dlq"),
        ("data", None, "dlq"),
        ("data", [], "dlq"),
        ("id", 10**50, "either"),
        ("id", True, "dlq"),
    ]
    field, value, expect = rng.choice(cases)
    if field in ("user_id",):
        body = _envelope(i, data={"user_id": value, "course_id": f"hc{i % 7}"})
    else:
        body = _envelope(i, **{field: value})
    if rng.random() < 0.3 and field == "user_id":
        return Hostile(
            f"binary mode, {field} is {type(value).__name__}", _binary(i, body["data"]), expect
        )
    return Hostile(f"{field} is {type(value).__name__}", _structured(body), expect)


def _huge_headers(rng: random.Random, i: int) -> Hostile:
    kind = rng.randrange(4)
    if kind == 0:
        key, value, hdrs = _structured(_envelope(i))
        hdrs = [*hdrs, ("x-junk", b"j" * 200_000)]
        return Hostile("200 kB extra header", (key, value, hdrs), "ok")
    if kind == 1:
        key, value, hdrs = _structured(_envelope(i))
        hdrs = [*hdrs, *((f"x-h{j}", b"v") for j in range(2_000))]
        return Hostile("2,000 extra headers", (key, value, hdrs), "ok")
    if kind == 2:
        return Hostile(
            "100 kB ce_id header",
            _binary(i, {"user_id": f"hu{i}", "course_id": "hc1"}, ce_id=b"i" * 100_000),
            "dlq",
        )
    return Hostile(
        "100 kB ce_type header",
        _binary(i, {"user_id": f"hu{i}", "course_id": "hc1"}, ce_type=b"t" * 100_000),
        "dlq",
    )


def _id_lengths(rng: random.Random, i: int) -> Hostile:
    length = rng.choice([0, 1, 2, 64, 127, 128, 129, 255, 1000])
    expect: Expect = "ok" if 1 <= length <= 128 else "dlq"
    which = rng.choice(["id", "user_id", "course_id"])
    ident = (f"h{i}-" + "z" * length)[:length]  # never in the histories' id spaces
    if which == "id":
        body = _envelope(i, id=ident)
    else:
        body = _envelope(i, data={"user_id": f"hu{i}", "course_id": f"hc{i % 7}", which: ident})
    if rng.random() < 0.3 and which == "id" and length:
        return Hostile(
            f"ce_id of {length} characters", _binary(i, body["data"], ce_id=ident.encode()), expect
        )
    return Hostile(f"{which} of {length} characters", _structured(body), expect)


def _odd_unicode(rng: random.Random, i: int) -> Hostile:
    text = rng.choice(ODD_TEXT)
    kind = rng.randrange(5)
    if kind == 0:
        body = _envelope(i, data={"user_id": f"hu{i}{text}", "course_id": f"hc{text}"})
        return Hostile("odd Unicode ids", _structured(body), "ok")
    if kind == 1:
        body = _envelope(i, data={"user_id": f"hu{i}\x00nul", "course_id": "hc1"})
        return Hostile("NUL in user_id", _structured(body), "either")
    if kind == 2:
        body = _envelope(i, source="site\x00hostile")
        return Hostile("NUL in source", _structured(body), "dlq")
    if kind == 3:
        value = json.dumps(_envelope(i)).encode().replace(b'"hu', b'"\\ud800hu', 1)
        return Hostile("lone surrogate escape", (b"hu", value, STRUCTURED), "either")
    value = json.dumps(_envelope(i)).encode().replace(b'"hu', b'"\xff\xfehu', 1)
    return Hostile("invalid UTF-8 in the JSON", (b"hu", value, STRUCTURED), "dlq")


def _times(rng: random.Random, i: int) -> Hostile:
    kind = rng.randrange(5)
    if kind == 0:
        t = rng.choice(RFC3339_OK)
        return Hostile(f"time {t!r}", _structured(_envelope(i, time=t)), _future(t))
    if kind == 1:
        t = rng.choice(RFC3339_BAD)
        return Hostile(f"time {t!r}", _structured(_envelope(i, time=t)), "dlq")
    if kind == 2:
        return Hostile("no time", _structured(_envelope(i, time=_ABSENT)), "ok")
    if kind == 3:
        t = rng.choice(RFC3339_OK)
        rec = _binary(i, {"user_id": f"hu{i}", "course_id": "hc2"}, ce_time=t.encode())
        return Hostile(f"ce_time {t!r}", rec, _future(t))
    key, value, hdrs = _binary(i, {"user_id": f"hu{i}", "course_id": "hc2"})
    hdrs = [h for h in hdrs if h[0] != "ce_time"]
    return Hostile("binary mode without ce_time", (key, value, hdrs), "ok")


def _future(t: str) -> Expect:
    """A valid time more than a day (SEGSYNC_MAX_FUTURE_S) after the record timestamp, which
    is when it is produced, goes to the DLQ; the catalogue's are far before or far after."""
    return "dlq" if t.startswith("9999") else "ok"


def _envelope_faults(rng: random.Random, i: int) -> Hostile:
    kind = rng.randrange(8)
    if kind == 0:
        return Hostile("specversion 0.3", _structured(_envelope(i, specversion="0.3")), "dlq")
    if kind == 1:
        return Hostile("no id", _structured(_envelope(i, id=_ABSENT)), "dlq")
    if kind == 2:
        return Hostile("unknown type", _structured(_envelope(i, type="lms.badge.awarded")), "ok")
    if kind == 3:
        body = _envelope(i, type="lms.link.created", data={})
        return Hostile("unknown type, empty data", _structured(body), "ok")
    if kind == 4:
        body = _envelope(i, data={"user_id": f"hu{i}"})
        return Hostile("missing course_id", _structured(body), "dlq")
    if kind == 5:
        key, value, _ = _structured(_envelope(i))
        # Contract v2: no ce_ header and no application/cloudevents content type means a
        # structured event, whatever the content type says (SDKs send application/json).
        return Hostile(
            "text/plain content type", (key, value, [("content-type", b"text/plain")]), "ok"
        )
    if kind == 6:
        key, value, hdrs = _binary(i, {"user_id": f"hu{i}", "course_id": "hc3"})
        return Hostile("duplicate ce_id header", (key, value, [*hdrs, ("ce_id", b"other")]), "dlq")
    key, value, hdrs = _binary(i, {"user_id": f"hu{i}", "course_id": "hc3"})
    hdrs = [(k, b"\xff\xfe" if k == "ce_source" else v) for k, v in hdrs]
    return Hostile("ce_source not UTF-8", (key, value, hdrs), "dlq")


def interleave(
    rng: random.Random, good: list[Record], hostile: list[Hostile]
) -> list[tuple[Record, Hostile | None]]:
    """The good records in order, the hostile ones spread at random positions."""
    out: list[tuple[Record, Hostile | None]] = [(r, None) for r in good]
    for h in hostile:
        out.insert(rng.randrange(len(out) + 1), (h.record, h))
    return out


__all__ = [
    "Hostile",
    "Shape",
    "delivery_order",
    "encode",
    "evolving_history",
    "hostile_records",
    "interleave",
    "key_of",
]

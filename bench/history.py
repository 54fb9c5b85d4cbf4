"""Synthetic LMS histories for the benchmarks, encoded as Kafka records the way the LMS sends
them (CloudEvents, both content modes, keyed as CONTRACT.md says).

A history is realistic rather than adversarial: several sites, many users, mostly enrolments
(by a method or none) and segment memberships, links of both kinds created up front (as an
LMS has them before the term starts: group links and segment sync enrol links) plus a few
group links created and deleted later, rare group / segment / course deletions, a little
out-of-order time and a few duplicates. Every event id is unique across the whole run, so a
command's `data.caused_by` names exactly one event.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from schemas.event_types import COURSE_DELETED as COURSE_DEL
from schemas.event_types import ENROL_LINK_CREATED as ENROL_LINK
from schemas.event_types import ENROLLMENT_CREATED as ENROL
from schemas.event_types import ENROLLMENT_DELETED as UNENROL
from schemas.event_types import GROUP_DELETED as GROUP_DEL
from schemas.event_types import GROUP_LINK_CREATED as LINK
from schemas.event_types import GROUP_LINK_DELETED as UNLINK
from schemas.event_types import MEMBER_ADDED as JOIN
from schemas.event_types import MEMBER_REMOVED as LEAVE
from schemas.event_types import SEGMENT_DELETED as SEG_DEL

T0_US = 1_750_000_000_000_000  # all event times are T0 + offsets, in microseconds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Header = tuple[str, bytes]
Record = tuple[bytes, bytes, list[Header]]  # key, value, headers

# Relative weights of the event types after the initial links.
MIX: dict[str, float] = {
    ENROL: 38,
    JOIN: 38,
    UNENROL: 8,
    LEAVE: 8,
    LINK: 0.5,
    UNLINK: 0.3,
    GROUP_DEL: 0.02,
    SEG_DEL: 0.01,
    COURSE_DEL: 0.01,
}
USER_MIX: dict[str, float] = {ENROL: 40, JOIN: 40, UNENROL: 10, LEAVE: 10}


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    source: str
    type: str
    time_us: int
    data: dict[str, str]
    course_key: str | None = None  # a link deletion names only the link; the LMS knows more

    @property
    def key(self) -> bytes:
        d = self.data
        return (
            d.get("user_id") or d.get("course_id") or self.course_key or d["segment_id"]
        ).encode()


def rfc3339(time_us: int) -> str:
    return (_EPOCH + timedelta(microseconds=time_us)).isoformat().replace("+00:00", "Z")


def encode(ev: Event, binary: bool = False) -> Record:
    """(key, value, headers) in structured (default) or binary content mode."""
    if binary:
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", ev.id.encode()),
            ("ce_source", ev.source.encode()),
            ("ce_type", ev.type.encode()),
            ("ce_time", rfc3339(ev.time_us).encode()),
            ("content-type", b"application/json"),
        ]
        return ev.key, orjson.dumps(ev.data), headers
    body = {
        "specversion": "1.0",
        "id": ev.id,
        "source": ev.source,
        "type": ev.type,
        "time": rfc3339(ev.time_us),
        "datacontenttype": "application/json",
        "data": ev.data,
    }
    return ev.key, orjson.dumps(body), [("content-type", b"application/cloudevents+json")]


@dataclass
class Universe:
    """The id spaces of a multi-site LMS, sized from the number of events."""

    sites: int = 4
    users_per_site: int = 10_000
    courses: int = 40
    segments: int = 15
    groups_per_course: int = 3
    links_per_site: int = 60
    enrol_links_per_site: int = 6  # segment sync: every member of the segment is enrolled

    @classmethod
    def for_events(cls, n: int) -> Universe:
        # About six events per user: a few enrolments and memberships, some undone.
        return cls(users_per_site=max(50, n // 6 // 4))


@dataclass
class MultiSite:
    """A stateful generator: `initial_links()` then `events(n)`; `events` may be called again
    later (the latency phase continues the same history with newer times)."""

    u: Universe
    seed: int = 7
    prefix: str = "h"
    rng: random.Random = field(init=False)
    seq: int = 0
    clock_us: int = T0_US
    links: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    link_seq: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _next(
        self,
        source: str,
        etype: str,
        data: dict[str, str],
        jitter: bool = True,
        course_key: str | None = None,
    ) -> Event:
        self.seq += 1
        self.clock_us += 1000  # one event per LMS millisecond
        t = self.clock_us
        if jitter and self.rng.random() < 0.05:  # a little out-of-order time
            t -= self.rng.randrange(1, 5_000_000)
        return Event(f"{self.prefix}{self.seq}", source, etype, t, data, course_key)

    def _course(self) -> int:
        return int(self.u.courses * self.rng.random() ** 1.5)  # popular courses first

    def _segment(self) -> int:
        return int(self.u.segments * self.rng.random() ** 1.3)

    def _new_link(self, site: str) -> Event:
        self.link_seq += 1
        c = self._course()
        link = (f"L{self.link_seq}", f"c{c}", f"s{self._segment()}")
        group = f"g{c * self.u.groups_per_course + self.rng.randrange(self.u.groups_per_course)}"
        self.links.setdefault(site, []).append(link)
        lid, course, seg = link
        data = {"link_id": lid, "course_id": course, "segment_id": seg, "group_id": group}
        return self._next(site, LINK, data, jitter=False)

    def _new_enrol_link(self, site: str, k: int) -> Event:
        data = {"link_id": f"E{k}", "course_id": f"c{self._course()}"}
        data["segment_id"] = f"s{self._segment()}"
        return self._next(site, ENROL_LINK, data, jitter=False)

    def initial_links(self) -> list[Event]:
        sites = [f"site-{s}" for s in range(self.u.sites)]
        out = [self._new_link(site) for site in sites for _ in range(self.u.links_per_site)]
        out += [
            self._new_enrol_link(site, k)
            for site in sites
            for k in range(self.u.enrol_links_per_site)
        ]
        return out

    def _user_event(self, site: str, etype: str) -> Event:
        user = f"u{self.rng.randrange(self.u.users_per_site)}"
        if etype in (ENROL, UNENROL):
            data = {"user_id": user, "course_id": f"c{self._course()}"}
            if self.rng.random() < 0.2:  # some enrolments name their method
                data["method"] = self.rng.choice(("manual", "self"))
        else:
            data = {"user_id": user, "segment_id": f"s{self._segment()}"}
        return self._next(site, etype, data)

    def _one(self, mix: dict[str, float]) -> Event:
        types, weights = list(mix), list(mix.values())
        etype = self.rng.choices(types, weights)[0]
        site = f"site-{self.rng.randrange(self.u.sites)}"
        if etype in USER_MIX:
            return self._user_event(site, etype)
        if etype == LINK:
            return self._new_link(site)
        if etype == UNLINK and self.links.get(site):
            lid, course, _ = self.links[site].pop(self.rng.randrange(len(self.links[site])))
            return self._next(site, UNLINK, {"link_id": lid}, course_key=course)
        if etype == GROUP_DEL:
            c = self._course()
            g = f"g{c * self.u.groups_per_course}"
            return self._next(site, GROUP_DEL, {"course_id": f"c{c}", "group_id": g})
        if etype == SEG_DEL:
            return self._next(site, SEG_DEL, {"segment_id": f"s{self._segment()}"})
        if etype == COURSE_DEL:
            return self._next(site, COURSE_DEL, {"course_id": f"c{self._course()}"})
        return self._user_event(site, ENROL)

    def events(self, n: int, user_only: bool = False) -> Iterator[Event]:
        mix = USER_MIX if user_only else MIX
        for _ in range(n):
            yield self._one(mix)


def history_records(
    n: int, seed: int = 7, dup_rate: float = 0.01
) -> tuple[MultiSite, list[Record]]:
    """Exactly `n` records: the initial links, then the mixed stream, with ~1 % duplicates
    (the same record sent again later) and ~20 % of the events in binary content mode."""
    gen = MultiSite(Universe.for_events(n), seed)
    rng = random.Random(seed + 1)
    out: list[Record] = [encode(e) for e in gen.initial_links()]
    while len(out) < n:
        if out and rng.random() < dup_rate:
            out.append(out[rng.randrange(len(out))])
        else:
            ev = next(gen.events(1))
            out.append(encode(ev, binary=rng.random() < 0.2))
    return gen, out[:n]


def backfill_preload(users: int, site: str = "site-bf") -> Iterator[Event]:
    """`users` users each enrolled in course c-bf and member of segment s-bf (no link yet)."""
    t = T0_US - 3_600_000_000
    for i in range(users):
        u = f"bu{i}"
        yield Event(f"bfe{i}", site, ENROL, t + i, {"user_id": u, "course_id": "c-bf"})
        yield Event(f"bfm{i}", site, JOIN, t + i, {"user_id": u, "segment_id": "s-bf"})


def backfill_link(site: str = "site-bf") -> Event:
    data = {"link_id": "L-bf", "course_id": "c-bf", "segment_id": "s-bf", "group_id": "g-bf"}
    return Event("bf-link", site, LINK, T0_US - 1_000_000, data)


MEMORY_COURSES, MEMORY_SEGMENTS, MEMORY_LINK_EVERY = 200, 50, 10


def memory_events_total(users: int, sites: int = 4) -> int:
    links = sites * len(range(0, MEMORY_COURSES, MEMORY_LINK_EVERY))
    return links + users + (users + 4) // 5


def memory_history(users: int, sites: int = 4) -> Iterator[Event]:
    """State for `users` distinct users: each one enrolled in a course, every fifth one also a
    segment member; a few links so that some pairs are justified (and commands flow)."""
    for s in range(sites):
        for c in range(0, MEMORY_COURSES, MEMORY_LINK_EVERY):
            data = {
                "link_id": f"ML{s}-{c}",
                "course_id": f"c{c}",
                "segment_id": f"s{c % MEMORY_SEGMENTS}",
                "group_id": f"g{c}",
            }
            yield Event(f"mlink{s}-{c}", f"site-{s}", LINK, T0_US, data)
    for i in range(users):
        site, u = f"site-{i % sites}", f"m{i}"
        data = {"user_id": u, "course_id": f"c{i % MEMORY_COURSES}"}
        yield Event(f"me{i}", site, ENROL, T0_US + i, data)
        if i % 5 == 0:
            data = {"user_id": u, "segment_id": f"s{(i // 7) % MEMORY_SEGMENTS}"}
            yield Event(f"mm{i}", site, JOIN, T0_US + i, data)

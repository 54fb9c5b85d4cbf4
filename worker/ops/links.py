"""`segsync links apply FILE`: make the bus agree with the configured links of both kinds
(group links and segment enrol links, whose ids are apart: a link is (source, kind, id)).

The memory of what FILE declared before is the bus itself, not the state store: every link
event this command publishes has an id starting `links-apply:`. Reading the first input topic
from the start (no consumer group) tells which links it manages, and the newest event of
every link, whoever published it, tells its current state. Then:
  - a link FILE declares that is absent, deleted or different on the bus: `created`;
  - a link it managed that FILE no longer declares, still active from its own `created`:
    `deleted`;
  - links the LMS created (other ids) and FILE never declared are left alone.
Ids are `links-apply:` + sha256(source, link, action, attributes, generation), where the
generation counts this command's earlier events for the link: re-running with the same file
publishes nothing, and re-creating a deleted link gets a fresh id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from schemas import event_types as et
from schemas.events import DEFAULT_ROLE
from worker.codec import time_to_us
from worker.destinations import INPUT
from worker.engine.records import InRecord, decode
from worker.ops import console, links_file
from worker.ops.bus import Publisher, Reader, cloud_event
from worker.ports import OutboxRecord
from worker.settings import Settings

ID_PREFIX: Final = "links-apply"
Kind = Literal["group", "enrol"]
# (created, deleted) event types per kind, and the `data` fields a `created` one sets.
TYPES: Final[dict[Kind, tuple[str, str]]] = {
    "group": (et.GROUP_LINK_CREATED, et.GROUP_LINK_DELETED),
    "enrol": (et.ENROL_LINK_CREATED, et.ENROL_LINK_DELETED),
}
FIELDS: Final[dict[Kind, tuple[str, ...]]] = {
    "group": ("course_id", "segment_id", "group_id"),
    "enrol": ("course_id", "segment_id", "role", "on_leave"),
}
KIND_OF: Final = {t: k for k, pair in TYPES.items() for t in pair}
CREATED: Final = {pair[0] for pair in TYPES.values()}
LinkKey = tuple[str, Kind, str]  # (source, kind, link_id)
# (course, segment, group) | (course, segment, role, on_leave) with the defaults filled in
Attrs = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Newest:
    time_us: int
    event_id: str
    attrs: Attrs | None  # None: the newest event is a deletion

    @property
    def ours(self) -> bool:
        return self.event_id.startswith(f"{ID_PREFIX}:")


@dataclass(slots=True)
class BusView:
    newest: dict[LinkKey, Newest]
    generation: dict[LinkKey, int]  # how many events this command published per link
    scanned: int = 0


@dataclass(frozen=True, slots=True)
class Change:
    action: Literal["create", "delete"]
    source: str
    link_id: str
    attrs: Attrs  # for a delete: the attributes it had
    before: Attrs | None  # create: the attributes on the bus before, if any was active

    kind: Kind = "group"

    def _attrs(self, attrs: Attrs) -> str:
        names = [f.removesuffix("_id") for f in FIELDS[self.kind]]
        return " ".join(f"{n}={v}" for n, v in zip(names, attrs, strict=True))

    def describe(self) -> str:
        what = self.link_id if self.kind == "group" else f"enrol link {self.link_id}"
        text = f"{self.action:<6} {self.source} {what}: {self._attrs(self.attrs)}"
        if self.action == "create" and self.before is not None:
            text += f" (was {self._attrs(self.before)})"
        return text


def load_file(path: Path) -> dict[LinkKey, Attrs]:
    """The links F declares, validated; a problem is one line naming file:line."""
    doc = links_file.load(path)
    out: dict[LinkKey, Attrs] = {}
    for source, items in doc.sources.items():
        for item in items or ():
            if item.kind == "group":
                out[(source, "group", item.id)] = (item.course, item.segment, str(item.group))
            else:
                role, leave = item.role or DEFAULT_ROLE, item.on_leave or "unenrol"
                out[(source, "enrol", item.id)] = (item.course, item.segment, role, leave)
    return out


def scan_bus(settings: Settings) -> BusView:
    """The newest link event per link on the first input topic, and this command's history."""
    view = BusView({}, {})
    reader = Reader(settings, max_poll_records=5000)
    try:
        spans = reader.spans([settings.input_topics[0]])
        total = sum(s.end - s.start for s in spans.values())
        with console.progress("reading links on the bus", total) as bar:
            for batch in reader.read(spans):
                view.scanned += len(batch)
                bar.advance(len(batch))
                _fold(view, batch)
    finally:
        reader.close()
    return view


def _fold(view: BusView, batch: Iterable[InRecord]) -> None:
    for rec in batch:
        # Cheap filter first: full decoding of every record of a large topic is slow.
        if not _mentions_links(rec.value) and not any(_mentions_links(v) for _, v in rec.headers):
            continue
        ev = decode(rec).event
        if ev is None or ev.event_type not in KIND_OF:
            continue
        kind = KIND_OF[ev.event_type]
        key = (ev.source, kind, ev.data["link_id"])
        attrs: Attrs | None = None
        if ev.event_type in CREATED:  # the decoder filled role and on_leave in
            attrs = tuple(ev.data[f] for f in FIELDS[kind])
        new = Newest(ev.time_us, ev.event_id, attrs)
        if new.ours:
            view.generation[key] = view.generation.get(key, 0) + 1
        old = view.newest.get(key)
        if old is None or (new.time_us, new.event_id) > (old.time_us, old.event_id):
            view.newest[key] = new


def _mentions_links(raw: bytes | None) -> bool:
    return raw is not None and (b"segment_group_link" in raw or b"segment_enrol_link" in raw)


def plan(declared: dict[LinkKey, Attrs], view: BusView) -> list[Change]:
    changes: list[Change] = []
    for (source, kind, link_id), attrs in sorted(declared.items()):
        cur = view.newest.get((source, kind, link_id))
        if cur is None or cur.attrs != attrs:
            before = cur.attrs if cur is not None else None
            changes.append(Change("create", source, link_id, attrs, before, kind))
    for key in sorted(view.generation):
        cur = view.newest[key]
        if key not in declared and cur.ours and cur.attrs is not None:
            changes.append(Change("delete", key[0], key[2], cur.attrs, None, key[1]))
    return changes


def records(changes: Iterable[Change], view: BusView, now_us: int) -> Iterator[OutboxRecord]:
    for ch in changes:
        key = (ch.source, ch.kind, ch.link_id)
        cur = view.newest.get(key)
        # Strictly newer than whatever the bus holds for this link, so that it wins.
        time_us = max(now_us, cur.time_us + 1) if cur is not None else now_us
        generation = str(view.generation.get(key, 0))
        # Group links keep the ids they always had; enrol links name their kind.
        kind = () if ch.kind == "group" else ("enrol",)
        eid = console.content_id(
            ID_PREFIX, ch.source, *kind, ch.link_id, ch.action, *ch.attrs, generation
        )
        created, deleted = TYPES[ch.kind]
        if ch.action == "create":
            event_type = created
            data = {"link_id": ch.link_id, **dict(zip(FIELDS[ch.kind], ch.attrs, strict=True))}
        else:
            event_type, data = deleted, {"link_id": ch.link_id}
        yield cloud_event(
            INPUT,
            key=ch.attrs[0],
            source=ch.source,
            event_id=eid,
            event_type=event_type,
            time_us=time_us,
            data=data,
        )


def apply_links(settings: Settings, path: Path, dry_run: bool) -> tuple[list[Change], BusView]:
    declared = load_file(path)
    view = scan_bus(settings)
    changes = plan(declared, view)
    if dry_run or not changes:
        return changes, view
    publisher = Publisher(settings)
    try:
        for rec in records(changes, view, time_to_us(datetime.now(UTC))):
            publisher.send(rec)
        publisher.flush()
    finally:
        publisher.close()
    return changes, view

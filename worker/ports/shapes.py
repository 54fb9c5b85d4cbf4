"""The tuple shapes that cross the port: record headers, keys, rows, a pair's history."""

from __future__ import annotations

from collections.abc import Sequence

Headers = Sequence[tuple[str, bytes | None]]  # a Kafka header value may be null
TP = tuple[str, int]  # (topic, partition)
PairT = tuple[str, str, str]  # (course_id, group_id, user_id)
SitePair = tuple[str, str, str, str]  # (source, course_id, group_id, user_id)
LinkRow = tuple[str, str | None, str | None, str | None]  # (link, course, segment, group)
FactKey = tuple[str, ...]
# A pair's history after a command: (commands so far, held batch it queues behind, and the
# last command's reason, caused_by, time)
Saved = tuple[int, int | None, str, str, int]
# A pair's justifying links now, its commands so far and the held batch it queues behind.
PairState = tuple[frozenset[str], int, int | None]
ERow = tuple[str, str, str]  # an enrol justification row: (link_id, user_id, course_id)
EPair = tuple[str, str]  # an enrolment pair: (course_id, user_id)
ELinkRow = tuple[str, str | None, str | None]  # (enrol link, course, segment)
SiteKey = tuple[str, str]  # (source, an id of that site)
SiteEPair = tuple[str, str, str]  # (source, course_id, user_id)
SiteELinkRow = tuple[str, str, str | None, str | None]  # (source, enrol link, course, segment)

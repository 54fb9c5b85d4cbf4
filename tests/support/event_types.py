"""The LMS event types by the short names the test generators use; the names themselves
live in `schemas.event_types` (one home for the worker, the tests and the benchmarks)."""

from __future__ import annotations

from typing import Final

from schemas import event_types as et

ENROL: Final = et.ENROLLMENT_CREATED
UNENROL: Final = et.ENROLLMENT_DELETED
JOIN: Final = et.MEMBER_ADDED
LEAVE: Final = et.MEMBER_REMOVED
LINK: Final = et.GROUP_LINK_CREATED
UNLINK: Final = et.GROUP_LINK_DELETED
SEG_DEL: Final = et.SEGMENT_DELETED
GROUP_DEL: Final = et.GROUP_DELETED
COURSE_DEL: Final = et.COURSE_DELETED
ENROL_LINK: Final = et.ENROL_LINK_CREATED
ENROL_UNLINK: Final = et.ENROL_LINK_DELETED

ALL: Final = et.ALL

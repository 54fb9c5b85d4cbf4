"""The mass-removal brake: before a bulk event runs, estimate how many members it would
remove from each group; past the configured limits its removals are held for an operator
(`segsync held / release / discard`) instead of being published.

Limits (settings): more than `max_removals` members of one group, or at least
`min_removals` members and more than `max_share` of the group. 0 disables a limit.
The estimate counts the pairs justified only by the event's links (for a link re-created
elsewhere, only the rows it moves away): an upper bound of what the event removes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas import event_types as et
from worker.domain.transitions import Cause
from worker.domain.updates import Selector
from worker.ports import StoreTx

BRAKED_TYPES = {
    et.GROUP_LINK_CREATED,
    et.GROUP_LINK_DELETED,
    et.SEGMENT_DELETED,
    et.GROUP_DELETED,
    et.COURSE_DELETED,
}


@dataclass(frozen=True, slots=True)
class BrakeLimits:
    max_removals: int = 500
    max_share: float = 0.5
    min_removals: int = 50

    def floor(self) -> int:
        """The fewest removals that could trip a limit: below it no estimate is needed."""
        floors = []
        if self.max_removals:
            floors.append(self.max_removals + 1)
        if self.max_share:
            floors.append(max(self.min_removals, 1))
        return min(floors) if floors else 2**62

    def exceeded(self, removals: int, size: int) -> bool:
        if self.max_removals and removals > self.max_removals:
            return True
        return bool(
            self.max_share
            and size
            and removals >= max(self.min_removals, 1)
            and removals > self.max_share * size
        )


def hold_for(
    tx: StoreTx,
    source: str,
    selector: Selector,
    link_ids: Sequence[str],
    cause: Cause,
    limits: BrakeLimits | None,
) -> int | None:
    """The held batch this bulk event's removals go to, or None to publish them."""
    if limits is None or cause.event_type not in BRAKED_TYPES:
        return None
    over = [
        (c, g, n, size)
        for c, g, n, size in tx.removal_estimate(source, selector, link_ids)
        if limits.exceeded(n, size)
    ]
    if not over:
        return None
    detail = "; ".join(f"course {c} group {g}: {n} of {size} members" for c, g, n, size in over)
    return tx.open_held_batch(source, cause.event_id, cause.event_type, detail)

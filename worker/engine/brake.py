"""The mass-removal brake: before a bulk event runs, estimate how many members it would
remove from each group; past the configured limits its removals are held for an operator
(`segsync held / release / discard`) instead of being published.

Limits (settings): more than `max_removals` members of one group, or at least
`min_removals` members and more than `max_share` of the group. 0 disables a limit.
The estimate counts the pairs justified only by the event's links (for a link re-created
elsewhere, only the rows it moves away): an upper bound of what the event removes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from schemas import event_types as et
from worker.domain.transitions import Cause
from worker.domain.updates import BulkScope, Selector
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


def braked_apart(
    scopes: Mapping[BulkScope, Cause],
    links_of: Mapping[BulkScope, list[str]],
    counts: Mapping[str, int],
    braked: Collection[str],
    limits: BrakeLimits | None,
) -> tuple[list[tuple[BulkScope, Cause, list[str]]], list[str]]:
    """The bulk scopes that run on their own, so that the brake may hold their removals (a
    `braked` type whose links justify at least the limits' floor of rows, per `counts`),
    and the sorted union of the other scopes' links: those run as one recompute."""
    alone: list[tuple[BulkScope, Cause, list[str]]] = []
    merged: set[str] = set()
    for scope, cause in scopes.items():
        links = links_of[scope]
        at_risk = sum(counts.get(a, 0) for a in links)
        if limits and cause.event_type in braked and at_risk >= limits.floor():
            alone.append((scope, cause, links))
        else:
            merged.update(links)
    return alone, sorted(merged)

"""Bulk scopes: link events and segment/group/course deletions, recomputed set-based in SQL.

All of a batch's bulk scopes of one site run as ONE recompute over the union of their links
(the recompute starts from the stored facts, so merging is exact and saves round trips);
a scope the mass-removal brake may hold runs on its own, so its removals can be held.
Every recompute goes in chunks of users in the store's order (one chunk in the common
case); the caller may commit between chunks (`checkpoint`), and a crash mid-way is
continued by re-running the event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from worker.domain.transitions import BatchCauses, Cause, Command
from worker.domain.updates import BulkScope, Selector
from worker.engine.brake import BRAKED_TYPES, BrakeLimits, braked_apart, hold_for
from worker.engine.settle import CausesFor, settle
from worker.ports import LinkRow, PairT, StoreTx


def _selected(sel: Selector, rows: Sequence[LinkRow]) -> list[str]:
    match sel:
        case ("link", link_id):
            return [link_id]
        case ("segment", segment_id):
            return [r[0] for r in rows if r[2] == segment_id]
        case ("group", course_id, group_id):
            return [r[0] for r in rows if r[1] == course_id and r[3] == group_id]
        case ("course", course_id):
            return [r[0] for r in rows if r[1] == course_id]
    raise KeyError(sel)


def bulk_scopes(
    tx: StoreTx,
    source: str,
    scopes: dict[BulkScope, Cause],
    batch_causes: BatchCauses,
    chunk: int,
    checkpoint: Callable[[], None],
    limits: BrakeLimits | None,
) -> list[Command]:
    sels = [s.selector for s in scopes]
    rows = tx.links_selected(
        source,
        [s[1] for s in sels if s[0] == "link"],
        [s[1] for s in sels if s[0] == "segment"],
        [s[1] for s in sels if s[0] in ("group", "course")],
    )
    segment_of = {r[0]: r[2] for r in rows if r[2] is not None}
    links_of = {scope: _selected(scope.selector, rows) for scope in scopes}
    all_causes = list(scopes.values())

    # A recompute's pairs share a few (course, group, links) values: a backfill's 100,000
    # pairs, one. The causes depend on nothing else, so each value is looked up once.
    known: dict[tuple[str, str, frozenset[str]], list[Cause]] = {}

    def causes_for(p: PairT, links_of_pair: frozenset[str]) -> list[Cause]:
        key = (p[0], p[1], links_of_pair)
        found = known.get(key)
        if found is None:
            segments = {segment_of[a] for a in links_of_pair if a in segment_of}
            found = batch_causes.for_pair(source, p[0], p[1], links_of_pair, segments)
            found = known[key] = found or all_causes
        return found

    counts = tx.justification_counts(source, sorted({a for v in links_of.values() for a in v}))
    alone, merged = braked_apart(scopes, links_of, counts, BRAKED_TYPES, limits)
    commands: list[Command] = []
    for scope, cause, links in alone:
        hold = hold_for(tx, source, scope.selector, links, cause, limits)
        commands += recompute_links(tx, source, links, causes_for, chunk, checkpoint, hold)
    if merged:
        commands += recompute_links(tx, source, merged, causes_for, chunk, checkpoint, None)
    return commands


def recompute_links(
    tx: StoreTx,
    source: str,
    link_ids: Sequence[str],
    causes_for: CausesFor,
    chunk: int,
    checkpoint: Callable[[], None],
    hold: int | None,
) -> list[Command]:
    if not link_ids:
        return []
    commands: list[Command] = []
    after: str | None = None
    analysed = False
    while True:
        users = tx.next_users(source, link_ids, after, chunk)
        if not users:
            break
        d = tx.apply_truth(source, link_ids, users)  # every link with every user
        commands.extend(settle(tx, source, d, causes_for, hold))
        if len(users) < chunk:
            break
        after = users[-1]
        checkpoint()
        if not analysed:
            tx.large_recompute()  # once per large recompute (statistics, where kept)
            analysed = True
    return commands

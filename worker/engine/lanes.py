"""A batch split by LMS site into lanes that are applied at once, each in its own
transaction on its own connection (ADR 0013). Pure: which events go in which lane, and the
lanes' results put back together.

Why it is safe: every row of the state carries its site, and the transactions of one site
take turns (ADR 0010), so two lanes never read or write the same state. What the lanes
share, the counters and the input offsets, is written once, after every lane has committed
(the loop's step 1 ends there). A crash in between leaves some lanes committed and the
offsets where they were: the batch comes again, its committed events are recognised as
applied (the processed-event log went in with them) and only the rest is applied.

Why it is fast: one connection waits for PostgreSQL while the other lane's Python runs, and
PostgreSQL runs the lanes' statements on two backends: the engine and the database no longer
take turns on a two-core box (docs/BENCHMARKS.md). A stream of one site has one lane.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from worker.engine.apply import BatchResult
from worker.engine.records import Decoded

# Below this many records a batch stays whole: the lanes' extra transaction (the offsets)
# costs more than a thin batch's overlap gives.
MIN_RECORDS = 500


def split(items: Sequence[Decoded], lanes: int) -> list[list[Decoded]]:
    """The batch as at most `lanes` lists in batch order, each site's events all in one list,
    the sites spread so that the lists are about the same size (the biggest site first, each
    into the smallest list). Records that are not events of a site (unknown types, replayed
    events) go with the first list. A batch with a record for the DLQ stays whole: the DLQ's
    flood check stops a batch before it commits anything."""
    if lanes < 2 or len(items) < MIN_RECORDS:
        return [list(items)]
    per_site: Counter[str] = Counter()
    for d in items:
        if d.error is not None:
            return [list(items)]
        if d.event is not None:
            per_site[d.event.source] += 1
    if len(per_site) < 2:
        return [list(items)]
    sizes = [0] * min(lanes, len(per_site))
    lane_of: dict[str, int] = {}
    for site, n in sorted(per_site.items(), key=lambda kv: (-kv[1], kv[0])):
        lane = sizes.index(min(sizes))
        lane_of[site] = lane
        sizes[lane] += n
    out: list[list[Decoded]] = [[] for _ in sizes]
    for d in items:
        out[lane_of[d.event.source] if d.event is not None else 0].append(d)
    return out


def sites_of(items: Sequence[Decoded]) -> set[str]:
    """The sites whose events these are (the site turns a transaction takes)."""
    return {d.event.source for d in items if d.event is not None}


def merge(results: Sequence[BatchResult]) -> BatchResult:
    """The lanes' results as one batch's: commands in lane order (lanes share no pair),
    counts summed, each partition's next offset the highest."""
    out = BatchResult()
    for r in results:
        out.commands.extend(r.commands)
        out.enrol_commands.extend(r.enrol_commands)
        out.counts.update(r.counts)
        out.partition_counts.update(r.partition_counts)
        for tp, offset in r.next_offsets.items():
            out.next_offsets[tp] = max(out.next_offsets.get(tp, 0), offset)
    return out

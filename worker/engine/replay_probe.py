"""When the replay fast path's lookup is worth its cost.

The fast path (`records.decode_batch` with a `seen` lookup) reads every record's envelope
and asks the store which (source, id) it has applied: one statement and an envelope parse
per record, before the decode. On a replay that saves the decode of nearly every record;
on a live stream, where nearly nothing has been applied before, it is pure cost (a fifth of
the store's reads per event, measured: docs/BENCHMARKS.md). The transaction's own check
(`apply_batch`, under the site's turn) finds every duplicate either way, so skipping the
lookup never changes a verdict, only what a replayed record costs.

The rule: look before a partition's first batch (an assignment resumes where a crash or a
new consumer group may re-read applied events), and after a batch at least half of whose
records turned out to be duplicates; not after a batch that was mostly new. A replay that
starts while the lookup is off pays the full decode for one batch, then takes the fast path.
"""

from __future__ import annotations

from dataclasses import dataclass

REPLAY_SHARE = 0.5  # duplicates per record in the last batch from which the lookup pays


@dataclass(slots=True)
class ReplayProbe:
    wanted: bool = True  # the first batch may be a replay

    def on_assignment(self) -> None:
        self.wanted = True

    def after_batch(self, records: int, duplicates: int) -> None:
        self.wanted = records > 0 and duplicates >= REPLAY_SHARE * records

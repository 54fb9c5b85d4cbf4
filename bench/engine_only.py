"""The engine alone, without Kafka: `python -m bench.engine_only --url URL [--events N]`.

Decodes the benchmark's history up front, then applies it in batches to a fresh store
(the URL's database is wiped first) and reports the CPU of this process per event for
applying and for draining the outbox, beside the wall time. A quick loop for store and
engine changes: the end-to-end suite (`bench.run`) stays the figure of record.
`--profile FILE` writes a cProfile of the apply phase.
"""

from __future__ import annotations

import argparse
import cProfile
import time
import zlib

from bench.history import history_records
from worker import gc_policy
from worker.engine.apply import BatchConfig, apply_batch
from worker.engine.records import Decoded, InRecord, decode
from worker.ports import PendingRecord
from worker.store.factory import open_store
from worker.store.tables import metadata


def _records(n: int, partitions: int = 6) -> list[InRecord]:
    _, recs = history_records(n)
    out = []
    for i, (key, value, headers) in enumerate(recs):
        part = zlib.crc32(key) % partitions
        out.append(InRecord("lms.events", part, i, key, value, headers, 1_700_000_000_000))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.engine_only")
    p.add_argument("--url", required=True)
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--profile", default=None)
    p.add_argument("--wall", action="store_true", help="profile wall time, not CPU")
    args = p.parse_args(argv)
    gc_policy.for_batches()  # as `segsync run` does before its first batch

    records = _records(args.events)
    t0 = time.process_time()
    decoded: list[Decoded] = [decode(r) for r in records]
    decode_cpu = time.process_time() - t0

    store = open_store(args.url)
    with store.engine.begin() as conn:
        if store.name == "postgresql":  # no dead rows left behind to slow the next run
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {names}")
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    cfg = BatchConfig(group_id="bench")
    published = 0

    def send(rows: list[PendingRecord]) -> None:
        nonlocal published
        published += len(rows)

    timer = time.perf_counter if args.wall else time.process_time
    prof = cProfile.Profile(timer) if args.profile else None
    apply_cpu = drain_cpu = 0.0
    wall0 = time.monotonic()
    for i in range(0, len(decoded), args.batch):
        part = decoded[i : i + args.batch]
        c0 = time.process_time()
        if prof:
            prof.enable()
        with store.transaction() as tx:
            apply_batch(tx, part, cfg, checkpoint=tx.commit)
        if prof:
            prof.disable()
        c1 = time.process_time()
        store.publish_pending(send)
        drain_cpu += time.process_time() - c1
        apply_cpu += c1 - c0
    wall = time.monotonic() - wall0
    n = len(decoded)
    print(
        f"{store.name}: {n} events, {published} published; wall {wall:.2f} s "
        f"({n / wall:,.0f} events/s); CPU µs/event: decode {1e6 * decode_cpu / n:.1f}, "
        f"apply {1e6 * apply_cpu / n:.1f}, drain {1e6 * drain_cpu / n:.1f}"
    )
    if prof and args.profile:
        prof.dump_stats(args.profile)
    store.close()


if __name__ == "__main__":
    main()

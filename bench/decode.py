"""Decoding cost per record, in-process (no broker): `python -m bench.decode [--records N]`.

The records are the bench history's own (bench.history: its event-type mix, ~20 % binary
content mode, ~1 % duplicates). Printed, µs per record, the best of several rounds:
- full: the pydantic decode (worker.codec.decode_record) and the engine's view of it;
- lean: the lean decoder alone (worker.lean), the full decode's stand-in for common events;
- batch: what the engine runs on batches of new events (worker.engine.records.decode_batch,
  nothing seen before), replay fast path included;
- replay: the same batches when every event was applied before (the replay fast path).
Figures, not assertions: they vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from bench.history import T0_US, history_records
from worker.codec import decode_record, time_to_us
from worker.domain.updates import EventView
from worker.engine import records as rs
from worker.engine.records import InRecord
from worker.errors import InvalidEvent, UnknownEventType

try:  # absent before the lean decoder existed: the script also measures the old code
    from worker.lean import lean_view
except ImportError:  # pragma: no cover
    lean_view = None  # type: ignore[assignment]


def _records(n: int) -> list[InRecord]:
    _, recs = history_records(n)
    ts_ms = T0_US // 1000
    return [
        InRecord("t", 0, i, key, value, headers, ts_ms + i)
        for i, (key, value, headers) in enumerate(recs)
    ]


def _full(rec: InRecord) -> EventView | None:
    try:
        ev = decode_record(rec.value, rec.headers, rec.timestamp_ms)
    except (InvalidEvent, UnknownEventType):
        return None
    data = {k: v for k, v in ev.data.__dict__.items() if isinstance(v, str)}
    return EventView(ev.source, ev.id, ev.type, time_to_us(ev.time), data)


def measure(recs: Sequence[InRecord], batch: int, rounds: int) -> dict[str, float]:
    """µs per record of each way, the best of `rounds` interleaved rounds (so that another
    process's load weighs on every figure alike), the engine's way in batches of `batch`."""
    batches = [recs[i : i + batch] for i in range(0, len(recs), batch)]
    ways: dict[str, Callable[[], object]] = {"full": lambda: [_full(r) for r in recs]}
    if lean_view is not None:
        lean = lean_view
        ways["lean"] = lambda: [lean(r.value, r.headers, r.timestamp_ms) for r in recs]
    ways["batch"] = lambda: [rs.decode_batch(b, lambda ids: set()) for b in batches]
    ways["replay"] = lambda: [rs.decode_batch(b, set) for b in batches]
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(rounds):
        for name, run in ways.items():
            t0 = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - t0)
    return {name: t / len(recs) * 1e6 for name, t in best.items()}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=1000, help="records per engine batch")
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args(argv)
    recs = _records(args.records)
    binary = sum(1 for r in recs if any(k == "ce_id" for k, _ in r.headers))
    _full(recs[0])  # pydantic builds its validators on first use
    figures = measure(recs, args.batch, args.rounds)
    print(
        f"{len(recs)} records of the bench history, {binary / len(recs):.0%} in binary mode, "
        f"batches of {args.batch}, best of {args.rounds} rounds"
    )
    for name, us in figures.items():
        print(f"  {name:7} {us:6.2f} µs/record")
    if "lean" in figures:
        print(f"  full / lean: {figures['full'] / figures['lean']:.1f}x")


if __name__ == "__main__":
    main()

"""The state store port: what the engine, the health sampler and the ops commands need from
the store, as Protocols (docs/adr/0005-state-store-port.md).

`worker.store` implements it twice: `SqliteStore` (the rule in the domain, in Python: the
embedded default and the reference) and `PostgresStore` (set-based statements). Nothing
outside `worker/store/` writes SQL, holds a connection or asks which database it is; the
layering is schemas ← domain ← ports ← adapters / store ← cli.
"""

from __future__ import annotations

from worker.ports.records import (
    CommandMeta,
    HeldBatch,
    HeldRecord,
    OutboxRecord,
    PendingRecord,
    RecordSink,
)
from worker.ports.shapes import (
    TP,
    ELinkRow,
    EPair,
    ERow,
    FactKey,
    Headers,
    LinkRow,
    PairState,
    PairT,
    Saved,
    SiteELinkRow,
    SiteEPair,
    SiteKey,
    SitePair,
)
from worker.ports.store import Sample, StateStore, StoreStatus
from worker.ports.tx import StoreTx

__all__ = [
    "TP",
    "CommandMeta",
    "ELinkRow",
    "EPair",
    "ERow",
    "FactKey",
    "Headers",
    "HeldBatch",
    "HeldRecord",
    "LinkRow",
    "OutboxRecord",
    "PairState",
    "PairT",
    "PendingRecord",
    "RecordSink",
    "Sample",
    "Saved",
    "SiteELinkRow",
    "SiteEPair",
    "SiteKey",
    "SitePair",
    "StateStore",
    "StoreStatus",
    "StoreTx",
]

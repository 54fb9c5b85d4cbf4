"""The lean fetch (worker/adapters/lean_fetch.py) reads a fetched buffer as kafka-python
does: the same records, the same next fetch offset after every take, the same counters,
and an error where kafka-python has one (corrupt, truncated or trailing bytes).

Buffers are built with kafka-python's own batch builder (v2, plain and gzip; v0/v1 message
sets; log-append time and control batches set the way a broker does), so both readers
meet bytes neither of them wrote. Real-broker records:
tests/integration/test_lean_fetch_broker.py."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.consumer.fetcher import Fetcher
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c
from kafka.structs import TopicPartition

from worker.adapters.input_consumer import in_record
from worker.adapters.lean_fetch import LeanPartitionRecords

TP = TopicPartition("events", 3)
Rec = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]

_bytes = st.one_of(st.none(), st.binary(max_size=300))
_header = st.tuples(st.text(max_size=12), st.one_of(st.none(), st.binary(max_size=40)))
_record = st.tuples(
    st.integers(min_value=0, max_value=2**41),  # timestamp, ms
    _bytes,
    _bytes,
    st.lists(_header, max_size=5),
)


def _v2_batch(recs: list[Rec], base: int, gzip: bool, append_time: int | None) -> bytes:
    builder = DefaultRecordBatchBuilder(2, 1 if gzip else 0, False, -1, -1, -1, 1 << 30)
    for i, (ts, key, value, headers) in enumerate(recs):
        builder.append(i * 2, ts, key, value, headers)  # gaps: compaction's offsets
    buf = bytearray(builder.build())
    struct.pack_into(">q", buf, 0, base)
    if append_time is not None:  # as a broker stamps a LogAppendTime topic's batches
        attrs = struct.unpack_from(">h", buf, DefaultRecordBatch.ATTRIBUTES_OFFSET)[0]
        struct.pack_into(">h", buf, DefaultRecordBatch.ATTRIBUTES_OFFSET, attrs | 0x08)
        struct.pack_into(">q", buf, DefaultRecordBatch.ATTRIBUTES_OFFSET + 2 + 4 + 8, append_time)
        _recrc(buf)
    return bytes(buf)


def _recrc(buf: bytearray) -> None:
    crc = calc_crc32c(memoryview(buf)[DefaultRecordBatch.ATTRIBUTES_OFFSET :])
    struct.pack_into(">I", buf, DefaultRecordBatch.CRC_OFFSET, crc)


def _control_batch(base: int) -> bytes:
    """A commit marker, as a broker writes one: a control batch of one record."""
    builder = DefaultRecordBatchBuilder(2, 0, True, 7, 0, -1, 1 << 20)
    builder.append(0, 1_700_000_000_000, b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00", [])
    buf = bytearray(builder.build())
    struct.pack_into(">q", buf, 0, base)
    attrs = struct.unpack_from(">h", buf, DefaultRecordBatch.ATTRIBUTES_OFFSET)[0]
    struct.pack_into(">h", buf, DefaultRecordBatch.ATTRIBUTES_OFFSET, attrs | 0x20)
    _recrc(buf)
    return bytes(buf)


def _legacy_batch(recs: list[Rec], magic: int) -> bytes:
    builder = LegacyRecordBatchBuilder(magic, 0, 1 << 30)
    for i, (ts, key, value, _) in enumerate(recs):
        builder.append(i, ts if magic else None, key, value)
    return bytes(builder.build())


def _read(cls: Any, data: bytes, takes: list[int], check_crcs: bool = True) -> Any:
    """Every record in takes of the given sizes (then the rest), the next fetch offset after
    each take, the counters; or the error where reading stopped, after what came before."""
    part = cls(0, TP, MemoryRecords(data), check_crcs=check_crcs)
    got: list[Any] = []
    after: list[int] = []
    error: str | None = None
    try:
        for n in [*takes, None, None]:
            if not part:
                break
            for r in part.take(n):
                got.append(
                    r if cls is LeanPartitionRecords else in_record(TP.topic, TP.partition, r)
                )
            after.append(part.next_fetch_offset)
    except Exception as exc:
        error = type(exc).__name__
    return (
        [(r.offset, r.key, r.value, list(r.headers), r.timestamp_ms) for r in got],
        after,
        (
            part.records_read,
            part.bytes_read,
            error,
        ),
    )


def _same(data: bytes, takes: list[int], check_crcs: bool = True) -> None:
    plain = _read(Fetcher.PartitionRecords, data, takes, check_crcs)
    lean = _read(LeanPartitionRecords, data, takes, check_crcs)
    assert lean == plain


_batches = st.lists(
    st.tuples(
        st.lists(_record, min_size=1, max_size=12),
        st.booleans(),  # gzip
        st.one_of(st.none(), st.integers(min_value=0, max_value=2**41)),  # log-append time
        st.booleans(),  # a control batch after it
    ),
    min_size=1,
    max_size=4,
)


def _buffer(batches: list[tuple[list[Rec], bool, int | None, bool]]) -> bytes:
    out = b""
    base = 100
    for recs, gzip, append_time, control in batches:
        out += _v2_batch(recs, base, gzip, append_time)
        base += 2 * len(recs)
        if control:
            out += _control_batch(base)
            base += 1
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batches, st.lists(st.integers(min_value=1, max_value=9), max_size=4))
def test_v2_batches_read_the_same(batches: Any, takes: list[int]) -> None:
    _same(_buffer(batches), takes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batches, st.data())
def test_damaged_buffers_fail_the_same_way(batches: Any, data: st.DataObject) -> None:
    buf = bytearray(_buffer(batches))
    i = data.draw(st.integers(min_value=0, max_value=len(buf) - 1))
    how = data.draw(st.sampled_from(["flip", "cut", "trail"]))
    if how == "flip":
        buf[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    elif how == "cut":
        del buf[i:]
    else:
        buf += b"\x00" * data.draw(st.integers(min_value=1, max_value=30))
    # With the CRC checked (the worker's setting) and without: the record parser itself.
    _same(bytes(buf), [], check_crcs=True)
    _same(bytes(buf), [3], check_crcs=False)


def test_a_record_with_bytes_left_over_in_its_batch_fails_like_kafka_python() -> None:
    # Records' lengths agree but the batch carries bytes after its last record.
    buf = bytearray(_v2_batch([(1, b"k", b"v", [])], 0, False, None))
    buf += b"\x02\x00"
    struct.pack_into(">i", buf, 8, len(buf) - 12)
    _recrc(buf)
    plain = _read(Fetcher.PartitionRecords, bytes(buf), [])
    assert plain[2][2] == "CorruptRecordError"
    assert _read(LeanPartitionRecords, bytes(buf), []) == plain


@settings(max_examples=100, deadline=None)
@given(st.lists(_record, min_size=1, max_size=10), st.sampled_from([0, 1]))
def test_old_message_sets_read_the_same(recs: list[Rec], magic: int) -> None:
    _same(_legacy_batch(recs, magic), [2])

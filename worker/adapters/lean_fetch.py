"""The consumer's records, parsed straight into the engine's form (ADR 0019).

kafka-python reads a fetched record batch one record at a time through layers the worker
does not use: a `DefaultRecord` per record (the batch's timestamp type and control flag
looked up again for each), then a `ConsumerRecord` with the key's, value's and headers'
sizes summed (each header key encoded again), two calls to absent deserializers, and then
the worker copied it once more into an `InRecord`. Reading a replayed topic, that was most
of the worker's time per record (docs/BENCHMARKS.md). `LeanPartitionRecords` keeps
kafka-python's batch handling as it is (CRC check, aborted transactions, control batches,
the next fetch offset) and reads a v2 batch's records in one loop straight into
`InRecord`s: the same offsets, keys, values, headers and timestamps
(tests/integration/test_lean_fetch_broker.py holds the two equal on a real broker: plain and
compressed batches, null keys, values and header values, log-append time, transactions).

Message sets older than v2 and a consumer with deserializers go kafka-python's own way
(the same records, then copied into `InRecord`s). `install` checks once that the consumer's
internals are the ones read here (another kafka-python version: the consumer is left as
it is and the caller converts its records)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.protocol.consumer import IsolationLevel
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.util import decode_varint

from worker.adapters.input_consumer import in_record
from worker.engine.records import InRecord

_log = logging.getLogger("kafka.consumer.fetcher")
_Base: Any = Fetcher.PartitionRecords
_BATCH_PARTS = ("_buffer", "_pos", "_maybe_uncompress", "base_offset", "records_count")
_PARTS = ("_unpack_records", "_consume_aborted_transactions_up_to", "_contains_abort_marker")


def install(consumer: KafkaConsumer) -> bool:
    """Has `consumer` return `InRecord`s from now on; False (and the consumer untouched)
    when its internals or configuration are not the ones this reads."""
    fetcher = getattr(consumer, "_fetcher", None)
    config = getattr(fetcher, "config", {})
    if (
        fetcher is None
        or getattr(fetcher, "PartitionRecords", None) is not _Base
        or config.get("key_deserializer") is not None
        or config.get("value_deserializer") is not None
        or not all(hasattr(_Base, p) for p in (*_PARTS, "_is_batch_aborted"))
        or not all(hasattr(DefaultRecordBatch, p) for p in _BATCH_PARTS)
    ):
        return False
    fetcher.PartitionRecords = LeanPartitionRecords
    return True


class LeanPartitionRecords(_Base):  # type: ignore[misc]
    def _unpack_records(
        self, tp: Any, records: Any, key_deserializer: Any, value_deserializer: Any
    ) -> Iterator[InRecord]:
        # kafka-python's own _unpack_records, but for the record loop (see the module).
        try:
            batch = records.next_batch()
            last_batch = None
            while batch is not None:
                last_batch = batch
                if self.check_crcs and not batch.validate_crc():
                    raise CorruptRecordError(
                        f"Record batch for partition {self.topic_partition} at offset "
                        f"{batch.base_offset} failed crc check"
                    )
                if batch.magic == 2:
                    self.leader_epoch = batch.leader_epoch
                    if (
                        self.isolation_level == IsolationLevel.READ_COMMITTED
                        and batch.has_producer_id()
                    ):
                        self._consume_aborted_transactions_up_to(batch.last_offset)
                        producer_id = batch.producer_id
                        if self._contains_abort_marker(batch):
                            self.aborted_producer_ids.discard(producer_id)
                        elif self._is_batch_aborted(batch):
                            _log.debug("Skipping aborted record batch of %s", self.topic_partition)
                            self.next_fetch_offset = batch.next_offset
                            batch = records.next_batch()
                            continue
                    if batch.is_control_batch:  # never returned to the consumer
                        self.next_fetch_offset = batch.next_offset
                        batch = records.next_batch()
                        continue
                    yield from self._v2(tp.topic, tp.partition, batch)
                else:
                    yield from self._old(tp.topic, tp.partition, batch)
                batch = records.next_batch()
            else:
                # As kafka-python: past the batch's last offset, even if compaction removed it.
                if last_batch is not None and last_batch.magic == 2:
                    self.next_fetch_offset = last_batch.next_offset
                self.drain()
        except StopIteration as exc:  # a generator would swallow it (kafka-python #545)
            raise RuntimeError("StopIteration raised unpacking messageset") from exc

    def _old(self, topic: str, partition: int, batch: Any) -> Iterator[InRecord]:
        for r in batch:
            if self.check_crcs and not r.validate_crc():
                raise CorruptRecordError(
                    f"Record for partition {self.topic_partition} at offset {r.offset} "
                    "failed crc check"
                )
            self.records_read += 1
            self.bytes_read += r.size_in_bytes
            self.next_fetch_offset = r.offset + 1
            yield in_record(topic, partition, r)

    def _v2(self, topic: str, partition: int, batch: DefaultRecordBatch) -> Iterator[InRecord]:
        """The records of one v2 batch, as DefaultRecordBatch._read_msg reads them."""
        batch._maybe_uncompress()
        buf = bytes(batch._buffer)  # one copy: slices of bytes are bytes (one copy each)
        pos = batch._pos
        base = batch.base_offset
        first_ts = batch.first_timestamp
        append_ts = batch.max_timestamp if batch.timestamp_type == batch.LOG_APPEND_TIME else None
        varint = decode_varint
        # The counters are kafka-python's metrics, read when the batch is drained: kept here
        # and written back below (next_fetch_offset is exact at every record: a take ends
        # anywhere).
        records_read = bytes_read = 0
        try:
            for _ in range(batch.records_count):
                length, pos = varint(buf, pos)
                body = pos
                b = buf[pos]  # attributes: unused (as kafka-python)
                pos = pos + 1 if b < 0x80 else varint(buf, pos)[1]
                # A single-byte varint (zigzag: nearly every delta and length) is read inline,
                # longer ones by kafka-python's decoder. Inline, not a helper: one call per
                # field made the whole read ~15 % slower (4.0 -> 4.6 µs a record, measured).
                b = buf[pos]
                if b < 0x80:
                    ts_delta, pos = (b >> 1) ^ -(b & 1), pos + 1
                else:
                    ts_delta, pos = varint(buf, pos)
                b = buf[pos]
                if b < 0x80:
                    offset_delta, pos = (b >> 1) ^ -(b & 1), pos + 1
                else:
                    offset_delta, pos = varint(buf, pos)
                b = buf[pos]
                if b < 0x80:
                    n, pos = (b >> 1) ^ -(b & 1), pos + 1
                else:
                    n, pos = varint(buf, pos)
                key = None
                if n >= 0:
                    key, pos = buf[pos : pos + n], pos + n
                n, pos = varint(buf, pos)
                value = None
                if n >= 0:
                    value, pos = buf[pos : pos + n], pos + n
                b = buf[pos]
                if b < 0x80:
                    count, pos = (b >> 1) ^ -(b & 1), pos + 1
                else:
                    count, pos = varint(buf, pos)
                if count < 0:
                    raise CorruptRecordError(f"Found invalid number of record headers {count}")
                headers: list[tuple[str, bytes | None]] = []
                for _ in range(count):
                    b = buf[pos]
                    if b < 0x80:
                        n, pos = (b >> 1) ^ -(b & 1), pos + 1
                    else:
                        n, pos = varint(buf, pos)
                    if n < 0:
                        raise CorruptRecordError(f"Invalid negative header key size {n}")
                    h_key, pos = buf[pos : pos + n].decode(), pos + n
                    b = buf[pos]
                    if b < 0x80:
                        n, pos = (b >> 1) ^ -(b & 1), pos + 1
                    else:
                        n, pos = varint(buf, pos)
                    if n >= 0:
                        headers.append((h_key, buf[pos : pos + n]))
                        pos += n
                    else:
                        headers.append((h_key, None))
                if pos - body != length:
                    raise CorruptRecordError(
                        f"Invalid record size: expected to read {length} bytes in record "
                        f"payload, but instead read {pos - body}"
                    )
                offset = base + offset_delta
                records_read += 1
                bytes_read += length  # kafka-python's size_in_bytes
                self.next_fetch_offset = offset + 1
                ts = first_ts + ts_delta if append_ts is None else append_ts
                yield InRecord(topic, partition, offset, key, value, headers, ts)
        except (ValueError, IndexError) as err:
            raise CorruptRecordError(f"Found invalid record structure: {err!r}") from err
        finally:
            self.records_read += records_read
            self.bytes_read += bytes_read
        if pos != len(buf):
            raise CorruptRecordError(
                f"{len(buf) - pos} unconsumed bytes after all records consumed"
            )

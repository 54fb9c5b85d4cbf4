"""Coverage-guided fuzzing of the decoder with atheris (libFuzzer for Python).

    python -m tests.support.faults_atheris -runs=50000 -max_total_time=60 [corpus_dir]

The fuzzer's bytes are split into a record value, up to 12 headers and a timestamp; the
decoder (worker.codec.decode_record, and worker.engine.records.decode around it) may
return an event or raise InvalidEvent / UnknownEventType - anything else is a crash,
which atheris reports with the input that caused it (exit code != 0).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from typing import Any

SEEDS: list[bytes] = [
    json.dumps(
        {
            "specversion": "1.0",
            "id": "e1",
            "source": "site-0",
            "type": t,
            "time": "2024-05-01T12:00:00Z",
            "data": data,
        }
    ).encode()
    for t, data in [
        ("lms.enrollment.created", {"user_id": "u1", "course_id": "c1"}),
        ("lms.segment.member.removed", {"user_id": 7, "segment_id": "S1"}),
        (
            "lms.segment_group_link.created",
            {"link_id": "l1", "course_id": "c1", "segment_id": "S1", "group_id": "g1"},
        ),
        ("lms.course.deleted", {"course_id": "c1"}),
        ("lms.badge.awarded", {}),
    ]
]


def _atheris() -> Any:
    return importlib.import_module("atheris")  # no type stubs; absent outside the fuzz run


BINARY_SEED = (
    b"ce_specversion:1.0\nce_id:e1\nce_source:site-0\nce_type:lms.course.deleted\n"
    b"ce_time:2024-05-01T12:00:00Z\ncontent-type:application/json\0\0"
    b'{"course_id": "c1"}'
)
# First byte: the mode (structured without / with content type, binary, free-form);
# the rest is the record in that mode - so that mutations of a valid seed stay close to
# valid and reach the validation paths, not only the JSON parser.
CORPUS = [b"\x00" + SEEDS[0], *(b"\x01" + s for s in SEEDS), b"\x02" + BINARY_SEED]


def _split(data: bytes) -> tuple[bytes | None, list[tuple[str, bytes | None]], int]:
    mode, body = data[0] % 4, data[1:]
    if mode == 0:
        return body, [], 1_714_564_800_000
    if mode == 1:
        return body, [("content-type", b"application/cloudevents+json")], 1_714_564_800_000
    if mode == 2:
        head, _, value = body.partition(b"\0\0")
        headers: list[tuple[str, bytes | None]] = []
        for line in head.split(b"\n"):
            name, sep, raw = line.partition(b":")
            headers.append((name.decode("utf-8", "replace"), raw if sep else None))
        return value, headers, -1 if value.endswith(b"!") else 1_714_564_800_000
    fdp = _atheris().FuzzedDataProvider(body)
    headers = []
    names = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"]
    for _ in range(fdp.ConsumeIntInRange(0, 12)):
        name = names[fdp.ConsumeIntInRange(0, 5)] if fdp.ConsumeBool() else fdp.ConsumeUnicode(8)
        headers.append((name, None if fdp.ConsumeIntInRange(0, 15) == 0 else fdp.ConsumeBytes(40)))
    ts = fdp.ConsumeIntInRange(-(2**63), 2**63 - 1)
    rest: bytes | None = fdp.ConsumeBytes(fdp.remaining_bytes()) if fdp.ConsumeBool() else None
    return rest, headers, ts


def one_input(data: bytes) -> None:
    from worker.codec import decode_record
    from worker.engine.records import InRecord, decode
    from worker.errors import InvalidEvent, UnknownEventType

    if not data:
        return
    value, headers, ts = _split(data)
    with contextlib.suppress(InvalidEvent, UnknownEventType):
        decode_record(value, headers, ts)
    d = decode(InRecord("t", 0, 0, None, value, headers, ts))
    outcomes: list[Any] = [d.event, d.error, d.unknown_type]
    if sum(o is not None for o in outcomes) != 1:
        raise AssertionError(f"records.decode gave {outcomes!r}")


def main(argv: list[str]) -> None:
    atheris = _atheris()

    with atheris.instrument_imports():
        import schemas.events  # noqa: F401
        import worker.codec
        import worker.engine.records  # noqa: F401

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

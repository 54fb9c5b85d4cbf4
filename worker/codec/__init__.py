"""Kafka record <-> CloudEvent: decoding input events (`decode`), encoding group and
enrolment commands (`encode`), and the times both write and read (`times`)."""

from __future__ import annotations

from worker.codec.decode import decode_record, long_digits, media_type
from worker.codec.encode import (
    COMMAND_CONTENT_TYPE,
    COMMAND_HEADER,
    encode_command,
    encode_enrol_command,
)
from worker.codec.times import time_to_us, us_to_rfc3339

__all__ = [
    "COMMAND_CONTENT_TYPE",
    "COMMAND_HEADER",
    "decode_record",
    "encode_command",
    "encode_enrol_command",
    "long_digits",
    "media_type",
    "time_to_us",
    "us_to_rfc3339",
]

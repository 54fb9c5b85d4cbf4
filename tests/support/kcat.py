"""Producing with kcat (librdkafka), for what kafka-python refuses to send: a record header
whose value is null. scripts/kcat.sh installs kcat into .cache/ when it is not on PATH."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

KCAT = str(Path(__file__).resolve().parents[2] / "scripts" / "kcat.sh")


def produce_one(
    bootstrap: str,
    topic: str,
    key: bytes,
    value: bytes,
    headers: Sequence[tuple[str, bytes | None]],
    partition: int = 0,
) -> None:
    """One record, value sent whole (a file argument); a None header value is sent as null
    (`-H name` without `=`)."""
    args = [KCAT, "-P", "-b", bootstrap, "-t", topic, "-p", str(partition), "-k", key.decode()]
    args += ["-X", "acks=all", "-q"]
    for name, val in headers:
        args += ["-H", name if val is None else f"{name}={val.decode()}"]
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(value)
        f.flush()
        subprocess.run([*args, f.name], check=True, capture_output=True, timeout=120)

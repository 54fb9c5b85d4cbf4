"""Reading a worker's JSON log (SEGSYNC_LOG_FORMAT=json, as WorkerEnv sets it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def log_lines(path: Path, message: str) -> list[dict[str, Any]]:
    """The JSON log lines of one worker whose message is `message`, in order."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("event") == message:
            out.append(d)
    return out


def assignments(path: Path) -> list[set[str]]:
    """Every assignment the worker logged ("topic:partition" names), oldest first."""
    return [set(d["partitions"]) for d in log_lines(path, "partitions assigned")]

"""The committed profile names source files within the project, the installed library or the
Python version: never the path of the machine that ran it (bench/profiling.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.profiling import _speedscope
from bench.services import ROOT

LIB = str(Path(json.__file__).parent.parent)  # this interpreter's standard library


def test_a_py_spy_file_is_rewritten_without_machine_paths(tmp_path: Path) -> None:
    site = next(p for p in sys.path if p.endswith("site-packages"))
    frames = [
        {"name": "_user_chunk", "file": str(ROOT / "worker/engine/recompute.py"), "line": 72},
        {"name": "execute", "file": f"{site}/psycopg/cursor.py", "line": 100},
        {"name": "wait", "file": f"{LIB}/threading.py", "line": 320},
    ]
    profile = {"type": "sampled", "unit": "seconds", "samples": [[0, 1], [0, 2]], "weights": [2, 1]}
    raw = tmp_path / "p.speedscope.json"
    raw.write_text(json.dumps({"shared": {"frames": frames}, "profiles": [profile]}))

    self_t, incl, total = _speedscope(raw)

    text = raw.read_text()
    assert str(ROOT) not in text and site not in text and LIB not in text
    files = [f["file"] for f in json.loads(text)["shared"]["frames"]]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert files == ["worker/engine/recompute.py", "psycopg/cursor.py", f"{version}/threading.py"]
    assert total == 3.0
    assert self_t[("execute", "psycopg/cursor.py:100")] == 2.0
    assert incl[("_user_chunk", "worker/engine/recompute.py:72")] == 3.0

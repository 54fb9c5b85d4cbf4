"""Things said once: the event type names live in schemas.event_types (no worker module
spells one), and the benchmarks share helpers with the tests through `harness`, never by
importing tests/."""

from __future__ import annotations

import ast
from pathlib import Path

from schemas import event_types

ROOT = Path(__file__).resolve().parents[2]


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_no_worker_module_spells_an_event_type() -> None:
    names = set(event_types.ALL)
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}"
        for path in _sources("worker")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert found == []


def test_bench_and_harness_do_not_import_tests() -> None:
    found = []
    for path in _sources("bench") + _sources("harness"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            else:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            found += [f"{where} {m}" for m in mods if m.split(".")[0] == "tests"]
    assert found == []

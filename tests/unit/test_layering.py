"""The layering, read from the source: schemas ← domain ← ports ← adapters / store ← cli.

Only `worker/store/` may import the database libraries or look at the dialect; the engine,
the domain and the port never import the store or the adapters; and no module imports
itself back through others (no import cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DB_LIBRARIES = {"sqlalchemy", "psycopg", "psycopg2", "alembic", "sqlite3"}
# package -> worker packages it must never import
FORBIDDEN = {
    "worker.domain": {"worker.ports", "worker.engine", "worker.store", "worker.adapters"},
    "worker.ports": {"worker.engine", "worker.store", "worker.adapters", "worker.cli"},
    "worker.engine": {"worker.store", "worker.adapters", "worker.cli", "worker.ops"},
    "worker.store": {"worker.engine", "worker.adapters", "worker.cli", "worker.ops"},
    "worker.observability": {"worker.store", "worker.adapters", "worker.cli"},
    # The settings sit under everything that reads them (a function-level import counts).
    "worker.settings": {
        "worker.adapters",
        "worker.engine",
        "worker.store",
        "worker.observability",
        "worker.ops",
        "worker.cli",
    },
}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "worker").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> set[str]:
    """Every module imported anywhere in the file (function-level imports included), except
    under `if TYPE_CHECKING:`, which never runs."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for other in node.orelse:
                visit(other)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_only_the_store_touches_the_database() -> None:
    offenders = []
    for name, path in modules().items():
        if _within(name, "worker.store"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        libs = {i.split(".")[0] for i in imports(path)} & DB_LIBRARIES
        if libs:
            offenders.append(f"{name} imports {sorted(libs)}")
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and n.attr in ("dialect", "is_postgres"):
                offenders.append(f"{name}:{n.lineno} asks for the dialect")
            if isinstance(n, ast.Name) and n.id in ("Connection", "is_postgres"):
                offenders.append(f"{name}:{n.lineno} holds a {n.id}")
    assert offenders == []


def test_layers_import_only_downwards() -> None:
    known = modules()
    offenders = []
    for name, path in known.items():
        for package, banned in FORBIDDEN.items():
            if not _within(name, package):
                continue
            for imported in imports(path):
                hit = [b for b in banned if _within(imported, b)]
                if hit:
                    offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_no_import_cycles() -> None:
    known = modules()
    graph = {
        name: {i for i in imports(path) if i in known and i != name} for name, path in known.items()
    }
    # A package's __init__ is imported with its submodules: not an edge back to the package.
    graph = {n: {i for i in deps if not _within(n, i)} for n, deps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    assert cycles == []


@pytest.mark.parametrize("source", ["import a.b", "from a import b", "def f():\n import a.b"])
def test_the_checker_sees_imports(tmp_path: Path, source: str) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    assert "a.b" in imports(path)


def test_the_checker_skips_type_checking_only(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("if TYPE_CHECKING:\n import a\nelse:\n import b\n")
    assert imports(path) == {"b"}

"""Keys that carry their site: grouping them per site, and a pair's state from its rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from worker.ports import PairState

K = TypeVar("K")
V = TypeVar("V")


def pair_state_of(
    links: dict[K, set[str]], history: dict[K, tuple[int, int | None]]
) -> dict[K, PairState]:
    """Each pair's state: the links justifying it now, its transition count, the held
    batch its last command waits behind."""
    out: dict[K, PairState] = {p: (frozenset(a), 0, None) for p, a in links.items()}
    for p, (count, held) in history.items():
        out[p] = (out[p][0] if p in out else frozenset(), count, held)
    return out


def by_site(keys: Iterable[tuple[str, V]]) -> dict[str, list[V]]:
    """(site, value) keys, grouped per site in the order they came."""
    out: dict[str, list[V]] = {}
    for s, v in keys:
        out.setdefault(s, []).append(v)
    return out

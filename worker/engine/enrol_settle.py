"""Enrolment pairs settled: the enrol justification diff applied, each touched (course,
user) pair compared with its command history, and owed enrol / unenrol commands written to
the outbox in the same transaction (the group side is `worker.engine.settle`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from schemas.commands import ENROL_TYPE, UNENROL_TYPE
from worker.codec import COMMAND_HEADER, encode_enrol_command
from worker.destinations import ENROL_COMMAND
from worker.domain.enrol import EnrolCommand, EnrolLinkState, EnrolPairKey, decide_enrol
from worker.domain.transitions import Cause, owes_command
from worker.engine.settle import Owed
from worker.ports import (
    CommandMeta,
    EPair,
    ERow,
    Headers,
    OutboxRecord,
    PairState,
    SiteEPair,
    StoreTx,
)

_NONE: PairState = (frozenset(), 0, None)  # no links, no history
_EMPTY: frozenset[str] = frozenset()
CausesFor = Callable[[EPair, frozenset[str]], list[Cause]]
SiteCausesFor = Callable[[str, EPair, frozenset[str]], list[Cause]]
SiteDiff = tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]


def settle(
    tx: StoreTx,
    source: str,
    inserts: set[ERow],
    deletes: set[ERow],
    states: dict[str, EnrolLinkState],
    causes_for: CausesFor,
    hold: int | None,
) -> list[EnrolCommand]:
    diffs = {source: (inserts, deletes, states)}
    return settle_sites(tx, diffs, lambda _, p, links: causes_for(p, links), hold)


def settle_sites(
    tx: StoreTx,
    diffs: dict[str, SiteDiff],
    causes_for: SiteCausesFor,
    hold: int | None,
) -> list[EnrolCommand]:
    """Apply several sites' enrol justification diffs and settle their pairs: one statement
    per step for every site."""
    diffs = {s: d for s, d in diffs.items() if d[0] or d[1]}
    if not diffs:
        return []
    tx.enrol_apply_diff({s: (d[0], d[1]) for s, d in diffs.items()})
    added: dict[SiteEPair, set[str]] = defaultdict(set)
    dropped: dict[SiteEPair, set[str]] = defaultdict(set)
    for s, (inserts, deletes, _) in diffs.items():
        for link_id, user, course in inserts:
            added[(s, course, user)].add(link_id)
        for link_id, user, course in deletes:
            dropped[(s, course, user)].add(link_id)
    touched = set(added) | set(dropped)
    pair_states = tx.enrol_pair_states(touched)
    states = {(s, a): st for s, d in diffs.items() for a, st in d[2].items()}
    every = {(p[0], a) for p, st in pair_states.items() for a in st[0]}
    every |= {(p[0], a) for p, v in dropped.items() for a in v}
    missing = every - set(states)
    if missing:
        states.update(tx.enrol_link_states(missing))
    attrs: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for (s, a), st in states.items():
        attrs[s][a] = (st.role, st.on_leave)
    commands: list[EnrolCommand] = []
    owed: Owed[EPair] = Owed()
    for sp in sorted(touched):
        s, p = sp[0], (sp[1], sp[2])
        after, count, queued_behind = pair_states.get(sp, _NONE)
        if not owes_command(count, after):
            continue  # its history already says what its links say: no causes to gather
        before = (after - added.get(sp, _EMPTY)) | dropped.get(sp, _EMPTY)
        pair = EnrolPairKey(*sp)
        cmd = decide_enrol(pair, count, before, after, attrs[s], causes_for(s, p, before | after))
        if cmd is None:
            continue
        commands.append(cmd)
        # A pair with held commands queues later ones behind them: per-pair order survives.
        batch = queued_behind or (hold if cmd.kind == "unenrol" else None)
        owed.add(s, p, cmd, to_record(cmd), batch, (p[0], "", p[1]))
    owed.write(tx, tx.enrol_save_transitions)
    return commands


def to_record(cmd: EnrolCommand) -> OutboxRecord:
    p = cmd.pair
    value = encode_enrol_command(
        command_id=cmd.command_id,
        source=p.source,
        kind=cmd.kind,
        course_id=p.course_id,
        user_id=p.user_id,
        link_ids=cmd.link_ids,
        roles=cmd.roles,
        on_leave=cmd.on_leave,
        reason=cmd.reason,
        caused_by=cmd.caused_by,
        time_us=cmd.time_us,
    )
    headers: Headers = [COMMAND_HEADER]
    ce_type = ENROL_TYPE if cmd.kind == "enrol" else UNENROL_TYPE
    meta = CommandMeta(ce_type, cmd.reason, cmd.time_us)
    return OutboxRecord(ENROL_COMMAND, p.user_id.encode(), value, headers, meta=meta)

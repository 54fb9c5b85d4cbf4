"""Enrolment pairs settled: the enrol justification diff applied, each touched (course,
user) pair compared with its command history, and owed enrol / unenrol commands written to
the outbox in the same transaction (the group side is `worker.engine.settle`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from schemas.commands import ENROL_TYPE, UNENROL_TYPE
from worker.codec import encode_enrol_command
from worker.destinations import ENROL_COMMAND
from worker.domain.enrol import EnrolCommand, EnrolLinkState, EnrolPairKey, decide_enrol
from worker.domain.transitions import Cause
from worker.engine.owed import Owed, link_deltas, outbox_record, owed_commands
from worker.ports import EPair, ERow, OutboxRecord, SiteEPair, StoreTx

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
    added, dropped = link_deltas(((s, d[0], d[1]) for s, d in diffs.items()), _site_pair)
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

    def decide_one(
        sp: SiteEPair, count: int, before: frozenset[str], after: frozenset[str]
    ) -> EnrolCommand | None:
        causes = causes_for(sp[0], sp[1:], before | after)
        return decide_enrol(EnrolPairKey(*sp), count, before, after, attrs[sp[0]], causes)

    commands: list[EnrolCommand] = []
    owed: Owed[EPair] = Owed()
    owing = owed_commands(touched, pair_states, added, dropped, decide_one, hold, "unenrol")
    for sp, cmd, batch in owing:
        commands.append(cmd)
        owed.add(sp[0], (sp[1], sp[2]), cmd, to_record(cmd), batch, (sp[1], "", sp[2]))
    owed.write(tx, tx.enrol_save_transitions)
    return commands


def _site_pair(source: str, row: ERow) -> SiteEPair:
    return (source, row[2], row[1])  # row: (link, user, course)


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
    ce_type = ENROL_TYPE if cmd.kind == "enrol" else UNENROL_TYPE
    return outbox_record(ENROL_COMMAND, p.user_id, value, ce_type, cmd.reason, cmd.time_us)

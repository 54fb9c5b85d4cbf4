"""The pure rules of enrolment methods and segment sync enrolment, against the independent
reference (tests/support/reference.py), without a store: every random history, folded in any
order with duplicates through the domain's own functions, gives the reference's desired()
and desired_enrol()."""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from tests.support.histories import random_history, shuffled_with_duplicates
from tests.support.reference import EnrolPair, Ev, Pair, desired, desired_enrol
from worker.domain.enrol import (
    ENROL_NAMESPACE,
    EnrolLinkState,
    EnrolPairKey,
    decide_enrol,
    enrol_command_id,
    enrol_justified,
)
from worker.domain.facts import Fact, enrolment_of, fold, fold_marks
from worker.domain.justify import LinkState, justified
from worker.domain.transitions import Cause, PairKey, command_id, owes_command
from worker.domain.updates import EventView, FactUpdate, MarkUpdate, to_update


def _view(e: Ev) -> EventView:
    data = dict(e.data)
    if e.type.startswith("lms.enrollment."):
        data.setdefault("method", "")
    if e.type == "lms.segment_enrol_link.created":
        data.setdefault("role", "student")
        data.setdefault("on_leave", "unenrol")
    return EventView(e.source, e.id, e.type, e.time_us, data)


def domain_state(events: list[Ev]) -> tuple[set[Pair], set[EnrolPair]]:
    """desired() and desired_enrol() from the domain's fold, enrolment_of and rules."""
    facts: dict[str, dict[tuple[str, ...], Fact]] = defaultdict(dict)
    marks: dict[str, dict[tuple[str, ...], int]] = defaultdict(dict)
    seen: set[tuple[str, str]] = set()
    for order, e in enumerate(events):
        if (e.source, e.id) in seen:
            continue
        seen.add((e.source, e.id))
        upd = to_update(_view(e), order)
        if isinstance(upd, FactUpdate):
            facts[upd.kind].update(fold(facts[upd.kind], [(upd.key, upd.fact)]).write)
        else:
            assert isinstance(upd, MarkUpdate)
            marks[upd.kind].update(fold_marks(marks[upd.kind], [(upd.key, upd.at)]).write)
    by_pair: dict[tuple[str, str, str], list[Fact]] = defaultdict(list)
    for (s, c, u, _m), f in facts["enrollment"].items():
        by_pair[(s, c, u)].append(f)
    enrolments = {k: enrolment_of(v) for k, v in by_pair.items()}
    members = facts["membership"]
    out: set[Pair] = set()
    for (s, link_id), f in facts["link"].items():
        if f.attrs is None:
            continue
        c, seg, g = f.attrs
        state = LinkState(
            link_id, c, seg, g, f.active, f.time_us,
            marks["course"].get((s, c)), marks["segment"].get((s, seg)),
            marks["group"].get((s, c, g)),
        )  # fmt: skip
        for (s2, c2, u), enr in enrolments.items():
            mem = members.get((s, seg, u))
            if not (s2 == s and c2 == c and enr is not None and mem is not None):
                continue
            if justified(state, (enr.active, enr.time_us), (mem.active, mem.time_us)):
                out.add((s, c, g, u))
    out_enrol: set[EnrolPair] = set()
    for (s, link_id), f in facts["enrol_link"].items():
        if f.attrs is None:
            continue
        c, seg, role, leave = f.attrs
        el = EnrolLinkState(
            link_id, c, seg, role, leave, f.active, f.time_us,
            marks["course"].get((s, c)), marks["segment"].get((s, seg)),
        )  # fmt: skip
        for (s2, seg2, u), mem in members.items():
            if s2 == s and seg2 == seg and enrol_justified(el, (mem.active, mem.time_us)):
                out_enrol.add((s, c, u))
    return out, out_enrol


@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 120),
    span=st.sampled_from([3, 40]),
    dup=st.sampled_from([0.0, 0.3]),
)
def test_domain_agrees_with_the_reference_in_any_order(
    seed: int, n: int, span: int, dup: float
) -> None:
    rng = random.Random(seed)
    history = random_history(rng, n, time_span=span, enrol=True)
    delivered = shuffled_with_duplicates(rng, history, dup)
    groups, enrols = domain_state(delivered)
    assert groups == desired(history)
    assert enrols == desired_enrol(history)


FACTS = st.lists(
    st.tuples(st.integers(0, 6), st.text("ab", min_size=1, max_size=2), st.booleans()),
    min_size=1,
    max_size=6,
)


@given(FACTS, st.one_of(st.none(), st.integers(0, 6)))
def test_one_enrolment_from_many_methods(
    methods: list[tuple[int, str, bool]], course_deleted: int | None
) -> None:
    """enrolled(U, C) with a course deletion mark: some method's newest event is `created`
    after the deletion, exactly when the aggregate says so."""
    facts = [Fact(t, i, a) for t, i, a in methods]
    agg = enrolment_of(facts)
    assert agg is not None
    want = any(f.active and (course_deleted is None or f.time_us > course_deleted) for f in facts)
    got = agg.active and (course_deleted is None or agg.time_us > course_deleted)
    assert got == want
    assert enrolment_of(list(reversed(facts))) == agg


def test_two_methods_one_ends() -> None:
    manual = Fact(10, "e1", True)
    sync_created, sync_deleted = Fact(11, "e2", True), Fact(12, "e3", False)
    assert enrolment_of([manual, sync_created]) == sync_created
    # Segment sync ends: the manual enrolment still holds, from its own time.
    assert enrolment_of([manual, sync_deleted]) == manual
    assert enrolment_of([Fact(10, "e1", False), sync_deleted]) == sync_deleted
    assert enrolment_of([]) is None


IDS = st.one_of(st.text(max_size=8), st.sampled_from(["c1", 'q"', "back\\", "é", "/"]))


@given(IDS, IDS, IDS, st.integers(0, 2**40))
def test_enrol_command_id_is_the_uuid5_of_the_json(s: str, c: str, u: str, n: int) -> None:
    want = str(uuid.uuid5(ENROL_NAMESPACE, json.dumps([s, c, u, n])))
    assert enrol_command_id(EnrolPairKey(s, c, u), n) == want


def test_enrol_command_ids_are_pinned_and_apart_from_group_ids() -> None:
    pair = EnrolPairKey("lms-a", "c1", "u1")
    assert enrol_command_id(pair, 0) == str(uuid.uuid5(ENROL_NAMESPACE, '["lms-a", "c1", "u1", 0]'))
    # Pinned: a change of scheme would re-number every command already published.
    assert enrol_command_id(pair, 0) == "9063e65d-bcc9-5232-8e42-abecab1e49e5"
    assert enrol_command_id(pair, 0) != enrol_command_id(pair, 1)
    assert enrol_command_id(pair, 0) != command_id(PairKey("lms-a", "c1", "", "u1"), 0)


def _cause(event_type: str, t: int, order: int = 0) -> Cause:
    return Cause(f"ev-{order}", event_type, t, order)


ATTRS = {"L1": ("student", "unenrol"), "L2": ("teacher", "suspend"), "L3": ("student", "unenrol")}


def test_decide_enrol_names_links_roles_and_leave() -> None:
    pair = EnrolPairKey("s", "c", "u")
    join = _cause("lms.segment.member.added", 5)
    cmd = decide_enrol(pair, 0, frozenset(), frozenset({"L3", "L1"}), ATTRS, [join])
    assert cmd is not None
    assert (cmd.kind, cmd.number, cmd.link_ids, cmd.roles) == (
        "enrol",
        0,
        ("L1", "L3"),
        ("student",),
    )
    assert (cmd.reason, cmd.caused_by, cmd.on_leave) == ("joined_segment", "ev-0", "unenrol")
    # Still justified by another link: nothing owed.
    assert decide_enrol(pair, 1, frozenset({"L1", "L2"}), frozenset({"L2"}), ATTRS, [join]) is None
    assert not owes_command(1, frozenset({"L2"})) and owes_command(1, frozenset())
    # The last link goes: unenrol, suspending because one of the links that held it says so.
    unlink = _cause("lms.segment_enrol_link.deleted", 9, 1)
    cmd = decide_enrol(pair, 1, frozenset({"L1", "L2"}), frozenset(), ATTRS, [unlink])
    assert cmd is not None
    assert (cmd.kind, cmd.number, cmd.link_ids) == ("unenrol", 1, ("L1", "L2"))
    assert (cmd.roles, cmd.on_leave, cmd.reason) == (
        ("student", "teacher"),
        "suspend",
        "link_deleted",
    )


def test_decide_enrol_reasons_per_cause() -> None:
    pair = EnrolPairKey("s", "c", "u")
    on = frozenset({"L1"})
    for event_type, reason in [
        ("lms.segment.member.removed", "left_segment"),
        ("lms.segment.deleted", "segment_deleted"),
        ("lms.course.deleted", "course_deleted"),
        ("lms.segment_enrol_link.created", "link_deleted"),  # moved to another course
    ]:
        cmd = decide_enrol(pair, 1, on, frozenset(), ATTRS, [_cause(event_type, 1)])
        assert cmd is not None and cmd.reason == reason, event_type
    cmd = decide_enrol(
        pair, 2, frozenset(), on, ATTRS, [_cause("lms.segment_enrol_link.created", 1)]
    )
    assert cmd is not None and (cmd.kind, cmd.reason) == ("enrol", "link_created")

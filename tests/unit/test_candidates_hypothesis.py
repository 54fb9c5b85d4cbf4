"""The narrowing of `worker.domain.candidates` against the justification rule itself: for any
links, any facts before and after one user's changes, and stored rows that were the truth
before, every (link, user) whose truth now differs from its row is a candidate; and every
candidate is one the rule could justify now, or one with a row."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.domain.candidates import TouchingLinks, UserHoldings
from worker.domain.justify import FactState, LinkState, justified

SITES = ("s1", "s2")
COURSES = ("c0", "c1", "c2")
SEGMENTS = ("g0", "g1", "g2")
USER = "u"

times = st.integers(1, 6)
marks = st.one_of(st.none(), times)
facts = st.one_of(st.none(), st.tuples(st.booleans(), times))


@st.composite
def links(draw: st.DrawFn) -> list[tuple[str, LinkState]]:
    out = []
    for n in range(draw(st.integers(0, 6))):
        out.append(
            (
                draw(st.sampled_from(SITES)),
                LinkState(
                    f"L{n}",
                    draw(st.one_of(st.none(), st.sampled_from(COURSES))),
                    draw(st.one_of(st.none(), st.sampled_from(SEGMENTS))),
                    draw(st.sampled_from(("grp", None))),
                    draw(st.booleans()),
                    draw(times),
                    draw(marks),
                    draw(marks),
                    draw(marks),
                ),
            )
        )
    return out


@dataclass
class World:
    enrolled: dict[tuple[str, str], FactState | None]  # (site, course)
    member: dict[tuple[str, str], FactState | None]  # (site, segment)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    return World(
        {(s, c): draw(facts) for s in SITES for c in COURSES},
        {(s, g): draw(facts) for s in SITES for g in SEGMENTS},
    )


def _truth(site: str, link: LinkState, w: World) -> bool:
    e = w.enrolled.get((site, link.course_id)) if link.course_id else None
    m = w.member.get((site, link.segment_id)) if link.segment_id else None
    return justified(link, e, m)


@settings(max_examples=400, deadline=None)
@given(
    all_links=links(),
    before=worlds(),
    changed_courses=st.sets(st.tuples(st.sampled_from(SITES), st.sampled_from(COURSES))),
    changed_segments=st.sets(st.tuples(st.sampled_from(SITES), st.sampled_from(SEGMENTS))),
    new_facts=st.lists(facts, min_size=12, max_size=12),
)
def test_every_pair_that_can_change_is_a_candidate_and_no_other(
    all_links: list[tuple[str, LinkState]],
    before: World,
    changed_courses: set[tuple[str, str]],
    changed_segments: set[tuple[str, str]],
    new_facts: list[FactState | None],
) -> None:
    # The user's facts after the batch: the changed ones take new values.
    after = World(dict(before.enrolled), dict(before.member))
    for i, key in enumerate(sorted(changed_courses)):
        after.enrolled[key] = new_facts[i]
    for i, key in enumerate(sorted(changed_segments)):
        after.member[key] = new_facts[6 + i]
    stored = {(s, lk.link_id) for s, lk in all_links if _truth(s, lk, before)}
    touching = TouchingLinks.of(
        (s, lk.link_id, lk.course_id, lk.segment_id)
        for s, lk in all_links
        if (s, lk.course_id) in changed_courses or (s, lk.segment_id) in changed_segments
    )
    by_id = {(s, lk.link_id): lk for s, lk in all_links}
    for site in SITES:
        held = UserHoldings(
            frozenset(c for (s, c), f in after.enrolled.items() if s == site and f and f[0]),
            frozenset(g for (s, g), f in after.member.items() if s == site and f and f[0]),
            tuple(
                (a, course)
                for (s, a), lk in by_id.items()
                if s == site and (s, a) in stored and (course := lk.course_id) is not None
            ),
        )
        courses = {c for s, c in changed_courses if s == site}
        segments = {g for s, g in changed_segments if s == site}
        got = set(TouchingLinks.candidates(touching, site, courses, segments, held))
        for (s, a), lk in by_id.items():
            if s != site:
                continue
            now = _truth(site, lk, after)
            if now != ((site, a) in stored):
                assert a in got, (a, lk, now)
        for a in got:
            lk = by_id[(site, a)]
            could = lk.course_id in held.courses and lk.segment_id in held.segments
            assert could or (site, a) in stored, (a, lk)

"""The registration state machine, pair by pair: every (state, event) is allowed or refused."""

from __future__ import annotations

import itertools

import pytest

from zorgid.registration.states import (
    FINAL,
    INITIAL,
    RegistrationEvent,
    RegistrationState,
    next_state,
)

S = RegistrationState
E = RegistrationEvent

# Written out by hand from docs/protocol.md, not derived from the table under test.
EXPECTED = {
    (S.AWAITING_DOCUMENT, E.DOCUMENT_ACCEPTED): S.AWAITING_DETAILS,
    (S.AWAITING_DOCUMENT, E.REJECT): S.REJECTED,
    (S.AWAITING_DOCUMENT, E.WITHDRAW): S.WITHDRAWN,
    (S.AWAITING_DOCUMENT, E.EXPIRE): S.EXPIRED,
    (S.AWAITING_DETAILS, E.DETAILS_GIVEN): S.AWAITING_REVIEW,
    (S.AWAITING_DETAILS, E.REJECT): S.REJECTED,
    (S.AWAITING_DETAILS, E.WITHDRAW): S.WITHDRAWN,
    (S.AWAITING_DETAILS, E.EXPIRE): S.EXPIRED,
    (S.AWAITING_REVIEW, E.APPROVE): S.APPROVED,
    (S.AWAITING_REVIEW, E.REJECT): S.REJECTED,
    (S.AWAITING_REVIEW, E.WITHDRAW): S.WITHDRAWN,
    (S.APPROVED, E.FIRST_LOGIN): S.COMPLETED,
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(S, E)))
def test_each_state_and_event_is_allowed_exactly_as_drawn(
    state: RegistrationState, event: RegistrationEvent
) -> None:
    assert next_state(state, event) == EXPECTED.get((state, event))


def test_final_states_have_no_way_out_and_the_start_is_not_final() -> None:
    assert {S.COMPLETED, S.REJECTED, S.WITHDRAWN, S.EXPIRED} == FINAL
    assert all(next_state(state, event) is None for state in FINAL for event in E)
    assert not INITIAL.final
    assert all(state.label for state in S)


def test_every_state_is_reachable_from_the_start() -> None:
    reached = {INITIAL}
    frontier = [INITIAL]
    while frontier:
        state = frontier.pop()
        for event in E:
            target = next_state(state, event)
            if target is not None and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(S)

import pytest

from hub.states import DESCRIPTIONS, TRANSITIONS, Event, State, TransitionError, next_state


def test_every_state_is_described_and_reachable():
    reachable = {State.RECEIVED, State.QUEUED}
    for moves in TRANSITIONS.values():
        reachable.update(moves.values())
    assert reachable == set(TRANSITIONS) == set(DESCRIPTIONS)


def test_the_happy_roads():
    assert next_state(next_state(State.RECEIVED, Event.CLAIM), Event.DONE) == State.PROCESSED
    state = State.QUEUED
    for event in (Event.CLAIM, Event.DELIVERED, Event.ACKNOWLEDGE):
        state = next_state(state, event)
    assert state == State.ACKNOWLEDGED


def test_a_processed_message_cannot_be_processed_again_without_reprocess():
    with pytest.raises(TransitionError, match="'processed' cannot take event 'claim'.*allowed: reprocess"):
        next_state(State.PROCESSED, Event.CLAIM)
    assert next_state(State.PROCESSED, Event.REPROCESS) == State.RECEIVED


def test_final_states_only_leave_by_a_repair_action():
    repairs = {Event.REPROCESS, Event.REDELIVER, Event.RESOLVE}
    for state in (State.PROCESSED, State.DUPLICATE, State.ACKNOWLEDGED, State.RESOLVED):
        assert set(TRANSITIONS[state]) <= repairs, state

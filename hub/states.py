"""The life of a message, as one transition table.

The pipeline, the worker, the repair actions and the operations console all
read :data:`TRANSITIONS`; nothing else decides what may follow what. An
event that the table does not allow from the current state raises
:class:`TransitionError` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "State",
    "Event",
    "TRANSITIONS",
    "DESCRIPTIONS",
    "TransitionError",
    "next_state",
    "CLAIMABLE_INBOUND",
    "CLAIMABLE_OUTBOUND",
    "IN_FLIGHT",
    "FINAL",
    "PROBLEM",
]


class State:
    RECEIVED = "received"  # stored, waiting for the pipeline
    PROCESSING = "processing"  # a worker holds the lease
    WAITING = "waiting"  # depends on a message not yet processed (a despatch before its order)
    PROCESSED = "processed"  # applied to the domain, answers created
    REJECTED = "rejected"  # the partner's fault: answered with CONTRL/APERAK, nothing applied
    DUPLICATE = "duplicate"  # seen before: recorded, not applied
    FAILED = "failed"  # our side failed; retried with backoff
    DEAD = "dead"  # retries exhausted; needs a person
    QUEUED = "queued"  # outbound, waiting for delivery
    DELIVERING = "delivering"  # a worker is sending it
    DELIVERED = "delivered"  # the transport took it
    ACKNOWLEDGED = "acknowledged"  # the partner acknowledged it (MDN with CONTRL/APERAK)
    ACK_OVERDUE = "ack_overdue"  # delivered, acknowledgement expected but late
    RESOLVED = "resolved"  # closed by a person, with a comment


class Event:
    CLAIM = "claim"
    DONE = "done"
    REJECT = "reject"
    DUPLICATE = "duplicate"
    WAIT = "wait"
    RELEASE = "release"  # a dependency arrived, or a lease ran out
    FAIL = "fail"
    RETRY = "retry"  # inbound: run the pipeline again after a failure
    RESEND = "resend"  # outbound: try the delivery again after a failure
    GIVE_UP = "give_up"
    DELIVERED = "delivered"
    ACKNOWLEDGE = "acknowledge"
    OVERDUE = "overdue"
    REPROCESS = "reprocess"
    REDELIVER = "redeliver"
    RESOLVE = "resolve"


S, E = State, Event

#: state -> {event: next state}. Inbound messages start in RECEIVED, outbound in QUEUED.
TRANSITIONS: dict[str, dict[str, str]] = {
    S.RECEIVED: {E.CLAIM: S.PROCESSING, E.RESOLVE: S.RESOLVED},
    S.PROCESSING: {
        E.DONE: S.PROCESSED,
        E.REJECT: S.REJECTED,
        E.DUPLICATE: S.DUPLICATE,
        E.WAIT: S.WAITING,
        E.FAIL: S.FAILED,
        E.GIVE_UP: S.DEAD,
        E.RELEASE: S.RECEIVED,
    },
    S.WAITING: {E.RELEASE: S.RECEIVED, E.GIVE_UP: S.DEAD, E.RESOLVE: S.RESOLVED, E.REPROCESS: S.RECEIVED},
    S.PROCESSED: {E.REPROCESS: S.RECEIVED},
    S.REJECTED: {E.REPROCESS: S.RECEIVED, E.RESOLVE: S.RESOLVED},
    S.DUPLICATE: {E.REPROCESS: S.RECEIVED, E.RESOLVE: S.RESOLVED},
    S.FAILED: {
        E.RETRY: S.RECEIVED,
        E.RESEND: S.QUEUED,
        E.REDELIVER: S.QUEUED,
        E.GIVE_UP: S.DEAD,
        E.REPROCESS: S.RECEIVED,
        E.RESOLVE: S.RESOLVED,
    },
    S.DEAD: {E.REPROCESS: S.RECEIVED, E.REDELIVER: S.QUEUED, E.RESOLVE: S.RESOLVED},
    S.QUEUED: {E.CLAIM: S.DELIVERING, E.RESOLVE: S.RESOLVED},
    S.DELIVERING: {
        E.DELIVERED: S.DELIVERED,
        E.ACKNOWLEDGE: S.ACKNOWLEDGED,
        E.FAIL: S.FAILED,
        E.GIVE_UP: S.DEAD,
        E.RELEASE: S.QUEUED,
    },
    S.DELIVERED: {E.ACKNOWLEDGE: S.ACKNOWLEDGED, E.OVERDUE: S.ACK_OVERDUE, E.REDELIVER: S.QUEUED, E.REJECT: S.REJECTED},
    S.ACK_OVERDUE: {E.ACKNOWLEDGE: S.ACKNOWLEDGED, E.REDELIVER: S.QUEUED, E.RESOLVE: S.RESOLVED, E.REJECT: S.REJECTED},
    S.ACKNOWLEDGED: {E.REDELIVER: S.QUEUED},
    S.RESOLVED: {E.REPROCESS: S.RECEIVED, E.REDELIVER: S.QUEUED},
}

#: What each state means, in the words the console shows.
DESCRIPTIONS: dict[str, str] = {
    S.RECEIVED: "stored, waiting to be processed",
    S.PROCESSING: "being processed by a worker",
    S.WAITING: "waiting for a message it depends on",
    S.PROCESSED: "processed and applied",
    S.REJECTED: "rejected; the partner was told why",
    S.DUPLICATE: "a duplicate of an earlier message; not applied",
    S.FAILED: "failed on our side; will be retried",
    S.DEAD: "retries exhausted; needs attention",
    S.QUEUED: "waiting to be delivered",
    S.DELIVERING: "being delivered",
    S.DELIVERED: "delivered to the partner",
    S.ACKNOWLEDGED: "acknowledged by the partner",
    S.ACK_OVERDUE: "delivered, acknowledgement overdue",
    S.RESOLVED: "closed by an operator",
}

CLAIMABLE_INBOUND = (S.RECEIVED,)
CLAIMABLE_OUTBOUND = (S.QUEUED,)
IN_FLIGHT = (S.PROCESSING, S.DELIVERING)
FINAL = (S.PROCESSED, S.DUPLICATE, S.ACKNOWLEDGED, S.RESOLVED)
PROBLEM = (S.REJECTED, S.FAILED, S.DEAD, S.ACK_OVERDUE)

assert set(TRANSITIONS) == set(DESCRIPTIONS), "every state needs a description"
assert all(target in TRANSITIONS for moves in TRANSITIONS.values() for target in moves.values())


@dataclass
class TransitionError(Exception):
    state: str
    event: str

    def __str__(self) -> str:
        allowed = ", ".join(sorted(TRANSITIONS.get(self.state, {}))) or "nothing"
        return f"a message in state {self.state!r} cannot take event {self.event!r} (allowed: {allowed})"


def next_state(state: str, event: str) -> str:
    """The state after ``event``, or TransitionError when the table does not allow it."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise TransitionError(state, event) from None

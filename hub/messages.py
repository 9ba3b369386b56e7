"""The message store: payloads, states, the trace, and the repair actions.

Every state change goes through :func:`transition`, which checks the
transition table (hub.states) and appends an event with actor and detail.
The repair actions (reprocess, redeliver, resolve) are services: they take a
mandatory comment, record it in the trace and commit.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

from sqlalchemy import bindparam, func, insert, inspect, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from edi.errors import Issue
from hub.models import Channel, Message, MessageEvent, Partner, Payload, utcnow
from hub.states import Event, State, next_state

__all__ = [
    "transition",
    "transition_all",
    "store_payload",
    "new_message",
    "insert_message",
    "payload_bytes",
    "issues_to_json",
    "reprocess",
    "redeliver",
    "resolve",
    "RepairError",
]


class RepairError(ValueError):
    """A repair action was asked for without what it needs (a comment, a stored payload)."""


# the statements of transition and insert_message, built once
_INSERT_PAYLOAD = insert(Payload.__table__).returning(Payload.__table__.c.id)
#: populate_existing: an object of the identity map with the same id (a row that a rolled-back
#: savepoint took away, its id used again) is overwritten with the new row, never returned stale
_INSERT_MESSAGE = insert(Message).returning(Message).execution_options(populate_existing=True)
_INSERT_EVENT = insert(MessageEvent.__table__)


def transition(session: Session, message: Message, event: str, *, actor: str, detail: str | None = None) -> str:
    """Move ``message`` by ``event`` (TransitionError if not allowed) and append the event to its trace.

    The event row of a stored message whose trace is not loaded is inserted right away (one
    statement, nothing for the unit of work to sort at the next flush; a rollback takes it back
    with the rest); otherwise it joins ``message.events`` and the next flush."""
    new = _move(message, event)
    state = inspect(message)
    if state.persistent and "events" in state.unloaded:
        with session.no_autoflush:
            session.connection().execute(_INSERT_EVENT, {"message_id": message.id, "event": event, "state": new,
                                                         "actor": actor, "detail": detail})
    else:
        session.add(MessageEvent(message=message, event=event, state=new, actor=actor, detail=detail))
    return new


def _move(message: Message, event: str) -> str:
    """The state change itself (TransitionError if the table does not allow it); returns the new state."""
    new = next_state(message.state, event)
    message.state = new
    message.updated_at = utcnow()
    return new


def transition_all(session: Session, moves: list[tuple[Message, str | None]], event: str, *, actor: str) -> None:
    """:func:`transition` of several messages by the same ``event`` (each with its own detail): the
    same checks and state changes, with the trace rows of stored messages inserted by one statement."""
    rows = []
    for message, detail in moves:
        state = inspect(message)
        if not (state.persistent and "events" in state.unloaded):
            transition(session, message, event, actor=actor, detail=detail)
            continue
        new = _move(message, event)
        rows.append({"message_id": message.id, "event": event, "state": new, "actor": actor, "detail": detail})
    if rows:
        with session.no_autoflush:
            session.connection().execute(_INSERT_EVENT, rows)


#: payloads from this size on are written to SQLite in pieces (incremental blob I/O): bound whole,
#: the driver and SQLite would each hold a copy of a large AS2 or SFTP payload while it is stored
BLOB_PIECES_FROM = 4 * 1024 * 1024
_BLOB_PIECE = 1024 * 1024
_INSERT_EMPTY_BLOB = (insert(Payload.__table__).values(data=func.zeroblob(bindparam("blob_size")))
                      .returning(Payload.__table__.c.id))


def store_payload(session: Session, data: bytes) -> Payload:
    """A payload row for ``data`` in the session's transaction. No commit."""
    digest = hashlib.sha256(data).hexdigest()
    if not _in_pieces(session, data):
        payload = Payload(sha256=digest, size=len(data), data=data)
        session.add(payload)
        return payload
    created = utcnow()
    payload_id = _insert_payload(session, data, digest, created)
    # the session gets the row as if loaded: its ``data`` is the caller's bytes, not a copy
    payload = Payload(id=payload_id, sha256=digest, size=len(data), data=data, created_at=created)
    make_transient_to_detached(payload)
    session.add(payload)
    return payload


def _in_pieces(session: Session, data: bytes) -> bool:
    return len(data) >= BLOB_PIECES_FROM and session.get_bind().dialect.name == "sqlite"


def _insert_payload(session: Session, data: bytes, digest: str, created: Any = None) -> int:
    """Insert the payload row at once and return its id; large ones on SQLite as a zero-filled blob
    of the right size that ``data`` is then written into a piece at a time."""
    connection = session.connection()
    row = {"sha256": digest, "size": len(data), "created_at": created or utcnow()}
    if not _in_pieces(session, data):
        return connection.execute(_INSERT_PAYLOAD, {**row, "data": data}).scalar_one()
    payload_id = connection.execute(_INSERT_EMPTY_BLOB, {**row, "blob_size": len(data)}).scalar_one()
    view = memoryview(data)
    with connection.connection.driver_connection.blobopen("payload", "data", payload_id) as blob:
        for start in range(0, len(data), _BLOB_PIECE):
            blob.write(view[start:start + _BLOB_PIECE])
    return payload_id


def new_message(
    session: Session,
    *,
    direction: str,
    data: bytes,
    actor: str,
    partner: Partner | None = None,
    channel: Channel | None = None,
    filename: str | None = None,
    detail: str | None = None,
    **fields: Any,
) -> Message:
    """Store a payload and its message in the initial state (received inbound, queued outbound). No commit."""
    payload = store_payload(session, data)
    state = State.RECEIVED if direction == "in" else State.QUEUED
    message = Message(
        direction=direction,
        partner=partner,
        channel=channel,
        filename=filename,
        payload=payload,
        content_hash=payload.sha256,
        size=len(data),
        state=state,
        issues=[],
        receipt={},
        **fields,
    )
    session.add(message)
    session.add(MessageEvent(message=message, event="store", state=state, actor=actor, detail=detail))
    return message


def message_row(*, direction: str, partner: Partner | None, channel: Channel | None, payload_id: int,
                content_hash: str, size: int, **fields: Any) -> dict[str, Any]:
    """The message table's row of a new message in its initial state (received inbound, queued outbound),
    for a direct insert (:func:`insert_message`, and the batch road's multi-row one)."""
    return {"issues": [], "receipt": {}, **fields, "direction": direction,
            "state": State.RECEIVED if direction == "in" else State.QUEUED,
            "partner_id": partner.id if partner is not None else None,
            "channel_id": channel.id if channel is not None else None,
            "payload_id": payload_id, "content_hash": content_hash, "size": size}


def insert_message(
    session: Session,
    *,
    direction: str,
    data: bytes,
    actor: str,
    partner: Partner | None = None,
    channel: Channel | None = None,
    detail: str | None = None,
    **fields: Any,
) -> Message:
    """:func:`new_message` written at once: the payload, the message and its first event are
    inserted right away (three statements, none of the caller's pending changes flushed) instead
    of waiting in the unit of work. The message comes back persistent, with its id, its partner and
    channel set; the payload and the trace load on first use. No commit; a rollback undoes it all."""
    state = State.RECEIVED if direction == "in" else State.QUEUED
    content_hash = hashlib.sha256(data).hexdigest()
    with session.no_autoflush:
        connection = session.connection()
        payload_id = _insert_payload(session, data, content_hash)
        row = message_row(direction=direction, partner=partner, channel=channel, payload_id=payload_id,
                          content_hash=content_hash, size=len(data), **fields)
        message = session.scalars(_INSERT_MESSAGE, [row]).one()
        connection.execute(_INSERT_EVENT, {"message_id": message.id, "event": "store", "state": state,
                                           "actor": actor, "detail": detail})
    set_committed_value(message, "partner", partner)
    set_committed_value(message, "channel", channel)
    return message


def payload_bytes(message: Message) -> bytes:
    """The raw bytes as received or sent; RepairError once retention purged them."""
    if message.payload is None or message.payload.data is None:
        raise RepairError(f"message {message.id}: its payload is no longer stored")
    return message.payload.data


def issues_to_json(issues: Iterable[Issue]) -> list[dict[str, Any]]:
    """Issues as stored on a message (and read by the console to highlight segments)."""
    keys = ("message", "code", "segment", "tag", "element", "component", "message_segment",
            "message_ref", "path", "severity", "rule")
    return [{k: getattr(issue, k) for k in keys if getattr(issue, k) is not None} for issue in issues]


def _need_comment(comment: str | None) -> str:
    comment = (comment or "").strip()
    if not comment:
        raise RepairError("a comment is required: say why, for the trace")
    return comment


def _get(session: Session, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None:
        raise LookupError(f"no message {message_id}")
    return message


def reprocess(session: Session, message_id: int, *, actor: str, comment: str | None) -> Message:
    """Run the pipeline again on the stored payload of an inbound message. Commits.

    Reprocessing never applies a document twice: the domain refuses an order
    number it already has, so a processed message reprocessed becomes a
    rejection stating that, unless what it created was undone first.
    """
    text = _need_comment(comment)
    message = _get(session, message_id)
    if message.direction != "in":
        raise RepairError("only received messages can be reprocessed; redeliver an outbound message instead")
    if message.document_type == "AS2" and message.syntax == "mime":
        raise RepairError("a refused AS2 request is kept for reading only; the partner must send it again")
    if (message.receipt or {}).get("source") == "portal":  # hub.turnaround.PORTAL_SOURCE
        raise RepairError("made and applied in the portal, not by the pipeline: nothing to run again")
    payload_bytes(message)
    transition(session, message, Event.REPROCESS, actor=actor, detail=text)
    message.attempts = 0
    message.next_attempt_at = None
    message.error = None
    message.claimed_by = None
    message.lease_until = None
    session.commit()
    return message


def redeliver(session: Session, message_id: int, *, actor: str, comment: str | None) -> Message:
    """Send the same bytes of an outbound message again through its channel. Commits."""
    text = _need_comment(comment)
    message = _get(session, message_id)
    if message.direction != "out":
        raise RepairError("only outbound messages can be redelivered; reprocess a received message instead")
    payload_bytes(message)
    transition(session, message, Event.REDELIVER, actor=actor, detail=text)
    message.attempts = 0
    message.next_attempt_at = None
    message.error = None
    message.claimed_by = None
    message.lease_until = None
    session.commit()
    return message


def resolve(session: Session, message_id: int, *, actor: str, comment: str | None) -> Message:
    """Close a problem message by hand, with the reason in the trace. Commits."""
    text = _need_comment(comment)
    message = _get(session, message_id)
    transition(session, message, Event.RESOLVE, actor=actor, detail=text)
    message.next_attempt_at = None
    session.commit()
    return message


def find_by_interchange(session: Session, partner_id: int, direction: str, interchange_ref: str) -> list[Message]:
    stmt = select(Message).where(
        Message.partner_id == partner_id,
        Message.direction == direction,
        Message.interchange_ref == interchange_ref,
    )
    return list(session.scalars(stmt))

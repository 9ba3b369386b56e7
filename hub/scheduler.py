"""Periodic duties that must run once per tick across all nodes.

Every worker calls :func:`claim_tick`; the first to move the tick's row
forward wins and does the duties, the others skip. The row update is a
single conditional UPDATE, so it works the same on SQLite and PostgreSQL
and needs no lock held across the duties.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.messages import transition
from hub.models import Message, Sequence, utcnow
from hub.partners import preferences
from hub.states import Event, State

__all__ = ["claim_tick", "mark_overdue_acknowledgements"]

log = logging.getLogger(__name__)


def claim_tick(session_factory: sessionmaker[Session], name: str, interval: float, *, now: float | None = None) -> bool:
    """True for exactly one caller per ``interval`` seconds for the duty ``name``, across nodes."""
    stamp = int((time.time() if now is None else now) * 1000)
    key = f"tick:{name}"
    with session_factory() as session:
        result = session.execute(
            update(Sequence)
            .where(Sequence.name == key, Sequence.value <= stamp - int(interval * 1000))
            .values(value=stamp)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            session.commit()
            return True
        exists = session.scalar(select(Sequence.name).where(Sequence.name == key))
        if exists is not None:
            session.rollback()
            return False
        session.add(Sequence(name=key, value=stamp))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
        return True


def mark_overdue_acknowledgements(session_factory: sessionmaker[Session], *, actor: str) -> int:
    """Delivered messages whose partner's acknowledgement is later than its profile allows."""
    now = utcnow()
    count = 0
    with session_factory() as session:
        stmt = select(Message).where(Message.direction == "out", Message.state == State.DELIVERED)
        for message in session.scalars(stmt):
            receipt = message.receipt or {}
            if not receipt.get("ack_expected") or "delivered_at" not in receipt or message.partner is None:
                continue
            hours = preferences(message.partner).ack_expected_hours
            delivered = _parse(receipt["delivered_at"])
            if delivered is not None and now - delivered > timedelta(hours=hours):
                transition(session, message, Event.OVERDUE, actor=actor,
                           detail=f"no acknowledgement {hours:g} h after delivery")
                count += 1
        session.commit()
    return count


def _parse(value: str):
    from datetime import datetime

    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None

"""Tables of the operations area (see hub/models.py for the core ones); migration branch 0003_ops off 0002."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models import Base, Message, utcnow

__all__ = ["Alert", "MessageReference"]

#: retention finds the messages of a batch of payloads by this (hub/retention.py)
Index("ix_message_payload_id", Message.__table__.c.payload_id)
#: the message list pages newest first by (created_at, id) (hub/monitor.py) and the dashboard reads by day
Index("ix_message_created_id", Message.__table__.c.created_at, Message.__table__.c.id)


class Alert(Base):
    """Something operations should look at, grouped by ``key``: one outage is one alert.

    While the condition holds, the alert with its key stays active (``open`` or
    ``acknowledged``) and each evaluation that still sees it bumps ``count`` and
    ``last_seen``; once the condition has not been seen for ``[alerts]
    grace_minutes`` it is ``closed``; if it comes back later, a new alert opens
    (and is sent again).
    """

    __tablename__ = "ops_alert"
    __table_args__ = (Index("ix_ops_alert_key_state", "key", "state"), Index("ix_ops_alert_state_id", "state", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # e.g. "failure:ACME", "certificate:ACME/as2/cert/<fingerprint>:7"
    kind: Mapped[str] = mapped_column(String(30))  # failure, ack_overdue, certificate, silence, polling, volume
    severity: Mapped[str] = mapped_column(String(10), default="warning")  # warning, critical
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(15), default="open")  # open, acknowledged, closed
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    comment: Mapped[str | None] = mapped_column(Text)
    notified: Mapped[str | None] = mapped_column(Text)  # how the opening was sent (or why not)


class MessageReference(Base):
    """A message reference (UNH 0062) of an interchange holding several messages, so the console's
    reference filter finds the interchange by any of them; ``Message.message_ref`` keeps the first.
    Written by the pipeline (:func:`hub.monitor.record_references`); migration 0008_ops_references."""

    __tablename__ = "message_reference"
    __table_args__ = (Index("ix_message_reference_reference", "reference"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), primary_key=True)
    reference: Mapped[str] = mapped_column(String(35), primary_key=True)

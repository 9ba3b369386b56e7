"""The AS2 transfer log: every AS2 Message-ID received or sent, with its MDN."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.models import Base, Message, utcnow

__all__ = ["As2Transfer"]


class As2Transfer(Base):
    """One AS2 Message-ID in one direction: unique per partner, so a resend is recognised."""

    __tablename__ = "as2_transfer"
    __table_args__ = (UniqueConstraint("direction", "partner_id", "message_id"),)  # migration 0008

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    message_id: Mapped[str] = mapped_column(String(255))  # the AS2 Message-ID
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), index=True)
    message_fk: Mapped[int | None] = mapped_column(ForeignKey("message.id"), index=True)
    mic: Mapped[str | None] = mapped_column(String(200))
    mdn_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    mdn_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    message: Mapped[Message | None] = relationship(foreign_keys=[message_fk])

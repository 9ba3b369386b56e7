"""Receiving: every way in (folder, SFTP, AS2, hosted mailbox, API) stores the same way.

:func:`receive` stores the raw bytes and a ``received`` message in the
caller's transaction; :func:`receive_committed` is the unit of work for
transports: it commits before returning, and only after it returns may the
transport delete the file at the source or send the MDN.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.errors import UnknownPartner
from hub.messages import new_message
from hub.models import Channel, Message, Partner

__all__ = ["receive", "receive_committed"]


def receive(
    session: Session,
    *,
    data: bytes,
    actor: str,
    partner: Partner | None = None,
    channel: Channel | None = None,
    filename: str | None = None,
    receipt: dict[str, Any] | None = None,
) -> Message:
    """Store ``data`` as a received message. No commit."""
    message = new_message(
        session,
        direction="in",
        data=data,
        actor=actor,
        partner=partner,
        channel=channel,
        filename=filename,
        detail=f"{len(data)} bytes" + (f" from {filename}" if filename else ""),
    )
    if receipt:
        message.receipt = dict(receipt)
    session.flush()
    return message


def receive_committed(
    session_factory: sessionmaker[Session],
    *,
    partner_code: str,
    channel_name: str | None,
    data: bytes,
    actor: str,
    filename: str | None = None,
    receipt: dict[str, Any] | None = None,
) -> int:
    """Store and commit; returns the message id. Raises UnknownPartner for an unknown partner or channel."""
    with session_factory() as session:
        partner = session.scalar(select(Partner).where(Partner.code == partner_code))
        if partner is None or not partner.active:
            raise UnknownPartner(f"no active partner {partner_code!r}")
        channel = None
        if channel_name is not None:
            channel = session.scalar(
                select(Channel).where(Channel.partner_id == partner.id, Channel.name == channel_name)
            )
            if channel is None:
                raise UnknownPartner(f"partner {partner_code} has no channel {channel_name!r}")
        message = receive(session, data=data, actor=actor, partner=partner, channel=channel,
                          filename=filename, receipt=receipt)
        session.commit()
        return message.id

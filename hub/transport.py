"""Driving the adapters: poll inbound channels, deliver outbound messages.

The order of events is the promise: a fetched file is stored and committed
before the adapter is told to remove it at the source; a delivery is
recorded only after the adapter returned its receipt (an AS2 Message-ID is
kept before the POST, so that every retry resends under it).
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Adapter, Receipt, TransportError
from adapters.folder import FolderAdapter, FolderSettings
from hub.inbound import receive
from hub.messages import payload_bytes
from hub.models import Channel, Message, utcnow
from hub.secrets import decrypt_settings, with_plain_settings
from hub.settings import BASE_DIR, Settings

__all__ = ["adapter_for", "poll_channel", "poll_all", "deliver", "inbound_channels"]

log = logging.getLogger(__name__)


def adapter_for(channel: Channel, settings: Settings) -> Adapter:
    """The adapter for a channel, built from its stored settings (ValueError names a bad setting)."""
    where = f"partner {channel.partner.code if channel.partner else channel.partner_id}, channel {channel.name}"
    stored = decrypt_settings(settings, channel.settings)  # secrets are kept encrypted (hub/secrets.py)
    if channel.kind == "folder":
        data = {k: v for k, v in stored.items() if k not in ("schedule_seconds",)}
        return FolderAdapter(FolderSettings.from_dict(data, base=BASE_DIR, where=where))
    if channel.kind == "sftp_mailbox":
        from adapters.sftp_server import MailboxAdapter

        return MailboxAdapter(settings.var_path / "mailboxes", channel.partner.code)
    if channel.kind == "as2":
        from adapters.as2 import As2Adapter
        from hub.as2 import partner_profile

        try:
            return As2Adapter(partner_profile(settings, with_plain_settings(channel, settings)))
        except ValueError as exc:
            raise TransportError(str(exc), retryable=False) from exc
    if channel.kind == "sftp":
        from adapters.sftp import SftpAdapter, SftpSettings

        data = {k: v for k, v in stored.items() if k not in ("schedule_seconds",)}
        # the stable rule compares with this channel's previous poll instead of sleeping
        return SftpAdapter(SftpSettings.from_dict(data, where=where), seen_key=("sftp channel", channel.id))
    raise TransportError(f"{where}: channel kind {channel.kind!r} is not available in this build", retryable=False)


def inbound_channels(session: Session) -> list[Channel]:
    """Active channels that the hub polls (folders; partner SFTP servers)."""
    stmt = select(Channel).where(
        Channel.active.is_(True), Channel.direction.in_(("in", "both")), Channel.kind.in_(("folder", "sftp"))
    )
    return list(session.scalars(stmt.order_by(Channel.id)))


def poll_channel(session_factory: sessionmaker[Session], settings: Settings, channel_id: int, *, actor: str) -> int:
    """Fetch complete files from one channel; store and commit each, then confirm it at the source.

    Whatever goes wrong with this channel (a bad setting, a transport error, a
    file that cannot be read or archived, a file the adapter skipped) is
    written to ``channel.last_error`` and logged; it never escapes, so the
    other channels are still polled. Files stored before the failure stay
    stored.

    A file is stored with ``receipt["source_confirmed"] = False`` and marked
    True once the adapter confirmed it. A file still at the source that was
    stored before for this channel under the same name with the same bytes
    and is not confirmed yet (its archiving failed, or the poll stopped
    between the commit and the confirm) is not stored again: only the
    confirm is retried.
    """
    with session_factory() as session:
        channel = session.get(Channel, channel_id)
        if channel is None or not channel.active:
            return 0
        where = f"{channel.partner.code if channel.partner else channel.partner_id}/{channel.name}"
        count = 0
        problems: list[str] = []
        try:
            adapter = adapter_for(channel, settings)
            for file in adapter.fetch():
                message = _stored_unconfirmed(session, channel.id, file.name, hashlib.sha256(file.data).hexdigest())
                if message is None:
                    message = receive(session, data=file.data, actor=actor, partner=channel.partner, channel=channel,
                                      filename=file.name, receipt={"source": file.meta, "source_confirmed": False})
                    session.commit()
                    count += 1
                try:
                    adapter.confirm(file)
                except Exception as exc:  # kept on the channel; the next poll retries the confirm only
                    problems.append(f"{file.name} is stored as message {message.id}, but could not be "
                                    f"removed or archived at the source: {_reason(exc)}")
                    continue
                message.receipt = {**(message.receipt or {}), "source_confirmed": True}
                session.commit()
            problems.extend(getattr(adapter, "skipped", ()))
            channel.last_error = "; ".join(problems) if problems else None
            if problems:
                log.warning("polling %s: %s", where, channel.last_error)
        except Exception as exc:  # the boundary: one channel's failure is stored on it, never stops the others
            session.rollback()
            channel = session.get(Channel, channel_id)
            assert channel is not None
            channel.last_error = "; ".join([*problems, _reason(exc)])
            log.warning("polling %s failed: %s", where, channel.last_error,
                        exc_info=not isinstance(exc, (TransportError, ValueError)))
        channel.last_poll_at = utcnow()
        session.commit()
        return count


def _stored_unconfirmed(session: Session, channel_id: int, name: str, sha256: str) -> Message | None:
    """The message this channel already stored from the file ``name`` with these bytes, not yet confirmed at the
    source; None when there is none (looked up through the content_hash index)."""
    stmt = (
        select(Message)
        .where(Message.content_hash == sha256, Message.channel_id == channel_id, Message.direction == "in",
               Message.filename == name)
        .order_by(Message.id.desc())
    )
    for message in session.scalars(stmt):
        if (message.receipt or {}).get("source_confirmed") is False:
            return message
    return None


def _reason(exc: BaseException) -> str:
    """An error for the ops console: the message, with the kind of error when it does not say much alone."""
    if isinstance(exc, (TransportError, ValueError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


#: seconds between polls when a channel names no ``schedule_seconds``
DEFAULT_SCHEDULE = {"folder": 0.0, "sftp": 60.0}


def _due(channel: Channel, now) -> bool:
    every = (channel.settings or {}).get("schedule_seconds", DEFAULT_SCHEDULE.get(channel.kind, 60.0))
    if channel.last_poll_at is None or not every:
        return True
    return (now - channel.last_poll_at).total_seconds() >= float(every)


def poll_all(session_factory: sessionmaker[Session], settings: Settings, *, actor: str) -> int:
    """Poll every inbound channel whose schedule is due."""
    now = utcnow()
    with session_factory() as session:
        ids = [c.id for c in inbound_channels(session) if _due(c, now)]
    total = 0
    for channel_id in ids:
        try:
            total += poll_channel(session_factory, settings, channel_id, actor=actor)
        except Exception:  # e.g. the database went away while recording the poll: the next channel still runs
            log.exception("polling channel %s failed", channel_id)
    return total


def deliver(session: Session, settings: Settings, message: Message) -> Receipt:
    """Hand an outbound message's bytes to its channel's adapter.

    AS2 keeps the Message-ID of a message's first delivery on every later
    one (a redelivery is a resend to the partner, not a new message): the
    Message-ID and MIC are committed in ``session`` before the POST, so a
    failed attempt's retry reuses them. Asynchronous MDNs we owe are posted
    as they are.
    """
    if message.document_type == "MDN" and (message.receipt or {}).get("mdn_url"):
        from adapters.as2 import send

        response = send(message.receipt["mdn_url"], message.receipt.get("headers") or {}, payload_bytes(message), 60)
        return Receipt(detail=f"MDN posted to {message.receipt['mdn_url']} (HTTP {response.status})",
                       data={"http_status": response.status})
    if message.channel is None:
        raise TransportError(f"message {message.id} has no channel to be delivered through", retryable=False)
    adapter = adapter_for(message.channel, settings)
    name = message.filename or f"message-{message.id}"
    if message.channel.kind == "as2":
        return _deliver_as2(session, adapter, name, message)
    return adapter.deliver(name, payload_bytes(message))


def _deliver_as2(session: Session, adapter: Adapter, name: str, message: Message) -> Receipt:
    """Build, keep the Message-ID and MIC (committed), then post; an async MDN that
    overtook the POST is taken as this delivery's receipt."""
    from adapters.as2 import As2Adapter
    from hub.as2 import early_mdn, reserve_outbound, sent_message_id

    assert isinstance(adapter, As2Adapter)
    out = adapter.prepare(name, payload_bytes(message), message_id=sent_message_id(session, message))
    reserve_outbound(session, message, out.message_id, out.mic)
    # Committed before a byte leaves (and no transaction stays open during the POST):
    # a retry after a timeout resends under this Message-ID, and the partner, which
    # may have stored the first copy, answers with its original MDN.
    session.commit()
    receipt = adapter.post(out)
    if not receipt.acknowledged and adapter.partner.mdn == "async":
        arrived = early_mdn(session, out.message_id)
        if arrived is not None:
            receipt = adapter.check_mdn(out, arrived[0], arrived[1], receipt.data)
            receipt.detail = f"AS2 {out.message_id} to {adapter.partner.url}: asynchronous MDN processed, MIC matches"
    return receipt

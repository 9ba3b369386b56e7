"""AS2 on the hub's side: partner profiles from ``as2`` channels, and the
database-backed object behind ``POST /as2`` (``extranet.as2.As2Hub``).

Our identity is ``[hub] as2_id`` with the key and certificate at
``[hub] as2_key`` / ``as2_cert`` (PEM files; generated self-signed under
``var/as2/`` on first use when not configured). A channel may name its own
``local_key`` / ``local_cert`` to use another key pair with that partner.

Every AS2 Message-ID we receive or send is an :class:`As2Transfer` row, unique
per direction: a partner resending a message gets the MDN we sent the first
time and nothing is stored twice; a redelivery of ours keeps its
Message-ID; an asynchronous MDN finds the message it answers.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from adapters.as2 import As2Error, As2Partner, As2Settings, MdnError, parse_mdn, peek_mdn
from adapters.as2_spool import Region
from hub.db import is_postgres
from hub.inbound import receive
from hub.messages import new_message, transition
from hub.as2_models import As2Transfer
from hub.models import Channel, Message, MessageEvent, Partner
from hub.secrets import decrypt_settings
from hub.settings import BASE_DIR, Settings
from hub.states import Event, State

__all__ = ["DbAs2Hub", "local_settings", "partner_profile", "ensure_identity", "reserve_outbound", "sent_message_id", "early_mdn"]

log = logging.getLogger(__name__)

#: of a refused request from an AS2-From we have no channel for, this much of the body is kept
UNKNOWN_SENDER_KEEP_BYTES = 64 * 1024

#: channel settings that are ours, not As2Partner's
_LOCAL_KEYS = ("local_key", "local_cert", "local_key_password", "local_as2_id")


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else BASE_DIR / path


def _pem_or_path(value: str) -> str:
    return value if "-----BEGIN" in value else str(_path(value))


def ensure_identity(settings: Settings) -> tuple[Path, Path]:
    """Our AS2 key and certificate files; a self-signed pair is made once when none is configured."""
    if settings.hub_as2_key and settings.hub_as2_cert:
        return _path(settings.hub_as2_key), _path(settings.hub_as2_cert)
    folder = settings.var_path / "as2"
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    if key_path.exists() and cert_path.exists():
        return key_path, cert_path
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, settings.hub_as2_id),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, settings.hub_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=730))
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.warning("no AS2 key configured: made a self-signed one at %s (give partners %s)", key_path, cert_path)
    return key_path, cert_path


def local_settings(settings: Settings, channel: Channel | None = None) -> As2Settings:
    """Our side for a channel: its own key pair if it names one, else the hub's."""
    data = decrypt_settings(settings, channel.settings) if channel is not None else {}
    if data.get("local_key") and data.get("local_cert"):
        key, cert = (_pem_or_path(data["local_key"]), _pem_or_path(data["local_cert"]))
    else:
        key_path, cert_path = ensure_identity(settings)
        key, cert = str(key_path), str(cert_path)
    values = {"as2_id": data.get("local_as2_id") or settings.hub_as2_id, "key": key, "cert": cert}
    if data.get("local_key_password"):
        values["key_password"] = data["local_key_password"]
    if settings.hub_as2_mdn_url:
        values["mdn_url"] = settings.hub_as2_mdn_url
    return As2Settings.from_dict(values, where="our AS2 identity")


def partner_profile(settings: Settings, channel: Channel, *, verify_only: bool = False) -> As2Partner:
    """The As2Partner for an ``as2`` channel (ValueError names the channel and the key).

    ``verify_only``: for checking what the partner sent (its certificates),
    whatever we would ask for when sending."""
    where = f"partner {channel.partner.code}, channel {channel.name}"
    data = {k: v for k, v in decrypt_settings(settings, channel.settings).items() if k not in _LOCAL_KEYS}
    if verify_only:
        data["mdn"] = "sync"
    if isinstance(data.get("cert"), str) and "-----BEGIN" not in data["cert"]:
        data["cert"] = str(_path(data["cert"]))
    return As2Partner.from_dict(data, local_settings(settings, channel), where=where)


@dataclass
class DbAs2Hub:
    """``extranet.as2.As2Hub`` on the hub's database."""

    session_factory: sessionmaker[Session]
    settings: Settings

    @property
    def spool_dir(self) -> Path:
        """Where the AS2 endpoint spools large request bodies: ``var/as2/spool``."""
        return self.settings.var_path / "as2" / "spool"

    def _channel(self, session: Session, as2_from: str) -> Channel | None:
        stmt = select(Channel).join(Partner).where(Channel.kind == "as2", Channel.active.is_(True),
                                                   Partner.active.is_(True))
        for channel in session.scalars(stmt):
            if (channel.settings or {}).get("as2_id") == as2_from:
                return channel
        return None

    def lookup(self, as2_from: str, as2_to: str) -> As2Partner | None:
        with self.session_factory() as session:
            channel = self._channel(session, as2_from)
            if channel is None:
                return None
            ours = (channel.settings or {}).get("local_as2_id") or self.settings.hub_as2_id
            if as2_to != ours:
                return None
            return partner_profile(self.settings, channel, verify_only=not self.settings.hub_as2_mdn_url)

    def store(self, partner_as2_id: str, filename: str | None, payload: bytes, receipt: dict[str, Any]) -> None:
        """Store the message and its MDN in one transaction; a known Message-ID raises."""
        kept = {k: v for k, v in receipt.items() if k not in ("mdn_headers", "mdn_body")}
        kept["transport"] = "as2"
        with self.session_factory() as session:
            channel = self._channel(session, partner_as2_id)
            if channel is None:
                raise LookupError(f"no AS2 channel for {partner_as2_id}")
            message = receive(session, data=payload, actor=f"as2 {partner_as2_id}", partner=channel.partner,
                              channel=channel, filename=filename, receipt=kept)
            session.add(As2Transfer(direction="in", message_id=receipt["message_id"], partner_id=channel.partner_id,
                                    message=message, mic=receipt.get("mic"),
                                    mdn_headers=receipt.get("mdn_headers"), mdn_body=receipt.get("mdn_body")))
            try:
                session.commit()
            except IntegrityError as exc:
                session.rollback()
                raise ValueError(f"AS2 Message-ID {receipt['message_id']} is already stored") from exc

    def refuse(self, request_headers: list[tuple[str, str]], body: bytes | Region, error: As2Error,
               mdn_headers: dict[str, str], mdn_body: bytes) -> None:
        """Keep a refused AS2 request as an inbound message in state ``rejected`` and commit.

        Document type "AS2", syntax "mime": the payload is the request as it
        arrived (HTTP header block, blank line, body; from an unknown sender
        only the first :data:`UNKNOWN_SENDER_KEEP_BYTES` of the body), the
        error says why, and the receipt holds the error MDN we answered. No :class:`As2Transfer`
        is written, so a corrected resend under the same Message-ID is taken."""
        head = b"".join(f"{k}: {v}\r\n".encode("latin-1", "replace") for k, v in request_headers) + b"\r\n"
        disposition = next((line.partition(":")[2].strip() for line in _mdn_fields(mdn_body)
                            if line.lower().startswith("disposition:")), None)
        sender = error.as2_from or "an unknown sender"
        reason = (f"AS2 message {error.message_id or '(no Message-ID)'} from {sender} to {error.as2_to or '?'} "
                  f"refused ({error.modifier}): {error}")
        with self.session_factory() as session:
            channel = self._channel(session, error.as2_from) if error.as2_from else None
            # anyone can post to /as2: from a sender we do not know, only the start of the body is kept
            # (read from the spool alone, never the whole body)
            if isinstance(body, Region):
                kept = body.read() if channel is not None else body.head(UNKNOWN_SENDER_KEEP_BYTES)
            else:
                kept = body if channel is not None else body[:UNKNOWN_SENDER_KEEP_BYTES]
            message = new_message(session, direction="in", data=head + kept, actor="as2 endpoint",
                                  partner=channel.partner if channel is not None else None, channel=channel,
                                  document_type="AS2", syntax="mime",
                                  detail=f"{len(body)} bytes from {sender}, refused at the AS2 endpoint")
            message.receipt = {
                "transport": "as2", "refused": error.modifier, "message_id": error.message_id,
                "as2_from": error.as2_from, "as2_to": error.as2_to,
                "mdn": {"mode": error.mdn_request.mode, "url": error.mdn_request.url, "disposition": disposition},
                "mdn_headers": dict(mdn_headers), "mdn_body": mdn_body.decode("ascii", "replace"),
                "body_bytes": len(body), "body_kept": len(kept),
            }
            message.error = reason
            transition(session, message, Event.CLAIM, actor="as2 endpoint", detail="checked on arrival")
            transition(session, message, Event.REJECT, actor="as2 endpoint",
                       detail=f"{reason}; the error MDN was " + ("answered" if error.mdn_request.mode == "sync" else
                                                                  "queued" if error.mdn_request.mode == "async" else
                                                                  "not requested"))
            session.commit()

    def _received(self, session: Session, message_id: str, as2_from: str | None) -> As2Transfer | None:
        """The transfer of ``message_id`` as received from the partner whose AS2 id is ``as2_from``."""
        channel = self._channel(session, as2_from) if as2_from else None
        if channel is None:
            return None
        return session.scalar(select(As2Transfer).where(As2Transfer.direction == "in",
                                                        As2Transfer.partner_id == channel.partner_id,
                                                        As2Transfer.message_id == message_id))

    def seen(self, message_id: str, as2_from: str | None = None) -> tuple[dict[str, str], bytes] | None:
        """The MDN sent for ``message_id`` from partner ``as2_from`` (another partner's
        message under the same Message-ID is not this one)."""
        with self.session_factory() as session:
            transfer = self._received(session, message_id, as2_from)
            if transfer is None or transfer.mdn_body is None:
                return None
            return dict(transfer.mdn_headers or {}), transfer.mdn_body

    def remember_mdn(self, message_id: str, headers: dict[str, str], body: bytes) -> None:
        with self.session_factory() as session:
            transfer = session.scalar(select(As2Transfer).where(As2Transfer.direction == "in",
                                                                As2Transfer.message_id == message_id))
            if transfer is not None and transfer.mdn_body is None:
                transfer.mdn_headers, transfer.mdn_body = dict(headers), body
                session.commit()

    def send_async_mdn(self, url: str, headers: dict[str, str], body: bytes) -> None:
        """Queue the MDN as an outbound message: the worker posts it, with retries.

        Only to a partner we have an active AS2 channel for (the MDN's AS2-To) and
        an http(s) URL: anything else raises ValueError, nothing is queued (the
        endpoint answers such MDNs synchronously before it gets here)."""
        original = peek_mdn(headers, body)
        to = (dict((k.lower(), v) for k, v in headers.items()).get("as2-to") or "").strip().strip('"')
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise ValueError(f"asynchronous MDN to {url[:200]!r} not queued: not an http(s) URL")
        with self.session_factory() as session:
            transfer = self._received(session, original, to) if original else None
            channel = (transfer.message.channel if transfer is not None else None) or self._channel(session, to)
            if channel is None:
                raise ValueError(f"asynchronous MDN to {url[:200]!r} not queued: {to!r} is not a known AS2 partner")
            partner = session.get(Partner, channel.partner_id)
            message = new_message(session, direction="out", data=body, actor="as2 endpoint", partner=partner,
                                  channel=channel,
                                  filename="async-mdn", document_type="MDN", syntax="mime",
                                  detail=f"asynchronous MDN to {url}")
            message.receipt = {"mdn_url": url, "headers": dict(headers)}
            if transfer is not None:
                message.answers_id = transfer.message_fk
            session.commit()

    def receive_mdn(self, headers: dict[str, str], body: bytes) -> None:
        """An asynchronous MDN for one of our messages: check it and move the message on."""
        original = peek_mdn(headers, body)
        with self.session_factory() as session:
            stmt = select(As2Transfer).where(As2Transfer.direction == "out", As2Transfer.message_id == original)
            if is_postgres(session.get_bind()):
                stmt = stmt.with_for_update()  # serialised with the worker's early_mdn() look
            transfer = session.scalar(stmt)
            if transfer is None:
                raise LookupError(f"no AS2 message {original} was sent by us")
            message = transfer.message
            try:
                result = parse_mdn(headers, body, transfer.message_id, transfer.mic,
                                   partner_profile(self.settings, message.channel, verify_only=True))
            except MdnError as exc:
                _refused_mdn(session, transfer, headers, body, exc)
                session.commit()
                raise
            transfer.mdn_headers, transfer.mdn_body = dict(headers), body
            if message.state == State.DELIVERING:
                # the MDN overtook the end of our POST: the delivering worker takes it from the
                # transfer (hub.transport.deliver) and acknowledges or fails the message itself
                log.info("AS2 %s: asynchronous MDN arrived during the delivery; kept for it", original)
                session.commit()
                return
            message.receipt = {**(message.receipt or {}), "mdn": {"disposition": result.disposition,
                                                                   "mic_ok": result.mic_ok, "signed": result.signed}}
            detail = f"asynchronous MDN: {result.disposition}"
            if result.ok and message.state in (State.DELIVERED, State.ACK_OVERDUE):
                if (message.error or "").startswith(_REFUSED_MDN):
                    message.error = None  # an earlier MDN was not accepted; this one is
                transition(session, message, Event.ACKNOWLEDGE, actor="as2 endpoint", detail=detail)
            elif not result.ok and message.state in (State.DELIVERED, State.ACK_OVERDUE):
                message.error = detail + ("" if result.mic_ok else "; the MIC does not match")
                transition(session, message, Event.REJECT, actor="as2 endpoint", detail=message.error)
            session.commit()


#: how the error of a message whose asynchronous MDN was not accepted begins
_REFUSED_MDN = "asynchronous MDN not accepted"


def _refused_mdn(session: Session, transfer: As2Transfer, headers: dict[str, str], body: bytes,
                 exc: MdnError) -> None:
    """An async MDN for our message that cannot be trusted or read (bad signature, unsigned
    when we asked for a signed one, garbled): keep its bytes on the transfer and the reason
    on the message, with an event in its trace. No commit.

    A delivered message moves to ``ack_overdue`` (still waiting for a receipt it can trust; a
    good MDN later acknowledges it). During the delivery nothing is kept on the transfer (what
    is kept there is the receipt the delivering worker takes, hub.transport ``early_mdn``): an
    MDN nobody can trust, forged or garbled, must not fail a delivery that may well succeed, so
    the trace says it came and the delivery goes on waiting for its own receipt."""
    message = transfer.message
    assert message is not None
    if message.state == State.DELIVERING:
        reason = (f"{_REFUSED_MDN} (AS2 {transfer.message_id}, {len(body)} bytes, during the delivery: "
                  f"not taken as its receipt): {exc}")
        log.warning("AS2 %s: %s", transfer.message_id, reason)
        session.add(MessageEvent(message=message, event="mdn_refused", state=message.state,
                                 actor="as2 endpoint", detail=reason))
        return
    transfer.mdn_headers, transfer.mdn_body = dict(headers), body
    reason = f"{_REFUSED_MDN} (AS2 {transfer.message_id}, {len(body)} bytes kept): {exc}"
    log.warning("AS2 %s: %s", transfer.message_id, reason)
    message.error = reason
    if message.state == State.DELIVERED:
        transition(session, message, Event.OVERDUE, actor="as2 endpoint", detail=reason)
    else:  # the trace says so without a change of state
        session.add(MessageEvent(message=message, event="mdn_refused", state=message.state,
                                 actor="as2 endpoint", detail=reason))


def _mdn_fields(mdn_body: bytes) -> list[str]:
    """The lines of an MDN we built (ASCII), to read its Disposition back for the console."""
    return mdn_body.decode("ascii", "replace").splitlines()


def reserve_outbound(session: Session, message: Message, message_id: str, mic: str) -> As2Transfer:
    """Before a delivery: keep the Message-ID and MIC of the message about to be posted.

    The caller commits this before sending, so a retry after a timeout or a
    dropped connection (the partner may have stored the first copy) resends
    under the same Message-ID, and an asynchronous MDN that arrives while the
    POST is still running finds its message. An MDN left from an earlier
    delivery is cleared: this delivery waits for its own.
    """
    transfer = session.scalar(select(As2Transfer).where(As2Transfer.direction == "out",
                                                        As2Transfer.message_id == message_id))
    if transfer is None:
        transfer = As2Transfer(direction="out", message_id=message_id, partner_id=message.partner_id,
                               message=message, mic=mic)
        session.add(transfer)
    else:
        transfer.mic = mic  # the same bytes give the same MIC; a changed micalg setting does not
        transfer.mdn_headers, transfer.mdn_body = None, None
    return transfer


def sent_message_id(session: Session, message: Message) -> str | None:
    """The AS2 Message-ID a message was first sent (or reserved) with; None if never."""
    return session.scalar(select(As2Transfer.message_id).where(As2Transfer.direction == "out",
                                                               As2Transfer.message_fk == message.id)
                          .order_by(As2Transfer.id).limit(1))


def early_mdn(session: Session, message_id: str) -> tuple[dict[str, str], bytes] | None:
    """An asynchronous MDN for our ``message_id`` that arrived while the POST was running.

    Reads the committed row under a row lock (PostgreSQL; SQLite's writer lock
    does the same): either :meth:`DbAs2Hub.receive_mdn` stored the MDN before,
    and it is returned here, or it waits and sees the message delivered."""
    stmt = (select(As2Transfer).where(As2Transfer.direction == "out", As2Transfer.message_id == message_id)
            .execution_options(populate_existing=True))
    if is_postgres(session.get_bind()):
        stmt = stmt.with_for_update()
    transfer = session.scalar(stmt)
    if transfer is None or transfer.mdn_body is None:
        return None
    return dict(transfer.mdn_headers or {}), transfer.mdn_body

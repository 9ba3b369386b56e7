"""E-mail notifications to partner users: order confirmations, shipments, invoices, approvals.

Each user opts in per kind in ``User.notify`` (``{"order_response": true,
"despatch": true, "invoice": false, ...}``; see :data:`KINDS`). The hub
services call one function here where they create the document
(:func:`order_response` from :func:`hub.orders.respond`, :func:`despatch` and
:func:`invoice` from :mod:`hub.backoffice`, :func:`approval_requested` from
:mod:`hub.approvals`). Those only *collect* the finished e-mails in
``session.info``; they are sent through the configured SMTP server
(``[smtp] host/port/sender``) after the transaction commits, and dropped when
it rolls back, so a document that was never stored is never announced.
:func:`smtp_connection` is the one way the hub talks to its SMTP server (the
password-reset mails of :mod:`extranet.sso` use it too): ``[smtp] security``
``auto`` (STARTTLS when offered), ``starttls`` (required), ``ssl`` (implicit
TLS) or ``none``; ``username``/``password`` log in, and only over TLS unless
``security = "none"`` says otherwise; ``ca_file`` adds CAs to trust.

Sending is best effort: an unreachable SMTP server is logged and the e-mail
is lost, never the document. With no ``smtp_host`` configured nothing is sent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Iterable, Iterator

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from hub.models import DespatchAdvice, Invoice, Order, OrderResponse, Partner, User
from hub.settings import Settings

__all__ = [
    "KINDS",
    "Outgoing",
    "wants",
    "order_response",
    "despatch",
    "invoice",
    "approval_requested",
    "queue",
    "send_now",
    "smtp_connection",
    "pending_mail",
]

log = logging.getLogger(__name__)

#: The kinds of e-mail a user can opt in to, with the words the settings page uses.
KINDS = {
    "order_response": "Order confirmations and changes",
    "despatch": "Shipments (delivery notes with tracking)",
    "invoice": "Invoices",
    "approval": "Orders waiting for my approval (admins)",
}

_KEY = "kontor_outgoing_mail"
SMTP_TIMEOUT = 10


@dataclass(frozen=True)
class Outgoing:
    """One e-mail, complete, waiting for the commit."""

    settings: Settings
    message: EmailMessage


def wants(user: User, kind: str) -> bool:
    return bool(user.active and user.email and (user.notify or {}).get(kind))


def _recipients(session: Session, partner_id: int, kind: str, roles: Iterable[str] | None = None) -> list[User]:
    users = recipients_by_partner(session, [partner_id], kind).get(partner_id, [])
    wanted = set(roles) if roles is not None else None
    return [u for u in users if wanted is None or u.role in wanted]


def recipients_by_partner(session: Session, partner_ids: Iterable[int], kind: str) -> dict[int, list[User]]:
    """:func:`_recipients` of several partners with one query (a partner nobody of which asked: no key)."""
    users = session.scalars(select(User).where(User.partner_id.in_(set(partner_ids)), User.active.is_(True))
                            .order_by(User.id))
    found: dict[int, list[User]] = {}
    for user in users:
        if user.partner_id is not None and wants(user, kind):
            found.setdefault(user.partner_id, []).append(user)
    return found


def _link(settings: Settings, path: str) -> str:
    base = settings.web_base_url.rstrip("/")
    return f"{base}{path}" if base else path


def _message(settings: Settings, to: User, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((settings.hub_name, settings.smtp_sender))
    message["To"] = formataddr((to.name, to.email))
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=settings.smtp_sender.rpartition("@")[2] or "kontor.local")
    message.set_content(f"Hello {to.name},\n\n{body}\n\n-- \n{settings.hub_name} (Kontor)\n"
                        "You get this e-mail because you asked for it in your notification settings.\n")
    return message


def queue(session: Session, settings: Settings, recipients: list[User], subject: str, body: str) -> int:
    """Collect one e-mail per recipient, to be sent after the commit; returns how many."""
    outgoing = session.info.setdefault(_KEY, [])
    for user in recipients:
        outgoing.append(Outgoing(settings, _message(settings, user, subject, body)))
    return len(recipients)


def pending_mail(session: Session) -> list[Outgoing]:
    """What would be sent if the session committed now (for tests and diagnostics)."""
    return list(session.info.get(_KEY, []))


def order_response(session: Session, settings: Settings, partner: Partner, order: Order,
                   response: OrderResponse, *, recipients: list[User] | None = None) -> int:
    """Tell the partner's users who asked for it how their order was answered. ``recipients``: those
    users when the caller has them already (:func:`recipients_by_partner`), else they are looked up."""
    words = {"29": "confirmed", "4": "confirmed with changes", "27": "rejected"}.get(response.response_code, "answered")
    lines = [f"Your order {order.number} is {words} ({response.number})."]
    for line in order.lines:
        confirmed = line.confirmed_quantity if line.confirmed_quantity is not None else line.quantity
        note = "" if line.status == "accepted" else f"  [{line.status}]"
        lines.append(f"  {line.line_no}. {line.sku or ''} {line.description or ''}: "
                     f"{_qty(confirmed)} of {_qty(line.quantity)}{note}")
    if order.requested_delivery:
        lines.append(f"Delivery date: {order.requested_delivery:%Y-%m-%d}")
    lines.append(f"Order: {_link(settings, f'/orders/{order.id}')}")
    if recipients is None:
        recipients = _recipients(session, partner.id, "order_response")
    return queue(session, settings, recipients, f"Order {order.number} {words}", "\n".join(lines))


def despatch(session: Session, settings: Settings, order: Order, advice: DespatchAdvice) -> int:
    from hub.portal_documents import tracking_url

    lines = [f"Goods for your order {order.number} are on their way: delivery note {advice.number}."]
    if advice.despatch_date:
        lines.append(f"Despatched: {advice.despatch_date:%Y-%m-%d}")
    if advice.expected_delivery:
        lines.append(f"Expected: {advice.expected_delivery:%Y-%m-%d}")
    if advice.carrier:
        lines.append(f"Carrier: {advice.carrier}")
    if advice.tracking_number:
        url = tracking_url(session, advice.carrier, advice.tracking_number)
        lines.append(f"Tracking: {advice.tracking_number}" + (f"  {url}" if url else ""))
    lines.append(f"Delivery note: {_link(settings, f'/deliveries/{advice.id}')}")
    return queue(session, settings, _recipients(session, order.partner_id, "despatch"),
                 f"Order {order.number} shipped ({advice.number})", "\n".join(lines))


def invoice(session: Session, settings: Settings, order: Order, record: Invoice) -> int:
    kind = "Credit note" if record.document_code == "381" else "Invoice"
    lines = [
        f"{kind} {record.number} for your order {order.number}: {record.total:,.2f} {record.currency}"
        f" (VAT {record.tax_total:,.2f}).",
    ]
    if record.due_date:
        lines.append(f"Due: {record.due_date:%Y-%m-%d}")
    lines.append(f"PDF: {_link(settings, f'/invoices/{record.id}.pdf')}")
    return queue(session, settings, _recipients(session, order.partner_id, "invoice"),
                 f"{kind} {record.number} (order {order.number})", "\n".join(lines))


def approval_requested(session: Session, settings: Settings, partner: Partner, order: Order) -> int:
    from hub.approvals import threshold_for  # approvals calls this module: imported when used

    body = (f"Order {order.number} ({order.total:,.2f} {order.currency}) is over your approval threshold"
            f" of {threshold_for(partner) or 0:,.2f} {order.currency} and waits for your decision.\n"
            f"Approve or reject it: {_link(settings, '/approvals')}")
    return queue(session, settings, _recipients(session, partner.id, "approval", roles=("admin",)),
                 f"Order {order.number} waits for your approval", body)


def _qty(value) -> str:
    text = format(value.normalize(), "f") if value is not None else "-"
    return text


@contextmanager
def smtp_connection(settings: Settings, *, timeout: float = SMTP_TIMEOUT) -> Iterator[smtplib.SMTP]:
    """An open, logged-in connection to ``[smtp]``, closed on leaving.

    Raises :class:`smtplib.SMTPException` (or :class:`OSError`) when the
    server cannot be reached, refuses TLS that ``security`` requires, or
    refuses the login; a password is never sent over a plain connection unless
    ``security = "none"``.
    """
    context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
    host, port = settings.smtp_host, settings.smtp_port
    smtp: smtplib.SMTP
    if settings.smtp_security == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        encrypted = settings.smtp_security == "ssl"
        if settings.smtp_security in ("auto", "starttls"):
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
                encrypted = True
            elif settings.smtp_security == "starttls":
                raise smtplib.SMTPNotSupportedError(f"{host}:{port} does not offer STARTTLS ([smtp] security)")
        if settings.smtp_username:
            if not encrypted and settings.smtp_security != "none":
                raise smtplib.SMTPNotSupportedError(
                    f"{host}:{port} offers no TLS; the password is not sent in clear ([smtp] security)")
            smtp.login(settings.smtp_username, settings.smtp_password)
        yield smtp
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def send_now(outgoing: list[Outgoing]) -> int:
    """Send e-mails through their settings' SMTP server, one connection per server; returns how many went."""
    sent = 0
    by_server: dict[tuple[str, int], list[Outgoing]] = {}
    for item in outgoing:
        if not item.settings.smtp_host:
            log.info("no SMTP host configured; e-mail %r not sent", item.message["Subject"])
            continue
        by_server.setdefault((item.settings.smtp_host, item.settings.smtp_port), []).append(item)
    for (host, port), items in by_server.items():
        try:
            with smtp_connection(items[0].settings) as smtp:
                for item in items:
                    try:
                        smtp.send_message(item.message)
                        sent += 1
                    except smtplib.SMTPRecipientsRefused as exc:
                        log.warning("SMTP %s:%s refused %s: %s", host, port, item.message["To"], exc)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("SMTP %s:%s: %d e-mail(s) not sent: %s", host, port, len(items), exc)
    return sent


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    outgoing = session.info.pop(_KEY, None)
    if outgoing:
        send_now(outgoing)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)

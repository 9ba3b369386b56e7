"""Outbound documents: render per partner profile, number, queue for delivery.

Interchange control references come from a per-partner counter incremented
in the same transaction that stores the outbound message, so a rollback
gives the number back and no number is used twice or skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.orm import Session

from edi import translate
from edi.documents import Acknowledgement, Document
from hub.errors import HubError
from hub.messages import insert_message
from hub.models import Channel, ControlCounter, Message, Order, Partner, utcnow
from hub.partners import DocumentPreferences, preferences
from hub.settings import Settings

__all__ = ["OutboundDocumentError", "next_control_ref", "outbound_channel", "queue_document", "render_outbound",
           "Outbound", "partner_identity"]

# built once: every outbound message runs both
_NEXT_CONTROL = (
    update(ControlCounter)
    .where(ControlCounter.partner_id == bindparam("counter_partner"), ControlCounter.kind == bindparam("counter_kind"))
    .values(value=ControlCounter.value + 1)
    .returning(ControlCounter.value)
)
_OUTBOUND_CHANNEL = (
    select(Channel)
    .where(Channel.partner_id == bindparam("channel_partner"), Channel.active.is_(True),
           Channel.direction.in_(("out", "both")))
    .order_by(Channel.id)
    .limit(1)
)


def next_control_ref(session: Session, partner: Partner, kind: str = "interchange") -> int:
    """The next number of ``kind`` for ``partner``; locks the counter row until commit."""
    value = session.execute(_NEXT_CONTROL, {"counter_partner": partner.id, "counter_kind": kind}).scalar()
    if value is None:
        session.add(ControlCounter(partner_id=partner.id, kind=kind, value=1))
        session.flush()
        value = 1
    return int(value)


def outbound_channel(session: Session, partner: Partner) -> Channel | None:
    """The partner's first active channel that sends (None for a portal-only partner); from
    ``partner.channels`` when they are loaded already (the worker loads them with its claim)."""
    if "channels" not in inspect(partner).unloaded:
        sending = [c for c in partner.channels if c.active and c.direction in ("out", "both")]
        return min(sending, key=lambda c: c.id) if sending else None
    return session.scalar(_OUTBOUND_CHANNEL, {"channel_partner": partner.id})


def partner_identity(partner: Partner) -> tuple[str, str | None]:
    """The identifier (and its qualifier) we address the partner with: GLN first."""
    ranked = sorted(partner.identifiers, key=lambda i: {"GLN": 0, "DUNS": 1}.get(i.scheme, 2))
    for ident in ranked:
        if ident.scheme != "AS2":
            return ident.value, ident.qualifier
    return partner.code, "ZZZ"


_EXTENSIONS = {"edifact": "edi", "ubl": "xml"}


def _document_type(document: Document) -> str:
    if isinstance(document, Acknowledgement):
        return document.kind
    return translate.MESSAGE_TYPES[type(document).__name__]


class OutboundDocumentError(HubError, ValueError):
    """A document we produced breaks the rules of its syntax (UBL XSD, EN 16931): our error.

    Nothing is queued and nothing is sent; the message names every rule id and
    path. It is a ValueError too, so the back office's callers (ops console,
    ERP folder) report it as a refused action instead of crashing.
    """


def _check_ubl(document: Document, doc_type: str, data: bytes) -> None:
    """Every outbound UBL document passes our own reader: XSD and, for invoices, EN 16931."""
    from edi.ubl import validate_ubl

    errors = [issue for issue in validate_ubl(data) if issue.is_error]
    if errors:
        number = getattr(document, "number", "") or ""
        raise OutboundDocumentError(
            f"{doc_type} {number} is not sent: as UBL it breaks "
            + "; ".join(issue.format() for issue in errors)
            + " (our own data: the [hub] settings name, id, street, city, postcode, country, vat_number,"
            " the partner profile, or the order)"
        )


def queue_document(
    session: Session,
    settings: Settings,
    partner: Partner,
    document: Document,
    *,
    actor: str,
    answers: Message | None = None,
    order: Order | None = None,
    business_ref: str | None = None,
    prefs: DocumentPreferences | None = None,
) -> Message | None:
    """Render ``document`` as the partner wants it and queue it on its sending channel.

    Returns None (and renders nothing) when the partner has no channel that
    sends: it then follows its documents in the portal only. Does not commit.
    A UBL rendering is read back first (XSD, EN 16931 for invoices): one that
    fails raises :class:`OutboundDocumentError` and nothing is queued.
    """
    # Reading the channel and taking the number need none of the caller's pending
    # changes; those go to the database with the new message, in one flush.
    with session.no_autoflush:
        channel = outbound_channel(session, partner)
        if channel is None:
            return None
        control = next_control_ref(session, partner)
        outbound = render_outbound(settings, partner, document, control, prefs=prefs or preferences(partner),
                                   answers_id=answers.id if answers is not None else None,
                                   order_id=order.id if order is not None else None, business_ref=business_ref)
    # written at once (no flush of the caller's pending changes needed for its id)
    return insert_message(session, direction="out", data=outbound.data, actor=actor, partner=partner,
                          channel=channel, detail=outbound.detail, **outbound.fields)


@dataclass
class Outbound:
    """A document rendered for a partner: its bytes, the trace's first line, and the message's columns."""

    data: bytes
    detail: str
    fields: dict[str, Any]

    @cached_property
    def content_hash(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def render_outbound(
    settings: Settings,
    partner: Partner,
    document: Document,
    control: int,
    *,
    prefs: DocumentPreferences,
    answers_id: int | None = None,
    order_id: int | None = None,
    business_ref: str | None = None,
) -> Outbound:
    """Render ``document`` as the partner's profile ``prefs`` asks, as interchange ``control``: what
    :func:`queue_document` (and the worker's batch road, :mod:`hub.batch`) stores and sends."""
    recipient, recipient_qualifier = partner_identity(partner)
    doc_type = _document_type(document)
    # CONTRL is EDIFACT only; an APERAK goes to a UBL partner as a Peppol Message Level Response
    ubl_answer = isinstance(document, Acknowledgement) and document.kind == "APERAK" and prefs.syntax == "ubl"
    syntax = prefs.syntax if not isinstance(document, Acknowledgement) or ubl_answer else "edifact"
    # we ask for a CONTRL back (UNB 0031) when the partner's profile exchanges them
    ack_expected = syntax == "edifact" and "CONTRL" in prefs.acknowledgements and not isinstance(document, Acknowledgement)
    control_ref = str(control)
    if syntax == "ubl":
        data = translate.render(document, format="ubl")
        _check_ubl(document, doc_type, data)
    else:
        data = translate.render_edifact(
            [document],
            sender=settings.hub_id,
            sender_qualifier=settings.hub_id_qualifier,
            recipient=recipient,
            recipient_qualifier=recipient_qualifier,
            control_ref=control_ref,
            directory=prefs.directory,
            subset=prefs.subset,
            charset=prefs.charset,
            syntax_version=prefs.syntax_version,
            prepared=dt.datetime.now(),
            test=prefs.test,
            ack_requested=ack_expected,
            fold_text=True,  # our own texts (catalogue names, addresses) folded to the partner's charset
        )
    stamp = utcnow().strftime("%Y%m%d%H%M%S")
    return Outbound(
        data=data,
        detail=f"{doc_type} {getattr(document, 'number', '')} rendered as {syntax}, interchange {control_ref}",
        fields={
            "filename": f"{doc_type}_{partner.code}_{control:06d}_{stamp}.{_EXTENSIONS[syntax]}",
            "document_type": doc_type,
            "syntax": syntax,
            "interchange_ref": control_ref,
            "message_ref": "1" if syntax == "edifact" else None,
            "business_ref": business_ref or getattr(document, "number", None),
            "sender_id": settings.hub_id,
            "recipient_id": recipient,
            "answers_id": answers_id,
            "order_id": order_id,
            "receipt": {"ack_expected": True} if ack_expected else {},
        },
    )

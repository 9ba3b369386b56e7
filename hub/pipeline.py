"""The inbound pipeline: parse, validate, map, apply, answer, in one transaction.

:func:`process_inbound` works inside the caller's transaction and never
commits: the worker commits once when it returns, so a crash anywhere leaves
nothing applied and the message claimable again. Each document is applied
in a savepoint, so a business rejection of one message of an interchange
leaves no half-applied rows while the others go through. The worker first
runs it optimistically (:data:`OPTIMISTIC`: no savepoints, as nearly every
document goes through); the first refusal raises :class:`ApplyAgain`, and
the worker rolls everything back and runs it again with the savepoints.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from edi import documents as docs
from edi.errors import Issue, SyntaxCode
from edi.translate import Translation, contrl_for, translate
from hub.errors import PartnerError, WaitingFor
from hub.messages import issues_to_json, payload_bytes, transition
from hub.models import Message, Order, Partner, PartnerIdentifier
from hub.monitor import record_references
from hub.orders import place_order
from hub.outbound import partner_identity, queue_document
from hub.partners import DocumentPreferences, preferences
from hub.settings import Settings
from hub.states import Event, State

__all__ = ["process_inbound", "translate_message", "translated_fields", "wants_contrl", "Outcome", "ApplyAgain",
           "OPTIMISTIC"]

log = logging.getLogger(__name__)


# the queries every inbound message runs, built once
_WAITING = select(Message).where(Message.partner_id == bindparam("waiting_partner"), Message.state == State.WAITING,
                                 Message.id != bindparam("waiting_self"))
_EARLIER_INBOUND = (
    select(Message)
    .where(
        Message.id != bindparam("dup_self"),
        Message.direction == "in",
        Message.partner_id == bindparam("dup_partner"),
        Message.id < bindparam("dup_self"),
        Message.state.in_((State.PROCESSED, State.REJECTED, State.RESOLVED)),
    )
    .order_by(Message.id)
    .limit(1)
)
_DUPLICATE_BY_HASH = _EARLIER_INBOUND.where(Message.content_hash == bindparam("dup_hash"))
_DUPLICATE_BY_HASH_OR_REF = _EARLIER_INBOUND.where(
    or_(Message.content_hash == bindparam("dup_hash"), Message.interchange_ref == bindparam("dup_ref"))
)


#: ``session.info`` key: when true, :func:`process_inbound` applies documents without a savepoint
#: each and raises :class:`ApplyAgain` on the first one the partner's data refuses (the worker sets it)
OPTIMISTIC = "kontor.pipeline.optimistic"


class ApplyAgain(Exception):
    """An optimistic run met a document it cannot apply (a partner error, or one waiting for
    another): the caller rolls the whole transaction back and runs the pipeline again without
    :data:`OPTIMISTIC`, when each document gets its savepoint and the refusal is recorded."""


class Outcome:
    PROCESSED = "processed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    WAITING = "waiting"


def _release_waiting(session: Session, message: Message, *, actor: str) -> None:
    """Something of this partner was applied: messages waiting on it get another go."""
    with session.no_autoflush:  # the pending results are flushed once, when the worker commits
        waiting_messages = session.scalars(_WAITING, {"waiting_partner": message.partner.id,
                                                      "waiting_self": message.id}).all()
    for waiting in waiting_messages:
        transition(session, waiting, Event.RELEASE, actor=actor,
                   detail=f"message {message.id} was applied; trying again")


def _find_duplicate(session: Session, message: Message) -> Message | None:
    """An earlier inbound message of the same partner with the same interchange reference or bytes."""
    params = {"dup_self": message.id, "dup_partner": message.partner.id, "dup_hash": message.content_hash}
    if message.interchange_ref:
        return session.scalar(_DUPLICATE_BY_HASH_OR_REF, {**params, "dup_ref": message.interchange_ref})
    return session.scalar(_DUPLICATE_BY_HASH, params)


def _identify(session: Session, translation: Translation, known: Partner | None = None) -> Partner | None:
    """The partner the interchange sender names: ``known`` (the channel's) when it is one of its
    identifiers (they are loaded once and used again to address the answer), else by a query."""
    header = translation.header
    if header is None:
        return None
    if known is not None:
        for ident in known.identifiers:
            if ident.value == header.sender and (not header.sender_qualifier or ident.qualifier == header.sender_qualifier):
                return known
    stmt = select(PartnerIdentifier).where(PartnerIdentifier.value == header.sender)
    if header.sender_qualifier:
        stmt = stmt.where(PartnerIdentifier.qualifier == header.sender_qualifier)
    ident = session.scalar(stmt.limit(1))
    return ident.partner if ident is not None else None


#: UBL document -> (canonical role of the party that sends it, its element in the XML).
_UBL_SENDER = {
    docs.Order: (docs.PartyRole.BUYER, "cac:BuyerCustomerParty/cac:Party"),
    docs.OrderResponse: (docs.PartyRole.SUPPLIER, "cac:SellerSupplierParty/cac:Party"),
    docs.DespatchAdvice: (docs.PartyRole.SUPPLIER, "cac:DespatchSupplierParty/cac:Party"),
    docs.Invoice: (docs.PartyRole.SUPPLIER, "cac:AccountingSupplierParty/cac:Party"),
}


def _ubl_sender_ids(message: Message, root_path: str) -> tuple[str, list[str]]:
    """The root element's name and every identifier (EndpointID, PartyIdentification/ID) of the
    sender party at ``root_path``, read again from the stored payload (only when the canonical
    party's one identifier did not match)."""
    from edi.errors import EdiError
    from edi.ubl.parse import NS
    from edi.ubl.safe import parse_xml

    try:
        root = parse_xml(payload_bytes(message)).getroot()
    except EdiError:
        return "", []
    party = root.find(root_path, NS)
    found = [] if party is None else party.findall("cbc:EndpointID", NS) + party.findall("cac:PartyIdentification/cbc:ID", NS)
    return root.tag.rsplit("}", 1)[-1], [el.text.strip() for el in found if el.text and el.text.strip()]


def _ubl_sender_issues(session: Session, message: Message, translation: Translation) -> list[Issue]:
    """UBL has no envelope: the sending party of the document (the buyer of an order, the supplier
    of a response, despatch advice or invoice, the SenderParty of a response message) must carry
    one of the channel partner's identifiers (EndpointID or PartyIdentification, values compared),
    as UNB's sender must for EDIFACT. Without a channel partner it identifies the partner."""
    if not translation.messages or translation.messages[0].document is None:
        return []
    document = translation.messages[0].document
    if isinstance(document, docs.Acknowledgement):
        ids, root_path = [document.interchange_sender] if document.interchange_sender else [], "cac:SenderParty"
        element = f"/ApplicationResponse/{root_path}/cbc:EndpointID"
    else:
        role, root_path = _UBL_SENDER[type(document)]
        party = document.party(role)
        ids = [party.id] if party is not None and party.id else []
        element = ""
    known = {ident.value for ident in message.partner.identifiers} if message.partner is not None else set()
    if known and known.intersection(ids):
        return []
    if not isinstance(document, docs.Acknowledgement):
        root, more = _ubl_sender_ids(message, root_path)
        ids = list(dict.fromkeys(ids + more))
        element = f"/{root}/{root_path}"
        if known.intersection(ids):
            return []
    if message.partner_id is None and ids:
        ident = session.scalar(select(PartnerIdentifier).where(PartnerIdentifier.value.in_(ids)).limit(1))
        if ident is not None:
            message.partner = ident.partner
            return []
    if not ids:
        text = "the document names no identifier (EndpointID or PartyIdentification) for its sender"
    else:
        whose = "the partner of this channel" if message.partner_id else "any partner"
        text = f"sender {', '.join(ids)} is not an identifier of {whose}"
    return [Issue(text, code=SyntaxCode.UNKNOWN_INTERCHANGE_SENDER, path=element)]


def _envelope_issues(session: Session, settings: Settings, message: Message, translation: Translation) -> list[Issue]:
    """Sender and recipient checks against the partner and our own identity."""
    header = translation.header
    if translation.syntax == "ubl":
        from edi.ubl import recipient_issues  # an Order addressed to another seller: what UNB's recipient check is

        document = translation.messages[0].document if translation.messages else None
        return _ubl_sender_issues(session, message, translation) + recipient_issues(
            document, (settings.hub_id, settings.hub_as2_id), lambda: payload_bytes(message))
    if header is None:
        return []
    issues = []
    sender_partner = _identify(session, translation, message.partner)
    if message.partner_id is None and sender_partner is not None:
        message.partner = sender_partner
    elif sender_partner is None or (message.partner_id is not None and sender_partner.id != message.partner_id):
        qualifier = f" (qualifier {header.sender_qualifier})" if header.sender_qualifier else ""
        whose = "the partner of this channel" if message.partner_id else "any partner"
        issues.append(
            Issue(
                f"interchange sender {header.sender}{qualifier} is not an identifier of {whose}",
                code=SyntaxCode.UNKNOWN_INTERCHANGE_SENDER,
                segment=1,
                tag="UNB",
                element=2,
                component=1,
            )
        )
    if header.recipient != settings.hub_id:
        issues.append(
            Issue(
                f"interchange recipient {header.recipient} is not us ({settings.hub_id})",
                code="7",
                segment=1,
                tag="UNB",
                element=3,
                component=1,
            )
        )
    return issues


def translated_fields(translation: Translation) -> dict[str, str | None]:
    """What a translation tells of its inbound message's columns: the envelope (when it has one),
    the document type (MIXED for an interchange of several kinds), the first UNH reference, the syntax."""
    fields: dict[str, str | None] = {"syntax": translation.syntax}
    header = translation.header
    if header is not None:
        fields.update(interchange_ref=header.control_ref, sender_id=header.sender, recipient_id=header.recipient)
    if translation.messages:
        first = translation.messages[0]
        kinds = {m.message_type for m in translation.messages}
        fields.update(document_type=first.message_type if len(kinds) == 1 else "MIXED", message_ref=first.reference)
    return fields


def wants_contrl(translation: Translation, prefs: DocumentPreferences) -> bool:
    """Whether an EDIFACT interchange is answered with a CONTRL: it asks for one (UNB 0031), or
    the partner's profile exchanges them."""
    header = translation.header
    return translation.syntax == "edifact" and header is not None and (
        header.ack_requested or "CONTRL" in prefs.acknowledgements)


def translate_message(message: Message) -> Translation:
    """Read, validate and map a stored inbound message under its partner's strictness.

    Pure work on bytes: the worker runs it before opening the transaction
    that applies the result, so the database is not held while it parses.
    """
    data = payload_bytes(message)
    partner = message.partner
    if partner is None:
        return translate(data)
    return translate(data, strictness=preferences(partner).strictness)


def process_inbound(
    session: Session,
    settings: Settings,
    message: Message,
    *,
    actor: str,
    translation: Translation | None = None,
) -> str:
    """Run the pipeline on a claimed inbound message and leave it in its final state. No commit.

    ``translation`` is :func:`translate_message`'s result when the caller
    already has it. Returns the outcome. Raises only for failures on our side
    (the worker turns those into a retry); anything wrong with the partner's
    message is a rejection, answered as the partner profile asks.
    """
    partner = message.partner
    prefs = preferences(partner) if partner is not None else None
    if translation is None:
        translation = translate_message(message)

    for name, value in translated_fields(translation).items():
        setattr(message, name, value)
    if translation.messages:
        record_references(session, message, [m.reference for m in translation.messages])

    with session.no_autoflush:  # the header fields set above go out with the results, in one flush
        envelope_issues = _envelope_issues(session, settings, message, translation)
    translation.issues.extend(envelope_issues)
    partner = message.partner
    if partner is not None and prefs is None:
        prefs = preferences(partner)

    with session.no_autoflush:
        duplicate = _find_duplicate(session, message) if message.partner is not None else None
    if duplicate is not None:
        message.duplicate_of_id = duplicate.id
        message.issues = issues_to_json(translation.all_issues())
        same = "the same bytes" if duplicate.content_hash == message.content_hash else "the same interchange reference"
        transition(session, message, Event.DUPLICATE, actor=actor,
                   detail=f"{same} as message {duplicate.id}; not applied again")
        return Outcome.DUPLICATE

    applied, problems, waiting = 0, [], []
    interchange_ok = not translation.errors
    # Optimistic (the worker's hot path): no savepoint a document, as nearly every document goes
    # through; the first refusal sends the caller back to a clean start (ApplyAgain), so nothing
    # a refused document wrote before it was refused is ever kept.
    optimistic = bool(session.info.get(OPTIMISTIC))
    for translated in translation.messages:
        if not interchange_ok or not translated.ok or partner is None:
            continue
        try:
            if optimistic:
                _apply(session, settings, partner, message, translated.document, actor=actor)
            else:
                with session.begin_nested():
                    _apply(session, settings, partner, message, translated.document, actor=actor)
            applied += 1
        except (WaitingFor, PartnerError) as exc:
            if optimistic:
                raise ApplyAgain(str(exc)) from exc
            if isinstance(exc, PartnerError):
                problems.extend(exc.problems)
                _answer_aperak(session, settings, partner, message, translated, exc.problems, actor=actor)
            else:
                waiting.append(str(exc))

    if waiting and not applied and not problems:
        message.issues = issues_to_json(translation.all_issues())
        if message.attempts >= settings.worker_max_attempts:
            message.error = f"still waiting for {waiting[0]}"
            transition(session, message, Event.GIVE_UP, actor=actor,
                       detail=f"waited {message.attempts} times for {waiting[0]}")
            return Outcome.REJECTED
        transition(session, message, Event.WAIT, actor=actor, detail=f"waiting for {waiting[0]}")
        return Outcome.WAITING

    all_issues = translation.all_issues()
    message.issues = issues_to_json(all_issues)
    if partner is not None and prefs is not None and wants_contrl(translation, prefs):
        ack = contrl_for(translation, number=f"C{message.id}", issue_date=dt.date.today())
        queue_document(session, settings, partner, ack, actor=actor, answers=message,
                       business_ref=message.business_ref)

    errors = [i for i in all_issues if i.is_error]
    if partner is not None and prefs is not None and translation.syntax == "ubl" and errors and prefs.acknowledgements:
        _answer_ubl_rejection(session, settings, partner, message, translation, errors, prefs, actor=actor)
    if applied:
        _release_waiting(session, message, actor=actor)
    if applied and not errors and not problems:
        transition(session, message, Event.DONE, actor=actor,
                   detail=f"{applied} document(s) applied")
        return Outcome.PROCESSED
    reasons = [i.format() for i in errors] + problems
    if not translation.messages and not errors:
        reasons.append("the interchange holds no message")
    message.error = "\n".join(reasons) or "nothing could be applied"
    if applied:
        transition(session, message, Event.DONE, actor=actor,
                   detail=f"{applied} document(s) applied; {len(reasons)} problem(s) in others: {reasons[0]}")
        return Outcome.PROCESSED
    transition(session, message, Event.REJECT, actor=actor, detail=reasons[0] if reasons else None)
    return Outcome.REJECTED


def _apply(session: Session, settings: Settings, partner: Partner, message: Message, document: object, *, actor: str) -> None:
    if isinstance(document, docs.Order) and document.function in ("1", "5"):
        known = session.scalar(select(Order.id).where(Order.partner_id == partner.id, Order.number == document.number))
        if known is None:
            what = "cancellation" if document.function == "1" else "replacement"
            raise WaitingFor(f"order {document.number}, which this {what} refers to")
    if isinstance(document, docs.Order):
        place_order(session, settings, partner, document, source="edi", actor=actor, message=message)
    elif isinstance(document, docs.Acknowledgement):
        _record_acknowledgement(session, partner, message, document, actor=actor)
    else:
        raise PartnerError(f"{type(document).__name__} documents are not accepted from partners on this hub")


def _record_acknowledgement(session: Session, partner: Partner, message: Message, ack: docs.Acknowledgement, *, actor: str) -> None:
    """Match a CONTRL/APERAK to the outbound message it acknowledges and move that one on."""
    message.business_ref = ack.document_ref or ack.interchange_ref
    if not ack.interchange_ref and not ack.document_ref:
        raise PartnerError(f"the {ack.kind} names no interchange or document it acknowledges")
    stmt = select(Message).where(Message.partner_id == partner.id, Message.direction == "out")
    if ack.interchange_ref:
        stmt = stmt.where(Message.interchange_ref == ack.interchange_ref)
    else:
        stmt = stmt.where(Message.business_ref == ack.document_ref)
    target = session.scalar(stmt.order_by(Message.id.desc()).limit(1))
    if target is None:
        raise PartnerError(
            f"the {ack.kind} acknowledges interchange {ack.interchange_ref or ack.document_ref}, which we never sent"
        )
    message.answers_id = target.id
    message.order_id = target.order_id
    rejected = ack.action == "4" or any(m.action == "4" for m in ack.messages)
    detail = f"{ack.kind} {'rejected' if rejected else 'accepted'} by the partner (message {message.id})"
    if rejected:
        reasons = [e.text for e in ack.errors] + [e.text for m in ack.messages for e in m.errors]
        target.error = "; ".join(r for r in reasons if r) or detail
        if target.state in (State.DELIVERED, State.ACK_OVERDUE):
            transition(session, target, Event.REJECT, actor=actor, detail=f"{detail}: {target.error}")
    elif target.state in (State.DELIVERED, State.ACK_OVERDUE, State.DELIVERING):
        transition(session, target, Event.ACKNOWLEDGE, actor=actor, detail=detail)


def _answer_ubl_rejection(session: Session, settings: Settings, partner: Partner, message: Message,
                          translation: Translation, errors: list[Issue], prefs, *, actor: str) -> None:
    """A UBL document refused (unsafe, not well-formed, XSD, EN 16931, sender): the partner gets a
    Peppol Message Level Response naming each error's path, whenever its profile exchanges
    acknowledgements at all (the MLR stands for both CONTRL and APERAK in UBL)."""
    from dataclasses import replace

    from edi.ubl import rejection_for

    translated = translation.messages[0] if translation.messages else None
    if translated is not None and isinstance(translated.document, docs.Acknowledgement):
        return  # a response message is never answered with another (no MLR ping-pong)
    reference = getattr(translated.document, "number", None) if translated is not None else None
    reference = reference or (translated.reference if translated is not None else None)
    recipient, recipient_qualifier = partner_identity(partner)
    ack = rejection_for(errors, document_ref=reference or message.filename, number=f"R{message.id}",
                        issue_date=dt.date.today(), sender=settings.hub_id, sender_qualifier=settings.hub_id_qualifier,
                        recipient=recipient, recipient_qualifier=recipient_qualifier)
    queue_document(session, settings, partner, ack, actor=actor, answers=message, prefs=replace(prefs, syntax="ubl"),
                   business_ref=reference)


def _answer_aperak(session: Session, settings: Settings, partner: Partner, message: Message, translated, problems: list[str], *, actor: str) -> None:
    """Tell the partner why a well-formed message was not applied, when its profile wants APERAKs
    (in the syntax the message came in: a UBL document is answered with a Message Level Response)."""
    from dataclasses import replace

    from edi.edifact import aperak_for

    prefs = preferences(partner)
    if "APERAK" not in prefs.acknowledgements:
        return
    document = translated.document
    if message.syntax == "ubl":
        from edi.ubl import CREDIT_NOTE_CODES, rejection_for

        if isinstance(document, docs.Acknowledgement):
            return  # a response message is never answered with another (no MLR ping-pong)

        recipient, recipient_qualifier = partner_identity(partner)
        reference = getattr(document, "number", None)
        credit = isinstance(document, docs.Invoice) and document.document_code in CREDIT_NOTE_CODES
        root = "CreditNote" if credit else type(document).__name__
        ack = rejection_for([Issue(p[:512], path=f"/{root}") for p in problems],
                            document_ref=reference, number=f"A{message.id}-1", issue_date=dt.date.today(),
                            sender=settings.hub_id, sender_qualifier=settings.hub_id_qualifier,
                            recipient=recipient, recipient_qualifier=recipient_qualifier)
        queue_document(session, settings, partner, ack, actor=actor, answers=message,
                       prefs=replace(prefs, syntax="ubl"), business_ref=reference)
        return
    ack = aperak_for(
        number=f"A{message.id}-{translated.reference or 1}",
        issue_date=dt.date.today(),
        errors=[p[:512] for p in problems],
        document_ref=getattr(document, "number", None),
        message_ref=translated.reference,
        interchange_ref=message.interchange_ref,
    )
    queue_document(session, settings, partner, ack, actor=actor, answers=message,
                   business_ref=getattr(document, "number", None))

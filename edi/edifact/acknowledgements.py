"""CONTRL and APERAK: reading and writing them, and building them from Issues.

CONTRL (syntax and service report; structure from the UN CONTRL D:3 message,
gefeg.com/jswg/v3/data/v3-contrl.htm, and EANCOM 1997 CONTRL version 002):
UNH, UCI (0020 interchange ref + S002 sender + S003 recipient + 0083 action
+ 0085 error + 0013 service segment tag + S011 element position), SG1 UCM
(0062 + S009 + 0083 + 0085 + 0013 + S011), SG2 UCS (0096 segment position in
the message, UNH = 1, + 0085), UCD (0085 + S011 0098:0104), UNT.
S011 0098 counts the segment tag as position 1 (ISO 9735 CONTRL notes, e.g.
doc.chinlinktech.com/edifact/D03B/segment/UCM), so data element E of an
:class:`~edi.errors.Issue` is reported as E + 1, and read back as 0098 - 1.

APERAK (application error and acknowledgement, D96A; EANCOM usage from
gs1.se/EANCOM 2000/Aperak and eancom.com/ean02s3/part2/aperak): UNH,
BGM+313 (D96A, UNCL 1001 application error message) or BGM+305 (D01B, as
in the EANCOM 2002 examples) + number + 1225 (6 confirmation, 27 not
accepted), DTM+137, SG1 RFF (the business document, e.g. RFF+ON) and
RFF+ACW (the message answered), SG3 ERC (9321 error code) with FTX+AAO
(error description), UNT.

What CONTRL cannot carry is lost in a round trip: an error's text (read back
as the standard description of its code), the segment tag of a UCS, and all
but the first interchange-level and UCM-level error.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from edi.documents import AckError, Acknowledgement, Invoice, MessageAck
from edi.edifact.common import MessageReader, collect, component, dtm, header_checks, missing_date, seg, split_text
from edi.envelope import Message, Segment
from edi.errors import Issue, SyntaxCode

__all__ = [
    "SYNTAX_ERROR_TEXT",
    "InterchangeInfo",
    "describe_syntax_error",
    "contrl_from_issues",
    "aperak_for",
    "aperak_for_invoice",
    "read_contrl",
    "write_contrl",
    "read_aperak",
    "write_aperak",
    "ACCEPTED",
    "REJECTED",
    "RECEIVED",
]

ACCEPTED = "7"  # 0083: this level acknowledged, lower levels acknowledged unless rejected
REJECTED = "4"  # 0083: this level and all lower levels rejected
RECEIVED = "8"  # 0083: interchange received

#: Plain descriptions of the syntax error codes (UN/EDIFACT 0085) the translator reports.
SYNTAX_ERROR_TEXT: dict[str, str] = {
    "2": "syntax version or level not supported",
    "12": "invalid value",
    "13": "missing",
    "15": "not supported in this position",
    "16": "too many constituents",
    "17": "no agreement",
    "18": "unspecified error",
    "19": "invalid decimal notation",
    "21": "invalid character",
    "22": "invalid service character",
    "23": "unknown interchange sender",
    "26": "duplicate detected",
    "28": "references do not match",
    "29": "control count does not match number of instances received",
    "30": "functional groups and messages mixed",
    "35": "too many repetitions",
    "36": "too many segment group repetitions",
    "37": "invalid type of character(s)",
    "38": "missing digit in front of decimal sign",
    "39": "data element too long",
    "40": "data element too short",
}


def describe_syntax_error(code: str | None) -> str:
    """The text a CONTRL error code stands for."""
    if code is None:
        return "error"
    return SYNTAX_ERROR_TEXT.get(code, f"syntax error {code}")


class InterchangeInfo(Protocol):
    """What a CONTRL needs of the interchange it answers (:class:`edi.envelope.InterchangeHeader` fits)."""

    control_ref: str
    sender: str
    recipient: str
    sender_qualifier: str | None
    recipient_qualifier: str | None


# --------------------------------------------------------------------------- building from issues


def _ack_error(issue: Issue) -> AckError:
    return AckError(
        code=issue.code,
        text=issue.message,
        segment=issue.message_segment,
        tag=issue.tag,
        element=issue.element,
        component=issue.component,
    )


def contrl_from_issues(
    *,
    interchange: InterchangeInfo,
    messages: Iterable[tuple[Message, list[Issue]]],
    interchange_issues: Iterable[Issue] = (),
    number: str,
    issue_date: _dt.date,
) -> Acknowledgement:
    """The CONTRL answering an interchange.

    Only errors count (warnings are not reported). Each message gets a UCM:
    action 7 without errors, 4 with them, its errors located by segment
    position within the message (UCS) and element/component (UCD). The
    interchange (UCI) is rejected (4) when it has errors of its own or when
    every message was rejected; otherwise 7, lower levels acknowledged unless
    their UCM says otherwise.
    """
    acks = []
    for message, issues in messages:
        errors = [_ack_error(i) for i in issues if i.is_error]
        acks.append(
            MessageAck(
                reference=message.reference,
                message_type=message.type,
                action=REJECTED if errors else ACCEPTED,
                errors=errors,
                version=message.version,
                release=message.release,
                agency=message.agency,
                association=message.association,
            )
        )
    top = [replace(_ack_error(i), segment=None) for i in interchange_issues if i.is_error]
    rejected = bool(top) or (bool(acks) and all(a.action == REJECTED for a in acks))
    return Acknowledgement(
        kind="CONTRL",
        number=number,
        issue_date=issue_date,
        interchange_ref=interchange.control_ref,
        interchange_sender=interchange.sender,
        interchange_recipient=interchange.recipient,
        interchange_sender_qualifier=interchange.sender_qualifier,
        interchange_recipient_qualifier=interchange.recipient_qualifier,
        action=REJECTED if rejected else ACCEPTED,
        errors=top,
        messages=acks,
    )


def aperak_for(
    *,
    number: str,
    issue_date: _dt.date,
    errors: Iterable[Issue | str],
    document_ref: str | None = None,
    document_ref_qualifier: str = "ON",
    message_ref: str | None = None,
    interchange_ref: str | None = None,
    default_code: str = SyntaxCode.INVALID_VALUE,
) -> Acknowledgement:
    """An APERAK for business errors in a received document (or its acceptance when there are none).

    ``errors`` are Issues (warnings are left out; an Issue's ``rule``, when it
    has one, is its ERC code, else its ``code``) or plain sentences, which get
    ``default_code``. ``document_ref`` is the business number answered
    (``RFF+ON`` for an order, ``IV`` an invoice...), ``message_ref`` the UNH
    reference of the message answered (``RFF+ACW``).
    """
    found: list[AckError] = []
    for error in errors:
        if isinstance(error, str):
            found.append(AckError(code=default_code, text=error))
        elif error.is_error:
            ack = _ack_error(error)
            if error.rule and len(error.rule) <= 8:
                ack.code = error.rule
            found.append(ack)
    return Acknowledgement(
        kind="APERAK",
        number=number,
        issue_date=issue_date,
        interchange_ref=interchange_ref,
        action=REJECTED if found else ACCEPTED,
        document_ref=document_ref,
        document_ref_qualifier=document_ref_qualifier if document_ref else None,
        message_ref=message_ref,
        errors=found,
    )


def aperak_for_invoice(
    invoice: Invoice,
    *,
    number: str,
    issue_date: _dt.date,
    message_ref: str | None = None,
    code: str = SyntaxCode.INVALID_VALUE,
) -> Acknowledgement:
    """An APERAK listing every total of ``invoice`` that does not add up (accepted, 7, when all do)."""
    return aperak_for(
        number=number,
        issue_date=issue_date,
        errors=invoice.arithmetic_errors(),
        document_ref=invoice.number,
        document_ref_qualifier="IV",
        message_ref=message_ref,
        default_code=code,
    )


# --------------------------------------------------------------------------- CONTRL segments


def _s011(element: int | None, comp: int | None) -> list[str] | str | None:
    if element is None:
        return None
    position = str(element + 1)
    return [position, str(comp)] if comp else position


def write_contrl(ack: Acknowledgement) -> list[Segment]:
    """The body of a CONTRL for ``ack`` (UCI, then UCM/UCS/UCD per message)."""
    first = ack.errors[0] if ack.errors else None
    body = [
        seg(
            "UCI",
            ack.interchange_ref or "",
            [ack.interchange_sender, ack.interchange_sender_qualifier] if ack.interchange_sender else None,
            [ack.interchange_recipient, ack.interchange_recipient_qualifier] if ack.interchange_recipient else None,
            ack.action,
            first.code if first else None,
            first.tag if first and first.tag and first.tag.startswith("UN") else None,
            _s011(first.element, first.component) if first else None,
        )
    ]
    for message in ack.messages:
        top = [e for e in message.errors if e.segment is None]
        head = top[0] if top else None
        body.append(
            seg(
                "UCM",
                message.reference,
                [
                    message.message_type,
                    message.version or "D",
                    message.release or "96A",
                    message.agency or "UN",
                    message.association,
                ],
                message.action,
                head.code if head else None,
                head.tag if head and head.tag in ("UNH", "UNT") else None,
                _s011(head.element, head.component) if head and head.tag in ("UNH", "UNT") else None,
            )
        )
        by_segment: dict[int, list[AckError]] = {}
        for error in message.errors:
            if error.segment is not None:
                by_segment.setdefault(error.segment, []).append(error)
        for position in sorted(by_segment):
            errors = by_segment[position]
            whole = next((e for e in errors if e.element is None), None)
            body.append(seg("UCS", str(position), whole.code if whole else None))
            for error in errors:
                if error.element is not None:
                    body.append(seg("UCD", error.code, _s011(error.element, error.component)))
    return body


def _int(value: str | None) -> int | None:
    # isascii: str.isdigit accepts digits such as '\u00b2' that int() refuses
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def read_contrl(r: MessageReader, issue_date: _dt.date) -> Acknowledgement | None:
    """The Acknowledgement a CONTRL carries; its number is the CONTRL's own UNH reference.

    Without any UCI the one error is the missing UCI: the UCM, UCS and UCD
    segments that then have nothing to belong to are its consequence, not
    reported one by one.
    """
    ack: Acknowledgement | None = None
    current: MessageAck | None = None
    position: int | None = None
    has_uci = any(s.tag == "UCI" for s in r.message.segments)
    for i, s in r.body():
        if s.tag == "UCI":
            ack = Acknowledgement(
                kind="CONTRL",
                number=r.message.reference,
                issue_date=issue_date,
                interchange_ref=component(s, 1),
                interchange_sender=component(s, 2, 1),
                interchange_recipient=component(s, 3, 1),
                interchange_sender_qualifier=component(s, 2, 2),
                interchange_recipient_qualifier=component(s, 3, 2),
                action=component(s, 4) or ACCEPTED,
            )
            code = component(s, 5)
            if code:
                ack.errors.append(_read_error(code, component(s, 6), component(s, 7, 1), component(s, 7, 2)))
        elif s.tag == "UCM" and ack is not None:
            current = MessageAck(
                reference=component(s, 1) or "",
                message_type=component(s, 2, 1) or "",
                action=component(s, 3) or ACCEPTED,
                version=component(s, 2, 2),
                release=component(s, 2, 3),
                agency=component(s, 2, 4),
                association=component(s, 2, 5),
            )
            code = component(s, 4)
            if code:
                current.errors.append(_read_error(code, component(s, 5), component(s, 6, 1), component(s, 6, 2)))
            ack.messages.append(current)
            position = None
        elif s.tag == "UCS" and current is not None:
            position = _int(component(s, 1))
            if position is None:
                r.issue(i, "UCS segment position is not a number", element=1)
            code = component(s, 2)
            if code:
                current.errors.append(AckError(code=code, text=describe_syntax_error(code), segment=position))
        elif s.tag == "UCD" and current is not None:
            code = component(s, 1) or SyntaxCode.UNSPECIFIED
            error = _read_error(code, None, component(s, 2, 1), component(s, 2, 2))
            error.segment = position
            current.errors.append(error)
        elif s.tag == "UCF":
            current, position = None, None  # a functional group's response; its UCMs follow
        elif s.tag in ("UCI", "UCM", "UCS", "UCD") and (has_uci or s.tag == "UCI"):
            r.issue(i, f"{s.tag} out of place", code=SyntaxCode.NOT_SUPPORTED_IN_POSITION)
    if ack is None:
        r.missing("the CONTRL has no UCI (interchange response)", tag="UCI")
    return None if r.has_errors else ack


def _read_error(code: str, tag: str | None, position: str | None, comp: str | None) -> AckError:
    element = _int(position)
    return AckError(
        code=code,
        text=describe_syntax_error(code),
        tag=tag,
        element=element - 1 if element else None,
        component=_int(comp),
    )


# --------------------------------------------------------------------------- APERAK segments


def aperak_document_code(directory: str) -> str:
    """BGM 1001 for an APERAK: 313 in D96A (UNCL 1001), 305 in D01B (EANCOM 2002 examples)."""
    return "313" if directory == "D96A" else "305"


def write_aperak(ack: Acknowledgement, directory: str) -> list[Segment]:
    """The body of an APERAK for ``ack``."""
    body = [
        seg("BGM", aperak_document_code(directory), ack.number, "27" if ack.action == REJECTED else "6"),
        dtm("137", ack.issue_date),
    ]
    if ack.document_ref:
        body.append(seg("RFF", [ack.document_ref_qualifier or "ON", ack.document_ref]))
    if ack.message_ref:
        body.append(seg("RFF", ["ACW", ack.message_ref]))
    for error in ack.errors:
        body.append(seg("ERC", error.code))
        if error.text:
            body.append(seg("FTX", "AAO", None, None, split_text(error.text, 70, 5)))
    return body


#: 1225 message functions that mean the APERAK accepts (6 confirmation, 9 original, 29 accepted).
_ACCEPTING = {"6", "9", "29"}


def read_aperak(r: MessageReader) -> Acknowledgement | None:
    """The Acknowledgement an APERAK carries.

    Its action is 4 (rejected) when BGM 1225 is 27 (not accepted), or when it
    reports ERC errors under another function than 6/9/29; else 7.
    """
    c = collect(r)
    number = header_checks(r, c)
    issue_date = c.dates.get("137")
    if issue_date is None:
        missing_date(r, c, "137", "the APERAK has no document date (DTM+137)")
    if r.has_errors or number is None or issue_date is None:
        return None
    document_ref, qualifier = None, None
    for q, value in c.refs.items():
        if q != "ACW":
            document_ref, qualifier = value, q
            break
    errors = [AckError(code=code, text=text) for _, code, text in c.errors]
    rejected = c.function == "27" or (bool(errors) and c.function not in _ACCEPTING)
    return Acknowledgement(
        kind="APERAK",
        number=number,
        issue_date=issue_date,
        action=REJECTED if rejected else ACCEPTED,
        document_ref=document_ref,
        document_ref_qualifier=qualifier,
        message_ref=c.refs.get("ACW"),
        errors=errors,
    )

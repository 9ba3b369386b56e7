"""Checks for what a partner types in the portal or the API that the hub later writes in EDIFACT.

An order placed in the portal or through the API is answered (ORDRSP) and
followed up (DESADV, INVOIC) in the partner's EDIFACT when it has a channel:
an order number of 40 characters or a description with an emoji would only
fail when that answer is written. These checks refuse such input at the door,
naming the field: the EDIFACT data element's length and format (ISO 9735
representation ``an..35``, ``n..6``) and the character repertoire of the
syntax identifier the partner's profile declares (``preferences.charset``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from edi.charsets import Charset, charset_for
from hub.models import Partner
from hub.outbound import outbound_channel
from hub.partners import preferences

__all__ = ["FieldRule", "ORDER_NUMBER", "LINE_NO", "UNIT", "REFERENCE", "ITEM_NUMBER", "PARTY_ID", "NOTE", "FREE_TEXT",
           "partner_charset", "text_problem"]


@dataclass(frozen=True)
class FieldRule:
    """An EDIFACT data element's representation: at most ``max_length`` characters, digits only when ``numeric``."""

    element: str
    max_length: int
    numeric: bool = False


#: BGM 1004 document number, an..35.
ORDER_NUMBER = FieldRule("BGM 1004", 35)
#: LIN 1082 line item number, n..6.
LINE_NO = FieldRule("LIN 1082", 6, numeric=True)
#: QTY 6411 measurement unit code, an..3.
UNIT = FieldRule("QTY 6411", 3)
#: RFF 1154 reference, an..35.
REFERENCE = FieldRule("RFF 1154", 35)
#: LIN/PIA 7140 item number, an..35.
ITEM_NUMBER = FieldRule("PIA 7140", 35)
#: NAD 3039 party identifier, an..35.
PARTY_ID = FieldRule("NAD 3039", 35)
#: FTX C108: five 4440 texts of an..70.
NOTE = FieldRule("FTX 4440", 350)
#: IMD 7008 and NAD texts: split over as many components as needed; only the characters are checked.
FREE_TEXT = FieldRule("IMD 7008", 10**6)


def partner_charset(session: Session, partner: Partner) -> Charset | None:
    """The charset the partner's EDIFACT is written in, or None when it gets no EDIFACT
    (a portal-only partner, or one exchanging UBL)."""
    prefs = preferences(partner)
    if prefs.syntax != "edifact" or outbound_channel(session, partner) is None:
        return None
    return charset_for(prefs.charset)


def text_problem(value: str, rule: FieldRule, charset: Charset | None) -> str | None:
    """Why ``value`` cannot be written in ``rule``'s data element under ``charset`` (None: no
    charset check), as the end of a sentence; None when it can."""
    if len(value) > rule.max_length:
        return f"is {len(value)} characters long; at most {rule.max_length} fit ({rule.element})"
    if rule.numeric and not (value.isascii() and value.isdigit()):
        return f"must be digits only, 1 to {rule.max_length} of them ({rule.element})"
    if charset is not None:
        bad = _first_unwritable(value, charset)
        if bad is not None:
            return (f"contains {bad!r} (U+{ord(bad):04X}), which cannot be sent in your EDI messages' "
                    f"character set {charset.syntax_id} ({charset.description})")
    return None


def _first_unwritable(value: str, charset: Charset) -> str | None:
    found = charset.invalid.search(value)
    if found:
        return found.group()
    try:
        value.encode(charset.codec)
    except UnicodeEncodeError as exc:
        return value[exc.start]
    return None

"""Shared helpers for the EDIFACT mappings: reading and building the segments
every business message uses (NAD, DTM, QTY, PRI, MOA, RFF, LIN/PIA/IMD, TAX,
FTX, CUX), decimal numbers with the interchange's decimal mark, and the
:class:`MessageReader` that walks a message and collects located
:class:`~edi.errors.Issue` s.

Element positions follow the UN/EDIFACT D96A segment directory (EDSD) and the
EANCOM 1997/2002 segment layouts (ref.gs1.org/standards/eancom/1997,
eancom.com/ean02s3): e.g. NAD is 3035 + C082 + C058 + C080 + C059 + 3164 +
3229 + 3251 + 3207; TAX is 5283 + C241 + C533 + 5286 + C243 (rate 5278 is its
4th component) + 5305; PRI's C509 is 5125:5118:5375:5387:5284:6411.

Nothing here raises anything but :class:`~edi.errors.EdiError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import datetime as _dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Iterator

from edi.documents import Party
from edi.envelope import Message, Number, Segment
from edi.envelope import element as _element
from edi.errors import EdiError, Issue, Severity, SyntaxCode

__all__ = [
    "SUPPORTED_DIRECTORIES",
    "value_at",
    "component",
    "components",
    "MessageReader",
    "parse_decimal",
    "gs1_check_digit",
    "gs1_problem",
    "shown",
    "format_decimal",
    "missing_date",
    "parse_date",
    "format_date",
    "split_text",
    "seg",
    "dtm",
    "qty",
    "moa",
    "rff",
    "ftx",
    "cux",
    "pri",
    "lin",
    "pia",
    "imd",
    "tax",
    "nad_group",
    "party_from_nad",
    "ItemIds",
    "item_ids_from",
    "gtin_agency",
    "check_directory",
    "collect",
    "Collected",
    "LineData",
    "header_checks",
    "line_identity",
    "first_quantity",
    "missing_quantity",
]

#: Directories the mappings render (the readers accept any directory).
SUPPORTED_DIRECTORIES = ("D96A", "D01B")

_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
#: A number as most senders write it (ASCII digits, no spaces), by decimal mark: parse_decimal's fast path.
_PLAIN_NUMBER = {".": re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z"), ",": re.compile(r"-?[0-9]+(?:,[0-9]+)?\Z")}


def check_directory(directory: str) -> tuple[str, str]:
    """``("D", "96A")`` for ``"D96A"``; EdiError for a directory we do not render."""
    if directory not in SUPPORTED_DIRECTORIES:
        raise EdiError(f"directory {directory!r} is not supported; use one of {', '.join(SUPPORTED_DIRECTORIES)}")
    return directory[0], directory[1:]


# --------------------------------------------------------------------------- element access


def value_at(segment: Segment, index: int) -> str | list[str] | None:
    """Element ``index`` (1-based); of a repeated element (syntax 4 repetition, a tuple) the first occurrence."""
    value: object = _element(segment, index)
    if isinstance(value, tuple):
        value = value[0] if value else None
    if value is None or isinstance(value, (str, list)):
        return value  # type: ignore[return-value]
    return str(value)


def component(segment: Segment, index: int, sub: int = 1) -> str | None:
    """Component ``sub`` of element ``index`` (a simple element is its own first component); '' is None.

    Of a repeated element (syntax 4 repetition) the first occurrence counts, as in :func:`value_at`.
    """
    # The mappings call this a few times a segment: the plain str and list
    # elements are answered here without going through value_at.
    elements = segment.elements
    if not 0 < index <= len(elements):
        return None
    value = elements[index - 1]
    if value.__class__ is str:
        return (value or None) if sub == 1 else None
    if value.__class__ is not list:
        general = value_at(segment, index)  # a repetition, or not a string yet
        if not isinstance(general, list):
            return (general or None) if sub == 1 else None
        value = general
    return (value[sub - 1] or None) if 0 < sub <= len(value) else None


#: Padding for components(): absent trailing components are None.
_ABSENT: tuple[None, ...] = (None,) * 16


def components(segment: Segment, index: int, count: int) -> tuple[str | None, ...]:
    """``(component(segment, index, 1), ..., component(segment, index, count))`` in one call.

    For the mappings' hot branches (QTY, MOA, PRI, DTM ...), which read several
    components of one composite: ``qual, amount, currency = components(s, 1, 3)``.
    ``count`` is at most 16.
    """
    elements = segment.elements
    value = elements[index - 1] if 0 < index <= len(elements) else None
    if value.__class__ is not list:
        if value.__class__ is not str:
            value = value_at(segment, index)  # a repetition, or not a string yet
        if not isinstance(value, list):
            value = [value] if value else []
    if len(value) < count:
        parts = (*value, *_ABSENT[: count - len(value)])
    else:
        parts = tuple(value[:count])
    return tuple(part or None for part in parts) if "" in parts else parts


# --------------------------------------------------------------------------- numbers


def shown(value: object, limit: int = 35) -> str:
    """``value`` quoted (repr) for a message; a text past ``limit`` characters as its start, '...'
    and its length, so that a huge element does not make a huge error line."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    return repr(value)


def parse_decimal(text: str, decimal_mark: str = ".") -> Decimal:
    """A numeric data element as a Decimal; ValueError (with the 0085 code as args[1]) when it is not one.

    ``decimal_mark`` is the interchange's (UNA position 3, ``.`` by default).
    ISO 9735 forbids thousands separators and exponents, and requires a digit
    before the decimal mark (error code 38).
    """
    if decimal_mark == "." or decimal_mark == ",":
        # the common case without a pattern: unsigned ASCII digits, at most one mark with digits
        # on both sides (what _PLAIN_NUMBER takes without a minus sign)
        whole, mark, fraction = text.partition(decimal_mark)
        if whole.isdigit() and (not mark or fraction.isdigit()) and text.isascii():
            return Decimal(text if decimal_mark == "." or not mark else whole + "." + fraction)
    plain = _PLAIN_NUMBER.get(decimal_mark)
    if plain is not None and plain.match(text):  # the common case, the checks below would all pass
        return Decimal(text if decimal_mark == "." else text.replace(decimal_mark, "."))
    raw = text.strip()
    other = "," if decimal_mark == "." else "."
    if other in raw:
        raise ValueError(f"{shown(text)} uses {other!r} but the decimal mark is {decimal_mark!r}", SyntaxCode.INVALID_DECIMAL_NOTATION)
    value = raw.replace(decimal_mark, ".")
    if value.startswith(".") or value.startswith("-."):
        raise ValueError(f"{shown(text)} has no digit before the decimal mark", SyntaxCode.MISSING_DIGIT_BEFORE_DECIMAL)
    if not _NUMBER.match(value):
        raise ValueError(f"{shown(text)} is not a number", SyntaxCode.INVALID_TYPE_OF_CHARACTER)
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already rules this out
        raise ValueError(f"{shown(text)} is not a number", SyntaxCode.INVALID_VALUE) from exc


def format_decimal(value: Decimal | int) -> Number:
    """Render a number for an EDIFACT element: no exponent, scale kept.

    The result is a :class:`~edi.envelope.Number` with ``.`` as decimal mark;
    the writer puts the interchange's decimal mark (UNA) in its place.
    """
    if isinstance(value, int):
        return Number(value)
    text = format(value, "f")
    if text.startswith("-0") and Decimal(text) == 0:
        text = text[1:]
    return Number(text)


# --------------------------------------------------------------------------- dates

#: DTM 2379 formats read (UN/EDIFACT code list 2379).
_DATE_FORMATS = {
    "102": ("%Y%m%d", 8),  # CCYYMMDD
    "203": ("%Y%m%d%H%M", 12),  # CCYYMMDDHHMM
    "204": ("%Y%m%d%H%M%S", 14),  # CCYYMMDDHHMMSS
    "101": ("%y%m%d", 6),  # YYMMDD
    "201": ("%y%m%d%H%M", 10),  # YYMMDDHHMM
}
_RANGE_FORMATS = {"718": "102", "719": "203", "717": "101"}  # ranges: the start date counts


def parse_date(value: str, fmt: str | None) -> tuple[_dt.date, str | None]:
    """(date, warning or None) for a DTM 2380 value in format 2379; ValueError when unreadable.

    Formats: 102, 203, 204, 101, 201 and the ranges 717/718/719 (start taken).
    Without a format the length decides (8 -> 102, 12 -> 203, 14 -> 204,
    6 -> 101). A 102 value carrying a time (12 digits) is read with a warning,
    as some senders do.
    """
    text = value.strip()
    warning = None
    code = fmt or {8: "102", 12: "203", 14: "204", 6: "101"}.get(len(text))
    if code is None:
        raise ValueError(f"date {shown(value)} has no format and an unusual length")
    if code == "102" and len(text) == 8 and text.isascii() and text.isdigit():
        # the common case without strptime (ten times slower); a bad date goes the general way for its message
        try:
            return _dt.date(int(text[:4]), int(text[4:6]), int(text[6:])), None
        except ValueError:
            pass
    if code in _RANGE_FORMATS:
        code = _RANGE_FORMATS[code]
        pattern, length = _DATE_FORMATS[code]
        text = text[:length]
    if code not in _DATE_FORMATS:
        raise ValueError(f"date format {code} is not supported")
    pattern, length = _DATE_FORMATS[code]
    if code == "102" and len(text) in (12, 14):
        warning = f"date {shown(value)} has a time although format 102 is CCYYMMDD; the date part was used"
        text = text[:8]
    if len(text) != length or not (text.isascii() and text.isdigit()):
        raise ValueError(f"date {shown(value)} does not match format {code}")
    try:
        return _dt.datetime.strptime(text, pattern).date(), warning
    except ValueError as exc:
        raise ValueError(f"date {shown(value)} is not a valid date in format {code}") from exc


def format_date(value: _dt.date) -> str:
    """CCYYMMDD, format 102."""
    return value.strftime("%Y%m%d")


def split_text(text: str, width: int, parts: int) -> list[str]:
    """Cut ``text`` into at most ``parts`` pieces of ``width`` characters (the rest is kept in the last)."""
    pieces = [text[i : i + width] for i in range(0, len(text), width)] or [""]
    if len(pieces) > parts:
        pieces = pieces[: parts - 1] + ["".join(pieces[parts - 1 :])]
    return pieces


# --------------------------------------------------------------------------- building segments


def seg(tag: str, *elements: str | Sequence[str | None] | None) -> Segment:
    """A Segment with trailing empty elements and components dropped (pydifact's model)."""
    cleaned: list[str | list[str]] = []
    for value in elements:
        if isinstance(value, (list, tuple)):
            comps: list[str] = [c or "" for c in value]
            while comps and comps[-1] == "":
                comps.pop()
            if len(comps) == 0:
                cleaned.append("")
            elif len(comps) == 1:
                cleaned.append(comps[0])
            else:
                cleaned.append(comps)
        else:
            cleaned.append(value if isinstance(value, str) else "")
    while cleaned and cleaned[-1] == "":
        cleaned.pop()
    return Segment(tag, *cleaned)


def dtm(qualifier: str, value: _dt.date) -> Segment:
    return seg("DTM", [qualifier, format_date(value), "102"])


def qty(qualifier: str, value: Decimal, unit: str | None = None) -> Segment:
    return seg("QTY", [qualifier, format_decimal(value), unit])


def moa(qualifier: str, value: Decimal, currency: str | None = None) -> Segment:
    return seg("MOA", [qualifier, format_decimal(value), currency])


def rff(qualifier: str, value: str, line: str | None = None) -> Segment:
    """RFF+qualifier:number[:line]: C506 is 1153:1154:1156 (1156 = line number)."""
    return seg("RFF", [qualifier, value, line] if line else [qualifier, value])


def ftx(subject: str, text: str) -> Segment:
    """FTX+subject+++text: C108 holds five 4440 components of an..70 (D96A)."""
    return seg("FTX", subject, None, None, split_text(text, 70, 5))


def cux(currency: str, currency_type: str) -> Segment:
    return seg("CUX", ["2", currency, currency_type])


def pri(qualifier: str, price: Decimal, basis: Decimal | None = None, unit: str | None = None) -> Segment:
    if basis is None:
        return seg("PRI", [qualifier, format_decimal(price)])
    return seg("PRI", [qualifier, format_decimal(price), None, None, format_decimal(basis), unit])


def gtin_agency(directory: str) -> str:
    """7143 for a GTIN: ``EN`` in EANCOM 1997 (D96A), ``SRV`` in EANCOM 2002 (D01B)."""
    return "EN" if directory == "D96A" else "SRV"


def lin(line_no: str, gtin: str | None, directory: str, action: str | None = None) -> Segment:
    return seg("LIN", line_no, action, [gtin, gtin_agency(directory)] if gtin else None)


def pia(supplier_sku: str | None, buyer_sku: str | None) -> Segment | None:
    ids: list[str | list[str] | None] = []
    if supplier_sku:
        ids.append([supplier_sku, "SA"])
    if buyer_sku:
        ids.append([buyer_sku, "BP"])
    return seg("PIA", "1", *ids) if ids else None


def imd(description: str) -> list[Segment]:
    """IMD+F++:::text, the text in 7008 (an..35, two of them per segment); longer text takes more IMDs."""
    pieces = split_text(description, 35, 10**6)
    out = []
    for i in range(0, len(pieces), 2):
        out.append(seg("IMD", "F", None, [None, None, None, *pieces[i : i + 2]]))
    return out


def tax(rate: Decimal | None, category: str | None) -> Segment:
    """TAX+7+VAT+++:::rate+category (C243 5278 is the 4th component of element 5)."""
    return seg("TAX", "7", "VAT", None, None, [None, None, None, format_decimal(rate)] if rate is not None else None, category)


def nad_group(party: Party) -> list[Segment]:
    """NAD with its RFF+VA and CTA+IC: the party's segment group."""
    ident = [party.id, None, party.id_agency] if party.id else None
    out = [
        seg(
            "NAD",
            party.role,
            ident,
            None,
            split_text(party.name, 35, 5) if party.name else None,
            split_text(party.street, 35, 4) if party.street else None,
            party.city,
            None,
            party.postcode,
            party.country,
        )
    ]
    if party.vat_number:
        out.append(rff("VA", party.vat_number))
    if party.contact:
        out.append(seg("CTA", "IC", [None, party.contact]))
    return out


# --------------------------------------------------------------------------- reading


@dataclass(slots=True)
class ItemIds:
    gtin: str | None = None
    supplier_sku: str | None = None
    buyer_sku: str | None = None

    def any(self) -> bool:
        return bool(self.gtin or self.supplier_sku or self.buyer_sku)


#: 7143 item type codes: where each goes (UN/EDIFACT 7143; EANCOM uses SRV/EN for GTIN).
_GTIN_TYPES = {"SRV", "EN", "UP", "EU"}
_SUPPLIER_TYPES = {"SA", "MF", "VN", "IB"}
_BUYER_TYPES = {"BP", "IN"}


#: Digits a GS1 key of each kind has (GS1 General Specifications, 3.2 and 3.3: GTIN-8, -12, -13, -14; SSCC).
_GS1_LENGTHS = {"GTIN": (8, 12, 13, 14), "SSCC": (18,)}


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for ``digits`` (the key without its last digit): from the right,
    weights 3, 1, 3, 1 ...; the check digit brings the weighted sum up to a multiple of ten
    (GS1 General Specifications, 7.9.1)."""
    if digits.isascii() and digits.isdigit():  # the usual case: add the bytes, less 48 ("0") each
        backwards = digits[::-1].encode("ascii")
        odd, even = backwards[0::2], backwards[1::2]
        total = 3 * (sum(odd) - 48 * len(odd)) + sum(even) - 48 * len(even)
    else:
        total = sum(int(d) * (3 if k % 2 == 0 else 1) for k, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def gs1_problem(number: str, what: str) -> str | None:
    """Why ``number`` is not a valid ``what`` (``GTIN`` or ``SSCC``), or None when it is."""
    lengths = _GS1_LENGTHS[what]
    if not (number.isascii() and number.isdigit()) or len(number) not in lengths:
        sizes = ", ".join(str(n) for n in lengths[:-1]) + (" or " if len(lengths) > 1 else "") + str(lengths[-1])
        return f"{what} {shown(number)} is not {sizes} digits"
    expected = gs1_check_digit(number[:-1])
    if int(number[-1]) != expected:
        return f"{what} {shown(number)} has check digit {number[-1]}; {expected} is right for {number[:-1]}"
    return None


def item_ids_from(ids: ItemIds, number: str | None, kind: str | None) -> bool:
    """Put an item number of type ``kind`` where it belongs; False when the type is unknown."""
    if not number:
        return True
    if kind in _GTIN_TYPES:
        ids.gtin = ids.gtin or number
    elif kind in _SUPPLIER_TYPES:
        ids.supplier_sku = ids.supplier_sku or number
    elif kind in _BUYER_TYPES:
        ids.buyer_sku = ids.buyer_sku or number
    else:
        return False
    return True


def party_from_nad(segment: Segment) -> Party:
    """A Party from NAD: 3035 role, C082 id and 3055 agency, C080 name (else C058), C059 street,
    3164 city, 3251 postcode, 3207 country. Without an id the agency keeps Party's default."""
    party_id = component(segment, 2, 1)
    name_parts = _components(segment, 4) or _components(segment, 3)
    street_parts = _components(segment, 5)
    party = Party(
        role=component(segment, 1) or "",
        id=party_id,
        name="".join(name_parts) if name_parts else None,
        street="".join(street_parts) if street_parts else None,
        city=component(segment, 6),
        postcode=component(segment, 8),
        country=component(segment, 9),
    )
    if party_id:
        party.id_agency = component(segment, 2, 3)
    return party


def _components(segment: Segment, index: int) -> list[str]:
    elements = segment.elements
    if 0 < index <= len(elements):  # plain str and list elements without value_at
        value: object = elements[index - 1]
        if value.__class__ is list:
            return [v for v in value if v]  # type: ignore[attr-defined]
        if value.__class__ is str:
            return [value] if value else []  # type: ignore[list-item]
    value = value_at(segment, index)
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if v]


@dataclass
class MessageReader:
    """Walks one message's segments, collecting located Issues.

    ``index`` is the position in ``message.segments`` (UNH = 0); Issues get
    ``message_segment = index + 1`` and ``segment = first_position + index``.
    """

    message: Message
    decimal_mark: str = "."
    issues: list[Issue] = field(default_factory=list)
    #: tags of the mandatory segments the directory validation already reported missing in
    #: this message: :meth:`missing` leaves their absence to that report (one error per cause)
    reported_missing: frozenset[str] = frozenset()
    #: errors left unreported because validation reported their cause (they still stop the document)
    suppressed: int = 0

    def body(self) -> Iterator[tuple[int, Segment]]:
        """(index, segment) for every segment between UNH and UNT."""
        segments = self.message.segments
        for index, segment in enumerate(segments):
            if segment.tag in ("UNH", "UNT"):
                continue
            yield index, segment

    def issue(
        self,
        index: int | None,
        text: str,
        *,
        code: str = SyntaxCode.INVALID_VALUE,
        element: int | None = None,
        component: int | None = None,
        severity: str = Severity.ERROR,
        tag: str | None = None,
    ) -> None:
        if index is not None and 0 <= index < len(self.message.segments):
            tag = tag or self.message.segments[index].tag
            self.issues.append(
                Issue(
                    text,
                    code=code,
                    segment=self.message.first_position + index,
                    tag=tag,
                    element=element,
                    component=component,
                    message_segment=index + 1,
                    message_ref=self.message.reference,
                    severity=severity,
                )
            )
        else:
            self.issues.append(
                Issue(text, code=code, tag=tag, message_ref=self.message.reference, severity=severity)
            )

    def warn(self, index: int | None, text: str, **where: object) -> None:
        self.issue(index, text, severity=Severity.WARNING, **where)  # type: ignore[arg-type]

    def missing(self, text: str, tag: str | None = None) -> None:
        """A mandatory business item that is absent, reported against the message's UNH.

        ``tag`` names the missing segment. The issue is placed at the UNH
        (segment position and tag UNH), the one segment that exists to point
        at, so the location never pairs one segment's position with another's
        tag. When validation already reported ``tag`` missing
        (:attr:`reported_missing`), nothing is added: the error stands, as
        :attr:`has_errors` says, but once, where validation put it.
        """
        if tag is not None and tag in self.reported_missing:
            self.suppressed += 1
            return
        self.issue(0, text, code=SyntaxCode.MISSING, tag="UNH")

    @property
    def has_errors(self) -> bool:
        return self.suppressed > 0 or any(i.is_error for i in self.issues)

    # -- typed readers

    def decimal(self, index: int, segment: Segment, el: int, comp: int = 1, *, what: str = "value") -> Decimal | None:
        return self.number(index, component(segment, el, comp), el, comp, what=what)

    def number(self, index: int, raw: str | None, el: int, comp: int = 1, *, what: str = "value") -> Decimal | None:
        """:meth:`decimal` for a value already taken from element ``el``, component ``comp`` of segment ``index``."""
        if raw is None:
            return None
        try:
            return parse_decimal(raw, self.decimal_mark)
        except ValueError as exc:
            code = exc.args[1] if len(exc.args) > 1 else SyntaxCode.INVALID_VALUE
            self.issue(index, f"{what}: {exc.args[0]}", code=code, element=el, component=comp)
            return None

    def date(self, index: int, segment: Segment) -> _dt.date | None:
        """The date of a DTM (C507 2005:2380:2379)."""
        return self.date_value(index, component(segment, 1, 2), component(segment, 1, 3))

    def date_value(self, index: int, raw: str | None, fmt: str | None) -> _dt.date | None:
        """:meth:`date` for the 2380 value and 2379 format already taken from the DTM at ``index``."""
        if raw is None:
            self.issue(index, "DTM without a date value", code=SyntaxCode.MISSING, element=1, component=2)
            return None
        try:
            value, warning = parse_date(raw, fmt)
        except ValueError as exc:
            self.issue(index, str(exc), element=1, component=2)
            return None
        if warning:
            self.warn(index, warning, element=1, component=2)
        return value

    def text(self, segment: Segment, el: int) -> str | None:
        parts = _components(segment, el)
        return "".join(parts) if parts else None

    def imd_text(self, segment: Segment) -> str | None:
        """Free-form description of an IMD (C273 7008 components 4 and 5)."""
        elements = segment.elements
        value: object = elements[2] if len(elements) >= 3 else None
        if value.__class__ is list:  # the common case, as value_at gives it
            return "".join(value[3:5]) or None  # type: ignore[index]
        value = value_at(segment, 3)
        if isinstance(value, list):
            return "".join(value[3:5]) or None
        return None

    def ftx_text(self, segment: Segment) -> str | None:
        return self.text(segment, 4)

    def party(self, segment: Segment) -> Party:
        return party_from_nad(segment)

    def item_ids_lin(self, index: int, segment: Segment, ids: ItemIds) -> None:
        number, kind = components(segment, 3, 2)
        if not item_ids_from(ids, number, kind):
            ids.supplier_sku = ids.supplier_sku or number
            said = f"type {shown(kind)} is not known" if kind else "has no type (7143)"
            self.warn(index, f"item number {shown(number)} {said}; kept as the supplier's article number", element=3, component=2)
        elif number and kind in _GTIN_TYPES:
            self.gs1_number(index, number, "GTIN", element=3, component=1)

    def gs1_number(self, index: int, number: str, what: str, *, element: int, component: int | None = 1) -> None:
        """Check a GTIN (8, 12, 13 or 14 digits) or an SSCC (18 digits) and its GS1 check digit.

        A problem is a warning (code 12), whatever the strictness: published
        samples (the OASIS UBL invoice example's 1234567890124) and partners'
        test data carry numbers with wrong check digits, and the item is still
        found by its other identifiers; the warning tells the partner.
        """
        problem = gs1_problem(number, what)
        if problem is not None:
            self.warn(index, problem, code=SyntaxCode.INVALID_VALUE, element=element, component=component)

    def tax_details(self, index: int, segment: Segment) -> tuple[Decimal | None, str | None]:
        rate = self.decimal(index, segment, 5, 4, what="tax rate")
        return rate, component(segment, 6)


# --------------------------------------------------------------------------- collecting


@dataclass(slots=True)
class Quantity:
    value: Decimal
    unit: str | None
    index: int


@dataclass(slots=True)
class LineData:
    """What one LIN group said, before it becomes a document line."""

    index: int  # position of the LIN in message.segments
    line_no: str | None
    action: str | None
    ids: ItemIds = field(default_factory=ItemIds)
    descriptions: list[str] = field(default_factory=list)
    ftx: list[str] = field(default_factory=list)
    coded_descriptions: list[str] = field(default_factory=list)  # IMD with codes and text (7077 B, C)
    quantities: dict[str, Quantity] = field(default_factory=dict)
    prices: dict[str, tuple[Decimal | None, Decimal | None, str | None, int]] = field(default_factory=dict)
    amounts: dict[str, Decimal] = field(default_factory=dict)
    dates: dict[str, _dt.date] = field(default_factory=dict)
    refs: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    tax_rate: Decimal | None = None
    tax_category: str | None = None
    batch: str | None = None
    bad_quantity: bool = False  # a QTY was there but unreadable (already reported)
    package: int | None = None  # index into Collected.packages
    in_tax: bool = False
    in_alc: bool = False  # past the line's first ALC: its MOA/TAX belong to the allowance or charge (SG38)

    @property
    def description(self) -> str | None:
        for texts in (self.descriptions, self.coded_descriptions, self.ftx):
            if texts:
                return "".join(texts)
        return None


@dataclass
class PackageData:
    index: int
    level: str
    parent: str | None
    package_type: str | None = None
    sscc: str | None = None


@dataclass
class TaxGroup:
    index: int
    rate: Decimal | None
    category: str | None
    amounts: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class Collected:
    """Everything the business mappers need from one message, with positions for Issues."""

    bgm_index: int | None = None
    document_code: str | None = None
    number: str | None = None
    function: str | None = None
    dates: dict[str, _dt.date] = field(default_factory=dict)
    bad_dates: set[str] = field(default_factory=set)  # header DTM qualifiers present but unreadable (already reported)
    refs: dict[str, str] = field(default_factory=dict)
    ref_dates: dict[str, _dt.date] = field(default_factory=dict)  # DTM after an RFF, by RFF qualifier
    parties: list[Party] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    currency: str | None = None
    moa_currency: str | None = None  # a currency named in an MOA, as a fallback
    carrier: str | None = None
    pat_days: int | None = None
    pat_description: str | None = None
    pat_due: _dt.date | None = None
    pat_discount: Decimal | None = None
    has_pat: bool = False
    lines: list[LineData] = field(default_factory=list)
    packages: list[PackageData] = field(default_factory=list)
    summary: dict[str, Decimal] = field(default_factory=dict)
    tax_groups: list[TaxGroup] = field(default_factory=list)
    line_count: tuple[int, int] | None = None  # (CNT+2 value, index)
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # APERAK ERC (index, code, text)


#: IMD 7077 item description types that are free text (F free-form, A long, E short).
_FREE_FORM = {"F", "A", "E", None}

#: Segments that stay within a NAD group (SG2/SG3/SG5 in ORDERS/INVOIC D96A).
_PARTY_FOLLOWERS = {"RFF", "CTA", "COM", "LOC", "DTM", "FII"}


def collect(r: MessageReader) -> Collected:
    """One pass over the message body, filling :class:`Collected`.

    Context rules (segment groups as in the D96A message structures):
    RFF+VA and CTA right after a NAD belong to that party; a DTM right after
    an RFF dates that reference (e.g. DTM+171); PAT's DTM/PCD belong to the
    payment terms; from LIN to the next LIN (or UNS) segments belong to the
    line; CPS starts a package (DESADV); after UNS, MOA are totals, and MOA
    after a TAX belong to that VAT breakdown group.
    """
    c = Collected()
    line: LineData | None = None
    party: Party | None = None
    last_rff: str | None = None
    in_pat = False
    summary = False
    tax_group: TaxGroup | None = None
    package: PackageData | None = None
    pending_erc: tuple[int, str] | None = None
    for i, s in enumerate(r.message.segments):  # r.body(), without a generator in the loop
        tag = s.tag
        if tag == "UNH" or tag == "UNT":
            continue
        # (each state tested first: it is mostly unset already)
        if party is not None and tag not in _PARTY_FOLLOWERS:
            party = None
        if last_rff is not None and tag != "DTM" and tag != "RFF":
            last_rff = None
        if in_pat and tag not in ("DTM", "PCD", "MOA", "PAT"):
            in_pat = False
        # the line group's segments first: most of a message, and the tests are exclusive
        if tag == "LIN":
            line = LineData(i, component(s, 1), component(s, 2))
            line.package = len(c.packages) - 1 if c.packages else None
            r.item_ids_lin(i, s, line.ids)
            c.lines.append(line)
        elif tag == "PIA" and line is not None:
            for el in range(2, len(s.elements) + 1):
                number, kind = components(s, el, 2)
                if kind == "NB":
                    line.batch = line.batch or number
                elif not item_ids_from(line.ids, number, kind):
                    r.warn(i, f"PIA item number type {shown(kind)} is not mapped", element=el, component=2)
                elif number and kind in _GTIN_TYPES:
                    r.gs1_number(i, number, "GTIN", element=el)
        elif tag == "IMD" and line is not None:
            text = r.imd_text(s)
            if text and component(s, 1) in _FREE_FORM:
                line.descriptions.append(text)
            elif text:
                line.coded_descriptions.append(text)
        elif tag == "QTY" and line is not None:
            qual, raw, unit = components(s, 1, 3)
            quantity = r.number(i, raw, 1, 2, what="quantity")
            if quantity is not None:
                line.quantities.setdefault(qual or "", Quantity(quantity, unit, i))
            else:
                line.bad_quantity = True
            if raw is None:
                r.issue(i, "QTY without a quantity", code=SyntaxCode.MISSING, element=1, component=2)
        elif tag == "MOA":
            qual, raw, currency = components(s, 1, 3)
            qual = qual or ""
            amount = r.number(i, raw, 1, 2, what="amount")
            c.moa_currency = c.moa_currency or currency
            if amount is None:
                continue
            if in_pat:
                continue
            if summary:
                if tax_group is not None and qual in ("124", "125", "176", "150"):
                    tax_group.amounts.setdefault(qual, amount)
                else:
                    c.summary.setdefault(qual, amount)
            elif line is not None and not line.in_alc:
                if not line.in_tax or qual in ("203", "66"):
                    line.amounts.setdefault(qual, amount)
        elif tag == "PRI" and line is not None:
            qual, raw, _type, _kind, raw_basis, unit = components(s, 1, 6)
            price = r.number(i, raw, 1, 2, what="price")
            basis = r.number(i, raw_basis, 1, 5, what="unit price basis")
            line.prices.setdefault(qual or "", (price, basis, unit, i))
        elif tag == "DTM":
            qual, raw, fmt = components(s, 1, 3)
            qual = qual or ""
            date = r.date_value(i, raw, fmt) if _wanted_date(qual) else None
            if date is None:
                if _wanted_date(qual) and not in_pat and (line is None or summary) and last_rff is None:
                    c.bad_dates.add(qual)
                continue
            if in_pat:
                c.pat_due = date
            elif line is not None and not summary:
                line.dates.setdefault(qual, date)
            elif last_rff is not None:
                c.ref_dates.setdefault(last_rff, date)
            else:
                c.dates.setdefault(qual, date)
        elif tag == "RFF":
            qual, reference, ref_line = components(s, 1, 3)
            qual = qual or ""
            last_rff = None
            if party is not None and qual == "VA":
                party.vat_number = reference
            elif line is not None and not summary:
                if reference:
                    line.refs.setdefault(qual, (reference, ref_line))
            elif reference:
                c.refs.setdefault(qual, reference)
                last_rff = qual
        elif tag == "TAX":
            rate, category = r.tax_details(i, s)
            if summary:
                tax_group = TaxGroup(i, rate, category)
                c.tax_groups.append(tax_group)
            elif line is not None and not line.in_alc:
                line.in_tax = True
                line.tax_rate = rate if rate is not None else line.tax_rate
                line.tax_category = category or line.tax_category
        elif tag == "FTX":
            text = r.ftx_text(s)
            if not text:
                continue
            if pending_erc is not None:
                c.errors.append((pending_erc[0], pending_erc[1], text))
                pending_erc = None
            elif line is not None and not summary:
                line.ftx.append(text)
            elif component(s, 1) == "AAB" and not summary:
                c.pat_description = text  # FTX+AAB: terms of payment
            elif c.errors:
                idx, code, prev = c.errors[-1]
                c.errors[-1] = (idx, code, prev + " " + text)
            else:
                c.notes.append(text)
        elif tag == "NAD":
            party = r.party(s)
            if not party.role:
                r.issue(i, "NAD without a party function code (3035)", code=SyntaxCode.MISSING, element=1)
            c.parties.append(party)
        elif tag == "BGM":
            c.bgm_index = i
            c.document_code = component(s, 1, 1)
            c.number = component(s, 2, 1)
            c.function = component(s, 3)
        elif tag == "CTA":
            if party is not None:
                party.contact = component(s, 2, 2) or component(s, 2, 1)
        elif tag == "ERC":
            if pending_erc is not None:
                c.errors.append((pending_erc[0], pending_erc[1], ""))
            pending_erc = (i, component(s, 1, 1) or "")
        elif tag == "CUX":
            c.currency = c.currency or component(s, 1, 2)
        elif tag == "PAT":
            in_pat = True
            c.has_pat = True
            c.pat_description = c.pat_description or component(s, 2, 4)
            days = component(s, 3, 4)
            if days is not None:
                if days.isascii() and days.isdigit():
                    c.pat_days = int(days)
                else:
                    r.issue(i, f"number of periods {shown(days)} is not a whole number", element=3, component=4)
        elif tag == "PCD":
            if in_pat:
                c.pat_discount = r.decimal(i, s, 1, 2, what="discount percentage")
        elif tag == "TDT":
            c.carrier = component(s, 5, 4) or component(s, 5, 1) or c.carrier
        elif tag == "CPS":
            line = None
            package = PackageData(i, component(s, 1) or str(len(c.packages) + 1), component(s, 2))
            c.packages.append(package)
        elif tag == "PAC":
            if package is not None and line is None:
                package.package_type = component(s, 3, 1)
        elif tag == "PCI":
            pass  # PCI+33E / PCI+36E only announce the GIN that follows
        elif tag == "GIN":
            qual = component(s, 1)
            ident = component(s, 2, 1)
            if line is not None and qual in ("BX", "NB"):
                line.batch = line.batch or ident
            elif package is not None and line is None and qual == "BJ":
                package.sscc = package.sscc or ident
                if ident:
                    r.gs1_number(i, ident, "SSCC", element=2)
        elif tag == "ALC":
            if line is not None and not summary:
                line.in_alc = True  # the INVOIC mapping reads the allowance/charge groups itself
        elif tag == "UNS":
            summary = True
            line = None
        elif tag == "CNT":
            if component(s, 1, 1) == "2":
                raw = component(s, 1, 2)
                count = r.decimal(i, s, 1, 2, what="line count")
                if count is not None and raw is not None:
                    c.line_count = (int(count), i)
    if pending_erc is not None:
        c.errors.append((pending_erc[0], pending_erc[1], ""))
    if c.line_count is not None and c.line_count[0] != len(c.lines):
        r.warn(c.line_count[1], f"CNT+2 says {c.line_count[0]} lines but the message has {len(c.lines)}", element=1, component=2)
    return c


#: DTM qualifiers (2005) the mappings use; others are not read, so a bad date there does not stop a document.
_DATES = {"137", "3", "2", "10", "11", "17", "35", "13", "140", "171", "361", "69", "64", "63", "76"}


def _wanted_date(qualifier: str) -> bool:
    return qualifier in _DATES


def missing_date(r: MessageReader, c: Collected, qualifier: str, text: str) -> None:
    """Report a missing header date, unless its DTM is there but unreadable (one error per cause)."""
    if c.bgm_index is not None and qualifier not in c.bad_dates:
        r.missing(text, tag="DTM")


def header_checks(r: MessageReader, c: Collected, expected_codes: tuple[str, ...] | None = None) -> str | None:
    """The BGM checks every business message shares; returns the document number (None when missing)."""
    if c.bgm_index is None:
        r.missing("the message has no BGM (beginning of message)", tag="BGM")
        return None
    if not c.number:
        r.issue(c.bgm_index, "BGM has no document number (1004)", code=SyntaxCode.MISSING, element=2)
        return None
    if expected_codes and c.document_code not in expected_codes:
        r.warn(
            c.bgm_index,
            f"document code {shown(c.document_code)} is not one of {', '.join(expected_codes)}",
            element=1,
        )
    return c.number


def line_identity(r: MessageReader, line: LineData, position: int) -> str:
    """The line number, checked: every line needs an item identification or at least a description."""
    if not line.ids.any():
        if line.description:
            r.warn(line.index, "line has no item number, only a description", element=3)
        else:
            r.issue(line.index, "line has no item identification (LIN, PIA) nor description", code=SyntaxCode.MISSING, element=3)
    if line.line_no:
        return line.line_no
    r.warn(line.index, f"LIN has no line number (1082); numbered {position}", element=1)
    return str(position)


def missing_quantity(r: MessageReader, line: LineData, text: str) -> None:
    """Report a line without its quantity, unless an unreadable QTY was already reported."""
    if not line.bad_quantity:
        r.issue(line.index, text, code=SyntaxCode.MISSING)


def first_quantity(r: MessageReader, line: LineData, qualifiers: tuple[str, ...], what: str) -> Quantity | None:
    """The quantity with the first of ``qualifiers`` present; other qualifiers than the first give a warning."""
    for n, qual in enumerate(qualifiers):
        found = line.quantities.get(qual)
        if found is not None:
            if n:
                r.warn(found.index, f"{what} taken from QTY+{qual} (QTY+{qualifiers[0]} expected)", element=1, component=1)
            return found
    return None

"""UBL 2.1 XML to canonical documents, XSD validation, and XML locations.

The mapping (UBL element -> canonical field) is the mirror image of
:mod:`edi.ubl.render`; the table in ``edi/ubl/__init__.py`` documents both.
Values are taken as written: unit codes (``unitCode``), party roles and
code values are not translated, so a UBL ``C62`` stays ``C62`` (rendering
writes Rec. 20 units, see :mod:`edi.ubl.units`).

Problems are collected as :class:`edi.errors.Issue` with ``path`` set to an
XPath-like location such as ``/Invoice/cac:InvoiceLine[2]/cbc:LineExtensionAmount``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Iterator

from lxml import etree

from edi.documents import (
    AckError,
    Acknowledgement,
    AllowanceCharge,
    DespatchAdvice,
    DespatchLine,
    Document,
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    OrderResponse,
    OrderResponseLine,
    Package,
    Party,
    PartyRole,
    PaymentTerms,
    TaxSubtotal,
)
from edi.errors import EdiError, Issue, Severity, SyntaxCode

__all__ = [
    "NS",
    "CAC",
    "CBC",
    "EXT",
    "ROOT_NAMESPACES",
    "SCHEMA_DIR",
    "SCHEME_FOR_AGENCY",
    "AGENCY_FOR_SCHEME",
    "RESPONSE_CODE_TO_UBL",
    "RESPONSE_CODE_FROM_UBL",
    "NOT_APPLICABLE",
    "APPLICATION_RESPONSE_NS",
    "MLR_RESPONSE_FOR_ACTION",
    "SCHEME_FOR_QUALIFIER",
    "root_name",
    "path_of",
    "located",
    "number_problem",
    "shown",
    "MAX_NUMBER_CHARS",
    "schema_for",
    "schema_issues",
    "to_document",
]

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
NS = {"cac": CAC, "cbc": CBC, "ext": EXT}
_PREFIX = {CAC: "cac", CBC: "cbc", EXT: "ext"}

#: Root element name -> its UBL 2.1 namespace, for the five document types mapped.
ROOT_NAMESPACES: dict[str, str] = {
    name: f"urn:oasis:names:specification:ubl:schema:xsd:{name}-2"
    for name in ("Order", "OrderResponse", "DespatchAdvice", "Invoice", "CreditNote")
}

SCHEMA_DIR = Path(__file__).parent / "schemas"

#: UN/CEFACT 3055 code list agency -> ISO 6523 ICD used as UBL ``schemeID``.
SCHEME_FOR_AGENCY = {"9": "0088", "16": "0060"}  # GS1 GLN, Dun & Bradstreet DUNS
AGENCY_FOR_SCHEME = {scheme: agency for agency, scheme in SCHEME_FOR_AGENCY.items()}

#: UNB identification code qualifier (0007) -> ISO 6523 ICD, for the EndpointIDs of a Message Level Response.
SCHEME_FOR_QUALIFIER = {"14": "0088", "1": "0060"}  # GLN, DUNS
QUALIFIER_FOR_SCHEME = {scheme: qualifier for qualifier, scheme in SCHEME_FOR_QUALIFIER.items()}

#: The Peppol Message Level Response (BIS MLR 3.0) is a UBL 2.1 ApplicationResponse. Its XSD is
#: not shipped (see schemas/SOURCES.md), so it is checked by the mapping, not by the schema.
APPLICATION_RESPONSE_NS = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2"

#: APERAK/CONTRL action (0083) <-> MLR document ResponseCode (UNCL 4343 subset used by Peppol MLR).
MLR_RESPONSE_FOR_ACTION = {"4": "RE", "7": "AP", "8": "AB"}
MLR_ACTION_FOR_RESPONSE = {code: action for action, code in MLR_RESPONSE_FOR_ACTION.items()}

#: Order response code, UN/CEFACT 1225 (canonical) <-> UNCL 4343 subset used by Peppol BIS 3.
RESPONSE_CODE_TO_UBL = {"29": "AP", "4": "CA", "27": "RE"}
RESPONSE_CODE_FROM_UBL = {ubl: code for code, ubl in RESPONSE_CODE_TO_UBL.items()}

#: UNCL 1229 line action "not accepted": a rejected order response line.
_LINE_NOT_ACCEPTED = "7"

#: Placeholder for a mandatory UBL identifier that the canonical document leaves empty.
NOT_APPLICABLE = "NA"


# --------------------------------------------------------------------------- locations


def root_name(tree: etree._ElementTree | etree._Element) -> str:
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree.getroottree().getroot()
    return etree.QName(root).localname


def _name(el: etree._Element) -> str:
    qname = etree.QName(el)
    prefix = _PREFIX.get(qname.namespace or "")
    return f"{prefix}:{qname.localname}" if prefix else qname.localname


#: The sibling positions of the parents seen inside a :func:`located` block:
#: parent element -> {child element: its path step}. The dictionaries hold the
#: lxml proxies, so ``getparent()`` hands back the very keys stored here.
_positions: contextvars.ContextVar[dict[etree._Element, dict[etree._Element, str]] | None] = contextvars.ContextVar(
    "ubl_positions", default=None
)


@contextlib.contextmanager
def located() -> Iterator[None]:
    """Within this block :func:`path_of` numbers the children of each parent once, not once a call.

    Without it every path rescans the siblings of each of its elements, so
    reporting an issue on each of 20,000 lines would cost 20,000 x 20,000
    steps; inside it the cost is linear. Blocks nest; the outermost one
    drops the positions (and the elements they keep) when it ends.
    """
    if _positions.get() is not None:
        yield
        return
    token = _positions.set({})
    try:
        yield
    finally:
        _positions.reset(token)


def _steps_of(parent: etree._Element) -> dict[etree._Element, str]:
    children = [child for child in parent if isinstance(child.tag, str)]
    counts: dict[str, int] = {}
    for child in children:
        counts[child.tag] = counts.get(child.tag, 0) + 1
    seen: dict[str, int] = {}
    steps = {}
    for child in children:
        name = _name(child)
        if counts[child.tag] > 1:
            seen[child.tag] = seen.get(child.tag, 0) + 1
            name = f"{name}[{seen[child.tag]}]"
        steps[child] = name
    return steps


def _step(el: etree._Element) -> str:
    parent = el.getparent()
    if parent is None:
        return _name(el)
    if not isinstance(el.tag, str):  # a comment or processing instruction: not numbered among elements
        return "comment()" if isinstance(el, etree._Comment) else "processing-instruction()"
    cache = _positions.get()
    if cache is None:
        return _steps_of(parent)[el]
    steps = cache.get(parent)
    if steps is None:
        steps = cache[parent] = _steps_of(parent)
    return steps[el]


def path_of(el: etree._Element, attribute: str | None = None) -> str:
    """``/Invoice/cac:InvoiceLine[2]/cbc:LineExtensionAmount`` for ``el`` (``/@attr`` appended).

    Linear over a whole document when called inside :func:`located`.
    """
    steps = []
    node: etree._Element | None = el
    while node is not None:
        steps.append(_step(node))
        node = node.getparent()
    path = "/" + "/".join(reversed(steps))
    return f"{path}/@{attribute}" if attribute else path


#: Longest numeric text read: a UBL amount, quantity or percentage has far fewer characters, and
#: Decimal and int() conversions of longer digit strings cost time that grows faster than their length.
MAX_NUMBER_CHARS = 40
#: An amount or quantity must stay below 10**18: sums and two-decimal rounding then fit the
#: 28 digits of Python's default decimal context, so arithmetic on them cannot fail.
MAX_MAGNITUDE_DIGITS = 18
#: A whole number of days (SettlementPeriod/DurationMeasure) has at most this many digits.
MAX_INTEGER_DIGITS = 18


def shown(value: str, limit: int = 35) -> str:
    """``value`` quoted for a message; past ``limit`` characters its start, '...' and its length."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def number_problem(text: str) -> tuple[Decimal | None, str | None]:
    """``(value, None)`` for a readable bounded decimal, else ``(None, why)``.

    Refused: more than :data:`MAX_NUMBER_CHARS` characters (checked before
    any conversion), text that is no decimal number, infinities and NaN, and
    magnitudes of 10**18 and more (``1E30`` is short but huge).
    """
    if len(text) > MAX_NUMBER_CHARS:
        return None, f"{shown(text)} is too long for a number (more than {MAX_NUMBER_CHARS} characters)"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{shown(text)} is not a decimal number"
    if not value.is_finite():
        return None, "a number must be finite"
    if value and value.adjusted() >= MAX_MAGNITUDE_DIGITS:
        return None, f"{shown(text)} is too large (at most {MAX_MAGNITUDE_DIGITS} digits before the decimal mark)"
    return value, None


# --------------------------------------------------------------------------- XSD


class _LocalOnly(etree.Resolver):
    """Resolve schema imports inside ``SCHEMA_DIR`` only; anything else is refused."""

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        url = system_url or ""
        if url.startswith("file://"):
            url = url[len("file://") :]
        if "://" in url:
            raise EdiError(f"schema import {system_url!r} is not local")
        target = Path(url).resolve()
        if SCHEMA_DIR.resolve() not in target.parents:
            raise EdiError(f"schema import {system_url!r} is outside the shipped schemas")
        return self.resolve_filename(str(target), context)


_compiled = threading.local()


def schema_for(root: str) -> etree.XMLSchema:
    """The compiled OASIS UBL 2.1 schema for a root element name.

    Compiled once per thread and kept: an lxml validator (and its error log)
    must not be shared between threads, and compiling takes a while.
    """
    if root not in ROOT_NAMESPACES:
        raise EdiError(f"no UBL schema for {root!r}")
    cache: dict[str, etree.XMLSchema] = _compiled.__dict__.setdefault("schemas", {})
    if root not in cache:
        cache[root] = _compile(root)
    return cache[root]


def _compile(root: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_LocalOnly())
    path = SCHEMA_DIR / "maindoc" / f"UBL-{root}-2.1.xsd"
    try:
        return etree.XMLSchema(etree.parse(str(path), parser))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
        raise EdiError(f"cannot load the UBL schema {path.name}: {exc}") from exc


def _xsd_code(message: str) -> str:
    text = message.lower()
    if "missing child element" in text or "is required but missing" in text:
        return SyntaxCode.MISSING
    if "not expected" in text:
        return SyntaxCode.NOT_SUPPORTED_IN_POSITION
    if "too long" in text or "length" in text and "maximum" in text:
        return SyntaxCode.TOO_LONG
    if "not a valid value" in text or "pattern" in text or "not accepted" in text:
        return SyntaxCode.INVALID_VALUE
    return SyntaxCode.UNSPECIFIED


def _xsd_path(raw: str | None, root: str) -> str:
    if not raw:
        return "/" + root
    if raw.startswith("/*"):
        return "/" + root + raw[2:]
    return raw


def schema_issues(tree: etree._ElementTree) -> list[Issue]:
    """XSD validation against the shipped UBL 2.1 schema; one Issue per schema error (path and line)."""
    root = root_name(tree)
    schema = schema_for(root)
    if schema.validate(tree):
        return []
    issues = []
    for entry in schema.error_log:
        message = entry.message
        for ns, prefix in _PREFIX.items():
            message = message.replace("{" + ns + "}", prefix + ":")
        for name, ns in ROOT_NAMESPACES.items():
            message = message.replace("{" + ns + "}", "")
        issues.append(
            Issue(
                f"{message} (line {entry.line})",
                code=_xsd_code(message),
                path=_xsd_path(entry.path, root),
                rule="UBL-XSD",
            )
        )
    return issues


# --------------------------------------------------------------------------- reading


class _Reader:
    """Reads values under an element and records an Issue for every unreadable one."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.bad_numbers: set[str] = set()

    def find(self, el: etree._Element | None, path: str) -> etree._Element | None:
        return None if el is None else el.find(path, NS)

    def findall(self, el: etree._Element | None, path: str) -> list[etree._Element]:
        return [] if el is None else el.findall(path, NS)

    def text(self, el: etree._Element | None, path: str) -> str | None:
        node = self.find(el, path)
        if node is None or node.text is None:
            return None
        value = node.text.strip()
        return value or None

    def attr(self, el: etree._Element | None, path: str, name: str) -> str | None:
        node = self.find(el, path)
        if node is None:
            return None
        value = (node.get(name) or "").strip()
        return value or None

    def decimal(self, el: etree._Element | None, path: str) -> Decimal | None:
        node = self.find(el, path)
        if node is None or not (node.text or "").strip():
            return None
        return self.number(node)

    def number(self, node: etree._Element) -> Decimal | None:
        """The bounded decimal in ``node`` (see :func:`number_problem`), or None and one Issue at its path."""
        value, problem = number_problem((node.text or "").strip())
        if problem is not None:
            path = path_of(node)
            if path not in self.bad_numbers:
                self.bad_numbers.add(path)
                self.issues.append(Issue(problem, code=SyntaxCode.INVALID_VALUE, path=path, rule="UBL-NUMBER"))
        return value

    def integer(self, el: etree._Element | None, path: str, what: str) -> int | None:
        """A whole number of at most :data:`MAX_INTEGER_DIGITS` digits, bounded before int() sees it."""
        node = self.find(el, path)
        if node is None or not (node.text or "").strip():
            return None
        raw = (node.text or "").strip()
        digits = raw.lstrip("+-")
        if len(digits) > MAX_INTEGER_DIGITS:
            self.issues.append(Issue(f"{what} {shown(raw)} has more than {MAX_INTEGER_DIGITS} digits",
                                     code=SyntaxCode.INVALID_VALUE, path=path_of(node), rule="UBL-NUMBER"))
            return None
        value = self.number(node)
        if value is None:
            return None
        if value != value.to_integral_value():
            self.issues.append(Issue(f"{what} {shown(raw)} is not a whole number", code=SyntaxCode.INVALID_VALUE,
                                     path=path_of(node), rule="UBL-NUMBER"))
            return None
        return int(value)

    def amounts(self, root: etree._Element) -> None:
        """Bound every amount (each element with a ``currencyID``) that the mapping did not read itself."""
        for node in root.iter():
            if isinstance(node.tag, str) and node.get("currencyID") is not None and (node.text or "").strip():
                self.number(node)

    def date(self, el: etree._Element | None, path: str) -> _dt.date | None:
        node = self.find(el, path)
        if node is None or not (node.text or "").strip():
            return None
        raw = node.text.strip()
        try:
            return _dt.date.fromisoformat(raw[:10])
        except ValueError:
            self.issues.append(Issue(f"{shown(raw)} is not a date (YYYY-MM-DD)", code=SyntaxCode.INVALID_VALUE, path=path_of(node)))
            return None

    def required(self, value: object, el: etree._Element, child: str, what: str) -> None:
        if value is None:
            self.issues.append(
                Issue(f"{what} is missing", code=SyntaxCode.MISSING, path=f"{path_of(el)}/{child}")
            )


def _agency(scheme: str | None) -> str | None:
    if scheme is None:
        return None
    return AGENCY_FOR_SCHEME.get(scheme, scheme)


def _party(r: _Reader, party: etree._Element | None, role: str) -> Party | None:
    if party is None:
        return None
    ident = r.find(party, "cac:PartyIdentification/cbc:ID")
    if ident is None or not (ident.text or "").strip():
        ident = r.find(party, "cbc:EndpointID")
    pid = None
    agency = None
    if ident is not None and (ident.text or "").strip():
        pid = (ident.text or "").strip()
        agency = _agency((ident.get("schemeID") or "").strip() or None)
    address = r.find(party, "cac:PostalAddress")
    vat = None
    for scheme in r.findall(party, "cac:PartyTaxScheme"):
        if r.text(scheme, "cac:TaxScheme/cbc:ID") in (None, "VAT"):
            vat = r.text(scheme, "cbc:CompanyID")
            if vat:
                break
    result = Party(
        role=role,
        id=pid,
        name=r.text(party, "cac:PartyName/cbc:Name") or r.text(party, "cac:PartyLegalEntity/cbc:RegistrationName"),
        street=r.text(address, "cbc:StreetName"),
        city=r.text(address, "cbc:CityName"),
        postcode=r.text(address, "cbc:PostalZone"),
        country=r.text(address, "cac:Country/cbc:IdentificationCode"),
        vat_number=vat,
        contact=r.text(party, "cac:Contact/cbc:Name"),
    )
    if pid:
        result.id_agency = agency  # without an identifier the agency keeps its default, as EDIFACT's NAD reader does
    return None if result == Party(role=role) else result


def _delivery_party(r: _Reader, delivery: etree._Element | None) -> Party | None:
    """DP from ``cac:Delivery``: the DeliveryParty, completed from the DeliveryLocation."""
    if delivery is None:
        return None
    party = _party(r, r.find(delivery, "cac:DeliveryParty"), PartyRole.DELIVERY)
    location = r.find(delivery, "cac:DeliveryLocation")
    if location is None:
        return party
    if party is None:
        party = Party(role=PartyRole.DELIVERY)
    if party.id is None:
        party.id = r.text(location, "cbc:ID")
        if party.id:
            party.id_agency = _agency(r.attr(location, "cbc:ID", "schemeID"))
    address = r.find(location, "cac:Address")
    if address is not None and not any((party.street, party.city, party.postcode, party.country)):
        party.street = r.text(address, "cbc:StreetName")
        party.city = r.text(address, "cbc:CityName")
        party.postcode = r.text(address, "cbc:PostalZone")
        party.country = r.text(address, "cac:Country/cbc:IdentificationCode")
    return None if party == Party(role=PartyRole.DELIVERY) else party


def _parties(found: list[Party | None]) -> list[Party]:
    return [party for party in found if party is not None]


def _item(r: _Reader, item: etree._Element | None) -> dict[str, Any]:
    """The item fields every line type shares: gtin, supplier_sku, buyer_sku, description."""
    return {
        "gtin": r.text(item, "cac:StandardItemIdentification/cbc:ID"),
        "supplier_sku": r.text(item, "cac:SellersItemIdentification/cbc:ID"),
        "buyer_sku": r.text(item, "cac:BuyersItemIdentification/cbc:ID"),
        "description": r.text(item, "cbc:Name") or r.text(item, "cbc:Description"),
    }


def _line_ref(value: str | None) -> str | None:
    return None if value in (None, NOT_APPLICABLE) else value


def _notes(r: _Reader, root: etree._Element) -> list[str]:
    return [n.text.strip() for n in r.findall(root, "cbc:Note") if n.text and n.text.strip()]


#: Order elements the canonical Order has no field for: read, reported as a warning, not carried.
_ORDER_NOT_CARRIED = {
    "cac:AllowanceCharge": "an order level allowance or charge",
    "cac:AnticipatedMonetaryTotal": "the order's anticipated totals",
}


def _order(r: _Reader, root: etree._Element) -> Order | None:
    number = r.text(root, "cbc:ID")
    issue_date = r.date(root, "cbc:IssueDate")
    r.required(number, root, "cbc:ID", "order number")
    r.required(issue_date, root, "cbc:IssueDate", "issue date")
    for tag, what in _ORDER_NOT_CARRIED.items():
        for el in r.findall(root, tag):
            r.issues.append(Issue(
                f"{tag} ({what}) is not carried by the canonical order and is ignored",
                code=SyntaxCode.NOT_SUPPORTED_IN_POSITION, path=path_of(el), severity=Severity.WARNING,
                rule="UBL-NOT-CARRIED"))
    delivery = r.find(root, "cac:Delivery")
    lines = []
    for el in r.findall(root, "cac:OrderLine"):
        item = r.find(el, "cac:LineItem")
        if item is None:
            continue
        quantity = r.decimal(item, "cbc:Quantity")
        line_no = r.text(item, "cbc:ID")
        r.required(quantity, item, "cbc:Quantity", "ordered quantity")
        if quantity is None or line_no is None:
            continue
        lines.append(
            OrderLine(
                line_no=line_no,
                quantity=quantity,
                unit=r.attr(item, "cbc:Quantity", "unitCode"),
                net_price=r.decimal(item, "cac:Price/cbc:PriceAmount"),
                price_basis=r.decimal(item, "cac:Price/cbc:BaseQuantity"),
                line_amount=r.decimal(item, "cbc:LineExtensionAmount"),
                requested_delivery=r.date(item, "cac:Delivery/cac:RequestedDeliveryPeriod/cbc:StartDate"),
                **_item(r, r.find(item, "cac:Item")),
            )
        )
    if number is None or issue_date is None:
        return None
    return Order(
        number=number,
        document_code=r.text(root, "cbc:OrderTypeCode") or "220",
        issue_date=issue_date,
        requested_delivery=r.date(delivery, "cac:RequestedDeliveryPeriod/cbc:StartDate"),
        currency=r.text(root, "cbc:DocumentCurrencyCode"),
        contract_ref=r.text(root, "cac:Contract/cbc:ID"),
        parties=_parties(
            [
                _party(r, r.find(root, "cac:BuyerCustomerParty/cac:Party"), PartyRole.BUYER),
                _party(r, r.find(root, "cac:SellerSupplierParty/cac:Party"), PartyRole.SUPPLIER),
                _delivery_party(r, delivery),
                _party(r, r.find(root, "cac:AccountingCustomerParty/cac:Party"), PartyRole.INVOICEE),
            ]
        ),
        notes=_notes(r, root),
        lines=lines,
    )


def _order_response(r: _Reader, root: etree._Element) -> OrderResponse | None:
    number = r.text(root, "cbc:ID")
    issue_date = r.date(root, "cbc:IssueDate")
    order_number = r.text(root, "cac:OrderReference/cbc:ID")
    r.required(number, root, "cbc:ID", "response number")
    r.required(issue_date, root, "cbc:IssueDate", "issue date")
    r.required(order_number, root, "cac:OrderReference/cbc:ID", "order reference")
    code = r.text(root, "cbc:OrderResponseCode")
    lines = []
    for el in r.findall(root, "cac:OrderLine"):
        item = r.find(el, "cac:LineItem")
        if item is None:
            continue
        # the order line it answers (Peppol: OrderLineReference/LineID); LineItem/ID numbers the response's own lines
        line_no = _line_ref(r.text(el, "cac:OrderLineReference/cbc:LineID")) or r.text(item, "cbc:ID")
        quantity = r.decimal(item, "cbc:Quantity")
        action = r.text(item, "cbc:LineStatusCode") or "5"
        if quantity is None and action == _LINE_NOT_ACCEPTED and r.find(item, "cbc:Quantity") is None:
            quantity = Decimal(0)  # a rejected line confirms nothing; Peppol lets it leave the quantity out
        # Peppol lets an accepted line leave the quantity out too; the canonical line needs it then
        r.required(quantity, item, "cbc:Quantity", "confirmed quantity")
        if quantity is None or line_no is None:
            continue
        lines.append(
            OrderResponseLine(
                line_no=line_no,
                action=action,
                quantity=quantity,
                unit=r.attr(item, "cbc:Quantity", "unitCode"),
                net_price=r.decimal(item, "cac:Price/cbc:PriceAmount"),
                delivery_date=r.date(item, "cac:Delivery/cac:PromisedDeliveryPeriod/cbc:StartDate"),
                **_item(r, r.find(item, "cac:Item")),
            )
        )
    if number is None or issue_date is None or order_number is None:
        return None
    return OrderResponse(
        number=number,
        order_number=order_number,
        order_date=r.date(root, "cac:OrderReference/cbc:IssueDate"),
        issue_date=issue_date,
        response_code=RESPONSE_CODE_FROM_UBL.get(code or "", code or "29"),
        currency=r.text(root, "cbc:DocumentCurrencyCode"),
        parties=_parties(
            [
                _party(r, r.find(root, "cac:BuyerCustomerParty/cac:Party"), PartyRole.BUYER),
                _party(r, r.find(root, "cac:SellerSupplierParty/cac:Party"), PartyRole.SUPPLIER),
                _delivery_party(r, r.find(root, "cac:Delivery")),
                _party(r, r.find(root, "cac:AccountingCustomerParty/cac:Party"), PartyRole.INVOICEE),
            ]
        ),
        notes=_notes(r, root),
        lines=lines,
    )


def _despatch_line(r: _Reader, el: etree._Element) -> DespatchLine | None:
    line_no = r.text(el, "cbc:ID")
    quantity = r.decimal(el, "cbc:DeliveredQuantity")
    r.required(quantity, el, "cbc:DeliveredQuantity", "despatched quantity")
    if quantity is None or line_no is None:
        return None
    item = r.find(el, "cac:Item")
    return DespatchLine(
        line_no=line_no,
        quantity=quantity,
        unit=r.attr(el, "cbc:DeliveredQuantity", "unitCode"),
        batch=r.text(item, "cac:ItemInstance/cac:LotIdentification/cbc:LotNumberID"),
        best_before=r.date(item, "cac:ItemInstance/cbc:BestBeforeDate"),
        order_number=r.text(el, "cac:OrderLineReference/cac:OrderReference/cbc:ID"),
        order_line_no=_line_ref(r.text(el, "cac:OrderLineReference/cbc:LineID")),
        **_item(r, item),
    )


def _despatch_advice(r: _Reader, root: etree._Element) -> DespatchAdvice | None:
    number = r.text(root, "cbc:ID")
    issue_date = r.date(root, "cbc:IssueDate")
    r.required(number, root, "cbc:ID", "despatch advice number")
    r.required(issue_date, root, "cbc:IssueDate", "issue date")
    shipment = r.find(root, "cac:Shipment")
    delivery = r.find(shipment, "cac:Delivery")
    packages: list[Package] = []
    by_level: dict[str, Package] = {}
    by_sscc: dict[str, Package] = {}
    contained: dict[str, str] = {}
    for unit in r.findall(shipment, "cac:TransportHandlingUnit"):
        level = r.text(unit, "cbc:ID") or str(len(packages) + 1)
        handling_unit = Package(
            level=level,
            package_type=r.text(unit, "cbc:TransportHandlingUnitTypeCode"),
            sscc=r.text(unit, "cbc:TraceID"),
        )
        packages.append(handling_unit)
        by_level[level] = handling_unit
        if handling_unit.sscc:
            by_sscc[handling_unit.sscc] = handling_unit
        for child in r.findall(unit, "cac:Package/cbc:ID"):
            if child.text and child.text.strip():
                contained[child.text.strip()] = level
    for handling_unit in packages:
        handling_unit.parent = contained.get(handling_unit.level)
    loose: Package | None = None
    for el in r.findall(root, "cac:DespatchLine"):
        line = _despatch_line(r, el)
        if line is None:
            continue
        key = r.text(el, "cac:Shipment/cbc:ID")
        unit = r.find(el, "cac:Shipment/cac:TransportHandlingUnit")
        sscc = r.text(unit, "cbc:ID")
        package: Package | None = by_level.get(key) if key is not None else None
        if package is None and sscc:
            package = by_sscc.get(sscc)
            if package is None:
                package = Package(
                    level=str(len(packages) + 1),
                    package_type=r.text(unit, "cbc:TransportHandlingUnitTypeCode"),
                    sscc=sscc,
                )
                packages.append(package)
                by_sscc[sscc] = package
        if package is None:
            if loose is None:
                loose = Package(level=str(len(packages) + 1))
                packages.append(loose)
            package = loose
        package.lines.append(line)
    if number is None or issue_date is None:
        return None
    return DespatchAdvice(
        number=number,
        issue_date=issue_date,
        despatch_date=r.date(delivery, "cac:Despatch/cbc:ActualDespatchDate"),
        expected_delivery=r.date(delivery, "cac:EstimatedDeliveryPeriod/cbc:StartDate"),
        order_number=r.text(root, "cac:OrderReference/cbc:ID"),
        carrier=r.text(shipment, "cac:Consignment/cac:CarrierParty/cac:PartyName/cbc:Name")
        or r.text(delivery, "cac:CarrierParty/cac:PartyName/cbc:Name"),
        tracking_number=r.text(delivery, "cbc:TrackingID"),
        parties=_parties(
            [
                _party(r, r.find(root, "cac:DespatchSupplierParty/cac:Party"), PartyRole.SUPPLIER),
                _party(r, r.find(root, "cac:BuyerCustomerParty/cac:Party"), PartyRole.BUYER),
                _party(r, r.find(root, "cac:SellerSupplierParty/cac:Party"), PartyRole.SELLER),
                _party(r, r.find(root, "cac:DeliveryCustomerParty/cac:Party"), PartyRole.DELIVERY),
                _party(r, r.find(delivery, "cac:Despatch/cac:DespatchParty"), PartyRole.SHIP_FROM),
            ]
        ),
        packages=packages,
    )


def _allowances_charges(r: _Reader, parent: etree._Element, *, document_level: bool) -> list[AllowanceCharge]:
    """Every ``cac:AllowanceCharge`` directly under ``parent`` (an invoice or one of its lines)."""
    found = []
    for el in r.findall(parent, "cac:AllowanceCharge"):
        indicator = r.text(el, "cbc:ChargeIndicator")
        amount = r.decimal(el, "cbc:Amount")
        r.required(indicator, el, "cbc:ChargeIndicator", "allowance/charge indicator")
        r.required(amount, el, "cbc:Amount", "allowance/charge amount")
        if indicator is not None and indicator not in ("true", "false", "1", "0"):
            node = r.find(el, "cbc:ChargeIndicator")
            r.issues.append(Issue(f"{indicator!r} is not true or false", code=SyntaxCode.INVALID_VALUE,
                                  path=path_of(node) if node is not None else path_of(el)))
            continue
        if indicator is None or amount is None:
            continue
        found.append(
            AllowanceCharge(
                charge=indicator in ("true", "1"),
                amount=amount,
                reason=r.text(el, "cbc:AllowanceChargeReason"),
                reason_code=r.text(el, "cbc:AllowanceChargeReasonCode"),
                base_amount=r.decimal(el, "cbc:BaseAmount"),
                percent=r.decimal(el, "cbc:MultiplierFactorNumeric"),
                tax_category=r.text(el, "cac:TaxCategory/cbc:ID") if document_level else None,
                tax_rate=r.decimal(el, "cac:TaxCategory/cbc:Percent") if document_level else None,
            )
        )
    return found


def _invoice(r: _Reader, root: etree._Element) -> Invoice | None:
    credit = root_name(root) == "CreditNote"
    line_tag, qty_tag = ("cac:CreditNoteLine", "cbc:CreditedQuantity") if credit else ("cac:InvoiceLine", "cbc:InvoicedQuantity")
    number = r.text(root, "cbc:ID")
    issue_date = r.date(root, "cbc:IssueDate")
    currency = r.text(root, "cbc:DocumentCurrencyCode")
    r.required(number, root, "cbc:ID", "invoice number")
    r.required(issue_date, root, "cbc:IssueDate", "issue date")
    r.required(currency, root, "cbc:DocumentCurrencyCode", "invoice currency")
    lines = []
    for el in r.findall(root, line_tag):
        line_no = r.text(el, "cbc:ID")
        quantity = r.decimal(el, qty_tag)
        amount = r.decimal(el, "cbc:LineExtensionAmount")
        price = r.decimal(el, "cac:Price/cbc:PriceAmount")
        r.required(quantity, el, qty_tag, "invoiced quantity")
        r.required(amount, el, "cbc:LineExtensionAmount", "line net amount")
        r.required(price, el, "cac:Price/cbc:PriceAmount", "item net price")
        if line_no is None or quantity is None or amount is None or price is None:
            continue
        item = r.find(el, "cac:Item")
        lines.append(
            InvoiceLine(
                line_no=line_no,
                quantity=quantity,
                unit=r.attr(el, qty_tag, "unitCode"),
                net_price=price,
                price_basis=r.decimal(el, "cac:Price/cbc:BaseQuantity"),
                line_amount=amount,
                tax_category=r.text(item, "cac:ClassifiedTaxCategory/cbc:ID") or "S",
                tax_rate=r.decimal(item, "cac:ClassifiedTaxCategory/cbc:Percent"),
                order_number=r.text(el, "cac:OrderLineReference/cac:OrderReference/cbc:ID"),
                order_line_no=_line_ref(r.text(el, "cac:OrderLineReference/cbc:LineID")),
                allowances_charges=_allowances_charges(r, el, document_level=False),
                **_item(r, item),
            )
        )
    tax_total = None
    subtotals = []
    for total in r.findall(root, "cac:TaxTotal"):
        if currency and r.attr(total, "cbc:TaxAmount", "currencyID") not in (None, currency):
            continue  # the VAT total in the tax currency (BT-111) is not the document's
        tax_total = r.decimal(total, "cbc:TaxAmount")
        for sub in r.findall(total, "cac:TaxSubtotal"):
            taxable = r.decimal(sub, "cbc:TaxableAmount")
            tax = r.decimal(sub, "cbc:TaxAmount")
            category = r.text(sub, "cac:TaxCategory/cbc:ID")
            r.required(taxable, sub, "cbc:TaxableAmount", "VAT category taxable amount")
            r.required(category, sub, "cac:TaxCategory/cbc:ID", "VAT category code")
            if taxable is None or tax is None or category is None:
                continue
            subtotals.append(
                TaxSubtotal(
                    category=category,
                    rate=r.decimal(sub, "cac:TaxCategory/cbc:Percent"),
                    taxable_amount=taxable,
                    tax_amount=tax,
                )
            )
        break
    r.required(tax_total, root, "cac:TaxTotal/cbc:TaxAmount", "invoice total VAT amount")
    totals = r.find(root, "cac:LegalMonetaryTotal")
    line_total = r.decimal(totals, "cbc:LineExtensionAmount")
    taxable_total = r.decimal(totals, "cbc:TaxExclusiveAmount")
    total = r.decimal(totals, "cbc:TaxInclusiveAmount")
    if total is None:
        total = r.decimal(totals, "cbc:PayableAmount")
    if totals is not None:
        r.required(line_total, totals, "cbc:LineExtensionAmount", "sum of invoice line net amounts")
        r.required(taxable_total, totals, "cbc:TaxExclusiveAmount", "invoice total without VAT")
        r.required(total, totals, "cbc:TaxInclusiveAmount", "invoice total with VAT")
    terms = None
    due = r.date(root, "cbc:DueDate") or r.date(root, "cac:PaymentTerms/cbc:PaymentDueDate")
    if due is None:
        due = r.date(root, "cac:PaymentMeans/cbc:PaymentDueDate")
    term_el = r.find(root, "cac:PaymentTerms")
    if due is not None or term_el is not None:
        terms = PaymentTerms(
            due_date=due,
            days=r.integer(term_el, "cac:SettlementPeriod/cbc:DurationMeasure", "payment terms days"),
            description=r.text(term_el, "cbc:Note"),
            discount_percent=r.decimal(term_el, "cbc:SettlementDiscountPercent"),
        )
    buyer = r.find(root, "cac:BuyerCustomerParty/cac:Party")
    customer = r.find(root, "cac:AccountingCustomerParty/cac:Party")
    if (
        number is None
        or issue_date is None
        or currency is None
        or line_total is None
        or taxable_total is None
        or tax_total is None
        or total is None
    ):
        return None
    return Invoice(
        number=number,
        document_code=r.text(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode")
        or ("381" if credit else "380"),
        issue_date=issue_date,
        delivery_date=r.date(root, "cac:Delivery/cbc:ActualDeliveryDate"),
        order_number=r.text(root, "cac:OrderReference/cbc:ID"),
        despatch_number=r.text(root, "cac:DespatchDocumentReference/cbc:ID"),
        corrected_invoice=r.text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"),
        currency=currency,
        parties=_parties(
            [
                _party(r, buyer if buyer is not None else customer, PartyRole.BUYER),
                _party(r, r.find(root, "cac:AccountingSupplierParty/cac:Party"), PartyRole.SUPPLIER),
                _party(r, r.find(root, "cac:SellerSupplierParty/cac:Party"), PartyRole.SELLER),
                _party(r, customer, PartyRole.INVOICEE) if buyer is not None else None,
                _delivery_party(r, r.find(root, "cac:Delivery")),
                _party(r, r.find(root, "cac:PayeeParty"), PartyRole.PAYEE),
            ]
        ),
        payment_terms=terms,
        notes=_notes(r, root),
        lines=lines,
        tax_subtotals=subtotals,
        line_total=line_total,
        taxable_total=taxable_total,
        tax_total=tax_total,
        total=total,
        allowances_charges=_allowances_charges(r, root, document_level=True),
        prepaid_amount=r.decimal(totals, "cbc:PrepaidAmount"),
        rounding_amount=r.decimal(totals, "cbc:PayableRoundingAmount"),
    )


def _application_response(r: _Reader, root: etree._Element) -> Acknowledgement | None:
    """A Peppol Message Level Response back to the APERAK-equivalent :class:`Acknowledgement`."""
    number = r.text(root, "cbc:ID")
    issue_date = r.date(root, "cbc:IssueDate")
    r.required(number, root, "cbc:ID", "response identifier")
    r.required(issue_date, root, "cbc:IssueDate", "response issue date")
    response = r.find(root, "cac:DocumentResponse")
    code = r.text(response, "cac:Response/cbc:ResponseCode")
    if response is None:
        r.issues.append(Issue("document response is missing", code=SyntaxCode.MISSING,
                              path=f"{path_of(root)}/cac:DocumentResponse"))
    else:
        r.required(code, response, "cac:Response/cbc:ResponseCode", "response code")
    action = MLR_ACTION_FOR_RESPONSE.get(code or "")
    if code is not None and action is None:
        node = r.find(response, "cac:Response/cbc:ResponseCode")
        r.issues.append(Issue(f"response code {code!r} is not one of {', '.join(MLR_ACTION_FOR_RESPONSE)}",
                              code=SyntaxCode.INVALID_VALUE, path=path_of(node) if node is not None else None))
    errors = []
    for line in r.findall(response, "cac:LineResponse"):
        where = _line_ref(r.text(line, "cac:LineReference/cbc:LineID"))
        for answer in r.findall(line, "cac:Response"):
            text = r.text(answer, "cbc:Description") or r.text(answer, "cbc:ResponseCode") or "no description"
            errors.append(AckError(code=r.text(answer, "cac:Status/cbc:StatusReasonCode") or "SV", text=text, path=where))
    if number is None or issue_date is None or action is None:
        return None
    return Acknowledgement(
        kind="APERAK",
        number=number,
        issue_date=issue_date,
        action=action,
        document_ref=_line_ref(r.text(response, "cac:DocumentReference/cbc:ID")),
        interchange_sender=_line_ref(r.text(root, "cac:SenderParty/cbc:EndpointID")),
        interchange_sender_qualifier=QUALIFIER_FOR_SCHEME.get(r.attr(root, "cac:SenderParty/cbc:EndpointID", "schemeID") or ""),
        interchange_recipient=_line_ref(r.text(root, "cac:ReceiverParty/cbc:EndpointID")),
        interchange_recipient_qualifier=QUALIFIER_FOR_SCHEME.get(
            r.attr(root, "cac:ReceiverParty/cbc:EndpointID", "schemeID") or ""),
        errors=errors,
    )


_MAPPERS: dict[str, Callable[[_Reader, etree._Element], Document | None]] = {
    "Order": _order,
    "OrderResponse": _order_response,
    "DespatchAdvice": _despatch_advice,
    "Invoice": _invoice,
    "CreditNote": _invoice,
    "ApplicationResponse": _application_response,
}
_NAMESPACES = {**ROOT_NAMESPACES, "ApplicationResponse": APPLICATION_RESPONSE_NS}


def to_document(tree: etree._ElementTree) -> tuple[Document | None, list[Issue]]:
    """Map a UBL tree to its canonical document; None when a mandatory value is missing or unreadable."""
    root = tree.getroot()
    name = root_name(tree)
    mapper = _MAPPERS.get(name)
    if mapper is None or etree.QName(root).namespace != _NAMESPACES.get(name):
        return None, [
            Issue(
                f"{etree.QName(root).text} is not a supported UBL 2.1 document"
                f" (expected one of {', '.join(_NAMESPACES)} in its UBL namespace)",
                code=SyntaxCode.NO_AGREEMENT,
                path="/" + name,
            )
        ]
    reader = _Reader()
    with located():
        document = mapper(reader, root)
        if name in ("Invoice", "CreditNote"):
            reader.amounts(root)
    errors = [issue for issue in reader.issues if issue.is_error]
    return (None if errors else document), reader.issues

"""Canonical business documents.

These dataclasses are what every syntax (EDIFACT, UBL) maps to and from, and
what the hub's domain works with. They know nothing of any syntax: amounts are
``Decimal``, dates are ``datetime.date``, codes are the UN/EDIFACT code values
named in each field's comment (UN/CEFACT code lists 1001, 1225, 3035, 1229,
6411 via UN/ECE Recommendation 20, 5305, 7065), because those lists are the
common ground of both syntaxes.

``to_dict``/``from_dict`` give the JSON form used by ``kontor edi translate``
and ``kontor edi render``: every document carries ``"document"`` with its
class name so that a file says what it holds.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Union

__all__ = [
    "PartyRole",
    "Party",
    "OrderLine",
    "Order",
    "OrderResponseLine",
    "OrderResponse",
    "DespatchLine",
    "Package",
    "DespatchAdvice",
    "AllowanceCharge",
    "InvoiceLine",
    "TaxSubtotal",
    "PaymentTerms",
    "Invoice",
    "AckError",
    "MessageAck",
    "Acknowledgement",
    "Document",
    "DOCUMENT_TYPES",
    "to_dict",
    "from_dict",
    "DocumentFormatError",
]


class PartyRole:
    """Party function codes (UN/CEFACT 3035) used by the mappings."""

    BUYER = "BY"
    SUPPLIER = "SU"
    DELIVERY = "DP"
    INVOICEE = "IV"
    ULTIMATE_CONSIGNEE = "UC"
    SHIP_FROM = "SF"
    SELLER = "SE"
    PAYEE = "PE"


@dataclass(kw_only=True)
class Party:
    role: str  # 3035 party function code, see PartyRole
    id: str | None = None  # party identifier, usually a GLN
    id_agency: str | None = "9"  # 3055 code list agency: 9 = GS1 (GLN), None = mutually defined
    name: str | None = None
    street: str | None = None
    city: str | None = None
    postcode: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    vat_number: str | None = None  # RFF+VA under the NAD
    contact: str | None = None


@dataclass(kw_only=True)
class OrderLine:
    line_no: str
    gtin: str | None = None  # LIN 7140 with 7143 SRV/EN
    supplier_sku: str | None = None  # PIA 7140 with 7143 SA
    buyer_sku: str | None = None  # PIA 7140 with 7143 BP
    description: str | None = None
    quantity: Decimal
    unit: str | None = None  # 6411 / UN/ECE Rec. 20 unit, e.g. PCE, KGM, LTR
    net_price: Decimal | None = None  # PRI+AAA, per price_basis units
    price_basis: Decimal | None = None  # PRI 5284 unit price basis
    line_amount: Decimal | None = None  # MOA+203
    requested_delivery: _dt.date | None = None


@dataclass(kw_only=True)
class Order:
    number: str  # BGM 1004
    document_code: str = "220"  # 1001: 220 order, 221 blanket, 226 call-off
    function: str = "9"  # 1225: 9 original, 5 replace, 1 cancel
    issue_date: _dt.date
    requested_delivery: _dt.date | None = None  # DTM+2
    currency: str | None = None  # CUX+2:EUR:9
    contract_ref: str | None = None  # RFF+CT
    parties: list[Party] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # FTX
    lines: list[OrderLine] = field(default_factory=list)

    def party(self, role: str) -> Party | None:
        return _party(self.parties, role)


@dataclass(kw_only=True)
class OrderResponseLine:
    line_no: str
    action: str = "5"  # 1229: 5 accepted, 3 changed, 7 not accepted
    gtin: str | None = None
    supplier_sku: str | None = None
    buyer_sku: str | None = None
    description: str | None = None
    ordered_quantity: Decimal | None = None
    quantity: Decimal  # confirmed quantity (QTY+21 in the response)
    unit: str | None = None
    net_price: Decimal | None = None
    delivery_date: _dt.date | None = None


@dataclass(kw_only=True)
class OrderResponse:
    number: str
    order_number: str  # RFF+ON
    order_date: _dt.date | None = None  # DTM+171 under RFF+ON
    issue_date: _dt.date
    response_code: str = "29"  # 1225: 29 accepted, 4 changed, 27 not accepted
    currency: str | None = None
    parties: list[Party] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lines: list[OrderResponseLine] = field(default_factory=list)

    def party(self, role: str) -> Party | None:
        return _party(self.parties, role)


@dataclass(kw_only=True)
class DespatchLine:
    line_no: str
    gtin: str | None = None
    supplier_sku: str | None = None
    buyer_sku: str | None = None
    description: str | None = None
    quantity: Decimal  # QTY+12 despatched
    unit: str | None = None
    batch: str | None = None  # PCI+36E / GIN+BX batch number
    best_before: _dt.date | None = None  # DTM+361
    order_number: str | None = None  # RFF+ON per line
    order_line_no: str | None = None  # RFF+ON 1156 line number


@dataclass(kw_only=True)
class Package:
    level: str  # CPS 7164 hierarchical id
    parent: str | None = None  # CPS 7166 parent hierarchical id
    package_type: str | None = None  # 7065, e.g. 201 pallet ISO 1, CT carton
    sscc: str | None = None  # GIN+BJ
    lines: list[DespatchLine] = field(default_factory=list)


@dataclass(kw_only=True)
class DespatchAdvice:
    number: str  # BGM 1004 (delivery note number)
    issue_date: _dt.date
    despatch_date: _dt.date | None = None  # DTM+11
    expected_delivery: _dt.date | None = None  # DTM+17
    order_number: str | None = None  # RFF+ON
    carrier: str | None = None  # TDT carrier name
    tracking_number: str | None = None  # RFF+CN consignment reference
    parties: list[Party] = field(default_factory=list)
    packages: list[Package] = field(default_factory=list)

    def party(self, role: str) -> Party | None:
        return _party(self.parties, role)

    def all_lines(self) -> list[DespatchLine]:
        return [line for package in self.packages for line in package.lines]


@dataclass(kw_only=True)
class AllowanceCharge:
    """A discount (allowance) or a surcharge (charge) on an invoice or on one of its lines.

    UBL ``cac:AllowanceCharge`` (EN 16931 BG-20/BG-21 on the document, BG-27/BG-28
    on a line). Line ones are already netted in the line amount (BT-131);
    document ones sit between the line total and the taxable total (BR-CO-13).
    """

    charge: bool  # True: charge (ChargeIndicator true), False: allowance
    amount: Decimal  # net of VAT
    reason: str | None = None
    reason_code: str | None = None  # UNCL 5189 (allowances) or UNCL 7161 (charges)
    base_amount: Decimal | None = None
    percent: Decimal | None = None  # MultiplierFactorNumeric as a percentage of base_amount
    tax_category: str | None = None  # 5305, document level only
    tax_rate: Decimal | None = None


@dataclass(kw_only=True)
class InvoiceLine:
    line_no: str
    gtin: str | None = None
    supplier_sku: str | None = None
    buyer_sku: str | None = None
    description: str | None = None
    quantity: Decimal  # QTY+47 invoiced
    unit: str | None = None
    net_price: Decimal  # PRI+AAA per price_basis units
    price_basis: Decimal | None = None
    line_amount: Decimal  # MOA+203, net of tax
    tax_category: str = "S"  # 5305: S standard, Z zero, E exempt, AE reverse charge, ...
    tax_rate: Decimal | None = None  # percent
    order_number: str | None = None
    order_line_no: str | None = None
    allowances_charges: list[AllowanceCharge] = field(default_factory=list)  # netted in line_amount


@dataclass(kw_only=True)
class TaxSubtotal:
    category: str  # 5305
    rate: Decimal | None
    taxable_amount: Decimal  # MOA+125 in the TAX group
    tax_amount: Decimal  # MOA+124 in the TAX group


@dataclass(kw_only=True)
class PaymentTerms:
    due_date: _dt.date | None = None  # DTM+13 in the PAT group
    days: int | None = None  # PAT 2152 number of periods
    description: str | None = None
    discount_percent: Decimal | None = None  # PCD+12


@dataclass(kw_only=True)
class Invoice:
    number: str
    document_code: str = "380"  # 1001: 380 invoice, 381 credit note, 384 corrected
    issue_date: _dt.date
    delivery_date: _dt.date | None = None  # DTM+35
    order_number: str | None = None  # RFF+ON
    despatch_number: str | None = None  # RFF+DQ
    corrected_invoice: str | None = None  # EN 16931 BT-25, the invoice a credit note corrects (UBL BillingReference)
    currency: str
    parties: list[Party] = field(default_factory=list)
    payment_terms: PaymentTerms | None = None
    notes: list[str] = field(default_factory=list)
    lines: list[InvoiceLine] = field(default_factory=list)
    tax_subtotals: list[TaxSubtotal] = field(default_factory=list)
    line_total: Decimal  # MOA+79 sum of line amounts
    taxable_total: Decimal  # MOA+125
    tax_total: Decimal  # MOA+124
    total: Decimal  # MOA+77 amount payable incl. tax
    allowances_charges: list[AllowanceCharge] = field(default_factory=list)  # document level
    prepaid_amount: Decimal | None = None  # EN 16931 BT-113, paid in advance
    rounding_amount: Decimal | None = None  # BT-114, added to reach the payable amount

    def party(self, role: str) -> Party | None:
        return _party(self.parties, role)

    @property
    def allowance_total(self) -> Decimal:
        """Sum of the document level allowances (BT-107)."""
        return sum((a.amount for a in self.allowances_charges if not a.charge), Decimal(0))

    @property
    def charge_total(self) -> Decimal:
        """Sum of the document level charges (BT-108)."""
        return sum((a.amount for a in self.allowances_charges if a.charge), Decimal(0))

    @property
    def payable_amount(self) -> Decimal:
        """Amount due for payment (BT-115): total with VAT - prepaid + rounding."""
        return self.total - (self.prepaid_amount or Decimal(0)) + (self.rounding_amount or Decimal(0))

    def arithmetic_errors(self) -> list[str]:
        """Sentences for every total that does not add up (empty when sound).

        Amounts are compared exactly after rounding each computed figure to
        two decimals, as EN 16931 rounds (BR-CO-10 .. BR-CO-15 in spirit).
        """
        cent = Decimal("0.01")
        errors = []
        lines = sum((line.line_amount for line in self.lines), Decimal(0))
        if lines.quantize(cent) != self.line_total.quantize(cent):
            errors.append(f"line total {self.line_total} is not the sum of the line amounts {lines}")
        for line in self.lines:
            basis = line.price_basis or Decimal(1)
            adjust = sum((a.amount if a.charge else -a.amount for a in line.allowances_charges), Decimal(0))
            expected = (line.quantity * line.net_price / basis + adjust).quantize(cent)
            if expected != line.line_amount.quantize(cent):
                adjusted = f" {'+' if adjust >= 0 else '-'} allowances/charges {abs(adjust)}" if adjust else ""
                errors.append(
                    f"line {line.line_no}: amount {line.line_amount} is not quantity {line.quantity}"
                    f" x price {line.net_price}{adjusted} = {expected}"
                )
        if self.allowances_charges:
            expected = (self.line_total - self.allowance_total + self.charge_total).quantize(cent)
            if expected != self.taxable_total.quantize(cent):
                errors.append(
                    f"taxable total {self.taxable_total} is not line total {self.line_total}"
                    f" - allowances {self.allowance_total} + charges {self.charge_total} = {expected}"
                )
        taxable = sum((t.taxable_amount for t in self.tax_subtotals), Decimal(0))
        tax = sum((t.tax_amount for t in self.tax_subtotals), Decimal(0))
        if self.tax_subtotals and taxable.quantize(cent) != self.taxable_total.quantize(cent):
            errors.append(f"taxable total {self.taxable_total} is not the sum of the VAT breakdown {taxable}")
        if self.tax_subtotals and tax.quantize(cent) != self.tax_total.quantize(cent):
            errors.append(f"tax total {self.tax_total} is not the sum of the VAT breakdown {tax}")
        for sub in self.tax_subtotals:
            if sub.rate is not None:
                expected = (sub.taxable_amount * sub.rate / 100).quantize(cent)
                if expected != sub.tax_amount.quantize(cent):
                    errors.append(
                        f"VAT {sub.category} {sub.rate}%: tax {sub.tax_amount} is not"
                        f" {sub.rate}% of {sub.taxable_amount} = {expected}"
                    )
        if (self.taxable_total + self.tax_total).quantize(cent) != self.total.quantize(cent):
            errors.append(
                f"invoice total {self.total} is not taxable total {self.taxable_total}"
                f" + tax total {self.tax_total}"
            )
        return errors


@dataclass(kw_only=True)
class AckError:
    code: str  # CONTRL 0085 syntax error code, or APERAK 9321 application error code
    text: str
    segment: int | None = None  # position within the acknowledged message (UNH = 1)
    tag: str | None = None
    element: int | None = None
    component: int | None = None
    path: str | None = None  # XML location (UBL), e.g. /Invoice/cac:InvoiceLine[2]/cbc:LineExtensionAmount


@dataclass(kw_only=True)
class MessageAck:
    reference: str  # UNH 0062 of the acknowledged message
    message_type: str  # e.g. ORDERS
    action: str  # 0083: 7 acknowledged, 4 rejected
    errors: list[AckError] = field(default_factory=list)
    version: str | None = None  # S009 0052 of the acknowledged message, e.g. D
    release: str | None = None  # S009 0054, e.g. 96A
    agency: str | None = None  # S009 0051, e.g. UN
    association: str | None = None  # S009 0057, e.g. EAN008


@dataclass(kw_only=True)
class Acknowledgement:
    """A CONTRL (syntax and service report) or an APERAK (application response)."""

    kind: str  # "CONTRL" or "APERAK"
    number: str  # our reference for the acknowledgement itself
    issue_date: _dt.date
    interchange_ref: str | None = None  # UNB 0020 of what is acknowledged
    interchange_sender: str | None = None
    interchange_recipient: str | None = None
    interchange_sender_qualifier: str | None = None  # UNB S002 0007, e.g. 14 (GLN)
    interchange_recipient_qualifier: str | None = None  # UNB S003 0007
    action: str = "7"  # 0083: 7 acknowledged, 4 rejected, 8 received
    document_ref: str | None = None  # APERAK: the business reference (e.g. order number)
    document_ref_qualifier: str | None = None  # APERAK: its RFF 1153 qualifier (ON order, IV invoice, DQ delivery note)
    message_ref: str | None = None  # APERAK: the UNH reference it answers
    errors: list[AckError] = field(default_factory=list)  # interchange-level or APERAK errors
    messages: list[MessageAck] = field(default_factory=list)  # CONTRL UCM detail


Document = Union[Order, OrderResponse, DespatchAdvice, Invoice, Acknowledgement]

DOCUMENT_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (Order, OrderResponse, DespatchAdvice, Invoice, Acknowledgement)
}


class DocumentFormatError(ValueError):
    """A canonical JSON document does not fit its dataclass; names the field."""


def _party(parties: list[Party], role: str) -> Party | None:
    for party in parties:
        if party.role == role:
            return party
    return None


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def to_dict(document: Document) -> dict[str, Any]:
    """The JSON-ready form: Decimals as strings, dates as ISO 8601."""
    data = _encode(document)
    return {"document": type(document).__name__, **data}


#: The most digits a number may have written out without an exponent: the longest numeric
#: data element of UN/EDIFACT (n..35, e.g. 6066 control value) and more than any UBL amount needs.
_MAX_DIGITS = 35


def _finite_decimal(number: Decimal, value: Any, path: str) -> Decimal:
    """``number`` when it is finite and fits :data:`_MAX_DIGITS` digits written out; else DocumentFormatError."""
    if not number.is_finite():
        raise DocumentFormatError(f"{path}: {value!r} is not a finite number")
    digits, exponent = len(number.as_tuple().digits), int(number.as_tuple().exponent)
    # written without an exponent: the digits, trailing zeros for a positive exponent,
    # leading zeros after the point for a negative one beyond the digits
    written = digits + exponent if exponent > 0 else max(digits, -exponent)
    if written > _MAX_DIGITS:
        shown = value if len(str(value)) <= 40 else f"{str(value)[:35]}... ({len(str(value))} characters)"
        raise DocumentFormatError(
            f"{path}: {shown!r} is out of range: written out it has {written} digits, at most {_MAX_DIGITS} allowed"
        )
    return number


def _decode(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _decode(args[0], value, path)
    if value is None:
        raise DocumentFormatError(f"{path}: a value is required")
    if origin is list:
        if not isinstance(value, list):
            raise DocumentFormatError(f"{path}: expected a list")
        (item,) = typing.get_args(tp)
        return [_decode(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    try:
        if tp is Decimal:
            if isinstance(value, float):
                raise DocumentFormatError(f"{path}: give amounts as strings, not floats")
            return _finite_decimal(Decimal(str(value)), value, path)
        if tp is _dt.date:
            return _dt.date.fromisoformat(value)
        if tp is int:
            return int(value)
        if tp is str:
            if not isinstance(value, str):
                raise DocumentFormatError(f"{path}: expected text")
            return value
    except DocumentFormatError:
        raise
    except (ValueError, ArithmeticError, TypeError) as exc:
        raise DocumentFormatError(f"{path}: {value!r} is not a valid {tp.__name__}") from exc
    return value


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise DocumentFormatError(f"{path}: expected an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names - {"document"})
    if unknown:
        raise DocumentFormatError(f"{path}: unknown field {unknown[0]!r}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{path}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DocumentFormatError(f"{path}.{f.name}: a value is required")
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> Document:
    """Build a document from its JSON form; errors name the field path."""
    if not isinstance(data, dict) or "document" not in data:
        raise DocumentFormatError('$: expected an object with a "document" field')
    name = data["document"]
    cls = DOCUMENT_TYPES.get(name)
    if cls is None:
        raise DocumentFormatError(f"$.document: unknown document type {name!r}")
    return _build(cls, data, "$")

"""UBL 2.1 (Peppol BIS) as a second syntax for the canonical documents.

Public API::

    parse_ubl(data, *, validate_schema=True, max_bytes=50_000_000) -> (document | None, issues)
    render_ubl(document, *, customization=None) -> bytes
    validate_ubl(data, *, max_bytes=50_000_000) -> issues
    rejection_for(issues, *, document_ref, number, issue_date, sender=..., recipient=...) -> Acknowledgement
        (APERAK, action 4; render_ubl writes it as a Peppol Message Level Response)

Document types: ``Order`` (Peppol BIS Ordering 3, T01), ``OrderResponse``
(T76), ``DespatchAdvice`` (Peppol BIS Despatch Advice 3, T16), ``Invoice``
and ``CreditNote`` (Peppol BIS Billing 3.0 / EN 16931), and the APERAK-kind
:class:`~edi.documents.Acknowledgement` as ``ApplicationResponse`` (Peppol
BIS Message Level Response 3.0; its XSD is not shipped, the mapping checks it). A canonical
:class:`~edi.documents.Invoice` whose ``document_code`` is a UNTDID 1001
credit note code (``CREDIT_NOTE_CODES``: 381, 396, 261, 262, 308, 532, ...)
is a UBL ``CreditNote`` with that ``CreditNoteTypeCode``; every other code is
a UBL ``Invoice`` with that ``InvoiceTypeCode``.

Schemas: the unchanged OASIS UBL 2.1 OS XSDs shipped in ``schemas/`` (see
``schemas/SOURCES.md``), compiled once per process and cached; imports
resolve inside that folder only, never over the network.

Safety: partner bytes go through :func:`edi.ubl.safe.parse_xml` (size limit,
no DTD, no entities, no network); refusals come back as issues.

Mapping (UBL <-> canonical). Values are kept as written, with one exception:
unit codes are written as UN/ECE Rec. 20 codes (:mod:`edi.ubl.units`: EANCOM
``PCE`` becomes ``H87`` "piece", a bare Rec. 21 package code ``CT`` becomes
``XCT``), because UBL and EN 16931 (BR-CL-23) accept no other; parsing keeps
the code as the partner wrote it (UBL ``C62`` stays ``C62``). Party identifiers: 3055 agency ``9`` (GS1)
<-> ISO 6523 ``schemeID`` ``0088``, ``16`` (DUNS) <-> ``0060``, no agency
<-> no ``schemeID``; other values pass through.

==================  ==========================================================
canonical           UBL 2.1
==================  ==========================================================
number, issue_date  cbc:ID, cbc:IssueDate
notes               cbc:Note (each)
currency            cbc:DocumentCurrencyCode (and every ``currencyID``)
Order.document_code cbc:OrderTypeCode
Order.function      only ``9``: UBL has OrderChange/OrderCancellation for the rest
Order.contract_ref  cac:Contract/cbc:ID
requested_delivery  cac:Delivery/cac:RequestedDeliveryPeriod/cbc:StartDate
party BY            cac:BuyerCustomerParty (Invoice: AccountingCustomerParty,
                    or BuyerCustomerParty when an IV party is present too)
party SU            cac:SellerSupplierParty / DespatchSupplierParty /
                    AccountingSupplierParty
party IV            cac:AccountingCustomerParty
party DP            cac:Delivery (DeliveryLocation + DeliveryParty);
                    DespatchAdvice: cac:DeliveryCustomerParty
party SE            DespatchAdvice/Invoice: cac:SellerSupplierParty
party PE            Invoice: cac:PayeeParty
party SF            DespatchAdvice: Shipment/Delivery/Despatch/DespatchParty
line ids            Item/StandardItemIdentification (GTIN, schemeID 0160),
                    SellersItemIdentification, BuyersItemIdentification
description         Item/cbc:Name
quantity, unit      cbc:Quantity / DeliveredQuantity / InvoicedQuantity /
                    CreditedQuantity with ``unitCode``
net_price, basis    cac:Price/cbc:PriceAmount, cbc:BaseQuantity
response_code       cbc:OrderResponseCode: 29 <-> AP, 4 <-> CA, 27 <-> RE
line action         cbc:LineStatusCode (UNCL 1229 as is)
order_number        cac:OrderReference/cbc:ID (lines: OrderLineReference)
OrderResponse line  cac:OrderLineReference/cbc:LineID (the order line answered),
  line_no           else cac:LineItem/cbc:ID; rendering writes both
despatch_number     cac:DespatchDocumentReference/cbc:ID
corrected_invoice   Invoice/CreditNote: cac:BillingReference/
                    cac:InvoiceDocumentReference/cbc:ID (BT-25)
delivery_date       Invoice: cac:Delivery/cbc:ActualDeliveryDate
packages            Shipment/TransportHandlingUnit: ID = level, type code,
                    TraceID = SSCC, cac:Package/cbc:ID = contained levels;
                    each DespatchLine/Shipment: ID = its package level, and
                    TransportHandlingUnit ID (schemeID SSCC) as Peppol reads it
batch, best_before  Item/ItemInstance/LotIdentification/LotNumberID, BestBeforeDate
carrier, tracking   Shipment/Consignment/CarrierParty name, Shipment/Delivery/TrackingID
payment terms       cbc:DueDate (CreditNote: PaymentTerms/PaymentDueDate),
                    PaymentTerms Note, SettlementDiscountPercent,
                    SettlementPeriod/DurationMeasure (days)
totals              LegalMonetaryTotal: LineExtension, TaxExclusive,
                    TaxInclusive (= total), AllowanceTotal, ChargeTotal,
                    Prepaid (prepaid_amount), PayableRounding (rounding_amount),
                    Payable (= payable_amount); TaxTotal/TaxAmount
allowances_charges  cac:AllowanceCharge on the invoice (with its TaxCategory)
                    and on each line: ChargeIndicator, ReasonCode, Reason,
                    MultiplierFactorNumeric (percent), Amount, BaseAmount
VAT breakdown       TaxTotal/TaxSubtotal with TaxCategory ID/Percent
==================  ==========================================================

Parties come back in a fixed order per document type, the order the EDIFACT
mappings produce (Order/OrderResponse: BY, SU, DP, IV; DespatchAdvice: SU,
BY, SE, DP, SF; Invoice: BY, SU, SE, IV, DP, PE), so a document that went
EDIFACT -> UBL -> canonical compares equal to the one read from EDIFACT.

Read but not carried (a warning, rule ``UBL-NOT-CARRIED``, names each):
an Order's own ``cac:AllowanceCharge`` and ``cac:AnticipatedMonetaryTotal``.

Changed on the way through UBL: EANCOM-only unit codes (``PCE`` comes back as
``H87``). Not carried by UBL (lost on the way through it): ``OrderResponseLine.ordered_quantity``
(Peppol has no element for it), parties with roles other than the ones above,
an IV party without a BY party on an invoice (comes back as BY), an SE party
without an SU party (comes back as SU).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable

from edi.documents import AckError, Acknowledgement, Document, Order, PartyRole
from edi.errors import EdiError, Issue, SyntaxCode
from edi.ubl.parse import NS, root_name, schema_issues, to_document
from edi.ubl.render import CREDIT_NOTE_CODES, PEPPOL_IDS, render_document
from edi.ubl.rules import en16931_issues
from edi.ubl.safe import DEFAULT_MAX_BYTES, DTD_REFUSED, parse_xml

__all__ = [
    "CREDIT_NOTE_CODES",
    "DTD_REFUSED",
    "PEPPOL_IDS",
    "parse_ubl",
    "recipient_issues",
    "rejection_for",
    "render_ubl",
    "validate_ubl",
]


def _checked(data: bytes, validate_schema: bool, max_bytes: int):  # type: ignore[no-untyped-def]
    try:
        tree = parse_xml(data, max_bytes=max_bytes)
    except EdiError as exc:
        return None, exc.issues or [Issue(str(exc), path="/")]
    issues: list[Issue] = []
    name = root_name(tree)
    if validate_schema and name != "ApplicationResponse":  # no shipped XSD: the mapping checks it
        try:
            issues.extend(schema_issues(tree))
        except EdiError as exc:
            issues.append(Issue(str(exc), code=SyntaxCode.NO_AGREEMENT, path="/" + name))
    return tree, issues


def parse_ubl(
    data: bytes, *, validate_schema: bool = True, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[Document | None, list[Issue]]:
    """Read a UBL 2.1 Order, OrderResponse, DespatchAdvice, Invoice or CreditNote.

    Returns the canonical document and every issue found: refusals by the safe
    parser, XSD errors (path and line), mapping errors (numbers out of bounds:
    rule ``UBL-NUMBER``), and for schema-valid invoices the EN 16931 rules
    (``Issue.rule`` is the rule id; not run after an XSD error, whose cause
    they would only repeat). The document is None when
    the bytes are refused, fail the XSD, or lack a value the canonical document
    cannot do without; EN 16931 violations leave the document in place (the
    caller rejects on any error issue). Raises nothing but :class:`EdiError`.
    """
    tree, issues = _checked(data, validate_schema, max_bytes)
    if tree is None:
        return None, issues
    document, mapping_issues = to_document(tree)
    issues.extend(mapping_issues)
    if any(issue.is_error and issue.rule == "UBL-XSD" for issue in issues):
        # EN 16931 is not run on a schema-invalid tree: its rules would repeat the XSD's
        # missing/malformed elements as second errors for one cause, at a cost per line.
        document = None
    else:
        issues.extend(en16931_issues(tree))
    return document, issues


def validate_ubl(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Issue]:
    """Every issue :func:`parse_ubl` would report, without keeping the document."""
    return parse_ubl(data, validate_schema=True, max_bytes=max_bytes)[1]


def render_ubl(document: Document, *, customization: str | None = None) -> bytes:
    """UBL 2.1 XML for a canonical document (UTF-8 bytes, valid against the shipped XSD).

    ``customization`` overrides the Peppol BIS CustomizationID (``PEPPOL_IDS``
    gives the defaults); the ProfileID stays the Peppol one. Raises
    :class:`EdiError` when the document cannot be expressed in UBL (an order
    replacement/cancellation, amounts without a currency, no lines, an
    Acknowledgement), and for text holding a character XML cannot carry
    (:func:`edi.translate.check_xml_text`, naming the field).
    """
    from edi.translate import check_xml_text

    check_xml_text(document)
    return render_document(document, customization)


def rejection_for(
    issues: list[Issue],
    *,
    document_ref: str | None,
    number: str,
    issue_date: _dt.date,
    sender: str | None = None,
    sender_qualifier: str | None = None,
    recipient: str | None = None,
    recipient_qualifier: str | None = None,
) -> Acknowledgement:
    """The APERAK-equivalent rejection for a UBL document: action 4, one error per error issue.

    Each error keeps the issue's code and its XML path (``AckError.path``) and
    reads ``PATH: [RULE] message``, so the partner sees where and why.
    Warnings are left out; when there is no error at all the acknowledgement
    still says rejected, with one unspecified error, because the caller asked
    for a rejection. ``sender``/``recipient`` (with UNB qualifiers, 14 = GLN)
    become the EndpointIDs when it is rendered as a Peppol Message Level
    Response (:func:`render_ubl`).
    """
    errors = [
        AckError(code=issue.code, text=issue.format(), path=issue.path)
        for issue in issues
        if issue.is_error
    ]
    if not errors:
        errors = [AckError(code=SyntaxCode.UNSPECIFIED, text="document rejected")]
    return Acknowledgement(
        kind="APERAK",
        number=number,
        issue_date=issue_date,
        action="4",
        document_ref=document_ref,
        interchange_sender=sender,
        interchange_sender_qualifier=sender_qualifier if sender else None,
        interchange_recipient=recipient,
        interchange_recipient_qualifier=recipient_qualifier if recipient else None,
        errors=errors,
    )


#: 0085 code 7, "interchange recipient not actual recipient": what UNB with another recipient gets.
NOT_THE_RECIPIENT = "7"


def recipient_issues(
    document: Document | None, our_ids: Iterable[str], data: Callable[[], bytes] | None = None
) -> list[Issue]:
    """The UBL counterpart of the UNB recipient check: an Order must be addressed to us.

    The recipient of an Order is its seller (``cac:SellerSupplierParty``,
    the canonical SU party). When it names identifiers (``cbc:EndpointID``,
    ``cac:PartyIdentification/cbc:ID``) and none is one of ``our_ids`` (the
    hub's GLN, its AS2 id...), one error at the seller party, code 7 as for
    UNB. The canonical party keeps one identifier; when that one is not ours,
    ``data()`` (the received bytes) is read again for the others. A seller
    without any identifier cannot be judged and passes; other document types
    have no recipient check. Never raises for bad input.
    """
    if not isinstance(document, Order):
        return []
    ours = {ident.strip() for ident in our_ids if ident and ident.strip()}
    seller = document.party(PartyRole.SUPPLIER)
    ids = [seller.id] if seller is not None and seller.id else []
    if ours.intersection(ids):
        return []
    if data is not None:
        try:
            root = parse_xml(data()).getroot()
        except EdiError:
            root = None
        party = root.find("cac:SellerSupplierParty/cac:Party", NS) if root is not None else None
        if party is not None:
            found = party.findall("cbc:EndpointID", NS) + party.findall("cac:PartyIdentification/cbc:ID", NS)
            ids = list(dict.fromkeys(ids + [el.text.strip() for el in found if el.text and el.text.strip()]))
    if not ids or ours.intersection(ids):
        return []
    return [
        Issue(
            f"the order is addressed to seller {', '.join(ids)}, not to us ({', '.join(sorted(ours))})",
            code=NOT_THE_RECIPIENT,
            path="/Order/cac:SellerSupplierParty/cac:Party",
        )
    ]

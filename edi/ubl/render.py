"""Canonical documents to UBL 2.1 XML (Peppol BIS 3 identifiers by default).

Elements are written in the order the OASIS UBL 2.1 schemas prescribe, so the
output validates against the shipped XSDs (the tests check every type).
The mapping is the mirror image of :mod:`edi.ubl.parse`.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from lxml import etree

from edi.documents import (
    Acknowledgement,
    AllowanceCharge,
    DespatchAdvice,
    Document,
    Invoice,
    Order,
    OrderResponse,
    Party,
    PartyRole,
)
from edi.errors import EdiError
from edi.ubl.parse import (
    APPLICATION_RESPONSE_NS,
    CAC,
    CBC,
    MLR_RESPONSE_FOR_ACTION,
    NOT_APPLICABLE,
    RESPONSE_CODE_TO_UBL,
    ROOT_NAMESPACES,
    SCHEME_FOR_AGENCY,
    SCHEME_FOR_QUALIFIER,
)
from edi.ubl.units import rec20_unit

__all__ = ["CREDIT_NOTE_CODES", "PEPPOL_IDS", "render_document"]

_BILLING = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"

#: Root -> (CustomizationID, ProfileID): Peppol BIS Ordering 3, Despatch Advice 3 and Billing 3.0.
PEPPOL_IDS: dict[str, tuple[str, str]] = {
    "Order": ("urn:fdc:peppol.eu:poacc:trns:order:3", "urn:fdc:peppol.eu:poacc:bis:ordering:3"),
    "OrderResponse": ("urn:fdc:peppol.eu:poacc:trns:order_response:3", "urn:fdc:peppol.eu:poacc:bis:ordering:3"),
    "DespatchAdvice": (
        "urn:fdc:peppol.eu:poacc:trns:despatch_advice:3",
        "urn:fdc:peppol.eu:poacc:bis:despatch_advice:3",
    ),
    "Invoice": (_BILLING, "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"),
    "CreditNote": (_BILLING, "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"),
    "ApplicationResponse": ("urn:fdc:peppol.eu:poacc:trns:mlr:3", "urn:fdc:peppol.eu:poacc:bis:mlr:3"),
}

_GTIN_SCHEME = "0160"  # ISO 6523 ICD for GS1 GTIN

#: UNTDID 1001 document name codes that are credit notes: the credit note subset EN 16931
#: uses (CEN/TC 434 code lists, "UNTDID 1001 - credit note"; Peppol BIS Billing 3.0,
#: CreditNoteTypeCode). An Invoice with one of these codes is written as a UBL CreditNote.
CREDIT_NOTE_CODES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"})


def _num(value: Decimal) -> str:
    return format(value, "f")


class _Writer:
    def __init__(self, root: str, currency: str | None):
        namespace = APPLICATION_RESPONSE_NS if root == "ApplicationResponse" else ROOT_NAMESPACES[root]
        self.root = etree.Element(f"{{{namespace}}}{root}", nsmap={None: namespace, "cac": CAC, "cbc": CBC})
        self.currency = currency

    @staticmethod
    def add(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> etree._Element:
        prefix, name = tag.split(":")
        el = etree.SubElement(parent, f"{{{CAC if prefix == 'cac' else CBC}}}{name}")
        if text is not None:
            el.text = text
        for key, value in attrs.items():
            if value is not None:
                el.set(key, value)
        return el

    def opt(self, parent: etree._Element, tag: str, value: str | _dt.date | Decimal | None, **attrs: str | None) -> None:
        if value is None:
            return
        if isinstance(value, Decimal):
            text = _num(value)
        elif isinstance(value, _dt.date):
            text = value.isoformat()
        else:
            text = value
        self.add(parent, tag, text, **attrs)

    def amount(self, parent: etree._Element, tag: str, value: Decimal | None) -> None:
        if value is None:
            return
        if not self.currency:
            raise EdiError(f"UBL amounts need a currency: {tag} {value} has none (set the document's currency)")
        self.add(parent, tag, _num(value), currencyID=self.currency)

    def path(self, parent: etree._Element, *tags: str) -> etree._Element:
        node = parent
        for tag in tags:
            node = self.add(node, tag)
        return node

    def header(self, root: str, number: str, issue_date: _dt.date, customization: str | None) -> None:
        custom, profile = PEPPOL_IDS[root]
        self.add(self.root, "cbc:CustomizationID", customization or custom)
        self.add(self.root, "cbc:ProfileID", profile)
        self.add(self.root, "cbc:ID", number)
        self.add(self.root, "cbc:IssueDate", issue_date.isoformat())

    def notes(self, notes: list[str]) -> None:
        for note in notes:
            self.add(self.root, "cbc:Note", note)

    def party_content(self, el: etree._Element, party: Party | None, *, legal: bool = False, endpoint: bool = False) -> None:
        if party is None:
            return
        scheme = SCHEME_FOR_AGENCY.get(party.id_agency or "", party.id_agency)
        if endpoint and party.id and scheme:
            self.add(el, "cbc:EndpointID", party.id, schemeID=scheme)
        if party.id:
            self.add(self.add(el, "cac:PartyIdentification"), "cbc:ID", party.id, schemeID=scheme)
        if party.name:
            self.add(self.add(el, "cac:PartyName"), "cbc:Name", party.name)
        self.address(el, "cac:PostalAddress", party)
        if party.vat_number:
            scheme_el = self.add(el, "cac:PartyTaxScheme")
            self.add(scheme_el, "cbc:CompanyID", party.vat_number)
            self.add(self.add(scheme_el, "cac:TaxScheme"), "cbc:ID", "VAT")
        if legal and party.name:
            self.add(self.add(el, "cac:PartyLegalEntity"), "cbc:RegistrationName", party.name)
        if party.contact:
            self.add(self.add(el, "cac:Contact"), "cbc:Name", party.contact)

    def address(self, parent: etree._Element, tag: str, party: Party) -> None:
        if not any((party.street, party.city, party.postcode, party.country)):
            return
        address = self.add(parent, tag)
        self.opt(address, "cbc:StreetName", party.street)
        self.opt(address, "cbc:CityName", party.city)
        self.opt(address, "cbc:PostalZone", party.postcode)
        if party.country:
            self.add(self.add(address, "cac:Country"), "cbc:IdentificationCode", party.country)

    def role_party(self, tag: str, party: Party | None, *, required: bool = False, **kw: bool) -> None:
        """``tag`` is a CustomerParty/SupplierParty wrapper holding ``cac:Party``."""
        if party is None and not required:
            return
        wrapper = self.add(self.root, tag)
        if party is not None:
            self.party_content(self.add(wrapper, "cac:Party"), party, **kw)

    def delivery_location(self, delivery: etree._Element, party: Party | None) -> None:
        if party is None or not (party.id or any((party.street, party.city, party.postcode, party.country))):
            return
        location = self.add(delivery, "cac:DeliveryLocation")
        if party.id:
            self.add(location, "cbc:ID", party.id, schemeID=SCHEME_FOR_AGENCY.get(party.id_agency or "", party.id_agency))
        self.address(location, "cac:Address", party)

    def delivery_party(self, delivery: etree._Element, party: Party | None) -> None:
        if party is not None:
            self.party_content(self.add(delivery, "cac:DeliveryParty"), party)

    def item(
        self,
        parent: etree._Element,
        *,
        description: str | None,
        buyer_sku: str | None,
        supplier_sku: str | None,
        gtin: str | None,
    ) -> etree._Element:
        item = self.add(parent, "cac:Item")
        self.opt(item, "cbc:Name", description)
        if buyer_sku:
            self.add(self.add(item, "cac:BuyersItemIdentification"), "cbc:ID", buyer_sku)
        if supplier_sku:
            self.add(self.add(item, "cac:SellersItemIdentification"), "cbc:ID", supplier_sku)
        if gtin:
            self.add(self.add(item, "cac:StandardItemIdentification"), "cbc:ID", gtin, schemeID=_GTIN_SCHEME)
        return item

    def price(self, parent: etree._Element, price: Decimal | None, basis: Decimal | None, unit: str | None) -> None:
        if price is None:
            return
        el = self.add(parent, "cac:Price")
        self.amount(el, "cbc:PriceAmount", price)
        if basis is not None:
            self.add(el, "cbc:BaseQuantity", _num(basis), unitCode=rec20_unit(unit))

    def tostring(self) -> bytes:
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _needs_lines(kind: str, lines: list) -> None:  # type: ignore[type-arg]
    if not lines:
        raise EdiError(f"a UBL {kind} needs at least one line")


def _order(doc: Order, customization: str | None) -> bytes:
    if doc.function != "9":
        raise EdiError(
            f"order function {doc.function!r} (replacement or cancellation) has no place in a UBL Order;"
            " UBL uses OrderChange and OrderCancellation, which are not supported"
        )
    _needs_lines("Order", doc.lines)
    w = _Writer("Order", doc.currency)
    w.header("Order", doc.number, doc.issue_date, customization)
    w.add(w.root, "cbc:OrderTypeCode", doc.document_code)
    w.notes(doc.notes)
    w.opt(w.root, "cbc:DocumentCurrencyCode", doc.currency)
    if doc.contract_ref:
        w.add(w.add(w.root, "cac:Contract"), "cbc:ID", doc.contract_ref)
    w.role_party("cac:BuyerCustomerParty", doc.party(PartyRole.BUYER), required=True)
    w.role_party("cac:SellerSupplierParty", doc.party(PartyRole.SUPPLIER) or doc.party(PartyRole.SELLER), required=True)
    w.role_party("cac:AccountingCustomerParty", doc.party(PartyRole.INVOICEE))
    delivery_party = doc.party(PartyRole.DELIVERY)
    if delivery_party is not None or doc.requested_delivery is not None:
        delivery = w.add(w.root, "cac:Delivery")
        w.delivery_location(delivery, delivery_party)
        if doc.requested_delivery:
            w.add(w.path(delivery, "cac:RequestedDeliveryPeriod"), "cbc:StartDate", doc.requested_delivery.isoformat())
        w.delivery_party(delivery, delivery_party)
    for line in doc.lines:
        item = w.path(w.root, "cac:OrderLine", "cac:LineItem")
        w.add(item, "cbc:ID", line.line_no)
        w.add(item, "cbc:Quantity", _num(line.quantity), unitCode=rec20_unit(line.unit))
        w.amount(item, "cbc:LineExtensionAmount", line.line_amount)
        if line.requested_delivery:
            w.add(w.path(item, "cac:Delivery", "cac:RequestedDeliveryPeriod"), "cbc:StartDate", line.requested_delivery.isoformat())
        w.price(item, line.net_price, line.price_basis, line.unit)
        w.item(item, description=line.description, buyer_sku=line.buyer_sku, supplier_sku=line.supplier_sku, gtin=line.gtin)
    return w.tostring()


def _order_response(doc: OrderResponse, customization: str | None) -> bytes:
    w = _Writer("OrderResponse", doc.currency)
    w.header("OrderResponse", doc.number, doc.issue_date, customization)
    w.add(w.root, "cbc:OrderResponseCode", RESPONSE_CODE_TO_UBL.get(doc.response_code, doc.response_code))
    w.notes(doc.notes)
    w.opt(w.root, "cbc:DocumentCurrencyCode", doc.currency)
    reference = w.add(w.root, "cac:OrderReference")
    w.add(reference, "cbc:ID", doc.order_number)
    w.opt(reference, "cbc:IssueDate", doc.order_date)
    w.role_party("cac:SellerSupplierParty", doc.party(PartyRole.SUPPLIER) or doc.party(PartyRole.SELLER), required=True)
    w.role_party("cac:BuyerCustomerParty", doc.party(PartyRole.BUYER), required=True)
    w.role_party("cac:AccountingCustomerParty", doc.party(PartyRole.INVOICEE))
    delivery_party = doc.party(PartyRole.DELIVERY)
    if delivery_party is not None:
        delivery = w.add(w.root, "cac:Delivery")
        w.delivery_location(delivery, delivery_party)
        w.delivery_party(delivery, delivery_party)
    for line in doc.lines:
        order_line = w.add(w.root, "cac:OrderLine")
        item = w.add(order_line, "cac:LineItem")
        w.add(item, "cbc:ID", line.line_no)
        w.add(item, "cbc:LineStatusCode", line.action)
        w.add(item, "cbc:Quantity", _num(line.quantity), unitCode=rec20_unit(line.unit))
        if line.delivery_date:
            w.add(w.path(item, "cac:Delivery", "cac:PromisedDeliveryPeriod"), "cbc:StartDate", line.delivery_date.isoformat())
        w.price(item, line.net_price, None, line.unit)
        w.item(item, description=line.description, buyer_sku=line.buyer_sku, supplier_sku=line.supplier_sku, gtin=line.gtin)
        w.add(w.add(order_line, "cac:OrderLineReference"), "cbc:LineID", line.line_no)
    return w.tostring()


def _despatch_advice(doc: DespatchAdvice, customization: str | None) -> bytes:
    lines = doc.all_lines()
    _needs_lines("DespatchAdvice", lines)
    w = _Writer("DespatchAdvice", None)
    w.header("DespatchAdvice", doc.number, doc.issue_date, customization)
    if doc.order_number:
        w.add(w.add(w.root, "cac:OrderReference"), "cbc:ID", doc.order_number)
    w.role_party("cac:DespatchSupplierParty", doc.party(PartyRole.SUPPLIER), required=True)
    w.role_party("cac:DeliveryCustomerParty", doc.party(PartyRole.DELIVERY), required=True)
    w.role_party("cac:BuyerCustomerParty", doc.party(PartyRole.BUYER))
    w.role_party("cac:SellerSupplierParty", doc.party(PartyRole.SELLER))
    shipment = w.add(w.root, "cac:Shipment")
    w.add(shipment, "cbc:ID", "1")
    if doc.carrier:
        consignment = w.add(shipment, "cac:Consignment")
        w.add(consignment, "cbc:ID", doc.tracking_number or NOT_APPLICABLE)
        w.add(w.path(consignment, "cac:CarrierParty", "cac:PartyName"), "cbc:Name", doc.carrier)
    ship_from = doc.party(PartyRole.SHIP_FROM)
    if doc.tracking_number or doc.expected_delivery or doc.despatch_date or ship_from:
        delivery = w.add(shipment, "cac:Delivery")
        w.opt(delivery, "cbc:TrackingID", doc.tracking_number)
        if doc.expected_delivery:
            w.add(w.add(delivery, "cac:EstimatedDeliveryPeriod"), "cbc:StartDate", doc.expected_delivery.isoformat())
        if doc.despatch_date or ship_from:
            despatch = w.add(delivery, "cac:Despatch")
            w.opt(despatch, "cbc:ActualDespatchDate", doc.despatch_date)
            if ship_from is not None:
                w.party_content(w.add(despatch, "cac:DespatchParty"), ship_from)
    children: dict[str, list[str]] = {}
    for package in doc.packages:
        if package.parent:
            children.setdefault(package.parent, []).append(package.level)
    for package in doc.packages:
        unit = w.add(shipment, "cac:TransportHandlingUnit")
        w.add(unit, "cbc:ID", package.level)
        w.opt(unit, "cbc:TransportHandlingUnitTypeCode", package.package_type)
        w.opt(unit, "cbc:TraceID", package.sscc)
        for child in children.get(package.level, []):
            w.add(w.add(unit, "cac:Package"), "cbc:ID", child)
    for package in doc.packages:
        for line in package.lines:
            el = w.add(w.root, "cac:DespatchLine")
            w.add(el, "cbc:ID", line.line_no)
            w.add(el, "cbc:DeliveredQuantity", _num(line.quantity), unitCode=rec20_unit(line.unit))
            reference = w.add(el, "cac:OrderLineReference")
            w.add(reference, "cbc:LineID", line.order_line_no or NOT_APPLICABLE)
            if line.order_number:
                w.add(w.add(reference, "cac:OrderReference"), "cbc:ID", line.order_number)
            item = w.item(el, description=line.description, buyer_sku=line.buyer_sku, supplier_sku=line.supplier_sku, gtin=line.gtin)
            if line.best_before or line.batch:
                instance = w.add(item, "cac:ItemInstance")
                w.opt(instance, "cbc:BestBeforeDate", line.best_before)
                if line.batch:
                    w.add(w.add(instance, "cac:LotIdentification"), "cbc:LotNumberID", line.batch)
            line_shipment = w.add(el, "cac:Shipment")
            w.add(line_shipment, "cbc:ID", package.level)
            if package.sscc or package.package_type:
                unit = w.add(line_shipment, "cac:TransportHandlingUnit")
                if package.sscc:
                    w.add(unit, "cbc:ID", package.sscc, schemeID="SSCC")
                w.opt(unit, "cbc:TransportHandlingUnitTypeCode", package.package_type)
    return w.tostring()


#: VAT category -> the CEF VATEX exemption reason code that says the same (BT-121, EN 16931 BR-AE-10,
#: BR-IC-10, BR-G-10, BR-O-10). "Exempt" (E) has no such code: its reason depends on the article applied.
VATEX_FOR_CATEGORY = {"AE": "VATEX-EU-AE", "K": "VATEX-EU-IC", "G": "VATEX-EU-G", "O": "VATEX-EU-O"}


def _tax_category(
    w: _Writer, parent: etree._Element, tag: str, category: str, rate: Decimal | None, *, breakdown: bool = False
) -> None:
    el = w.add(parent, tag)
    w.add(el, "cbc:ID", category)
    w.opt(el, "cbc:Percent", rate)
    if breakdown:
        w.opt(el, "cbc:TaxExemptionReasonCode", VATEX_FOR_CATEGORY.get(category))
    w.add(w.add(el, "cac:TaxScheme"), "cbc:ID", "VAT")


def _allowance_charge(w: _Writer, parent: etree._Element, item: AllowanceCharge, *, document_level: bool) -> None:
    el = w.add(parent, "cac:AllowanceCharge")
    w.add(el, "cbc:ChargeIndicator", "true" if item.charge else "false")
    w.opt(el, "cbc:AllowanceChargeReasonCode", item.reason_code)
    w.opt(el, "cbc:AllowanceChargeReason", item.reason)
    w.opt(el, "cbc:MultiplierFactorNumeric", item.percent)
    w.amount(el, "cbc:Amount", item.amount)
    w.amount(el, "cbc:BaseAmount", item.base_amount)
    if document_level and item.tax_category:
        _tax_category(w, el, "cac:TaxCategory", item.tax_category, item.tax_rate)


def _invoice(doc: Invoice, customization: str | None) -> bytes:
    credit = doc.document_code in CREDIT_NOTE_CODES
    root = "CreditNote" if credit else "Invoice"
    _needs_lines(root, doc.lines)
    w = _Writer(root, doc.currency)
    w.header(root, doc.number, doc.issue_date, customization)
    terms = doc.payment_terms
    if not credit and terms is not None:
        w.opt(w.root, "cbc:DueDate", terms.due_date)
    w.add(w.root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode", doc.document_code)
    w.notes(doc.notes)
    w.add(w.root, "cbc:DocumentCurrencyCode", doc.currency)
    if doc.order_number:
        w.add(w.add(w.root, "cac:OrderReference"), "cbc:ID", doc.order_number)
    if doc.corrected_invoice:
        billing = w.add(w.root, "cac:BillingReference")
        w.add(w.add(billing, "cac:InvoiceDocumentReference"), "cbc:ID", doc.corrected_invoice)
    if doc.despatch_number:
        w.add(w.add(w.root, "cac:DespatchDocumentReference"), "cbc:ID", doc.despatch_number)
    supplier = doc.party(PartyRole.SUPPLIER)
    seller = doc.party(PartyRole.SELLER)
    buyer = doc.party(PartyRole.BUYER)
    invoicee = doc.party(PartyRole.INVOICEE)
    w.role_party("cac:AccountingSupplierParty", supplier or seller, required=True, legal=True, endpoint=True)
    w.role_party("cac:AccountingCustomerParty", invoicee if buyer and invoicee else (buyer or invoicee), required=True, legal=True, endpoint=True)
    payee = doc.party(PartyRole.PAYEE)
    if payee is not None:
        w.party_content(w.add(w.root, "cac:PayeeParty"), payee)
    if buyer and invoicee:
        w.role_party("cac:BuyerCustomerParty", buyer)
    if supplier and seller:
        w.role_party("cac:SellerSupplierParty", seller)
    delivery_party = doc.party(PartyRole.DELIVERY)
    if delivery_party is not None or doc.delivery_date is not None:
        delivery = w.add(w.root, "cac:Delivery")
        w.opt(delivery, "cbc:ActualDeliveryDate", doc.delivery_date)
        w.delivery_location(delivery, delivery_party)
        w.delivery_party(delivery, delivery_party)
    if terms is not None and (terms.description or terms.discount_percent is not None or terms.days is not None or (credit and terms.due_date)):
        el = w.add(w.root, "cac:PaymentTerms")
        w.opt(el, "cbc:Note", terms.description)
        w.opt(el, "cbc:SettlementDiscountPercent", terms.discount_percent)
        if credit:
            w.opt(el, "cbc:PaymentDueDate", terms.due_date)
        if terms.days is not None:
            w.add(w.add(el, "cac:SettlementPeriod"), "cbc:DurationMeasure", str(terms.days), unitCode="DAY")
    for item in doc.allowances_charges:
        _allowance_charge(w, w.root, item, document_level=True)
    tax = w.add(w.root, "cac:TaxTotal")
    w.amount(tax, "cbc:TaxAmount", doc.tax_total)
    for sub in doc.tax_subtotals:
        el = w.add(tax, "cac:TaxSubtotal")
        w.amount(el, "cbc:TaxableAmount", sub.taxable_amount)
        w.amount(el, "cbc:TaxAmount", sub.tax_amount)
        _tax_category(w, el, "cac:TaxCategory", sub.category, sub.rate, breakdown=True)
    totals = w.add(w.root, "cac:LegalMonetaryTotal")
    w.amount(totals, "cbc:LineExtensionAmount", doc.line_total)
    w.amount(totals, "cbc:TaxExclusiveAmount", doc.taxable_total)
    w.amount(totals, "cbc:TaxInclusiveAmount", doc.total)
    if any(not a.charge for a in doc.allowances_charges):
        w.amount(totals, "cbc:AllowanceTotalAmount", doc.allowance_total)
    if any(a.charge for a in doc.allowances_charges):
        w.amount(totals, "cbc:ChargeTotalAmount", doc.charge_total)
    w.amount(totals, "cbc:PrepaidAmount", doc.prepaid_amount)
    w.amount(totals, "cbc:PayableRoundingAmount", doc.rounding_amount)
    w.amount(totals, "cbc:PayableAmount", doc.payable_amount)
    for line in doc.lines:
        el = w.add(w.root, "cac:CreditNoteLine" if credit else "cac:InvoiceLine")
        w.add(el, "cbc:ID", line.line_no)
        w.add(el, "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity", _num(line.quantity), unitCode=rec20_unit(line.unit))
        w.amount(el, "cbc:LineExtensionAmount", line.line_amount)
        if line.order_line_no or line.order_number:
            reference = w.add(el, "cac:OrderLineReference")
            w.add(reference, "cbc:LineID", line.order_line_no or NOT_APPLICABLE)
            if line.order_number:
                w.add(w.add(reference, "cac:OrderReference"), "cbc:ID", line.order_number)
        for adjustment in line.allowances_charges:
            _allowance_charge(w, el, adjustment, document_level=False)
        item = w.item(el, description=line.description, buyer_sku=line.buyer_sku, supplier_sku=line.supplier_sku, gtin=line.gtin)
        _tax_category(w, item, "cac:ClassifiedTaxCategory", line.tax_category, line.tax_rate)
        w.price(el, line.net_price, line.price_basis, line.unit)
    return w.tostring()


def _endpoint(w: _Writer, tag: str, value: str | None, qualifier: str | None) -> None:
    party = w.add(w.root, tag)
    scheme = SCHEME_FOR_QUALIFIER.get(qualifier or "", qualifier) if value else None
    w.add(party, "cbc:EndpointID", value or NOT_APPLICABLE, schemeID=scheme)


def _application_response(doc: Acknowledgement, customization: str | None) -> bytes:
    """Peppol BIS Message Level Response 3.0: the UBL answer to a UBL document.

    Document response code (UNCL 4343 subset): ``RE`` rejected (action 4),
    ``AP`` accepted (7), ``AB`` acknowledged/received (8). One LineResponse per
    error: LineID is the XML path of the problem (``NA`` when it has none),
    Description its text, and the Peppol status reason ``BV`` for a business
    rule (EN 16931 ``[BR-...]``) or ``SV`` for a syntax/schema problem.
    """
    if doc.kind != "APERAK":
        raise EdiError(
            f"a {doc.kind} has no UBL rendering: UBL partners get a Message Level Response"
            " (ApplicationResponse) for rejected documents, built from an APERAK"
        )
    code = MLR_RESPONSE_FOR_ACTION.get(doc.action)
    if code is None:
        raise EdiError(f"APERAK action {doc.action!r} has no Message Level Response code (4, 7 or 8)")
    w = _Writer("ApplicationResponse", None)
    w.header("ApplicationResponse", doc.number, doc.issue_date, customization)
    _endpoint(w, "cac:SenderParty", doc.interchange_sender, doc.interchange_sender_qualifier)
    _endpoint(w, "cac:ReceiverParty", doc.interchange_recipient, doc.interchange_recipient_qualifier)
    response = w.add(w.root, "cac:DocumentResponse")
    w.add(w.add(response, "cac:Response"), "cbc:ResponseCode", code, listID="UNCL4343OpSubset")
    w.add(w.add(response, "cac:DocumentReference"), "cbc:ID", doc.document_ref or doc.interchange_ref or NOT_APPLICABLE)
    for error in doc.errors:
        line = w.add(response, "cac:LineResponse")
        w.add(w.add(line, "cac:LineReference"), "cbc:LineID", error.path or NOT_APPLICABLE)
        answer = w.add(line, "cac:Response")
        w.add(answer, "cbc:ResponseCode", "RE", listID="UNCL4343OpSubset")
        w.add(answer, "cbc:Description", error.text)
        reason = "BV" if "[BR-" in error.text else "SV"
        w.add(w.add(answer, "cac:Status"), "cbc:StatusReasonCode", reason, listID="PEPPOLStatusReasonCode")
    return w.tostring()


def render_document(document: Document, customization: str | None = None) -> bytes:
    """UBL 2.1 bytes (UTF-8, with XML declaration) for a canonical document; EdiError when it cannot be expressed."""
    if isinstance(document, Order):
        return _order(document, customization)
    if isinstance(document, OrderResponse):
        return _order_response(document, customization)
    if isinstance(document, DespatchAdvice):
        return _despatch_advice(document, customization)
    if isinstance(document, Invoice):
        return _invoice(document, customization)
    if isinstance(document, Acknowledgement):
        return _application_response(document, customization)
    raise EdiError(f"{type(document).__name__} has no UBL rendering (Order, OrderResponse, DespatchAdvice, Invoice only)")

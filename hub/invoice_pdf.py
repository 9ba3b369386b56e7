"""An invoice as a PDF (fpdf2), drawn from the canonical :class:`edi.documents.Invoice`.

The PDF shows what the INVOIC or UBL invoice says, nothing more: seller and
buyer (names, identifiers, VAT numbers, addresses where given), the
references (order, delivery note), the lines, the VAT breakdown per category
and rate, the totals and the payment terms. Text is real text (extractable,
searchable); DejaVu Sans is embedded when the system has it (Debian
``fonts-dejavu-core``), so any name prints; without it the PDF core font
Helvetica is used and characters outside Latin-1 become ``?``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF

from edi import documents as docs

__all__ = ["invoice_pdf", "FONT_DIRS"]

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
TAX_CATEGORIES = {"S": "standard rate", "Z": "zero rated", "E": "exempt", "AE": "reverse charge",
                  "K": "intra-community", "G": "export", "O": "outside scope"}
GREY = (110, 110, 110)


def _font_files() -> tuple[Path, Path] | None:
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{Decimal(value):,.2f}"


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value.normalize(), "f")


class _InvoicePDF(FPDF):
    def __init__(self, title: str, seller: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.title_text = title
        self.seller = seller
        fonts = _font_files()
        if fonts is not None:
            self.add_font("Body", "", str(fonts[0]))
            self.add_font("Body", "B", str(fonts[1]))
            self.family = "Body"
            self.unicode = True
        else:
            self.family = "Helvetica"
            self.unicode = False
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(18, 18, 18)
        self.alias_nb_pages()

    def text_of(self, value: Any) -> str:
        text = "" if value is None else str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family, "", 8)
        self.set_text_color(*GREY)
        self.cell(0, 5, self.text_of(f"{self.seller} · {self.title_text}"), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)


def _party_lines(party: docs.Party | None) -> list[str]:
    if party is None:
        return ["–"]
    lines = [party.name or party.id or "–"]
    if party.street:
        lines.append(party.street)
    place = " ".join(p for p in (party.postcode, party.city) if p)
    if place or party.country:
        lines.append(", ".join(p for p in (place, party.country) if p))
    if party.id:
        lines.append(f"GLN {party.id}" if (party.id_agency or "9") == "9" and party.id.isdigit() else f"ID {party.id}")
    if party.vat_number:
        lines.append(f"VAT no. {party.vat_number}")
    if party.contact:
        lines.append(f"Contact: {party.contact}")
    return lines


def invoice_pdf(document: docs.Invoice | dict[str, Any], *, seller_name: str | None = None) -> bytes:
    """The PDF bytes of an invoice (or credit note); ``document`` may be the stored JSON form."""
    if isinstance(document, dict):
        parsed = docs.from_dict(document)
        if not isinstance(parsed, docs.Invoice):
            raise ValueError(f"not an invoice: {type(parsed).__name__}")
        document = parsed
    inv = document
    seller = inv.party(docs.PartyRole.SUPPLIER) or inv.party(docs.PartyRole.SELLER)
    buyer = inv.party(docs.PartyRole.BUYER) or inv.party(docs.PartyRole.INVOICEE)
    seller_text = seller_name or (seller.name if seller and seller.name else "Supplier")
    kind = {"381": "Credit note", "384": "Corrected invoice"}.get(inv.document_code, "Invoice")
    pdf = _InvoicePDF(f"{kind} {inv.number}", seller_text)
    pdf.set_title(f"{kind} {inv.number}")
    pdf.set_author(seller_text)
    pdf.set_creator("Kontor")
    pdf.add_page()
    t = pdf.text_of
    width = pdf.w - pdf.l_margin - pdf.r_margin

    # seller on top, title and facts on the right
    pdf.set_font(pdf.family, "B", 15)
    pdf.cell(width * 0.6, 8, t(seller_text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 9)
    pdf.set_text_color(*GREY)
    for line in _party_lines(seller)[1:]:
        pdf.cell(width * 0.6, 4.5, t(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(6)

    top = pdf.get_y()
    pdf.set_font(pdf.family, "B", 9)
    pdf.set_text_color(*GREY)
    pdf.cell(width * 0.5, 5, "Bill to", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(pdf.family, "", 10)
    for index, line in enumerate(_party_lines(buyer)):
        pdf.set_font(pdf.family, "B" if index == 0 else "", 10)
        pdf.cell(width * 0.5, 5, t(line), new_x="LMARGIN", new_y="NEXT")
    left_bottom = pdf.get_y()

    facts = [("Number", inv.number), ("Date", inv.issue_date.isoformat())]
    if inv.delivery_date:
        facts.append(("Delivery date", inv.delivery_date.isoformat()))
    if inv.order_number:
        facts.append(("Your order", inv.order_number))
    if inv.despatch_number:
        facts.append(("Delivery note", inv.despatch_number))
    facts.append(("Currency", inv.currency))
    x = pdf.l_margin + width * 0.55
    pdf.set_xy(x, top - 1)
    pdf.set_font(pdf.family, "B", 18)
    pdf.cell(width * 0.45, 9, t(kind), align="R", new_x="LEFT", new_y="NEXT")
    for label, value in facts:
        pdf.set_x(x)
        pdf.set_font(pdf.family, "", 9)
        pdf.set_text_color(*GREY)
        pdf.cell(width * 0.2, 5, t(label))
        pdf.set_text_color(0, 0, 0)
        pdf.set_font(pdf.family, "B" if label == "Number" else "", 9)
        pdf.cell(width * 0.25, 5, t(value), align="R", new_x="LEFT", new_y="NEXT")
        pdf.set_x(x)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 8)

    # lines
    columns = [("#", 0.06, "L"), ("Article", 0.16, "L"), ("Description", 0.34, "L"), ("Quantity", 0.11, "R"),
               ("Unit price", 0.12, "R"), ("VAT", 0.07, "R"), ("Amount", 0.14, "R")]

    def header() -> None:
        pdf.set_font(pdf.family, "B", 8.5)
        pdf.set_fill_color(236, 238, 241)
        for name, share, align in columns:
            pdf.cell(width * share, 7, name, align=align, fill=True)
        pdf.ln(7)

    header()
    pdf.set_font(pdf.family, "", 8.5)
    for line in inv.lines:
        if pdf.get_y() > pdf.h - 40:
            pdf.add_page()
            header()
            pdf.set_font(pdf.family, "", 8.5)
        unit = f" {line.unit}" if line.unit else ""
        price = _money(line.net_price) + (f" / {_qty(line.price_basis)}" if line.price_basis not in (None, 1) else "")
        values = [line.line_no, line.supplier_sku or line.gtin or line.buyer_sku or "",
                  line.description or "", f"{_qty(line.quantity)}{unit}", price,
                  f"{_qty(line.tax_rate)}%" if line.tax_rate is not None else line.tax_category,
                  _money(line.line_amount)]
        for (name, share, align), value in zip(columns, values):
            text = t(value)
            while text and pdf.get_string_width(text) > width * share - 2:
                text = text[:-2] + "…" if pdf.unicode else text[:-2] + "."
            pdf.cell(width * share, 6, text, align=align, border="B")
        pdf.ln(6)
    pdf.ln(4)

    # VAT breakdown (left) and totals (right)
    if pdf.get_y() > pdf.h - 70:
        pdf.add_page()
    start = pdf.get_y()
    pdf.set_font(pdf.family, "B", 9)
    pdf.cell(width * 0.5, 6, "VAT breakdown", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 8.5)
    for heading, share, align in (("Category", 0.2, "L"), ("Rate", 0.08, "R"), ("Taxable", 0.12, "R"), ("VAT", 0.1, "R")):
        pdf.set_text_color(*GREY)
        pdf.cell(width * share, 5, heading, align=align)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(5)
    for sub in inv.tax_subtotals:
        label = f"{sub.category} {TAX_CATEGORIES.get(sub.category, '')}".strip()
        pdf.cell(width * 0.2, 5, t(label))
        pdf.cell(width * 0.08, 5, f"{_qty(sub.rate)}%" if sub.rate is not None else "", align="R")
        pdf.cell(width * 0.12, 5, _money(sub.taxable_amount), align="R")
        pdf.cell(width * 0.1, 5, _money(sub.tax_amount), align="R", new_x="LMARGIN", new_y="NEXT")
    left_bottom = pdf.get_y()

    x = pdf.l_margin + width * 0.58
    pdf.set_xy(x, start)
    totals = [("Sum of lines", inv.line_total), ("Taxable amount", inv.taxable_total), ("VAT", inv.tax_total)]
    pdf.set_font(pdf.family, "", 9)
    for label, value in totals:
        pdf.set_x(x)
        pdf.cell(width * 0.24, 6, label)
        pdf.cell(width * 0.18, 6, t(f"{_money(value)} {inv.currency}"), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_x(x)
    pdf.set_font(pdf.family, "B", 11)
    pdf.cell(width * 0.24, 8, "Amount due" if inv.document_code != "381" else "Amount credited", border="T")
    pdf.cell(width * 0.18, 8, t(f"{_money(inv.total)} {inv.currency}"), align="R", border="T",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(left_bottom, pdf.get_y()) + 8)

    # payment terms and notes
    terms = inv.payment_terms
    pdf.set_font(pdf.family, "B", 9)
    pdf.cell(0, 6, "Payment terms", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 9)
    if terms is not None:
        parts = []
        if terms.description:
            parts.append(terms.description)
        elif terms.days is not None:
            parts.append(f"{terms.days} days net")
        if terms.due_date:
            parts.append(f"due on {terms.due_date.isoformat()}")
        if terms.discount_percent:
            parts.append(f"{_qty(terms.discount_percent)}% discount for early payment")
        text = "; ".join(parts) + "." if parts else "As agreed."
        pdf.multi_cell(0, 5, t(f"{text} Please quote invoice number {inv.number} with your payment."),
                       new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.multi_cell(0, 5, t(f"As agreed. Please quote invoice number {inv.number} with your payment."),
                       new_x="LMARGIN", new_y="NEXT")
    for note in inv.notes:
        pdf.ln(2)
        pdf.multi_cell(0, 5, t(note), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())

"""EDIFACT <-> canonical document mappings: round trips, golden files, the shared corpus, located issues.

Golden files: ``tests/edi/golden/<type>_<dir>.edi`` with the expected
``<type>_<dir>.json``. Set ``KONTOR_REGENERATE_GOLDEN=1`` to rewrite them from
the sample documents below (then read the diff before committing).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from pydifact.control import Characters
from pydifact.parser import Parser
from pydifact.serializer import Serializer

from edi.documents import (
    Acknowledgement,
    AckError,
    DespatchAdvice,
    DespatchLine,
    Invoice,
    InvoiceLine,
    MessageAck,
    Order,
    OrderLine,
    OrderResponse,
    OrderResponseLine,
    Package,
    Party,
    PaymentTerms,
    TaxSubtotal,
    from_dict,
    to_dict,
)
from edi.edifact import DEFAULT_ASSOCIATIONS, document_to_message, message_to_document
from edi.edifact.common import format_decimal, parse_date, parse_decimal
from edi.envelope import InterchangeHeader, Message, OutMessage, Segment
from edi.errors import EdiError

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
CORPUS = Path("/work/shared/corpus/edifact")
if not CORPUS.exists():  # the shared corpus sits beside the repository
    CORPUS = HERE.parents[2] / "shared" / "corpus" / "edifact"

PREPARED = dt.datetime(2026, 3, 2, 9, 30)
HEADER = InterchangeHeader(
    syntax_id="UNOC",
    syntax_version="3",
    sender="5412345000013",
    sender_qualifier="14",
    recipient="4012345500004",
    recipient_qualifier="14",
    prepared=PREPARED,
    control_ref="42",
)


# --------------------------------------------------------------------------- reading and writing
# Until edi.syntax offers parse()/write_interchange(), pydifact's own parser and
# serializer stand in; both paths yield the same Message/bytes contract.


def read_messages(data: bytes | str) -> tuple[list[Message], str]:
    """(messages, decimal mark) of an interchange; UNB is position 1, a UNA is not counted."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    parser = Parser()
    segments = [s for s in parser.parse(text) if s.tag != "UNA"]
    # pydifact's default decimal point is ','; ISO 9735's default service string advice says '.'
    decimal_mark = parser.characters.decimal_point if text.lstrip().startswith("UNA") else "."
    messages: list[Message] = []
    current: list[Segment] | None = None
    first = 0
    for position, segment in enumerate(segments, 1):
        if segment.tag == "UNH":
            current, first = [segment], position
        elif current is not None:
            current.append(segment)
            if segment.tag == "UNT":
                unh = current[0]
                s009 = unh.elements[1]
                s009 = s009 if isinstance(s009, list) else [s009]
                s009 = s009 + [""] * (5 - len(s009))
                messages.append(
                    Message(
                        reference=unh.elements[0],
                        type=s009[0],
                        version=s009[1],
                        release=s009[2],
                        agency=s009[3],
                        association=s009[4] or None,
                        segments=current,
                        first_position=first,
                    )
                )
                current = None
    return messages, decimal_mark


def write_messages(messages: list[OutMessage], control_ref: str = "42", break_lines: bool = False) -> bytes:
    """An interchange (UNB .. UNZ, no UNA; no line breaks unless asked) around ``messages``."""
    segments = [
        Segment(
            "UNB",
            ["UNOC", "3"],
            [HEADER.sender, "14"],
            [HEADER.recipient, "14"],
            [PREPARED.strftime("%y%m%d"), PREPARED.strftime("%H%M")],
            control_ref,
        )
    ]
    for message in messages:
        s009 = [message.type, message.version, message.release, message.agency]
        if message.association:
            s009.append(message.association)
        segments.append(Segment("UNH", message.reference, s009))
        segments.extend(message.body)
        segments.append(Segment("UNT", str(len(message.body) + 2), message.reference))
    segments.append(Segment("UNZ", str(len(messages)), control_ref))
    text = Serializer(Characters()).serialize(segments, with_una_header=False, break_lines=break_lines)
    return text.encode("latin-1")


def round_trip(document, directory: str, reference: str = "1"):
    out = document_to_message(document, reference=reference, directory=directory)
    data = write_messages([out])
    (message,), mark = read_messages(data)
    back, issues = message_to_document(message, decimal_mark=mark, header=HEADER)
    return back, issues, data


# --------------------------------------------------------------------------- sample documents

BUYER = Party(role="BY", id="5412345000013", name="Kontor Retail GmbH", street="Hafenstrasse 1", city="Hamburg",
              postcode="20457", country="DE", vat_number="DE123456789", contact="Anna Buyer")
SUPPLIER = Party(role="SU", id="4012345500004", name="Supplier's Works: Ltd + Co", country="GB", vat_number="GB987654321")
DELIVERY = Party(role="DP", id="5412345000020")
INVOICEE = Party(role="IV", id="5412345000037", name="Kontor Retail GmbH Accounts")


def sample_order() -> Order:
    return Order(
        number="PO-2026-0001",
        issue_date=dt.date(2026, 3, 1),
        requested_delivery=dt.date(2026, 3, 9),
        currency="EUR",
        contract_ref="CT-77",
        parties=[BUYER, SUPPLIER, DELIVERY, INVOICEE],
        notes=["Deliver to ramp 3 between 6:00 and 14:00, please call ahead; the gate code is 4711 (valid all March)."],
        lines=[
            OrderLine(line_no="1", gtin="4000862141404", supplier_sku="SKU-1", buyer_sku="B-1",
                      description="Widget, blue, 40 mm x 20 mm, boxed in tens", quantity=Decimal("48"),
                      unit="PCE", net_price=Decimal("2.50"), price_basis=Decimal("1"),
                      line_amount=Decimal("120.00"), requested_delivery=dt.date(2026, 3, 10)),
            OrderLine(line_no="2", supplier_sku="SKU-2", quantity=Decimal("2.5"), unit="KGM",
                      net_price=Decimal("10.125")),
        ],
    )


def sample_response() -> OrderResponse:
    return OrderResponse(
        number="OR-9",
        order_number="PO-2026-0001",
        order_date=dt.date(2026, 3, 1),
        issue_date=dt.date(2026, 3, 2),
        response_code="4",
        currency="EUR",
        parties=[BUYER, SUPPLIER],
        notes=["Line 2 partially out of stock"],
        lines=[
            OrderResponseLine(line_no="1", action="5", gtin="4000862141404", quantity=Decimal("48"), unit="PCE",
                              net_price=Decimal("2.50"), delivery_date=dt.date(2026, 3, 9)),
            OrderResponseLine(line_no="2", action="3", supplier_sku="SKU-2", ordered_quantity=Decimal("2.5"),
                              quantity=Decimal("1.5"), unit="KGM", delivery_date=dt.date(2026, 3, 12)),
            OrderResponseLine(line_no="3", action="7", gtin="4000862141411", quantity=Decimal("0")),
        ],
    )


def sample_despatch() -> DespatchAdvice:
    return DespatchAdvice(
        number="DN-5001",
        issue_date=dt.date(2026, 3, 8),
        despatch_date=dt.date(2026, 3, 8),
        expected_delivery=dt.date(2026, 3, 9),
        order_number="PO-2026-0001",
        carrier="Nordfracht GmbH",
        tracking_number="NF123456789DE",
        parties=[SUPPLIER, BUYER, DELIVERY],
        packages=[
            Package(level="1", package_type="201", sscc="354123450000000014"),
            Package(level="2", parent="1", package_type="CT", sscc="354123450000000021", lines=[
                DespatchLine(line_no="1", gtin="4000862141404", supplier_sku="SKU-1", description="Widget, blue",
                             quantity=Decimal("48"), unit="PCE", batch="L2026-03", best_before=dt.date(2027, 3, 1),
                             order_number="PO-2026-0001", order_line_no="1"),
            ]),
            Package(level="3", parent="1", lines=[
                DespatchLine(line_no="2", supplier_sku="SKU-2", quantity=Decimal("1.5"), unit="KGM",
                             order_number="PO-2026-0001", order_line_no="2", best_before=dt.date(2026, 9, 30)),
            ]),
        ],
    )


def sample_invoice() -> Invoice:
    return Invoice(
        number="INV-2026-77",
        document_code="380",
        issue_date=dt.date(2026, 3, 10),
        delivery_date=dt.date(2026, 3, 9),
        order_number="PO-2026-0001",
        despatch_number="DN-5001",
        currency="EUR",
        parties=[BUYER, SUPPLIER, INVOICEE],
        payment_terms=PaymentTerms(due_date=dt.date(2026, 4, 9), days=30, description="30 days net, 2% within 10 days",
                                   discount_percent=Decimal("2")),
        notes=["Thank you for your order"],
        lines=[
            InvoiceLine(line_no="1", gtin="4000862141404", supplier_sku="SKU-1", description="Widget, blue",
                        quantity=Decimal("48"), unit="PCE", net_price=Decimal("2.50"), line_amount=Decimal("120.00"),
                        tax_category="S", tax_rate=Decimal("19"), order_number="PO-2026-0001", order_line_no="1"),
            InvoiceLine(line_no="2", supplier_sku="SKU-2", quantity=Decimal("1.5"), unit="KGM",
                        net_price=Decimal("1012.50"), price_basis=Decimal("100"), line_amount=Decimal("15.19"),
                        tax_category="S", tax_rate=Decimal("7")),
        ],
        tax_subtotals=[
            TaxSubtotal(category="S", rate=Decimal("19"), taxable_amount=Decimal("120.00"), tax_amount=Decimal("22.80")),
            TaxSubtotal(category="S", rate=Decimal("7"), taxable_amount=Decimal("15.19"), tax_amount=Decimal("1.06")),
        ],
        line_total=Decimal("135.19"),
        taxable_total=Decimal("135.19"),
        tax_total=Decimal("23.86"),
        total=Decimal("159.05"),
    )


def sample_contrl() -> Acknowledgement:
    return Acknowledgement(
        kind="CONTRL",
        number="C0001",
        issue_date=PREPARED.date(),
        interchange_ref="1001",
        interchange_sender="5412345000013",
        interchange_recipient="4012345500004",
        action="7",
        messages=[
            MessageAck(reference="1", message_type="ORDERS", action="7", version="D", release="96A", agency="UN",
                       association="EAN008"),
            MessageAck(reference="2", message_type="ORDERS", action="4", version="D", release="96A", agency="UN",
                       association="EAN008", errors=[
                           AckError(code="37", text="invalid type of character(s)", segment=9, element=1, component=2),
                           AckError(code="13", text="missing", segment=9, element=2),
                           AckError(code="15", text="not supported in this position", segment=12),
                       ]),
        ],
    )


def sample_aperak() -> Acknowledgement:
    return Acknowledgement(
        kind="APERAK",
        number="AP-1",
        issue_date=dt.date(2026, 3, 2),
        action="4",
        document_ref="PO-2026-0001",
        document_ref_qualifier="ON",
        message_ref="1",
        errors=[
            AckError(code="12", text="line 2: unknown item SKU-2; it is not in the catalogue of this buyer and cannot be delivered."),
            AckError(code="BR-CO-15", text="invoice total 10 is not taxable total 8 + tax total 1"),
        ],
    )


SAMPLES = {
    "orders": sample_order,
    "ordrsp": sample_response,
    "desadv": sample_despatch,
    "invoic": sample_invoice,
    "contrl": sample_contrl,
    "aperak": sample_aperak,
}
DIRECTORIES = ("D96A", "D01B")


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("directory", DIRECTORIES)
@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_round_trip(kind: str, directory: str) -> None:
    document = SAMPLES[kind]()
    reference = document.number if isinstance(document, Acknowledgement) and document.kind == "CONTRL" else "1"
    back, issues, data = round_trip(document, directory, reference)
    assert [i for i in issues if i.is_error] == []
    assert [str(i) for i in issues] == []
    assert back == document
    assert b"\n" not in data


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_unh_carries_the_eancom_association(directory: str) -> None:
    for kind, factory in SAMPLES.items():
        out = document_to_message(factory(), reference="1", directory=directory)
        assert out.association == DEFAULT_ASSOCIATIONS[(out.type, directory)]
        assert out.type == kind.upper()
    assert document_to_message(sample_order(), reference="1", association=None).association is None
    assert document_to_message(sample_order(), reference="1", directory="D01B").association == "EAN010"


def test_contrl_version_per_directory() -> None:
    d96a = document_to_message(sample_contrl(), reference="C1", directory="D96A")
    d01b = document_to_message(sample_contrl(), reference="C1", directory="D01B")
    assert (d96a.version, d96a.release) == ("2", "2")
    assert (d01b.version, d01b.release) == ("D", "3")


def test_unsupported_directory_is_an_edi_error() -> None:
    with pytest.raises(EdiError):
        document_to_message(sample_order(), reference="1", directory="D93A")


# --------------------------------------------------------------------------- golden files

GOLDEN_CASES = [(kind, directory) for kind in sorted(SAMPLES) for directory in DIRECTORIES]


def _golden_reference(document) -> str:
    return document.number if isinstance(document, Acknowledgement) and document.kind == "CONTRL" else "1"


@pytest.mark.parametrize(("kind", "directory"), GOLDEN_CASES)
def test_golden(kind: str, directory: str) -> None:
    edi_path = GOLDEN / f"{kind}_{directory}.edi"
    json_path = GOLDEN / f"{kind}_{directory}.json"
    if os.environ.get("KONTOR_REGENERATE_GOLDEN"):
        document = SAMPLES[kind]()
        json_path.write_text(json.dumps(to_dict(document), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        out = document_to_message(document, reference=_golden_reference(document), directory=directory)
        edi_path.write_bytes(write_messages([out], break_lines=True))
    expected = from_dict(json.loads(json_path.read_text(encoding="utf-8")))
    # .edi -> document
    (message,), mark = read_messages(edi_path.read_bytes())
    document, issues = message_to_document(message, decimal_mark=mark, header=HEADER)
    assert [str(i) for i in issues] == []
    assert document == expected
    # document -> .edi (the golden file has a line break after each segment for reading)
    out = document_to_message(expected, reference=_golden_reference(expected), directory=directory)
    assert write_messages([out]) == edi_path.read_bytes().replace(b"\n", b"")

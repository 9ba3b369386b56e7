"""CONTRL and APERAK: built from issues, rendered, read back, and the partners' APERAKs in the corpus."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from edi.documents import AckError, Acknowledgement
from edi.edifact import aperak_for, aperak_for_invoice, contrl_from_issues, document_to_message, message_to_document
from edi.errors import Issue, Severity
from tests.edi.test_mappings import (
    HEADER,
    ORDER_TEXT,
    corpus_document,
    message_from_text,
    read_messages,
    sample_invoice,
    write_messages,
)

TODAY = dt.date(2026, 3, 2)


def rendered(document: Acknowledgement, directory: str = "D96A", reference: str = "C1") -> list[str]:
    """The message's segments as text, UNH .. UNT."""
    data = write_messages([document_to_message(document, reference=reference, directory=directory)]).decode()
    return [s for s in data.split("'") if s][1:-1]


def read_back(document: Acknowledgement, directory: str = "D96A", reference: str = "C1") -> Acknowledgement:
    data = write_messages([document_to_message(document, reference=reference, directory=directory)])
    (message,), mark = read_messages(data)
    back, issues = message_to_document(message, decimal_mark=mark, header=HEADER)
    assert [str(i) for i in issues] == []
    return back


def good_and_bad():
    good = message_from_text(ORDER_TEXT.format(qty="4"))
    bad = message_from_text(ORDER_TEXT.format(qty="4x").replace("+7'", "+8'").replace("UNH+7", "UNH+8"))
    good_doc, good_issues = message_to_document(good)
    bad_doc, bad_issues = message_to_document(bad)
    assert good_doc is not None and bad_doc is None
    return [(good, good_issues), (bad, bad_issues)]


def test_contrl_accepts_an_interchange_without_errors() -> None:
    good, _ = good_and_bad()
    ack = contrl_from_issues(interchange=HEADER, messages=[good], interchange_issues=[], number="C1", issue_date=TODAY)
    assert ack.kind == "CONTRL" and ack.action == "7"
    assert [(m.reference, m.action, m.errors) for m in ack.messages] == [("7", "7", [])]
    assert rendered(ack) == [
        "UNH+C1+CONTRL:2:2:UN:EAN002",  # EANCOM 1997, as D96A partners use it
        "UCI+42+5412345000013:14+4012345500004:14+7",
        "UCM+7+ORDERS:D:96A:UN:EAN008+7",
        "UNT+4+C1",
    ]


def test_contrl_rejects_a_message_with_a_located_error() -> None:
    ack = contrl_from_issues(interchange=HEADER, messages=good_and_bad(), interchange_issues=[], number="C1", issue_date=TODAY)
    assert ack.action == "7"  # the interchange stands; message 8 is rejected in its UCM
    good, bad = ack.messages
    assert (good.action, bad.action) == ("7", "4")
    (error,) = bad.errors
    assert (error.code, error.segment, error.tag, error.element, error.component) == ("37", 6, "QTY", 1, 2)
    assert rendered(ack, "D01B") == [
        "UNH+C1+CONTRL:D:3:UN:EAN004",
        "UCI+42+5412345000013:14+4012345500004:14+7",
        "UCM+7+ORDERS:D:96A:UN:EAN008+7",
        "UCM+8+ORDERS:D:96A:UN:EAN008+4",
        "UCS+6",
        "UCD+37+2:2",  # S011 counts the segment tag as position 1
        "UNT+7+C1",
    ]


def test_contrl_rejects_the_interchange_when_every_message_fails_or_the_envelope_does() -> None:
    _, bad = good_and_bad()
    assert contrl_from_issues(interchange=HEADER, messages=[bad], number="C1", issue_date=TODAY).action == "4"
    unz = Issue("UNZ counts 2 messages, the interchange has 1", code="29", tag="UNZ", element=1, segment=12)
    warning = Issue("odd but fine", severity=Severity.WARNING)
    ack = contrl_from_issues(
        interchange=HEADER, messages=[], interchange_issues=[unz, warning], number="C1", issue_date=TODAY
    )
    assert ack.action == "4"
    assert [(e.code, e.tag, e.element, e.segment) for e in ack.errors] == [("29", "UNZ", 1, None)]
    assert rendered(ack)[1] == "UCI+42+5412345000013:14+4012345500004:14+4+29+UNZ+2"


def test_contrl_read_back() -> None:
    ack = contrl_from_issues(interchange=HEADER, messages=good_and_bad(), number="C1", issue_date=HEADER.prepared.date())
    back = read_back(ack)
    # what CONTRL carries: codes and positions; texts come back as the code's description, UCS has no tag
    expected = replace(
        ack,
        messages=[
            ack.messages[0],
            replace(ack.messages[1], errors=[AckError(code="37", text="invalid type of character(s)", segment=6, element=1, component=2)]),
        ],
    )
    assert back == expected


def test_partner_contrl_is_read() -> None:
    text = (
        "UNH+ME1+CONTRL:D:3:UN:EAN004'UCI+1001+4012345500004:14+5412345000013:14+4'"
        "UCM+17+INVOIC:D:96A:UN:EAN008+4+29+UNT+2'UCM+18+INVOIC:D:96A:UN:EAN008+4'UCS+12+13'UCD+12+3:1'UNT+7+ME1'"
    )
    message = message_from_text(text)
    ack, issues = message_to_document(message, header=HEADER)
    assert issues == []
    assert (ack.kind, ack.number, ack.issue_date, ack.interchange_ref, ack.action) == (
        "CONTRL", "ME1", dt.date(2026, 3, 2), "1001", "4")
    assert (ack.interchange_sender, ack.interchange_sender_qualifier) == ("4012345500004", "14")
    first, second = ack.messages
    assert (first.reference, first.message_type, first.release, first.association) == ("17", "INVOIC", "96A", "EAN008")
    assert [(e.code, e.tag, e.element) for e in first.errors] == [("29", "UNT", 1)]
    assert [(e.code, e.segment, e.element, e.component) for e in second.errors] == [
        ("13", 12, None, None),
        ("12", 12, 2, 1),
    ]


def test_contrl_without_an_interchange_date_is_dated_today() -> None:
    message = message_from_text("UNH+ME1+CONTRL:D:3:UN'UCI+1001+A+B+7'UNT+3+ME1'")
    ack, issues = message_to_document(message)
    assert issues == []
    assert ack.issue_date == dt.date.today()


def test_aperak_for_business_errors() -> None:
    issues = [
        Issue("unknown item 4000862141404", code="12", tag="LIN", segment=6, message_segment=5, element=3),
        Issue("price differs from the agreed price", rule="PRICE"),
        Issue("just a note", severity=Severity.WARNING),
    ]
    ack = aperak_for(number="AP-7", issue_date=TODAY, errors=[*issues, "delivery date is a holiday"],
                     document_ref="PO1", message_ref="7")
    assert ack.action == "4"
    assert [(e.code, e.text) for e in ack.errors] == [
        ("12", "unknown item 4000862141404"),
        ("PRICE", "price differs from the agreed price"),
        ("12", "delivery date is a holiday"),
    ]
    assert rendered(ack, "D96A", reference="1") == [
        "UNH+1+APERAK:D:96A:UN:EAN000",
        "BGM+313+AP-7+27",
        "DTM+137:20260302:102",
        "RFF+ON:PO1",
        "RFF+ACW:7",
        "ERC+12",
        "FTX+AAO+++unknown item 4000862141404",
        "ERC+PRICE",
        "FTX+AAO+++price differs from the agreed price",
        "ERC+12",
        "FTX+AAO+++delivery date is a holiday",
        "UNT+12+1",
    ]
    back = read_back(ack, "D01B", reference="1")
    assert back == replace(ack, errors=[AckError(code=e.code, text=e.text) for e in ack.errors])


def test_aperak_accepting() -> None:
    ack = aperak_for(number="AP-8", issue_date=TODAY, errors=[], document_ref="PO1")
    assert ack.action == "7" and ack.errors == []
    assert rendered(ack, "D01B", reference="1")[1] == "BGM+305+AP-8+6"
    assert read_back(ack, "D01B", reference="1") == ack


def test_invoice_that_does_not_add_up_gets_an_aperak_with_the_reasons() -> None:
    invoice = sample_invoice()
    assert aperak_for_invoice(invoice, number="AP-9", issue_date=TODAY).action == "7"
    invoice.total = Decimal("160.05")
    invoice.lines[1].line_amount = Decimal("15.20")
    data = write_messages([document_to_message(invoice, reference="5")])
    (message,), mark = read_messages(data)
    received, issues = message_to_document(message, decimal_mark=mark)
    assert issues == []  # sound EDIFACT; the arithmetic is a business matter
    ack = aperak_for_invoice(received, number="AP-9", issue_date=TODAY, message_ref=message.reference)
    assert ack.action == "4"
    assert (ack.document_ref, ack.document_ref_qualifier, ack.message_ref) == ("INV-2026-77", "IV", "5")
    texts = [e.text for e in ack.errors]
    assert texts == received.arithmetic_errors()
    assert any(t.startswith("line total 135.19 is not the sum") for t in texts)
    assert any(t.startswith("line 2: amount 15.20") for t in texts)
    assert any(t.startswith("invoice total 160.05") for t in texts)
    segments = rendered(ack, reference="2")
    assert "RFF+IV:INV-2026-77" in segments and segments.count("ERC+12") == len(texts)
    assert read_back(ack, reference="2") == ack


def test_corpus_aperak_accepted() -> None:
    ack, issues = corpus_document("pydifact_APERAK_D96A_accepted.edi")
    assert issues == []
    assert (ack.kind, ack.number, ack.issue_date, ack.action) == ("APERAK", "APERAK001", dt.date(2025, 3, 22), "7")
    assert ack.message_ref == "PO123456"  # RFF+ACW: reference to the previous message
    assert [(e.code, e.text) for e in ack.errors] == [("1", "Message accepted without errors")]


def test_corpus_aperak_rejected() -> None:
    ack, issues = corpus_document("pydifact_APERAK_D96A_rejected_v4.edi")
    assert issues == []
    assert (ack.number, ack.action, ack.message_ref) == ("APERAK003", "4", "PO123456")
    # the unescaped ':' in the FTX splits C108 into two 4440 components, which are joined
    assert [(e.code, e.text) for e in ack.errors] == [("12", "Order rejected invalid product code")]


def test_partner_contrl_with_a_functional_group_response() -> None:
    text = "UNH+ME2+CONTRL:D:3:UN'UCI+1001+A+B+7'UCF+1+ORDERS+B+A+7'UCM+1+ORDERS:D:96A:UN+7'UNT+5+ME2'"
    ack, issues = message_to_document(message_from_text(text), header=HEADER)
    assert issues == []
    assert [(m.reference, m.action) for m in ack.messages] == [("1", "7")]

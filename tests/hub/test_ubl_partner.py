"""A partner switched to UBL by its profile: its UBL Order is applied like an EDIFACT one,
and its order response goes back as UBL; the domain never knows the difference."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from edi.documents import Acknowledgement, Invoice, OrderResponse, PartyRole
from edi.translate import translate
from edi.ubl import DTD_REFUSED, parse_ubl, rejection_for, render_ubl, validate_ubl
from edi.ubl.parse import CAC, CBC
from hub import backoffice
from hub.models import Invoice as Invoice_
from hub.models import Message, Order, Partner
from hub.outbound import OutboundDocumentError
from hub.states import State

SAMPLES = Path(__file__).resolve().parents[1] / "edi" / "ubl_samples"


def test_ubl_order_in_ubl_response_out(hub_env, orders_bytes):
    with hub_env.session_factory() as session:
        partner = session.scalar(select(Partner))
        partner.profile = {**partner.profile, "syntax": "ubl"}
        session.commit()
    order = translate(orders_bytes).messages[0].document
    hub_env.drop("order.xml", render_ubl(order))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.PROCESSED, inbound.error
        assert (inbound.syntax, inbound.document_type) == ("ubl", "ORDERS")
        stored = session.scalar(select(Order))
        assert stored.number == "PO-2026-0001" and len(stored.lines) == 3
        outbound = session.scalars(select(Message).where(Message.direction == "out")).all()
        assert [(m.document_type, m.syntax, m.state) for m in outbound] == [("ORDRSP", "ubl", State.DELIVERED)]
    (path,) = hub_env.outbound_files()
    assert path.suffix == ".xml"
    answer = translate(path.read_bytes())
    assert answer.syntax == "ubl" and not answer.errors, [i.format() for i in answer.errors]
    response = answer.messages[0].document
    assert isinstance(response, OrderResponse) and response.order_number == "PO-2026-0001"


def test_ubl_with_an_entity_is_rejected_not_failed(hub_env):
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Order>&e;</Order>'
    hub_env.drop("evil.xml", evil)
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        assert "root:" not in (inbound.error or "")
        assert session.scalar(select(Order)) is None


def _ubl_partner(hub_env) -> None:
    with hub_env.session_factory() as session:
        partner = session.scalar(select(Partner))
        partner.profile = {**partner.profile, "syntax": "ubl"}
        session.commit()


def _only_answer(hub_env):
    """The one outbound file, read back: a Peppol Message Level Response."""
    (path,) = hub_env.outbound_files()
    assert path.name.startswith("APERAK_") and path.suffix == ".xml"
    assert path.read_bytes().lstrip().startswith(b"<?xml")
    answer = translate(path.read_bytes())
    assert answer.syntax == "ubl" and not answer.errors, [i.format() for i in answer.all_issues()]
    ack = answer.messages[0].document
    assert isinstance(ack, Acknowledgement) and ack.kind == "APERAK"
    return path, ack


def test_ubl_order_failing_the_xsd_is_answered_with_a_ubl_rejection(hub_env, orders_bytes):
    _ubl_partner(hub_env)
    order = translate(orders_bytes).messages[0].document
    broken = render_ubl(order).replace(b"<cbc:IssueDate>", b"<cbc:Bogus>x</cbc:Bogus><cbc:IssueDate>", 1)
    hub_env.drop("broken.xml", broken)
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        (outbound,) = session.scalars(select(Message).where(Message.direction == "out")).all()
        assert (outbound.syntax, outbound.document_type, outbound.answers_id) == ("ubl", "APERAK", inbound.id)
    path, ack = _only_answer(hub_env)
    assert ack.action == "4"
    assert ack.interchange_recipient == "4012345000009"
    assert any(e.path and e.path.startswith("/Order") and "Bogus" in e.text for e in ack.errors), ack.errors
    root = etree.fromstring(path.read_bytes())
    assert root.tag == "{urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2}ApplicationResponse"
    assert root.findtext(f"{{{CBC}}}CustomizationID") == "urn:fdc:peppol.eu:poacc:trns:mlr:3"
    reasons = root.findall(f".//{{{CAC}}}LineResponse/{{{CAC}}}Response/{{{CAC}}}Status/{{{CBC}}}StatusReasonCode")
    assert reasons and {r.text for r in reasons} == {"SV"}


def test_ubl_invoice_breaking_en16931_is_answered_with_rule_ids_and_paths(hub_env):
    _ubl_partner(hub_env)
    invoice = (SAMPLES / "peppol_invoice.xml").read_bytes()
    bad = invoice.replace(b"<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>",
                          b"<cbc:DocumentCurrencyCode>EUX</cbc:DocumentCurrencyCode>")
    assert bad != invoice
    hub_env.drop("invoice.xml", bad)
    hub_env.run()
    _, ack = _only_answer(hub_env)
    assert any(e.path == "/Invoice/cbc:DocumentCurrencyCode" and "[BR-CL-04]" in e.text for e in ack.errors), ack.errors


def test_xxe_file_is_answered_with_a_ubl_rejection(hub_env):
    _ubl_partner(hub_env)
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Order>&e;</Order>'
    hub_env.drop("evil.xml", evil)
    hub_env.run()
    _, ack = _only_answer(hub_env)
    assert ack.action == "4" and ack.document_ref == "evil.xml"
    assert any(DTD_REFUSED in e.text for e in ack.errors)
    assert not any("root:" in e.text for e in ack.errors)


def test_business_rejection_of_a_ubl_order_is_a_ubl_rejection(hub_env, orders_bytes):
    _ubl_partner(hub_env)
    order = translate(orders_bytes.replace(b"4000000000075:SRV", b"4000000099999:SRV")).messages[0].document
    hub_env.drop("order.xml", render_ubl(order))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED and session.scalar(select(Order)) is None
        kinds = [(m.document_type, m.syntax) for m in session.scalars(select(Message).where(Message.direction == "out"))]
        assert kinds == [("APERAK", "ubl")], "no CONTRL, no EDIFACT APERAK for a UBL partner"
    _, ack = _only_answer(hub_env)
    assert ack.document_ref == "PO-2026-0001"
    assert any("unknown item" in e.text and e.path == "/Order" for e in ack.errors), ack.errors


def test_edifact_partner_still_gets_contrl_and_edifact_aperak(hub_env, orders_bytes):
    hub_env.drop("bad.edi", orders_bytes.replace(b"4000000000075:SRV", b"4000000099999:SRV"))
    hub_env.run()
    with hub_env.session_factory() as session:
        kinds = sorted((m.document_type, m.syntax) for m in session.scalars(select(Message).where(Message.direction == "out")))
        assert kinds == [("APERAK", "edifact"), ("CONTRL", "edifact")]
    for path in hub_env.outbound_files():
        assert path.suffix == ".edi" and path.read_bytes().startswith((b"UNA", b"UNB"))


@pytest.fixture
def ubl_order(hub_env, orders_bytes):
    """An order from a UBL partner, applied and answered; the answer files cleared."""
    _ubl_partner(hub_env)
    hub_env.drop("order.xml", render_ubl(translate(orders_bytes).messages[0].document))
    hub_env.run()
    for path in hub_env.outbound_files():
        path.unlink()
    with hub_env.session_factory() as session:
        return session.scalar(select(Order)).id


def test_despatch_advice_and_invoice_to_a_ubl_partner_pass_xsd_and_en16931(hub_env, ubl_order):
    settings = replace(hub_env.settings, hub_vat_number="DE812345679", hub_street="Kaiweg 1", hub_city="Hamburg",
                       hub_postcode="20457")
    with hub_env.session_factory() as session:
        backoffice.ship_order(session, settings, ubl_order, actor="erp", carrier="DHL", packages=2)
        invoice = backoffice.invoice_order(session, settings, ubl_order, actor="erp")
        number = invoice.number
        kinds = [(m.document_type, m.syntax) for m in session.scalars(select(Message).where(Message.direction == "out"))]
        assert ("DESADV", "ubl") in kinds and ("INVOIC", "ubl") in kinds
    hub_env.worker().drain()
    files = {path.name.split("_")[0]: path for path in hub_env.outbound_files()}
    assert set(files) == {"DESADV", "INVOIC"}
    for path in files.values():
        assert path.suffix == ".xml"
        assert [i.format() for i in validate_ubl(path.read_bytes())] == []
    sent, issues = parse_ubl(files["INVOIC"].read_bytes())
    assert issues == [] and isinstance(sent, Invoice) and sent.number == number
    seller, buyer = sent.party(PartyRole.SUPPLIER), sent.party(PartyRole.BUYER)
    assert (seller.id, seller.country, seller.vat_number, seller.city) == (
        settings.hub_id, settings.hub_country, "DE812345679", "Hamburg")
    assert (buyer.id, buyer.country) == ("4012345000009", "DE")
    assert {line.unit for line in sent.lines} <= {"H87", "KGM", "C62"}
    assert all(line.description for line in sent.lines)


def test_an_invoice_breaking_en16931_is_not_sent(hub_env, ubl_order):
    settings = replace(hub_env.settings, hub_country="")  # no seller address at all (BR-08), no VAT id (BR-S-02)
    with hub_env.session_factory() as session:
        backoffice.ship_order(session, settings, ubl_order, actor="erp")
        with pytest.raises(OutboundDocumentError, match=r"INVOIC INV-\S+ is not sent: .*\[BR-08\]") as caught:
            backoffice.invoice_order(session, settings, ubl_order, actor="erp")
        assert "/Invoice/cac:AccountingSupplierParty/cac:Party/cac:PostalAddress" in str(caught.value)
        assert "/Invoice/cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID: [BR-S-02]" in str(
            caught.value)
        session.rollback()
        assert session.scalar(select(Invoice_)) is None
        sent = [m.document_type for m in session.scalars(select(Message).where(Message.direction == "out"))]
        assert sent == ["ORDRSP", "DESADV"], "the despatch went out; the invalid invoice did not"


def _order_with_buyer(orders_bytes, *, endpoint: str | None, identification: str) -> bytes:
    root = etree.fromstring(render_ubl(translate(orders_bytes).messages[0].document))
    party = root.find(f"{{{CAC}}}BuyerCustomerParty/{{{CAC}}}Party")
    ident = party.find(f"{{{CAC}}}PartyIdentification/{{{CBC}}}ID")
    ident.text = identification
    ident.attrib.pop("schemeID", None)
    if endpoint is not None:
        el = etree.Element(f"{{{CBC}}}EndpointID", schemeID="0088")
        el.text = endpoint
        party.insert(0, el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_ubl_order_from_a_stranger_is_rejected_with_the_sender_path(hub_env, orders_bytes):
    _ubl_partner(hub_env)
    hub_env.drop("order.xml", _order_with_buyer(orders_bytes, endpoint=None, identification="4099999000009"))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        assert "sender 4099999000009 is not an identifier of the partner of this channel" in inbound.error
        assert session.scalar(select(Order)) is None
    _, ack = _only_answer(hub_env)
    assert [e.path for e in ack.errors] == ["/Order/cac:BuyerCustomerParty/cac:Party"]


def test_ubl_sender_matched_by_its_endpoint_id(hub_env, orders_bytes):
    _ubl_partner(hub_env)
    data = _order_with_buyer(orders_bytes, endpoint="4012345000009", identification="ACME-BUYER-7")
    hub_env.drop("order.xml", data)
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.PROCESSED, inbound.error
        assert session.scalar(select(Order)).number == "PO-2026-0001"


def test_ubl_document_without_any_sender_identifier_is_rejected(hub_env, orders_bytes):
    _ubl_partner(hub_env)
    data = _order_with_buyer(orders_bytes, endpoint=None, identification="x")
    root = etree.fromstring(data)
    party = root.find(f"{{{CAC}}}BuyerCustomerParty/{{{CAC}}}Party")
    party.remove(party.find(f"{{{CAC}}}PartyIdentification"))
    hub_env.drop("order.xml", etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        assert "names no identifier (EndpointID or PartyIdentification) for its sender" in inbound.error


def test_a_credit_note_we_do_not_accept_is_answered_at_its_root(hub_env):
    _ubl_partner(hub_env)
    credit = (SAMPLES / "peppol_credit_note.xml").read_bytes().replace(b"4012345500004", b"4012345000009")
    hub_env.drop("credit.xml", credit)
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        assert "Invoice documents are not accepted from partners" in inbound.error
    _, ack = _only_answer(hub_env)
    assert ack.document_ref == "CN-2026-0007"
    assert [e.path for e in ack.errors] == ["/CreditNote"]


def test_an_mlr_we_cannot_match_is_rejected_but_never_answered(hub_env):
    _ubl_partner(hub_env)
    mlr = rejection_for([], document_ref="INV-NEVER-SENT", number="MLR-1", issue_date=dt.date(2026, 12, 1),
                        sender="4012345000009", sender_qualifier="14", recipient="4000001000005",
                        recipient_qualifier="14")
    hub_env.drop("mlr.xml", render_ubl(mlr))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        assert "INV-NEVER-SENT, which we never sent" in inbound.error
        assert session.scalars(select(Message).where(Message.direction == "out")).all() == []
    assert hub_env.outbound_files() == []


def test_ubl_order_addressed_to_another_seller_is_rejected_like_a_foreign_unb_recipient(hub_env, orders_bytes):
    _ubl_partner(hub_env)
    order = translate(orders_bytes).messages[0].document
    seller = order.party(PartyRole.SUPPLIER)
    assert seller is not None and seller.id == "4000001000005"  # the hub's GLN in the test settings
    order.parties = [replace(p, id="4099999000003") if p.role == PartyRole.SUPPLIER else p for p in order.parties]
    hub_env.drop("order.xml", render_ubl(order))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED and session.scalar(select(Order)) is None
        stored = [i for i in inbound.issues if i.get("path") == "/Order/cac:SellerSupplierParty/cac:Party"]
        assert [i["code"] for i in stored] == ["7"], inbound.issues  # 0085 code 7, as a UNB recipient not us
    _, ack = _only_answer(hub_env)
    assert ack.action == "4"
    wrong = [e for e in ack.errors if e.path == "/Order/cac:SellerSupplierParty/cac:Party"]
    assert len(wrong) == 1 and "addressed to seller 4099999000003" in wrong[0].text, ack.errors


def test_ubl_order_naming_us_by_any_of_the_seller_identifiers_is_accepted(hub_env, orders_bytes):
    _ubl_partner(hub_env)
    order = translate(orders_bytes).messages[0].document
    order.parties = [replace(p, id="SUPPLIER-NO-17") if p.role == PartyRole.SUPPLIER else p for p in order.parties]
    xml = etree.fromstring(render_ubl(order))
    party = xml.find(f"{{{CAC}}}SellerSupplierParty/{{{CAC}}}Party")
    endpoint = etree.Element(f"{{{CBC}}}EndpointID", schemeID="0088")
    endpoint.text = "4000001000005"  # the hub's GLN as the Peppol endpoint, the buyer's own number as identification
    party.insert(0, endpoint)
    hub_env.drop("order.xml", etree.tostring(xml, xml_declaration=True, encoding="UTF-8"))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.PROCESSED, inbound.error

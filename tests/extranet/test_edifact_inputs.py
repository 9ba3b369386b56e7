"""What a partner types that goes into EDIFACT is checked at the door (portal checkout, API orders);
catalogue text the hub writes is folded to the partner's charset, never a crash."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select, update

from hub.models import Message, Order, OrderLine, Partner, Payload, Product
from tests.extranet.conftest import post, rows
from tests.extranet.test_api import acme, beta, clients  # noqa: F401 (fixtures)


def _set_charset(session, partner_id, charset):
    partner = session.get(Partner, partner_id)
    partner.profile = {**(partner.profile or {}), "charset": charset}
    session.commit()


def _ordrsp(session, number):
    [(data,)] = rows(session, select(Payload.data).join(Message, Message.payload_id == Payload.id)
                     .join(Order, Order.id == Message.order_id)
                     .where(Order.number == number, Message.document_type == "ORDRSP"))
    return data


def test_checkout_folds_catalogue_names_the_charset_cannot_carry(acme_client, session, world):
    session.execute(update(Product).where(Product.id == world.widget).values(name="Kabel \u0141 \u2013 2 m \u20ac"))
    session.commit()
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "3"}, token_from="/")
    response = post(acme_client, "/checkout", {"number": "PO-FOLD-1", "note": "first line\r\nsecond line"},
                    token_from="/checkout")
    assert response.status_code == 302, response.get_data(as_text=True)
    data = _ordrsp(session, "PO-FOLD-1")
    assert b"Kabel L - 2 m EUR" in data


@pytest.mark.parametrize(("charset", "form", "expected"), [
    ("UNOC", {"number": "PO-\u20ac-1"}, "Your order number contains '\u20ac' (U+20AC)"),
    ("UNOA", {"number": "po-lower"}, "Your order number contains 'p' (U+0070)"),
    ("UNOC", {"number": "PO-1", "note": "thanks \U0001F600"}, "The note contains"),
])
def test_checkout_refuses_what_the_partner_charset_cannot_carry(acme_client, session, world, charset, form,
                                                                expected):
    _set_charset(session, world.acme, charset)
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "3"}, token_from="/")
    response = post(acme_client, "/checkout", form, token_from="/checkout")
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert expected in page and charset in page
    assert rows(session, select(Order.id).where(Order.number == form["number"])) == []


def test_a_partner_without_edi_may_type_any_character(client, session, world):
    from tests.extranet.conftest import login

    login(client, "buyer@beta.example")
    post(client, "/cart/add", {"sku": "WID-100", "quantity": "1"}, token_from="/")
    response = post(client, "/checkout", {"number": "PO-\u20ac-BETA"}, token_from="/checkout")
    assert response.status_code == 302


def _body(**changes):
    line = {"supplier_sku": "WID-100", "quantity": "1", **changes.pop("line", {})}
    return {"number": "API-EDI-1", "lines": [line], **changes}


@pytest.mark.parametrize(("body", "field", "words"), [
    (_body(number="API-\u20ac"), "$.number", "U+20AC"),
    (_body(line={"description": "Kabel \U0001F600"}), "$.lines[0].description", "U+1F600"),
    (_body(line={"line_no": "1" * 100}), "$.lines[0].line_no", "at most 6"),
    (_body(line={"line_no": "A1"}), "$.lines[0].line_no", "digits only"),
    (_body(line={"unit": "PIECES-EXTRA"}), "$.lines[0].unit", "at most 3"),
    (_body(line={"net_price": "1234567890.1234567"}), "$.lines[0].net_price", "15 digits"),
    (_body(contract_ref="C" * 36), "$.contract_ref", "at most 35"),
    (_body(notes=["ok", "bad \u2603"]), "$.notes[1]", "U+2603"),
    (_body(parties=[{"role": "DP", "name": "Lager \u0141\u00f3d\u017a"}]), "$.parties[0].name", "U+0141"),
    (_body(requested_delivery="2020-01-01"), "$.requested_delivery", "in the past"),
])
def test_api_refuses_what_cannot_be_written_in_edifact(client, acme, session, body, field, words):
    response = client.post("/api/v1/orders", headers=acme, json=body)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["field"] == field and error["message"].startswith(field) and words in error["message"]
    assert rows(session, select(Order.id).where(Order.number == body["number"])) == []
    assert rows(session, select(Message.id).where(Message.document_type == "ORDRSP",
                                                  Message.business_ref == body["number"])) == []


def test_api_order_with_a_latin1_description_is_answered(client, acme, session):
    response = client.post("/api/v1/orders", headers=acme,
                           json=_body(number="API-LATIN1", line={"description": "Caf\u00e9 cr\u00e8me", "line_no": "10",
                                                                  "unit": "PCE"}))
    assert response.status_code == 201, response.json
    assert "Caf\u00e9 cr\u00e8me".encode("latin-1") in _ordrsp(session, "API-LATIN1")
    [(line_no,)] = rows(session, select(OrderLine.line_no).join(Order).where(Order.number == "API-LATIN1"))
    assert line_no == "10"


def test_api_line_without_description_gets_the_folded_catalogue_name(client, acme, session, world):
    session.execute(update(Product).where(Product.id == world.widget).values(name="Kabel \u0141 \u2013 2 m"))
    session.commit()
    response = client.post("/api/v1/orders", headers=acme, json=_body(number="API-FOLD"))
    assert response.status_code == 201, response.json
    assert b"Kabel L - 2 m" in _ordrsp(session, "API-FOLD")


def test_a_line_note_leaves_room_for_its_line_prefix(session, settings, world):
    """A cart line's note goes to the order as "Line 1 (WID-100): <note>" in one FTX of 350 characters,
    so the note itself may have 350 less the prefix (18 here). (The portal's cart keeps 70 characters
    of a note; the checkout service does not count on it.)"""
    from hub.models import User
    from hub.portal import PartnerScope

    user = session.scalars(select(User).where(User.email == "buyer@acme.example")).one()
    scope = PartnerScope(session, world.acme)

    result = scope.checkout({str(world.widget): {"quantity": "2", "note": "x" * 340}}, user, settings,
                            number="PO-NOTE-1")
    assert result.order is None
    assert result.problems == ["The note on line 1 (WID-100) is 340 characters long; at most 332 fit (FTX 4440)."]

    result = scope.checkout({str(world.widget): {"quantity": "2", "note": "y" * 332}}, user, settings,
                            number="PO-NOTE-2")
    assert result.order is not None, result.problems
    [(document,)] = rows(session, select(Order.document).where(Order.number == "PO-NOTE-2"))
    assert document["notes"] == ["Line 1 (WID-100): " + "y" * 332]

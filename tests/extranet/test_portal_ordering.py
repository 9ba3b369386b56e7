"""Excel upload beside the CSV upload, and order templates (from the cart or a past order)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from hub.models import AuditEntry
from hub.portal_models import OrderTemplate
from hub.xlsx_upload import parse_xlsx
from tests.extranet.conftest import login, post

openpyxl = pytest.importorskip("openpyxl")


def workbook(*rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_parse_xlsx_reads_numbers_as_people_typed_them():
    rows, fatal = parse_xlsx(workbook(("SKU", "Quantity", "Note"), ("WID-100", 10, "for Leipzig"),
                                      (4012345000023, 2.5, None), (None, None, None), ("GAD-200", "1,5", "")))
    assert fatal is None
    assert [(r.number, r.sku, r.quantity, r.note) for r in rows] == [
        (2, "WID-100", "10", "for Leipzig"), (3, "4012345000023", "2.5", ""), (5, "GAD-200", "1.5", "")]


def test_parse_xlsx_refuses_what_is_not_a_workbook():
    assert parse_xlsx(b"sku,quantity\nWID-100,1\n") == ([], "The file is not an Excel workbook (.xlsx).")
    assert parse_xlsx(workbook(("SKU", "Quantity")))[1] == "The first sheet has no rows with a SKU and a quantity."


def test_xlsx_upload_with_an_error_row_fixed_in_place(acme_client):
    data = workbook(("sku", "quantity", "note"), ("WID-100", 10, "for Leipzig"), ("GAD-2OO", 1, "typo"),
                    ("GAD-200", -3, None))
    response = post(acme_client, "/upload/xlsx", {"file": (io.BytesIO(data), "order.xlsx")},
                    token_from="/upload/xlsx", content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'value="GAD-2OO"' in page and "no product with SKU or GTIN" in page and "greater than zero" in page
    assert "Widget, blue" in acme_client.get("/cart").get_data(as_text=True)
    fixed = post(acme_client, "/upload/fix", {"row": ["3", "4"], "sku-3": "GAD-200", "quantity-3": "1",
                                              "sku-4": "GAD-200", "quantity-4": "-3", "skip-4": "1"},
                 token_from="/upload")
    assert fixed.status_code == 302
    assert "Gadget deluxe" in acme_client.get("/cart").get_data(as_text=True)


def test_xlsx_upload_refuses_other_files(acme_client):
    response = post(acme_client, "/upload/xlsx", {"file": (io.BytesIO(b"x"), "order.csv")},
                    token_from="/upload/xlsx", content_type="multipart/form-data")
    assert response.status_code == 422 and "Upload an .xlsx workbook." in response.get_data(as_text=True)
    response = post(acme_client, "/upload/xlsx", {"file": (io.BytesIO(b"not a zip"), "order.xlsx")},
                    token_from="/upload/xlsx", content_type="multipart/form-data")
    assert response.status_code == 422 and "not an Excel workbook" in response.get_data(as_text=True)


def test_accounts_users_cannot_upload(client, world):
    login(client, "accounts@acme.example")
    assert client.get("/upload/xlsx").status_code == 403


def test_save_the_cart_as_a_template_and_order_from_it(acme_client, session, world):
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "5"}, token_from="/")
    post(acme_client, "/cart/add", {"sku": "GAD-200", "quantity": "2"}, token_from="/")
    response = post(acme_client, "/templates", {"name": "  Weekly   top-up "}, token_from="/templates")
    assert response.status_code == 302
    template = session.scalar(select(OrderTemplate).where(OrderTemplate.partner_id == world.acme))
    assert template.name == "Weekly top-up" and {l["sku"]: l["quantity"] for l in template.lines} == \
        {"WID-100": "5", "GAD-200": "2"}
    template_id = template.id
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.action == "template.created"))
    session.rollback()
    post(acme_client, "/cart/clear")
    listing = acme_client.get("/templates").get_data(as_text=True)
    assert "Weekly top-up" in listing
    assert post(acme_client, f"/templates/{template_id}/order", token_from="/templates").status_code == 302
    post(acme_client, f"/templates/{template_id}/order", token_from="/templates")  # twice: quantities add up
    cart = acme_client.get("/cart").get_data(as_text=True)
    assert 'value="10"' in cart and 'value="4"' in cart
    # saving under the same name replaces it
    post(acme_client, "/cart/clear")
    post(acme_client, "/cart/add", {"sku": "GAD-200", "quantity": "1"}, token_from="/")
    post(acme_client, "/templates", {"name": "Weekly top-up"}, token_from="/templates")
    lines = session.scalar(select(OrderTemplate.lines).where(OrderTemplate.id == template_id))
    session.rollback()
    assert [l["sku"] for l in lines] == ["GAD-200"]
    assert post(acme_client, f"/templates/{template_id}/delete", token_from="/templates").status_code == 302
    assert acme_client.get(f"/templates/{template_id}").status_code == 404


def test_an_empty_cart_or_no_name_is_not_saved(acme_client, world):
    response = post(acme_client, "/templates", {"name": "Empty"}, token_from="/templates", follow_redirects=True)
    assert "nothing to save" in response.get_data(as_text=True)
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "1"}, token_from="/")
    response = post(acme_client, "/templates", {"name": "  "}, token_from="/templates", follow_redirects=True)
    assert "Give the template a name" in response.get_data(as_text=True)


def test_save_a_past_order_as_a_template(acme_client, session, world):
    response = post(acme_client, f"/orders/{world.acme_order}/template", {"name": "Like PO-ACME-1"},
                    token_from=f"/orders/{world.acme_order}")
    assert response.status_code == 302
    lines = session.scalar(select(OrderTemplate.lines).where(OrderTemplate.name == "Like PO-ACME-1"))
    session.rollback()
    assert [(l["sku"], l["quantity"]) for l in lines] == [("WID-100", "3")]


def test_templates_belong_to_the_partner(client, session, world):
    login(client, "buyer@acme.example")
    post(client, "/cart/add", {"sku": "WID-100", "quantity": "1"}, token_from="/")
    post(client, "/templates", {"name": "Acme only"}, token_from="/templates")
    client.delete_cookie("kontor_session")
    login(client, "buyer@beta.example")
    assert "Acme only" not in client.get("/templates").get_data(as_text=True)

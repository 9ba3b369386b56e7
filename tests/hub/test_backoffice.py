"""The ERP confirms, ships and invoices: DESADV and INVOIC reach the partner and add up."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from edi.documents import DespatchAdvice, Invoice
from edi.translate import translate
from hub import backoffice
from hub.models import Message, Order
from hub.states import State


@pytest.fixture
def ordered(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    for path in hub_env.outbound_files():
        path.unlink()
    with hub_env.session_factory() as session:
        return session.scalar(select(Order)).id


def documents_in(env, prefix):
    found = []
    for path in env.outbound_files():
        if path.name.startswith(prefix):
            translation = translate(path.read_bytes())
            assert not translation.errors, [i.format(path.name) for i in translation.errors]
            found.append(translation.messages[0].document)
    return found


def test_sscc_check_digit():
    # GS1's own example SSCC 0 0614141 123456789 plus check digit 0
    assert backoffice.sscc("0614141", 123456789) == "006141411234567890"


def test_ship_then_invoice_reach_the_partner(hub_env, ordered):
    with hub_env.session_factory() as session:
        despatch = backoffice.ship_order(session, hub_env.settings, ordered, actor="erp", carrier="DHL",
                                         tracking_number="JJD0001", packages=2,
                                         lines={"1": Decimal(24), "2": Decimal(10), "3": Decimal(3)})
        assert despatch.number == "DN-PO-2026-0001-1"
        invoice = backoffice.invoice_order(session, hub_env.settings, ordered, actor="erp")
        order = session.get(Order, ordered)
        assert order.status == "invoiced"
        assert invoice.total == invoice.tax_total + order.total
    hub_env.worker().drain()
    (desadv,) = documents_in(hub_env, "DESADV")
    assert isinstance(desadv, DespatchAdvice)
    assert desadv.order_number == "PO-2026-0001" and desadv.tracking_number == "JJD0001"
    pallets = [p for p in desadv.packages if p.sscc]
    assert len(pallets) == 2 and all(len(p.sscc) == 18 for p in pallets)
    assert sorted(line.line_no for line in desadv.all_lines()) == ["1", "2", "3"]
    (invoic,) = documents_in(hub_env, "INVOIC")
    assert isinstance(invoic, Invoice)
    assert invoic.arithmetic_errors() == []
    assert invoic.despatch_number == "DN-PO-2026-0001-1"
    assert invoic.number.startswith("INV-") and invoic.number.endswith("000001")
    assert invoic.tax_subtotals[0].rate == Decimal("19")


def test_partial_shipments_and_refusals(hub_env, ordered):
    with hub_env.session_factory() as session:
        backoffice.ship_order(session, hub_env.settings, ordered, actor="erp", lines={"1": Decimal(4)})
        assert session.get(Order, ordered).status == "partially_shipped"
        with pytest.raises(backoffice.BackofficeError, match="line 1: 30 is more than the 20 confirmed"):
            backoffice.ship_order(session, hub_env.settings, ordered, actor="erp", lines={"1": Decimal(30)})
        with pytest.raises(backoffice.BackofficeError, match="has no line 9"):
            backoffice.ship_order(session, hub_env.settings, ordered, actor="erp", lines={"9": Decimal(1)})
        backoffice.ship_order(session, hub_env.settings, ordered, actor="erp")
        assert session.get(Order, ordered).status == "shipped"
        with pytest.raises(backoffice.BackofficeError, match="is shipped; only confirmed orders can be shipped"):
            backoffice.ship_order(session, hub_env.settings, ordered, actor="erp")


def test_confirm_with_changes_sends_a_changed_ordrsp(hub_env, ordered):
    with hub_env.session_factory() as session:
        backoffice.confirm_order(session, hub_env.settings, ordered, actor="erp", lines={"2": Decimal(6), "3": Decimal(0)})
        lines = {line.line_no: line.status for line in session.get(Order, ordered).lines}
        assert lines == {"1": "changed", "2": "changed", "3": "rejected"}
    hub_env.worker().drain()
    (response,) = documents_in(hub_env, "ORDRSP")
    assert response.response_code == "4"
    assert [(line.line_no, line.action, line.quantity) for line in response.lines] == [
        ("1", "3", Decimal(24)), ("2", "3", Decimal(6)), ("3", "7", Decimal(0))]


def test_drop_folder(hub_env, ordered):
    inbox = hub_env.settings.var_path / "backoffice" / "in"
    inbox.mkdir(parents=True)
    (inbox / "1-ship.json").write_text(json.dumps({"action": "ship", "partner": "ACME", "order": "PO-2026-0001",
                                                  "carrier": "UPS"}))
    (inbox / "2-bad.json").write_text(json.dumps({"action": "ship", "partner": "ACME", "order": "PO-404"}))
    hub_env.worker().tick(force=True)
    done = hub_env.settings.var_path / "backoffice" / "done"
    failed = hub_env.settings.var_path / "backoffice" / "failed"
    assert json.loads((done / "1-ship.result.json").read_text())["number"] == "DN-PO-2026-0001-1"
    assert (failed / "2-bad.error.txt").read_text().strip() == "partner ACME has no order PO-404"
    assert not list(inbox.iterdir())


def test_rest_interface(hub_env, ordered):
    from extranet import create_app

    app = create_app(hub_env.settings, session_factory=hub_env.session_factory)
    client = app.test_client()
    assert client.get("/api/v1/backoffice/orders").status_code == 401
    auth = {"Authorization": "Bearer test-backoffice-token"}
    assert client.get("/api/v1/backoffice/orders", headers={"Authorization": "Bearer nope"}).status_code == 401
    listed = client.get("/api/v1/backoffice/orders?status=changed", headers=auth).get_json()
    assert [o["number"] for o in listed["orders"]] == ["PO-2026-0001"]
    shipped = client.post("/api/v1/backoffice/orders/ACME/PO-2026-0001/ship", headers=auth,
                          json={"carrier": "DHL", "packages": 1})
    assert shipped.status_code == 201, shipped.get_json()
    assert shipped.get_json()["order"]["status"] == "shipped"
    again = client.post("/api/v1/backoffice/orders/ACME/PO-2026-0001/ship", headers=auth, json={})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_possible"
    missing = client.post("/api/v1/backoffice/orders/ACME/NOPE/invoice", headers=auth, json={})
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "order_not_found"
    bad = client.post("/api/v1/backoffice/orders/ACME/PO-2026-0001/invoice", headers=auth, json={"payment_days": "x"})
    assert bad.status_code == 409 and "payment_days" in bad.get_json()["error"]["message"]
    invoiced = client.post("/api/v1/backoffice/orders/ACME/PO-2026-0001/invoice", headers=auth, json={})
    assert invoiced.status_code == 201 and invoiced.get_json()["order"]["status"] == "invoiced"
    with hub_env.session_factory() as session:
        kinds = sorted(m.document_type for m in session.scalars(select(Message).where(Message.state == State.QUEUED)))
        assert kinds == ["DESADV", "INVOIC"]

"""The ops console's order pages: confirm, ship and invoice from the browser, role-checked."""

from __future__ import annotations

import re

from sqlalchemy import select

from extranet import create_app
from hub.accounts import hash_password
from hub.models import AuditEntry, Message, Order, User
from hub.states import State

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def signed_in(env, role: str):
    with env.session_factory() as session:
        session.add(User(email=f"{role}@kontor.example", name=role, role=role,
                         password_hash=hash_password("pw-123456789")))
        session.commit()
    client = create_app(env.settings, session_factory=env.session_factory).test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post("/login", data={"email": f"{role}@kontor.example", "password": "pw-123456789",
                                         "csrf_token": token})
    assert answer.status_code == 302
    return client


def test_confirm_ship_invoice_from_the_console(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        order_id = session.scalar(select(Order.id))
    client = signed_in(hub_env, "ops_operator")
    assert "PO-2026-0001" in client.get("/ops/orders?partner=ACME").get_data(as_text=True)
    page = client.get(f"/ops/orders/{order_id}").get_data(as_text=True)
    token = TOKEN.search(page).group(1)
    answer = client.post(f"/ops/orders/{order_id}/confirm", data={"csrf_token": token, "qty-2": "6"},
                         follow_redirects=True)
    assert "order response PO-2026-0001-R2 sent" in answer.get_data(as_text=True)
    answer = client.post(f"/ops/orders/{order_id}/ship", follow_redirects=True,
                         data={"csrf_token": token, "carrier": "DHL", "tracking_number": "JJD1", "packages": "2"})
    assert "despatch advice DN-PO-2026-0001-1 recorded and sent" in answer.get_data(as_text=True)
    answer = client.post(f"/ops/orders/{order_id}/invoice", data={"csrf_token": token}, follow_redirects=True)
    text = answer.get_data(as_text=True)
    assert "invoice INV-" in text and "invoiced" in text
    refused = client.post(f"/ops/orders/{order_id}/ship", data={"csrf_token": token}, follow_redirects=True)
    assert "Ship refused: order PO-2026-0001 is invoiced" in refused.get_data(as_text=True)
    hub_env.worker().drain()
    with hub_env.session_factory() as session:
        kinds = sorted(m.document_type for m in session.scalars(
            select(Message).where(Message.direction == "out", Message.state == State.DELIVERED)))
        assert kinds == ["CONTRL", "DESADV", "INVOIC", "ORDRSP", "ORDRSP"]
        assert {a.action for a in session.scalars(select(AuditEntry))} >= {"order.confirm", "order.ship", "order.invoice"}


def test_viewers_read_but_do_not_act(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        order_id = session.scalar(select(Order.id))
    client = signed_in(hub_env, "ops_viewer")
    page = client.get(f"/ops/orders/{order_id}").get_data(as_text=True)
    assert "PO-2026-0001" in page and "Back office" not in page
    token = TOKEN.search(page).group(1)
    assert client.post(f"/ops/orders/{order_id}/ship", data={"csrf_token": token}).status_code == 403


def test_message_page_shows_the_parsed_document_and_the_receipt(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound_id = session.scalar(select(Message.id).where(Message.direction == "in"))
        outbound_id = session.scalar(select(Message.id).where(Message.document_type == "ORDRSP"))
    client = signed_in(hub_env, "ops_viewer")
    page = client.get(f"/ops/messages/{inbound_id}").get_data(as_text=True)
    assert "Parsed document" in page and '"number": "PO-2026-0001"' in page
    assert "Transport receipt" in page and "po.edi" in page
    page = client.get(f"/ops/messages/{outbound_id}").get_data(as_text=True)
    assert "Transport receipt" in page and "written to" in page and "delivered at" in page


def test_bad_back_office_input_is_refused_not_a_server_error(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        order_id = session.scalar(select(Order.id))
    client = signed_in(hub_env, "ops_operator")
    token = TOKEN.search(client.get(f"/ops/orders/{order_id}").get_data(as_text=True)).group(1)
    for value in ("nan", "sNaN", "Infinity", "1e40"):
        answer = client.post(f"/ops/orders/{order_id}/confirm", data={"csrf_token": token, "qty-1": value},
                             follow_redirects=True)
        assert answer.status_code == 200
        assert "Confirm refused: line 1:" in answer.get_data(as_text=True), value
    assert client.post(f"/ops/orders/{order_id}/confirm", data={"csrf_token": token}).status_code == 302
    answer = client.post(f"/ops/orders/{order_id}/ship", follow_redirects=True,
                         data={"csrf_token": token, "packages": "5000000"})
    assert "Ship refused: a despatch has at most 999 packages" in answer.get_data(as_text=True)
    answer = client.post(f"/ops/orders/{order_id}/ship", data={"csrf_token": token, "packages": "1"},
                         follow_redirects=True)
    assert "recorded and sent" in answer.get_data(as_text=True)
    answer = client.post(f"/ops/orders/{order_id}/invoice", data={"csrf_token": token, "payment_days": "-5"},
                         follow_redirects=True)
    assert "Invoice refused: payment_days must be from 0 to 3650" in answer.get_data(as_text=True)
    with hub_env.session_factory() as session:
        assert session.get(Order, order_id).status == "shipped"  # nothing half-applied by the refusals


def test_the_last_date_there_is_filters_without_error(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    client = signed_in(hub_env, "ops_viewer")
    for path in ("/ops/messages", "/ops/messages/payloads.zip"):
        answer = client.get(path, query_string={"date_from": "2000-01-01", "date_to": "9999-12-31"})
        assert answer.status_code == 200, path
    assert "PO-2026-0001" in client.get("/ops/messages", query_string={"date_to": "9999-12-31"}).get_data(as_text=True)


def test_ids_too_large_for_the_database_are_not_found(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    client = signed_in(hub_env, "ops_admin")
    huge = "9" * 25
    app = client.application
    routes = sorted({rule.rule for rule in app.url_map.iter_rules()
                     if "<int:" in rule.rule and "GET" in rule.methods and rule.rule.startswith("/ops")})
    assert len(routes) >= 8
    for rule in routes:
        path = re.sub(r"<int:[^>]+>", huge, rule)
        path = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", path)
        path = re.sub(r"<[^>]+>", "x", path)
        assert client.get(path).status_code == 404, path
    for path in ("/ops/messages", "/ops/audit", "/ops/alerts", "/ops/dashboard", "/ops/messages/bulk",
                 "/ops/messages/payloads.zip"):
        for name in ("before", "partner"):
            answer = client.get(path, query_string={name: huge})
            assert answer.status_code in (200, 404), (path, name, answer.status_code)
            assert answer.status_code == 200 or path == "/ops/messages/bulk", (path, name)

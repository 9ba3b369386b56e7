"""Issue 2's road, with real processes: `kontor run --demo`, an ORDERS file dropped
in the partner's folder, the ORDRSP in its outbound folder, the order in the
portal for the partner's buyer and the messages with their events in the ops console."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import requests

from edi.translate import translate

DATA = Path(__file__).resolve().parents[1] / "data"


def sign_in(base_url: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base_url}/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page.text
    )
    assert token, "the sign-in form carries a CSRF token"
    answer = session.post(f"{base_url}/login", timeout=10,
                          data={"email": email, "password": "demo-password-1", "csrf_token": token.group(1)})
    assert answer.status_code == 200 and "/login" not in answer.url, f"{email} could not sign in"
    return session


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_orders_dropped_in_folder_is_answered_and_visible(running_hub):
    inbound = running_hub.home / "var" / "partners" / "ACME" / "in"
    outbound = running_hub.home / "var" / "partners" / "ACME" / "out"
    assert "Demo sign-ins" in running_hub.output() and "buyer@acme.example" in running_hub.output()
    shutil.copy(DATA / "orders_acme_d96a.edi", inbound / "PO-2026-0001.edi")

    answers = wait_for(lambda: sorted(outbound.glob("ORDRSP_*.edi")), timeout=40)
    response = translate(answers[0].read_bytes())
    assert not response.errors
    assert response.messages[0].document.order_number == "PO-2026-0001"
    assert (inbound / "archive" / "PO-2026-0001.edi").exists()

    buyer = sign_in(running_hub.base_url, "buyer@acme.example")
    orders = buyer.get(f"{running_hub.base_url}/orders", timeout=10)
    assert "PO-2026-0001" in orders.text

    other = sign_in(running_hub.base_url, "buyer@nordoel.example")
    assert "PO-2026-0001" not in other.get(f"{running_hub.base_url}/orders", timeout=10).text

    ops = sign_in(running_hub.base_url, "ops@kontor.example")
    listing = ops.get(f"{running_hub.base_url}/ops/messages", timeout=10).text
    assert "ORDERS" in listing and "ORDRSP" in listing
    link = re.search(r'href="(/ops/messages/\d+)"', listing)
    assert link, "messages link to their detail"
    detail = ops.get(f"{running_hub.base_url}{link.group(1)}", timeout=10).text
    assert "processing" in detail or "delivering" in detail
    assert buyer.get(f"{running_hub.base_url}/ops/messages", timeout=10).status_code in (403, 404)

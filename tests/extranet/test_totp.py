"""The optional TOTP second factor: set-up on the account page, the code step, replay and lockout."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from hub.accounts import MAX_FAILED_LOGINS
from hub.models import AuditEntry, User
from tests.extranet.conftest import csrf_token, login, rows

EMAIL = "buyer@acme.example"


def code(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def clear_of_a_step_boundary(margin: float = 5.0) -> None:
    """Wait, if need be, so that the next few seconds stay inside one 30-second step.

    The tests count in steps ("the current one went to the set-up", "the next one is
    fine"); a test that straddles a boundary would compare codes of different steps.
    """
    left = 30 - time.time() % 30
    if left < margin:
        time.sleep(left + 0.05)


def enable(client) -> str:
    """Turn TOTP on for the signed-in user through the pages; returns the secret."""
    clear_of_a_step_boundary()
    page = client.post("/account/totp/setup", data={"csrf_token": csrf_token(client, "/account/security")})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    secret = re.search(r'<span class="mono">([A-Z2-7]{32})</span>', html).group(1)
    response = client.post("/account/totp/enable", data={"code": code(secret),
                                                         "csrf_token": csrf_token(client, "/account/security")})
    assert response.status_code == 302
    return secret


def sign_out(client):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/security")})
    assert client.get("/").status_code == 302


def submit_code(client, value: str):
    return client.post("/login/code", data={"code": value, "csrf_token": csrf_token(client, "/login/code")})


def test_setup_shows_a_qr_code_and_needs_a_right_code(acme_client, session):
    page = acme_client.get("/account/security").get_data(as_text=True)
    assert "is <strong>off</strong>" in page
    setup = acme_client.post("/account/totp/setup", data={"csrf_token": csrf_token(acme_client, "/account/security")})
    html = setup.get_data(as_text=True)
    assert 'src="data:image/svg+xml' in html  # the QR code, allowed by the CSP's img-src data:
    secret = re.search(r'<span class="mono">([A-Z2-7]{32})</span>', html).group(1)
    assert "otpauth://totp/" in html and f"secret={secret}" in html
    wrong = acme_client.post("/account/totp/enable", data={
        "code": "000000" if code(secret) != "000000" else "111111",
        "csrf_token": csrf_token(acme_client, "/account/security")})
    assert wrong.status_code == 422
    assert rows(session, select(User.totp_secret).where(User.email == EMAIL)) == [(None,)]
    ok = acme_client.post("/account/totp/enable", data={"code": code(secret),
                                                        "csrf_token": csrf_token(acme_client, "/account/security")})
    assert ok.status_code == 302
    assert rows(session, select(User.totp_secret).where(User.email == EMAIL)) == [(secret,)]
    assert "is <strong>on</strong>" in acme_client.get("/account/security").get_data(as_text=True)
    assert rows(session, select(AuditEntry.id).where(AuditEntry.action == "totp.enabled"))


def test_setup_needs_a_signed_in_user_and_csrf(client, acme_client):
    assert acme_client.post("/account/totp/setup").status_code == 400
    assert acme_client.post("/account/totp/enable", data={"code": "123456"}).status_code == 400


def test_sign_in_asks_for_the_code(acme_client):
    client = acme_client
    secret = enable(client)
    sign_out(client)
    response = login(client, EMAIL)
    assert response.status_code == 302 and response.headers["Location"] == "/login/code"
    assert client.get("/").status_code == 302  # not signed in yet
    wrong = submit_code(client, "12345x")
    assert wrong.status_code == 401 and "That code is wrong" in wrong.get_data(as_text=True)
    right = submit_code(client, code(secret, 1))  # the current step went to the set-up
    assert right.status_code == 302 and right.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_code_works_once(acme_client):
    client = acme_client
    secret = enable(client)  # the current step is used by the set-up itself
    sign_out(client)
    login(client, EMAIL)
    assert submit_code(client, code(secret)).status_code == 401  # replayed
    assert submit_code(client, code(secret, 1)).status_code == 302  # the next one is fine
    sign_out(client)
    login(client, EMAIL)
    assert submit_code(client, code(secret, 1)).status_code == 401


def test_wrong_codes_count_toward_the_lockout(acme_client, session):
    client = acme_client
    secret = enable(client)
    sign_out(client)
    login(client, EMAIL)
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert submit_code(client, "000000" if code(secret) != "000000" else "111111").status_code == 401
    # The right password again does not reset the count while the code is owed.
    assert login(client, EMAIL).headers["Location"] == "/login/code"
    locked = submit_code(client, "000000" if code(secret) != "000000" else "111111")
    assert locked.status_code == 302 and locked.headers["Location"] == "/login"
    [(locked_until,)] = rows(session, select(User.locked_until).where(User.email == EMAIL))
    assert locked_until is not None
    assert rows(session, select(AuditEntry.id).where(AuditEntry.action == "account.locked"))
    # Locked: neither the password nor a right code opens the account.
    assert login(client, EMAIL).status_code == 401
    details = [d for (d,) in rows(session, select(AuditEntry.detail).where(AuditEntry.action == "login.failed"))]
    assert sum("second-factor code" in (d or "") for d in details) == MAX_FAILED_LOGINS


def test_the_pending_step_expires(acme_client):
    client = acme_client
    enable(client)
    sign_out(client)
    login(client, EMAIL)
    with client.session_transaction() as state:
        state["pending_second_factor"] = {**state["pending_second_factor"], "at": 0}
    response = client.get("/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_turning_it_off_needs_a_code(acme_client, session):
    client = acme_client
    secret = enable(client)
    wrong = client.post("/account/totp/disable", data={"code": "000000" if code(secret, 1) != "000000" else "111111",
                                                       "csrf_token": csrf_token(client, "/account/security")})
    assert wrong.status_code == 422
    ok = client.post("/account/totp/disable", data={"code": code(secret, 1),
                                                    "csrf_token": csrf_token(client, "/account/security")})
    assert ok.status_code == 302
    assert rows(session, select(User.totp_secret).where(User.email == EMAIL)) == [(None,)]
    sign_out(client)
    assert login(client, EMAIL).headers["Location"] == "/"


@pytest.mark.parametrize("email", ["ops@kontor.example"])
def test_operations_users_can_use_it_too(client, email):
    assert login(client, email).status_code == 302
    secret = enable(client)
    sign_out(client)
    assert login(client, email).headers["Location"] == "/login/code"
    response = submit_code(client, code(secret, 1))
    assert response.status_code == 302 and response.headers["Location"].startswith("/ops")

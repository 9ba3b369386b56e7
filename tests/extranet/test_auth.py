"""Signing in and out, lockout, CSRF, headers, health, and who reaches which area."""

from __future__ import annotations

from sqlalchemy import select

from hub.accounts import MAX_FAILED_LOGINS
from hub.models import AuditEntry, User
from tests.extranet.conftest import PASSWORD, csrf_token, login, post, rows


def test_login_page_is_accessible_form(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="#main"' in page  # skip link
    assert '<label for="email">' in page and '<label for="password">' in page
    assert 'name="csrf_token"' in page


def test_sign_in_and_out(client, session):
    response = login(client, "buyer@acme.example")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Acme Distribution" in client.get("/").get_data(as_text=True)
    response = post(client, "/logout", token_from="/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # back to the login page
    actions = [a for (a,) in rows(session, select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions[-2:] == ["login", "logout"]


def test_wrong_password_is_refused_and_audited(client, session):
    response = login(client, "buyer@acme.example", "wrong")
    assert response.status_code == 401
    assert "Sign-in failed" in response.get_data(as_text=True)
    [(actor, detail)] = rows(session, select(AuditEntry.actor, AuditEntry.detail).where(AuditEntry.action == "login.failed"))
    assert actor == "buyer@acme.example" and "wrong password" in detail
    unknown = login(client, "nobody@acme.example", "wrong")
    assert unknown.status_code == 401  # same answer as a wrong password


def test_lockout_after_repeated_failures(client, session):
    for _ in range(MAX_FAILED_LOGINS):
        assert login(client, "buyer@acme.example", "wrong").status_code == 401
    [(locked_until,)] = rows(session, select(User.locked_until).where(User.email == "buyer@acme.example"))
    assert locked_until is not None
    # The right password does not help while the lock lasts.
    assert login(client, "buyer@acme.example", PASSWORD).status_code == 401
    assert rows(session, select(AuditEntry.id).where(AuditEntry.action == "account.locked"))


def test_success_resets_the_failure_count(client, session):
    login(client, "buyer@acme.example", "wrong")
    assert login(client, "buyer@acme.example").status_code == 302
    [(failed, last)] = rows(session, select(User.failed_logins, User.last_login_at).where(User.email == "buyer@acme.example"))
    assert failed == 0 and last is not None


def test_post_without_csrf_token_is_refused(client, acme_client):
    assert client.post("/login", data={"email": "buyer@acme.example", "password": PASSWORD}).status_code == 400
    response = acme_client.post("/cart/add", data={"sku": "WID-100", "quantity": "1"})
    assert response.status_code == 400
    assert acme_client.post("/logout").status_code == 400


def test_security_headers(client):
    response = client.get("/login")
    headers = response.headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"]
    assert headers["Cache-Control"] == "no-store"


def test_session_cookie_flags(client):
    response = login(client, "buyer@acme.example")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "reachable"


def test_next_only_redirects_within_the_site(client):
    token = csrf_token(client, "/login?next=https://evil.example/")
    response = client.post("/login", data={"email": "buyer@acme.example", "password": PASSWORD,
                                           "csrf_token": token, "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_next_is_followed_for_site_paths(client, world):
    token = csrf_token(client)
    response = client.post("/login", data={"email": "buyer@acme.example", "password": PASSWORD,
                                           "csrf_token": token, "next": "/orders"})
    assert response.headers["Location"] == "/orders"


def test_anonymous_requests_go_to_login(client):
    for path in ("/", "/orders", "/ops/messages"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_ops_users_are_sent_from_the_portal_to_ops(ops_client):
    response = ops_client.get("/orders")
    assert response.status_code == 302 and response.headers["Location"] == "/ops/messages"


def test_partner_users_never_reach_ops(acme_client, world):
    for path in ("/ops/", "/ops/messages", f"/ops/messages/{world.acme_message}",
                 f"/ops/messages/{world.acme_message}/payload", "/ops/partners", "/ops/audit"):
        assert acme_client.get(path).status_code == 403, path
    response = post(acme_client, f"/ops/messages/{world.error_message}/reprocess", {"comment": "try"})
    assert response.status_code == 403

"""Operations users: only an ops role opens /ops; admins add users, change roles, deactivate; audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.models import AuditEntry, User
from tests.extranet.conftest import login, password_hash, post, rows


@pytest.fixture
def admin_client(client, session, world):
    session.add(User(email="admin@kontor.example", name="Admin", role="ops_admin", password_hash=password_hash()))
    session.commit()
    assert login(client, "admin@kontor.example").status_code == 302
    return client


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_a_user_without_partner_or_ops_role_is_refused(client, session, world):
    session.add(User(email="nobody@kontor.example", name="Nobody", role="buyer", password_hash=password_hash()))
    session.commit()
    login(client, "nobody@kontor.example")
    for path in ("/ops/messages", "/ops/dashboard", "/ops/partners", "/ops/orders", "/ops/users"):
        assert client.get(path).status_code == 403, path


def test_only_admins_reach_the_users_page(client, world):
    login(client, "ops@kontor.example")
    assert client.get("/ops/messages").status_code == 200
    assert client.get("/ops/users").status_code == 403
    assert 'href="/ops/users"' not in _text(client.get("/ops/messages"))


def test_admin_adds_changes_role_and_deactivates(admin_client, client, session, world):
    page = "/ops/users"
    listing = _text(admin_client.get(page))
    assert "ops@kontor.example" in listing and "viewer@kontor.example" in listing
    assert "buyer@acme.example" not in listing  # partner users are the partners' business

    added = post(admin_client, page, {"email": "Nina@Kontor.example", "name": "Nina", "role": "ops_operator"},
                 token_from=page, follow_redirects=True)
    assert "nina@kontor.example added" in _text(added)
    nina_id, role, pw = rows(session, select(User.id, User.role, User.password_hash)
                             .where(User.email == "nina@kontor.example"))[0]
    assert role == "ops_operator" and pw is None

    taken = post(admin_client, page, {"email": "buyer@acme.example", "role": "ops_admin"}, token_from=page,
                 follow_redirects=True)
    assert "belongs to a user of partner ACME" in _text(taken)
    assert rows(session, select(User.role).where(User.email == "buyer@acme.example")) == [("buyer",)]
    bad_role = post(admin_client, page, {"email": "x@kontor.example", "role": "root"}, token_from=page,
                    follow_redirects=True)
    assert "Not saved: role" in _text(bad_role)

    post(admin_client, f"{page}/{nina_id}/role", {"role": "ops_viewer"}, token_from=page)
    assert rows(session, select(User.role).where(User.id == nina_id)) == [("ops_viewer",)]
    post(admin_client, f"{page}/{nina_id}/deactivate", {}, token_from=page)
    assert rows(session, select(User.active).where(User.id == nina_id)) == [(False,)]
    partner_user = rows(session, select(User.id).where(User.email == "buyer@acme.example"))[0][0]
    assert post(admin_client, f"{page}/{partner_user}/deactivate", {}, token_from=page).status_code == 404

    details = rows(session, select(AuditEntry.action, AuditEntry.detail).where(AuditEntry.action.like("ops_user.%"))
                   .order_by(AuditEntry.id))
    assert details == [("ops_user.created", "nina@kontor.example as ops_operator"),
                       ("ops_user.role_changed", "nina@kontor.example: ops_operator -> ops_viewer"),
                       ("ops_user.deactivated", "nina@kontor.example")]


def test_the_last_admin_keeps_the_role(admin_client, session, world):
    admin_id = rows(session, select(User.id).where(User.email == "admin@kontor.example"))[0][0]
    refused = post(admin_client, f"/ops/users/{admin_id}/role", {"role": "ops_viewer"}, token_from="/ops/users",
                   follow_redirects=True)
    assert "last active ops admin" in _text(refused)
    refused = post(admin_client, f"/ops/users/{admin_id}/deactivate", {}, token_from="/ops/users",
                   follow_redirects=True)
    assert "last active ops admin" in _text(refused)
    assert rows(session, select(User.role, User.active).where(User.id == admin_id)) == [("ops_admin", True)]

"""A partner admin invites (e-mail with a single-use set-password link), re-roles and removes its own users."""

from __future__ import annotations

import html

import datetime as dt
import re

import pytest
from sqlalchemy import select

from hub import partner_users
from hub.models import AuditEntry, User
from hub.portal_models import Invitation
from tests.extranet.conftest import PASSWORD, csrf_token, login, password_hash, post
from tests.extranet.test_portal_notifications import settings, smtp  # noqa: F401  (fixtures)


@pytest.fixture
def admin_client(client, session, world):
    session.add(User(email="admin@acme.example", name="Arno Admin", role="admin", partner_id=world.acme,
                     password_hash=password_hash()))
    session.commit()
    assert login(client, "admin@acme.example").status_code == 302
    return client


def _user(session, email):
    user = session.scalar(select(User).where(User.email == email))
    values = (user.id, user.role, user.active, user.password_hash) if user else None
    session.rollback()
    return values


def test_invite_mail_and_set_password_once(admin_client, session, smtp, world):
    page = admin_client.get("/users").get_data(as_text=True)
    assert "buyer@acme.example" in page and "buyer@beta.example" not in page
    response = post(admin_client, "/users/invite", {"name": "Nina New", "email": "Nina@Acme.example",
                                                    "role": "accounts"}, token_from="/users")
    assert response.status_code == 302
    smtp.wait(1)
    (rcpt, mail), = smtp.messages
    assert rcpt == ["nina@acme.example"] and "portal" in mail["Subject"]
    link = re.search(r"http://localhost/invitation/(\S+)", mail.get_content())
    assert link, mail.get_content()
    token = link.group(1)
    user_id, role, active, password = _user(session, "nina@acme.example")
    assert role == "accounts" and active and password is None
    assert "invited" in admin_client.get("/users").get_data(as_text=True)

    admin_client.delete_cookie("kontor_session")
    form = admin_client.get(f"/invitation/{token}")
    assert form.status_code == 200 and "Welcome, Nina New" in form.get_data(as_text=True)
    token_field = csrf_token(admin_client, f"/invitation/{token}")
    short = admin_client.post(f"/invitation/{token}", data={"password": "short", "confirm": "short",
                                                            "csrf_token": token_field})
    assert short.status_code == 422 and "at least" in short.get_data(as_text=True)
    done = admin_client.post(f"/invitation/{token}", data={"password": "a long new password", "confirm":
                                                           "a long new password", "csrf_token": token_field})
    assert done.status_code == 302
    assert admin_client.get(f"/invitation/{token}").status_code == 404  # used up
    assert login(admin_client, "nina@acme.example", "a long new password").status_code == 302
    actions = [a for (a,) in session.execute(select(AuditEntry.action).where(
        AuditEntry.target == f"user:{user_id}").order_by(AuditEntry.id))]
    session.rollback()
    assert actions[:2] == ["user.invited", "user.password_set"]


def test_invitation_expires(session, settings, world):  # noqa: F811
    admin = User(email="admin@acme.example", name="Arno Admin", role="admin", partner_id=world.acme,
                 password_hash=password_hash())
    session.add(admin)
    session.commit()
    then = dt.datetime(2026, 1, 1)
    user, token = partner_users.invite(session, settings, admin, email="late@acme.example", name="Late",
                                       role="buyer", link_for=lambda t: t, now=then)
    assert partner_users.invitation_for(session, token, now=then + dt.timedelta(days=6)) is not None
    assert partner_users.invitation_for(session, token, now=then + dt.timedelta(days=8)) is None
    assert partner_users.invitation_for(session, "nonsense") is None
    stored = session.scalar(select(Invitation.token_hash).where(Invitation.user_id == user.id))
    assert token not in stored  # only the hash is kept


def test_an_existing_address_is_refused_without_saying_whose(admin_client, smtp):
    """Another partner's user and one of ACME's own active users get the same neutral answer."""
    answers = []
    for email in ("buyer@beta.example", "buyer@acme.example"):
        response = post(admin_client, "/users/invite", {"name": "X", "email": email, "role": "buyer"},
                        token_from="/users", follow_redirects=True)
        page = html.unescape(response.get_data(as_text=True))
        assert "cannot be invited" in page and "already has an account" not in page and "BETA" not in page
        answers.append(page.split("cannot be invited")[1][:120])
    assert answers[0] == answers[1]
    assert smtp.messages == []


def test_set_role_and_remove(admin_client, session, world):
    buyer_id = _user(session, "buyer@acme.example")[0]
    assert post(admin_client, f"/users/{buyer_id}/role", {"role": "admin"}, token_from="/users").status_code == 302
    assert _user(session, "buyer@acme.example")[1] == "admin"
    bad = post(admin_client, f"/users/{buyer_id}/role", {"role": "ops_admin"}, token_from="/users",
               follow_redirects=True)
    assert "Choose a role" in bad.get_data(as_text=True)
    assert _user(session, "buyer@acme.example")[1] == "admin"
    assert post(admin_client, f"/users/{buyer_id}/remove", token_from="/users").status_code == 302
    assert _user(session, "buyer@acme.example")[2] is False
    assert login(admin_client.application.test_client(), "buyer@acme.example").status_code != 302
    details = [d for (d,) in session.execute(select(AuditEntry.detail).where(
        AuditEntry.action.in_(("user.role_changed", "user.removed"))).order_by(AuditEntry.id))]
    session.rollback()
    assert details == ["buyer@acme.example: buyer -> admin", "buyer@acme.example"]


def test_admin_cannot_remove_or_demote_itself(admin_client, session):
    me = _user(session, "admin@acme.example")[0]
    response = post(admin_client, f"/users/{me}/remove", token_from="/users", follow_redirects=True)
    assert "cannot remove yourself" in response.get_data(as_text=True)
    response = post(admin_client, f"/users/{me}/role", {"role": "buyer"}, token_from="/users", follow_redirects=True)
    assert "cannot take away your own admin role" in response.get_data(as_text=True)
    assert _user(session, "admin@acme.example")[1:3] == ("admin", True)


def test_only_admins_manage_users(acme_client, world):
    assert acme_client.get("/users").status_code == 403
    assert post(acme_client, "/users/invite", {"name": "X", "email": "x@acme.example", "role": "admin"},
                token_from="/").status_code == 403


def test_users_of_another_partner_are_not_found(admin_client, session):
    beta = _user(session, "buyer@beta.example")[0]
    assert post(admin_client, f"/users/{beta}/remove", token_from="/users").status_code == 404
    assert post(admin_client, f"/users/{beta}/role", {"role": "admin"}, token_from="/users").status_code == 404
    assert _user(session, "buyer@beta.example")[1:3] == ("buyer", True)
    assert PASSWORD  # the other partner's user still signs in


def test_invited_users_get_no_emails_until_they_opt_in(admin_client, session, smtp, world):
    for role in ("admin", "buyer", "accounts"):
        post(admin_client, "/users/invite", {"name": f"New {role}", "email": f"new-{role}@acme.example",
                                             "role": role}, token_from="/users")
    notify = dict(session.execute(select(User.email, User.notify).where(User.email.like("new-%"))).all())
    session.rollback()
    assert notify == {"new-admin@acme.example": {}, "new-buyer@acme.example": {},
                      "new-accounts@acme.example": {}}


def test_reinviting_a_removed_user_does_not_bring_back_the_old_password(admin_client, session, smtp, world):
    buyer_id, _, _, old_hash = _user(session, "buyer@acme.example")
    assert old_hash is not None
    post(admin_client, f"/users/{buyer_id}/remove", token_from="/users")
    buyer = session.get(User, buyer_id)
    buyer.notify, buyer.failed_logins = {"invoice": True}, 3
    session.commit()
    session.expire_all()  # the session keeps objects as committed; the web requests change them
    response = post(admin_client, "/users/invite", {"name": "Bea Back", "email": "buyer@acme.example",
                                                    "role": "accounts"}, token_from="/users",
                    follow_redirects=True)
    assert "buyer@acme.example is invited" in response.get_data(as_text=True), response.get_data(as_text=True)
    user_id, role, active, password = _user(session, "buyer@acme.example")
    assert (user_id, role, active, password) == (buyer_id, "accounts", True, None)
    session.expire_all()
    again = session.get(User, buyer_id)
    assert (again.notify, again.failed_logins, again.totp_secret) == ({}, 0, None)
    session.rollback()
    # the old password no longer signs in; the new invitation's link sets a new one
    assert login(admin_client.application.test_client(), "buyer@acme.example").status_code != 302
    smtp.wait(1)
    token = re.search(r"http://localhost/invitation/(\S+)", smtp.messages[-1][1].get_content()).group(1)
    fresh = admin_client.application.test_client()
    field = csrf_token(fresh, f"/invitation/{token}")
    assert fresh.post(f"/invitation/{token}", data={"password": "another long secret", "confirm":
                                                    "another long secret", "csrf_token": field}).status_code == 302
    assert login(fresh, "buyer@acme.example", "another long secret").status_code == 302
    assert login(admin_client.application.test_client(), "buyer@acme.example", PASSWORD).status_code != 302


def test_a_removed_users_old_session_ends_when_it_is_invited_again(admin_client, app, session, smtp, world):
    old = app.test_client()
    assert login(old, "buyer@acme.example").status_code == 302
    assert old.get("/orders").status_code == 200
    buyer_id = _user(session, "buyer@acme.example")[0]
    post(admin_client, f"/users/{buyer_id}/remove", token_from="/users")
    assert old.get("/orders").status_code == 302  # removed: signed out
    post(admin_client, "/users/invite", {"name": "Bea Back", "email": "buyer@acme.example", "role": "buyer"},
         token_from="/users")
    # active again, but the cookie from before the new invitation does not come back to life
    response = old.get("/orders")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert old.get("/orders").status_code == 302
    # after accepting the invitation, a new sign-in works and stays
    smtp.wait(1)
    token = re.search(r"http://localhost/invitation/(\S+)", smtp.messages[-1][1].get_content()).group(1)
    fresh = app.test_client()
    field = csrf_token(fresh, f"/invitation/{token}")
    fresh.post(f"/invitation/{token}", data={"password": "a new long secret", "confirm": "a new long secret",
                                             "csrf_token": field})
    assert login(fresh, "buyer@acme.example", "a new long secret").status_code == 302
    assert fresh.get("/orders").status_code == 200 and fresh.get("/cart").status_code == 200

"""A password reset or a change of the second factor ends the user's other signed-in sessions."""

from __future__ import annotations

import pyotp
from sqlalchemy import select

from hub import accounts
from hub.models import User
from tests.extranet.conftest import csrf_token, login

EMAIL = "buyer@acme.example"


def _signed_in(app):
    client = app.test_client()
    assert login(client, EMAIL).status_code == 302
    assert client.get("/orders").status_code == 200
    return client


def _user(session):
    return session.scalars(select(User).where(User.email == EMAIL)).one()


def test_a_password_reset_ends_every_session(app, session, world):
    first, second = _signed_in(app), _signed_in(app)
    user = _user(session)
    result = accounts.reset_password(session, user.id, accounts.password_fingerprint(user), "a brand new password")
    assert result.ok
    for client in (first, second):
        response = client.get("/orders")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    fresh = app.test_client()
    assert login(fresh, EMAIL, "a brand new password").status_code == 302
    assert fresh.get("/orders").status_code == 200


def test_turning_totp_on_ends_the_other_sessions_but_not_its_own(app, session, world):
    other, own = _signed_in(app), _signed_in(app)
    setup = own.post("/account/totp/setup", data={"csrf_token": csrf_token(own, "/account/security")})
    assert setup.status_code == 200
    with own.session_transaction() as cookie:
        secret = cookie["totp_setup_secret"]
    response = own.post("/account/totp/enable", data={"code": pyotp.TOTP(secret).now(),
                                                       "csrf_token": csrf_token(own, "/account/security")})
    assert response.status_code == 302
    session.rollback()
    assert _user(session).totp_secret == secret and _user(session).session_epoch == 1
    session.rollback()
    assert own.get("/orders").status_code == 200
    ended = other.get("/orders")
    assert ended.status_code == 302 and "/login" in ended.headers["Location"]


def test_sessions_from_before_epochs_still_load(app, session, world):
    """A session cookie holding the id alone (signed in before this change) is epoch 0."""
    client = _signed_in(app)
    with client.session_transaction() as cookie:
        cookie["_user_id"] = cookie["_user_id"].split(":")[0]
    assert client.get("/orders").status_code == 200
    user = _user(session)
    accounts.end_other_sessions(user)
    session.commit()
    assert client.get("/orders").status_code == 302

"""hub.accounts.sign_in: lockout, its expiry, throttling by address, inactive accounts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from extranet import create_app
from hub import accounts
from hub.accounts import LOCKOUT, MAX_FAILED_LOGINS, sign_in
from hub.models import AuditEntry, User
from tests.extranet.conftest import PASSWORD


def test_lock_runs_out(session, world):
    now = dt.datetime(2026, 11, 25, 12, 0)
    for _ in range(MAX_FAILED_LOGINS):
        assert sign_in(session, "buyer@acme.example", "nope", address="10.0.0.1", now=now).reason == "wrong_password"
    assert sign_in(session, "buyer@acme.example", PASSWORD, address="10.0.0.1", now=now).reason == "locked"
    later = now + LOCKOUT + dt.timedelta(seconds=1)
    result = sign_in(session, "BUYER@acme.example ", PASSWORD, address="10.0.0.1", now=later)
    assert result.ok and result.user.failed_logins == 0 and result.user.locked_until is None


def test_an_address_with_many_failures_is_throttled(session, world, monkeypatch):
    monkeypatch.setattr(accounts, "IP_MAX_FAILURES", 3)
    for n in range(3):
        sign_in(session, f"guess{n}@acme.example", "nope", address="10.9.9.9")
    assert sign_in(session, "buyer@acme.example", PASSWORD, address="10.9.9.9").reason == "throttled"
    assert sign_in(session, "buyer@acme.example", PASSWORD, address="10.0.0.2").ok


def test_inactive_accounts_cannot_sign_in(session, world):
    user = session.scalars(select(User).where(User.email == "buyer@beta.example")).one()
    user.active = False
    session.commit()
    assert sign_in(session, "buyer@beta.example", PASSWORD).reason == "inactive"
    count = session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "login.failed"))
    assert count == 1


def test_healthz_says_when_the_database_is_unreachable(settings, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/kontor.db")
    app = create_app(settings, sessionmaker(bind=engine))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json()["database"] == "unreachable"


def test_api_paths_get_json_errors(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_blueprints_registered(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {"auth.login", "portal.catalog", "ops.messages", "as2.receive", "healthz"} <= endpoints

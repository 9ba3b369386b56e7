"""[web] proxy_hops: behind trusted proxies the client address (login throttling, audit) comes from
X-Forwarded-For; without it the header is ignored."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from extranet import create_app
from hub import accounts
from hub.models import AuditEntry
from hub.settings import SettingsError, load_settings
from tests.extranet.conftest import PASSWORD, csrf_token, rows


def _login(client, address, password):
    token = csrf_token(client)
    return client.post("/login", data={"email": "buyer@acme.example", "password": password, "csrf_token": token},
                       headers={"X-Forwarded-For": address})


def _targets(session):
    return {t for (t,) in rows(session, select(AuditEntry.target).where(AuditEntry.action == "login.failed"))}


def test_with_one_proxy_hop_the_throttle_uses_x_forwarded_for(settings, session_factory, session, world,
                                                               monkeypatch):
    monkeypatch.setattr(accounts, "IP_MAX_FAILURES", 3)
    app = create_app(dataclasses.replace(settings, web_proxy_hops=1), session_factory)
    app.config.update(TESTING=True)
    client = app.test_client()
    for _ in range(3):
        _login(client, "203.0.113.7", "wrong password")
    assert _targets(session) == {"ip:203.0.113.7"}
    throttled = _login(client, "203.0.113.7", PASSWORD)
    assert throttled.status_code != 302
    assert _login(app.test_client(), "198.51.100.9", PASSWORD).status_code == 302  # another client is not


def test_without_proxy_hops_the_header_is_ignored(app, session, world):
    _login(app.test_client(), "203.0.113.7", "wrong password")
    assert _targets(session) == {"ip:127.0.0.1"}


def test_proxy_hops_is_read_and_checked(tmp_path):
    config = tmp_path / "kontor.toml"
    config.write_text("[web]\nproxy_hops = 2\n")
    assert load_settings(config, environ={}).web_proxy_hops == 2
    assert load_settings(False, environ={}).web_proxy_hops == 0
    with pytest.raises(SettingsError, match="KONTOR_WEB_PROXY_HOPS: -1 is not a number of proxies"):
        load_settings(False, environ={"KONTOR_WEB_PROXY_HOPS": "-1"})

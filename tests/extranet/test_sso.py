"""Single sign-on through a partner's OpenID Connect provider: a real provider in its own process
(tests/extranet/oidc_provider.py, started by each test) on loopback, real HTTP.

The provider is small but honest: discovery, JWKS, an authorization endpoint
that signs in its one test user at once, and a token endpoint that checks the
client's secret, the redirect URI and the PKCE verifier and returns an
RS256-signed ID token with the nonce it was given.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, update

from hub.models import AuditEntry, Partner, User
from tests.extranet.conftest import login, rows

PROVIDER_SCRIPT = Path(__file__).with_name("oidc_provider.py")


class _Claims(dict):
    """The provider's signed-in user's claims; a change is sent to the provider process at once."""

    def __init__(self, provider: "Provider", claims: dict):
        super().__init__(claims)
        self._provider = provider

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._provider._change(claims=dict(self))


class Provider:
    """The OpenID Connect provider of tests/extranet/oidc_provider.py, in its own process on 127.0.0.1.

    ``claims`` (the signed-in user), ``tamper`` (claims to override in the next ID tokens),
    ``use_foreign_key()`` and ``token_requests`` reach the process over its loopback test endpoint.
    """

    def __init__(self):
        self.client_id = "kontor-at-acme"
        self.client_secret = secrets.token_urlsafe(16)
        self.process = subprocess.Popen(
            [sys.executable, str(PROVIDER_SCRIPT), self.client_id, self.client_secret],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()  # LISTENING <port>, once the server is up
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"the test OIDC provider did not start: {line!r}")
        self.issuer = f"http://127.0.0.1:{int(line.split()[1])}"
        self.claims = _Claims(self, self._state()["claims"])

    def _state(self) -> dict:
        return requests.get(f"{self.issuer}/_test/state", timeout=10).json()

    def _change(self, **change) -> None:
        requests.post(f"{self.issuer}/_test/state", json=change, timeout=30).raise_for_status()

    @property
    def tamper(self) -> dict:
        return self._state()["tamper"]

    @tamper.setter
    def tamper(self, claims: dict) -> None:
        self._change(tamper=claims)

    def use_foreign_key(self) -> None:
        """Sign the next ID tokens with a key the provider's JWKS does not hold."""
        self._change(foreign_key=True)

    @property
    def token_requests(self) -> int:
        return self._state()["token_requests"]

    def stop(self):
        if self.process.stdin:
            self.process.stdin.close()  # the provider stops when its standard input closes
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout:
            self.process.stdout.close()


@pytest.fixture
def provider():
    running = Provider()
    yield running
    running.stop()


@pytest.fixture
def acme_sso(session, world, provider):
    """ACME signs in through the provider; its e-mail domain is acme.example."""
    def configure(**extra):
        oidc = {"issuer": provider.issuer, "client_id": provider.client_id, "client_secret": provider.client_secret,
                "email_domains": ["acme.example"], "label": "Acme Login", "scope": "openid email profile",
                "require_verified_email": True, **extra}
        session.execute(update(Partner).where(Partner.code == "ACME").values(profile={"oidc": oidc}))
        session.commit()
    configure()
    return configure


def sso(client, provider, email: str | None = None, *, code: str = "ACME"):
    """Go through the whole dance; returns Kontor's answer to the provider's redirect back."""
    if email is not None:
        provider.claims["email"] = email
    start = client.get(f"/login/sso/{code}")
    assert start.status_code == 302, start.get_data(as_text=True)
    location = start.headers["Location"]
    assert location.startswith(f"{provider.issuer}/authorize?")
    back = requests.get(location, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    target = urlsplit(back.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("http", "127.0.0.1:8080", f"/login/sso/{code}/callback")
    return client.get(f"{target.path}?{target.query}")


def signed_in_as(client) -> bool:
    return client.get("/").status_code == 200


def test_sign_in_through_the_partners_provider(client, provider, acme_sso, session):
    page = client.get("/login").get_data(as_text=True)
    assert "Single sign-on" in page
    response = sso(client, provider)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Acme Distribution" in client.get("/").get_data(as_text=True)
    assert provider.token_requests == 1
    [(actor, detail)] = rows(session, select(AuditEntry.actor, AuditEntry.detail).where(AuditEntry.action == "login"))
    assert actor == "buyer@acme.example" and detail == f"single sign-on via {provider.issuer}"


def test_the_email_domain_form_finds_the_partner(client, provider, acme_sso):
    response = client.get("/login/sso?sso-email=Buyer@ACME.example&next=/orders")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/login/sso/ACME"
    assert parse_qs(target.query) == {"next": ["/orders"], "login_hint": ["buyer@acme.example"]}
    start = client.get(response.headers["Location"])
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    target = urlsplit(back.headers["Location"])
    done = client.get(f"{target.path}?{target.query}")
    assert done.status_code == 302 and done.headers["Location"] == "/orders"
    assert client.get("/login/sso?sso-email=someone@elsewhere.example").headers["Location"].startswith("/login")


@pytest.mark.parametrize("email", [
    "buyer@beta.example",  # another partner's user, even when the domain is (wrongly) allowed
    "ops@kontor.example",  # operations staff
    "nobody@acme.example",  # no such user, and creation is not configured
])
def test_only_an_existing_user_of_that_partner_is_signed_in(client, provider, acme_sso, session, email):
    acme_sso(email_domains=["acme.example", "beta.example", "kontor.example"])
    response = sso(client, provider, email)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not signed_in_as(client)
    assert rows(session, select(User.id).where(User.email == "nobody@acme.example")) == []
    [(detail,)] = rows(session, select(AuditEntry.detail).where(AuditEntry.action == "login.failed"))
    assert detail.startswith(f"single sign-on via {provider.issuer}")


def test_addresses_outside_the_partners_domains_are_refused(client, provider, acme_sso, session):
    response = sso(client, provider, "buyer@beta.example")
    assert response.headers["Location"].startswith("/login") and not signed_in_as(client)
    [(detail,)] = rows(session, select(AuditEntry.detail).where(AuditEntry.action == "login.failed"))
    assert "beta.example is not one of the partner's e-mail domains" in detail


def test_unverified_addresses_are_refused(client, provider, acme_sso):
    provider.claims["email_verified"] = False
    sso(client, provider)
    assert not signed_in_as(client)


def test_users_are_created_only_when_configured(client, provider, acme_sso, session, world):
    acme_sso(create_users_role="buyer")
    response = sso(client, provider, "new.buyer@acme.example")
    assert response.headers["Location"] == "/"
    [(partner_id, role, password_hash)] = rows(session, select(User.partner_id, User.role, User.password_hash)
                                               .where(User.email == "new.buyer@acme.example"))
    assert (partner_id, role, password_hash) == (world.acme, "buyer", None)


def test_inactive_and_locked_users_stay_out(client, provider, acme_sso, session):
    session.execute(update(User).where(User.email == "buyer@acme.example").values(active=False))
    session.commit()
    sso(client, provider)
    assert not signed_in_as(client)


def test_totp_is_still_asked_after_single_sign_on(client, provider, acme_sso, session):
    session.execute(update(User).where(User.email == "buyer@acme.example").values(totp_secret="JBSWY3DPEHPK3PXP"))
    session.commit()
    response = sso(client, provider)
    assert response.headers["Location"] == "/login/code"
    assert not signed_in_as(client)


@pytest.mark.parametrize("tamper", [
    {"aud": "someone-else"},
    {"iss": "http://127.0.0.1:1"},
    {"exp": int(time.time()) - 3600},
    {"nonce": "replayed"},
    "wrong key",
])
def test_bad_id_tokens_are_refused(client, provider, acme_sso, session, tamper):
    if tamper == "wrong key":
        provider.use_foreign_key()
    else:
        provider.tamper = tamper
    response = sso(client, provider)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not signed_in_as(client)
    assert rows(session, select(AuditEntry.id).where(AuditEntry.action == "login.failed"))


def test_a_forged_callback_is_refused(client, provider, acme_sso):
    client.get("/login/sso/ACME")
    response = client.get("/login/sso/ACME/callback?code=made-up&state=made-up")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert provider.token_requests == 0 and not signed_in_as(client)


def test_a_code_from_one_browser_does_not_sign_in_another(app, provider, acme_sso):
    alice, mallory = app.test_client(), app.test_client()
    start = alice.get("/login/sso/ACME")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    target = urlsplit(back.headers["Location"])
    mallory.get(f"{target.path}?{target.query}")
    assert not signed_in_as(mallory)


def test_partners_without_sso_and_unreachable_providers(client, provider, acme_sso, session):
    assert client.get("/login/sso/BETA").status_code == 404
    assert client.get("/login/sso/NOPE").status_code == 404
    acme_sso(issuer="http://127.0.0.1:9")  # nothing listens there
    response = client.get("/login/sso/ACME")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "cannot be reached" in client.get("/login").get_data(as_text=True)


def test_password_sign_in_still_works_beside_sso(client, acme_sso):
    assert login(client, "buyer@acme.example").status_code == 302


def test_the_oidc_table_of_a_partner_profile(tmp_path, session, world, provider, client, monkeypatch):
    from hub.errors import ProfileError
    from hub.partners import load_profile, sync_partners

    path = tmp_path / "acme.toml"
    path.write_text(
        'code = "ACME"\nname = "Acme Distribution"\n\n[oidc]\n'
        f'issuer = "{provider.issuer}"\nclient_id = "{provider.client_id}"\n'
        'client_secret_env = "ACME_OIDC_SECRET"\nemail_domains = ["Acme.example"]\nlabel = "Acme Login"\n',
        encoding="utf-8",
    )
    profile = load_profile(path)
    assert profile.oidc is not None and profile.oidc.email_domains == ("acme.example",)
    sync_partners(session, [profile])
    session.commit()
    [(stored,)] = rows(session, select(Partner.profile).where(Partner.code == "ACME"))
    assert stored["oidc"]["client_secret_env"] == "ACME_OIDC_SECRET" and stored["oidc"]["client_secret"] is None
    monkeypatch.setenv("ACME_OIDC_SECRET", provider.client_secret)  # the secret stays out of file and database
    assert sso(client, provider).headers["Location"] == "/"
    for table, field in [
        ('issuer = "http://idp.example"\nclient_id = "x"\nclient_secret = "s"\nemail_domains = ["a.example"]', "oidc.issuer"),
        ('issuer = "https://idp.example"\nclient_secret = "s"\nemail_domains = ["a.example"]', "oidc.client_id"),
        ('issuer = "https://idp.example"\nclient_id = "x"\nemail_domains = ["a.example"]', "oidc.client_secret"),
        ('issuer = "https://idp.example"\nclient_id = "x"\nclient_secret = "s"\nemail_domains = "a.example"',
         "oidc.email_domains"),
        ('issuer = "https://idp.example"\nclient_id = "x"\nclient_secret = "s"\nemail_domains = ["a.example"]\n'
         'scope = "profile"', "oidc.scope"),
        ('issuer = "https://idp.example"\nclient_id = "x"\nclient_secret = "s"\nemail_domains = ["a.example"]\n'
         'create_users_role = "ops_admin"', "oidc.create_users_role"),
        ('issuer = "https://idp.example"\nclient_id = "x"\nclient_secret = "s"\nemail_domains = ["a.example"]\n'
         'colour = "blue"', "oidc.colour"),
    ]:
        path.write_text(f'code = "ACME"\nname = "Acme"\n\n[oidc]\n{table}\n', encoding="utf-8")
        with pytest.raises(ProfileError) as caught:
            load_profile(path)
        assert str(caught.value).startswith(f"{path}: {field}:"), str(caught.value)

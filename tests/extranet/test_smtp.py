"""The SMTP connection of notifications and password-reset mails: STARTTLS, implicit TLS, AUTH,
against aiosmtpd servers on loopback with a certificate made for the test."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import ipaddress
import smtplib
import ssl
import time
from email import policy

import pytest
from sqlalchemy import select

from extranet import create_app
from hub import notifications
from hub.models import User
from hub.settings import SettingsError, load_settings
from tests.extranet.conftest import csrf_token
from tests.extranet.test_portal_notifications import _free_port

controller_module = pytest.importorskip("aiosmtpd.controller")
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

USER, SECRET = "kontor-relay", "relay password 1"


class Box:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.logins: list[str] = []
        self.tls: list[bool] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.tls.append(session.ssl is not None)
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(), SECRET.encode())
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[email.message.EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (the test's CA file) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("smtp-tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


def _server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def starttls_server(certificate):
    box, port = Box(), _free_port()
    controller = controller_module.Controller(
        box, hostname="127.0.0.1", port=port, tls_context=_server_context(certificate), require_starttls=True,
        authenticator=box.authenticate, auth_require_tls=True)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def plain_server():
    box, port = Box(), _free_port()
    controller = controller_module.Controller(box, hostname="127.0.0.1", port=port, authenticator=box.authenticate,
                                              auth_require_tls=False)
    controller.start()
    yield box, port
    controller.stop()


def _smtp(settings, port, certificate, **changes):
    values = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_sender": "hub@kontor.example",
              "smtp_username": USER, "smtp_password": SECRET, "smtp_ca_file": str(certificate[0]),
              "web_base_url": "http://kontor.example"}
    return dataclasses.replace(settings, **{**values, **changes})


def test_notifications_log_in_over_starttls(session, settings, world, starttls_server, certificate):
    box, port = starttls_server
    settings = _smtp(settings, port, certificate, smtp_security="starttls")
    user = session.scalar(select(User).where(User.email == "buyer@acme.example"))
    notifications.queue(session, settings, [user], "Test over TLS", "Hello")
    session.commit()
    [message] = box.wait()
    assert message["Subject"] == "Test over TLS" and box.logins == [USER] and box.tls == [True]


def test_password_reset_mails_use_the_same_connection(settings, session_factory, world, starttls_server,
                                                      certificate):
    box, port = starttls_server
    app = create_app(_smtp(settings, port, certificate, smtp_security="auto"), session_factory)
    app.config.update(TESTING=True)
    client = app.test_client()
    client.post("/password/forgot", data={"email": "buyer@acme.example",
                                          "csrf_token": csrf_token(client, "/password/forgot")})
    [message] = box.wait()
    assert "/password/reset/" in message.get_body(("plain",)).get_content()
    assert box.logins == [USER] and box.tls == [True]


def test_implicit_tls(settings, certificate):
    box, port = Box(), _free_port()
    controller = controller_module.Controller(box, hostname="127.0.0.1", port=port,
                                              ssl_context=_server_context(certificate),
                                              authenticator=box.authenticate, auth_require_tls=False)
    controller.start()
    try:
        with notifications.smtp_connection(_smtp(settings, port, certificate, smtp_security="ssl")) as smtp:
            smtp.sendmail("hub@kontor.example", ["a@acme.example"], b"Subject: implicit\r\n\r\nhi\r\n")
        assert [m["Subject"] for m in box.wait()] == ["implicit"] and box.logins == [USER]
    finally:
        controller.stop()


def test_no_password_over_a_plain_connection(settings, plain_server, certificate):
    box, port = plain_server
    for security in ("auto", "starttls"):
        with pytest.raises(smtplib.SMTPNotSupportedError):
            with notifications.smtp_connection(_smtp(settings, port, certificate, smtp_security=security)):
                pass
    assert box.logins == []
    # said explicitly, a plain relay gets the login (a relay on the same host, say)
    with notifications.smtp_connection(_smtp(settings, port, certificate, smtp_security="none")) as smtp:
        smtp.sendmail("hub@kontor.example", ["a@acme.example"], b"Subject: plain\r\n\r\nhi\r\n")
    assert box.logins == [USER] and box.tls == [False]


def test_a_wrong_password_or_an_untrusted_certificate_sends_nothing(settings, starttls_server, certificate):
    box, port = starttls_server
    wrong = _smtp(settings, port, certificate, smtp_security="starttls", smtp_password="wrong")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        with notifications.smtp_connection(wrong, timeout=3):
            pass
    untrusted = _smtp(settings, port, certificate, smtp_security="starttls", smtp_ca_file="")
    with pytest.raises(ssl.SSLError):
        with notifications.smtp_connection(untrusted):
            pass
    assert box.messages == [] and box.logins == []


def test_smtp_settings_are_checked(tmp_path):
    with pytest.raises(SettingsError, match="KONTOR_SMTP_SECURITY: .tls. is not auto, starttls, ssl or none"):
        load_settings(config_file=False, environ={"KONTOR_SMTP_SECURITY": "tls"}, var_dir=tmp_path)
    with pytest.raises(SettingsError, match="KONTOR_SMTP_PASSWORD: is set but smtp_username is not"):
        load_settings(config_file=False, environ={"KONTOR_SMTP_PASSWORD": "x"}, var_dir=tmp_path)
    settings = load_settings(config_file=False, environ={"KONTOR_SMTP_USERNAME": "u", "KONTOR_SMTP_PASSWORD": "p w"},
                             var_dir=tmp_path)
    assert (settings.smtp_username, settings.smtp_password, settings.smtp_security) == ("u", "p w", "auto")
    assert "p w" not in repr(settings)

"""Password reset by e-mailed link, through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import dataclasses
import email
import re
import socket
import threading
import time
from email import policy

import pytest
from sqlalchemy import select, update

from extranet import create_app
from hub.accounts import MAX_FAILED_LOGINS
from hub.models import AuditEntry, User
from tests.extranet.conftest import PASSWORD, csrf_token, login, rows

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

EMAIL = "buyer@acme.example"
NEW = "a much better password"


class Mailbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 Message accepted"

    def wait(self, count: int = 1, timeout: float = 10) -> list:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return self.messages


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = aiosmtpd_controller.Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def client(settings, session_factory, world, mailbox):
    settings = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=mailbox.port,
                                   smtp_sender="kontor@supplier.example", web_base_url="http://kontor.example:8080")
    app = create_app(settings, session_factory)
    app.config.update(TESTING=True)
    return app.test_client()


def ask(client, address: str):
    return client.post("/password/forgot", data={"email": address,
                                                 "csrf_token": csrf_token(client, "/password/forgot")},
                       follow_redirects=True)


def link_in(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://kontor\.example:8080(/password/reset/\S+)", body).group(1)


def choose(client, path: str, password: str, confirm: str | None = None):
    return client.post(path, data={"password": password, "confirm": confirm if confirm is not None else password,
                                   "csrf_token": csrf_token(client, path)})


def test_reset_by_link(client, mailbox, session):
    answer = ask(client, EMAIL)
    assert answer.status_code == 200 and "If an active account has that address" in answer.get_data(as_text=True)
    [message] = mailbox.wait()
    assert message["To"] == EMAIL and message["From"] == "kontor@supplier.example"
    path = link_in(message)  # built from [web] base_url, not from the request's host
    assert client.get(path).status_code == 200
    assert choose(client, path, NEW, "something else").status_code == 422
    assert choose(client, path, "short").status_code == 422
    done = choose(client, path, NEW)
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert login(client, EMAIL, PASSWORD).status_code == 401
    assert login(client, EMAIL, NEW).status_code == 302
    assert rows(session, select(AuditEntry.id).where(AuditEntry.action == "password.reset"))


def test_a_link_works_once(client, mailbox):
    ask(client, EMAIL)
    ask(client, EMAIL)
    first, second = (link_in(m) for m in mailbox.wait(2))
    assert choose(client, first, NEW).status_code == 302
    again = client.get(first)
    assert again.status_code == 400 and "used already" in again.get_data(as_text=True)
    assert choose(client, first, "yet another password").status_code == 400
    # Any older link dies with the password it was signed with.
    assert client.get(second).status_code == 400


def test_the_answer_never_says_whether_an_address_exists(client, mailbox, session):
    known = ask(client, EMAIL).get_data(as_text=True)
    mailbox.wait(1)
    unknown = ask(client, "nobody@acme.example").get_data(as_text=True)
    session.execute(update(User).where(User.email == "buyer@beta.example").values(active=False))
    session.commit()
    inactive = ask(client, "buyer@beta.example").get_data(as_text=True)
    time.sleep(0.5)
    assert len(mailbox.messages) == 1  # only the active account got a mail

    def flash(page):
        return re.search(r'<p class="flash[^>]*>(.*?)</p>', page, re.S).group(1)

    assert flash(known) == flash(unknown) == flash(inactive)
    details = [d for (d,) in rows(session, select(AuditEntry.detail).where(
        AuditEntry.action == "password.reset_requested").order_by(AuditEntry.id))]
    assert details == ["link sent", "no active account", "no active account"]


def test_expired_and_forged_links_are_refused(client, mailbox, monkeypatch):
    ask(client, EMAIL)
    path = link_in(mailbox.wait()[0])
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    response = client.get(forged)
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)
    from extranet import sso

    monkeypatch.setattr(sso, "RESET_SECONDS", -1)
    response = client.get(path)
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)


def test_a_reset_lifts_the_lock(client, mailbox, session):
    for _ in range(MAX_FAILED_LOGINS):
        login(client, EMAIL, "wrong")
    assert login(client, EMAIL, PASSWORD).status_code == 401
    ask(client, EMAIL)
    assert choose(client, link_in(mailbox.wait()[0]), NEW).status_code == 302
    assert login(client, EMAIL, NEW).status_code == 302


def test_login_page_links_to_the_reset(client):
    assert 'href="/password/forgot"' in client.get("/login").get_data(as_text=True)

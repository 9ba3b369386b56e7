"""Alerts: grouping, closing, re-opening, each condition, and sending (real SMTP and HTTP on loopback)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from hub import alerts
from hub.models import Channel, Message, Partner, Payload
from hub.ops_models import Alert
from hub.settings import load_settings

NOW = dt.datetime(2026, 11, 25, 15, 0)


def _partner(session, code="ACME", profile=None, created=NOW - dt.timedelta(days=30)):
    partner = Partner(code=code, name=f"{code} GmbH", profile=profile or {}, created_at=created)
    session.add(partner)
    session.flush()
    return partner


def _message(session, partner, *, state="processed", direction="in", at=NOW, document_type="ORDERS"):
    message = Message(direction=direction, partner=partner, document_type=document_type, state=state,
                      payload=Payload(sha256="0" * 64, size=1, data=b"x"), size=1, issues=[], receipt={},
                      created_at=at, updated_at=at)
    session.add(message)
    return message


def _cert(days: float) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=300)).not_valid_after(NOW + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _active(session):
    session.expire_all()
    return {a.key: a for a in session.scalars(select(Alert).where(Alert.state.in_(alerts.ACTIVE)))}


def test_one_outage_is_one_alert_that_closes_and_reopens(session):
    acme = _partner(session)
    dead = [_message(session, acme, state="dead") for _ in range(3)]
    session.commit()

    opened = alerts.evaluate(session, now=NOW)
    assert [a.key for a in opened] == ["failure:ACME"]
    assert "3 dead" in opened[0].title and opened[0].severity == "critical"
    again = alerts.evaluate(session, now=NOW + dt.timedelta(minutes=1))
    assert again == []
    alert = _active(session)["failure:ACME"]
    assert alert.count == 2 and alert.last_seen == NOW + dt.timedelta(minutes=1)

    for message in dead:
        message.state = "resolved"
    session.commit()
    alerts.evaluate(session, now=NOW + dt.timedelta(minutes=2))
    assert set(_active(session)) == {"failure:ACME"}  # within the grace period
    after = NOW + dt.timedelta(minutes=1 + alerts.GRACE_MINUTES)
    alerts.evaluate(session, now=after)
    assert _active(session) == {}
    closed = session.get(Alert, alert.id)
    assert closed.state == "closed" and closed.closed_at == after

    _message(session, acme, state="dead")
    session.commit()
    reopened = alerts.evaluate(session, now=after + dt.timedelta(minutes=1))
    assert len(reopened) == 1 and reopened[0].id != alert.id


def test_failed_going_dead_and_a_retry_keep_one_alert(session, settings, smtp_server):
    smtp_port, mails = smtp_server
    settings = load_settings(config_file=False, environ={}, database_url=settings.database,
                             var_dir=settings.var_path, smtp_host="127.0.0.1", smtp_port=smtp_port,
                             alerts_email="ops@test.example", alerts_grace_minutes=10)
    acme = _partner(session)
    message = _message(session, acme, state="failed")
    message.error = "delivery: connection refused"
    session.commit()
    (alert,) = alerts.evaluate(session, settings, now=NOW)
    assert alert.key == "failure:ACME" and alert.severity == "warning" and len(mails) == 1

    message.state = "queued"  # the worker retries it: out of failed for a moment
    session.commit()
    assert alerts.evaluate(session, settings, now=NOW + dt.timedelta(minutes=1)) == []
    message.state = "dead"  # the retries ran out
    session.commit()
    assert alerts.evaluate(session, settings, now=NOW + dt.timedelta(minutes=9)) == []
    active = _active(session)
    assert list(active) == ["failure:ACME"] and active["failure:ACME"].id == alert.id
    assert active["failure:ACME"].severity == "critical" and "1 dead" in active["failure:ACME"].title
    assert len(mails) == 1  # one outage, one e-mail

    message.state = "resolved"
    session.commit()
    alerts.evaluate(session, settings, now=NOW + dt.timedelta(minutes=18))
    assert set(_active(session)) == {"failure:ACME"}  # last seen at 9: open until 19
    alerts.evaluate(session, settings, now=NOW + dt.timedelta(minutes=20))
    assert _active(session) == {} and session.get(Alert, alert.id).closed_at == NOW + dt.timedelta(minutes=20)


def test_the_same_reason_at_many_partners_is_one_alert(session):
    refused = "delivery: [Errno 111] Connection refused (smtp relay 10.0.0.{n}:25)"
    partners = [_partner(session, code) for code in ("ACME", "BETA", "GAMMA")]
    for i, partner in enumerate(partners):
        for state in ("failed", "dead"):
            _message(session, partner, state=state).error = refused.format(n=i)
    _message(session, partners[0], state="failed").error = "segment 4 (DTM) element 1: not a date"
    _message(session, _partner(session, "DELTA"), state="failed").error = "partner server says 550"
    session.commit()
    opened = {a.key: a for a in alerts.evaluate(session, now=NOW)}
    outage = [a for k, a in opened.items() if k.startswith("outage:")]
    assert len(outage) == 1 and len(opened) == 3
    assert "3 partners fail with the same reason" in outage[0].title and outage[0].partner_id is None
    assert "ACME, BETA, GAMMA" in outage[0].detail and "3 failed, 3 dead" in outage[0].detail
    assert "1 failed" in opened["failure:ACME"].title and "DTM" in opened["failure:ACME"].detail
    assert set(opened) - {outage[0].key} == {"failure:ACME", "failure:DELTA"}
    # below the threshold each partner keeps its own alert
    assert {c.key for c in alerts._failures(session, group_partners=4)} == {
        "failure:ACME", "failure:BETA", "failure:GAMMA", "failure:DELTA"}


def test_acknowledged_alert_stays_until_cleared(session):
    acme = _partner(session)
    _message(session, acme, state="failed")
    session.commit()
    (alert,) = alerts.evaluate(session, now=NOW)
    with pytest.raises(alerts.AlertError):
        alerts.acknowledge(session, alert.id, actor="ops@x", comment=" ")
    alerts.acknowledge(session, alert.id, actor="ops@x", comment="looking at it")
    assert alerts.evaluate(session, now=NOW + dt.timedelta(minutes=1)) == []
    alert = _active(session)["failure:ACME"]
    assert alert.state == "acknowledged" and alert.comment == "looking at it" and alert.count == 2
    with pytest.raises(alerts.AlertError):
        alerts.acknowledge(session, alert.id, actor="ops@x", comment="again")


def test_ack_overdue_per_partner(session):
    acme, beta = _partner(session), _partner(session, "BETA")
    _message(session, acme, state="ack_overdue", direction="out", document_type="ORDRSP")
    _message(session, beta, state="ack_overdue", direction="out", document_type="INVOIC")
    _message(session, beta, state="acknowledged", direction="out", document_type="INVOIC")
    session.commit()
    keys = {a.key for a in alerts.evaluate(session, now=NOW)}
    assert keys == {"ack_overdue:ACME", "ack_overdue:BETA"}


def test_certificate_thresholds_each_open_once(session):
    acme = _partner(session)
    channel = Channel(partner=acme, name="as2", kind="as2", settings={"cert": _cert(20)})
    far = Channel(partner=acme, name="far", kind="as2", settings={"cert": _cert(200)})
    session.add_all([channel, far])
    session.commit()
    (alert,) = alerts.evaluate(session, now=NOW)
    assert alert.key.startswith("certificate:ACME/as2/cert/") and alert.key.endswith(":30")
    assert alert.severity == "warning"
    assert alerts.evaluate(session, now=NOW + dt.timedelta(days=1)) == []
    (fourteen,) = alerts.evaluate(session, now=NOW + dt.timedelta(days=8))
    assert fourteen.key.endswith(":14")
    assert session.get(Alert, alert.id).state == "closed"
    (seven,) = alerts.evaluate(session, now=NOW + dt.timedelta(days=15))
    assert seven.key.endswith(":7") and seven.severity == "critical"
    (expired,) = alerts.evaluate(session, now=NOW + dt.timedelta(days=21))
    assert expired.key.endswith(":0") and "expired" in expired.title


def test_certificates_in_a_list_and_the_hubs_own(session, settings, tmp_path):
    acme = _partner(session)
    old, new = _cert(10), _cert(25)
    session.add(Channel(partner=acme, name="as2", kind="as2", settings={"certs": [old, new]}))
    session.commit()
    own = settings.var_path / "as2" / "cert.pem"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(_cert(5))
    opened = alerts.evaluate(session, settings, now=NOW)
    by_title = {a.title: a for a in opened}
    assert len(opened) == 3 and len({a.key for a in opened}) == 3  # one per certificate, told apart
    assert sum(a.key.startswith("certificate:ACME/as2/certs/") for a in opened) == 2
    hub = by_title["Hub: our AS2 certificate expires within 7 days (5.0 days left)"]
    assert hub.partner_id is None and hub.severity == "critical" and str(own) in hub.detail
    # [hub] as2_cert wins over the generated file
    configured = tmp_path / "ours.pem"
    configured.write_text(_cert(100))
    later = load_settings(config_file=False, environ={}, database_url=settings.database, var_dir=settings.var_path,
                          hub_as2_cert=str(configured))
    assert not any(c.key.startswith("certificate:hub/") for c in alerts.conditions(session, NOW, later))


def test_silence_only_where_configured(session):
    quiet = _partner(session, "QUIET", profile={"alert_silence_hours": 6})
    _partner(session, "OTHER")
    _message(session, quiet, at=NOW - dt.timedelta(hours=5))
    session.commit()
    assert alerts.evaluate(session, now=NOW) == []
    (alert,) = alerts.evaluate(session, now=NOW + dt.timedelta(hours=2))
    assert alert.key == "silence:QUIET" and alert.partner_id == quiet.id
    _message(session, quiet, at=NOW + dt.timedelta(hours=2, minutes=30))
    session.commit()
    alerts.evaluate(session, now=NOW + dt.timedelta(hours=3))
    assert _active(session) == {}


def test_polling_failure(session):
    acme = _partner(session)
    channel = Channel(partner=acme, name="sftp", kind="sftp", settings={}, last_error="connection refused")
    session.add(channel)
    session.commit()
    (alert,) = alerts.evaluate(session, now=NOW)
    assert alert.key == "polling:ACME/sftp" and "connection refused" in alert.detail
    channel.last_error = None
    session.commit()
    alerts.evaluate(session, now=NOW + dt.timedelta(minutes=1 + alerts.GRACE_MINUTES))
    assert _active(session) == {}


def test_volume_spike_and_drop(session):
    busy, steady = _partner(session, "BUSY"), _partner(session, "STEADY")
    for day in range(1, 8):
        for i in range(2):
            _message(session, busy, at=NOW - dt.timedelta(days=day, minutes=i))
        for i in range(12):
            _message(session, steady, at=NOW - dt.timedelta(days=day, minutes=i))
    for i in range(17):  # 3 x 2 + 10 = 16: 17 is a spike
        _message(session, busy, at=NOW - dt.timedelta(hours=1, minutes=i))
    session.commit()
    keys = {a.key for a in alerts.evaluate(session, now=NOW)}
    assert keys == {"volume_spike:BUSY", "volume_drop:STEADY"}
    # before noon an empty day is not yet a drop
    morning = dt.datetime.combine(NOW.date(), dt.time(9))
    assert "volume_drop:STEADY" not in {c.key for c in alerts.conditions(session, morning)}


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message as MessageHandler

    class Keep(MessageHandler):
        def __init__(self):
            super().__init__()
            self.mails = []

        def handle_message(self, message):
            self.mails.append(message)

    with socket.socket() as probe:  # aiosmtpd connects to its own port on start: it must be a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler.mails
    controller.stop()


def test_sent_by_email_and_webhook_only_when_opened(session, tmp_path: Path, db_url, webhook, smtp_server):
    url, posts = webhook
    smtp_port, mails = smtp_server
    settings = load_settings(config_file=False, environ={}, database_url=db_url, var_dir=tmp_path / "var",
                             smtp_host="127.0.0.1", smtp_port=smtp_port,
                             smtp_sender="kontor@test.example", alerts_email="ops@test.example",
                             alerts_webhook_url=url, web_base_url="https://hub.example")
    acme = _partner(session)
    _message(session, acme, state="dead")
    session.commit()

    (alert,) = alerts.evaluate(session, settings, now=NOW)
    assert len(mails) == 1 and len(posts) == 1
    mail = mails[0]
    assert mail["To"] == "ops@test.example" and "ACME: message(s) 1 dead" in mail["Subject"]
    assert f"https://hub.example/ops/alerts/{alert.id}" in mail.get_payload()
    content_type, body = posts[0]
    assert content_type == "application/json"
    assert body["key"] == "failure:ACME" and body["severity"] == "critical" and body["id"] == alert.id
    assert "e-mail to ops@test.example" in alert.notified and "webhook 204" in alert.notified

    alerts.evaluate(session, settings, now=NOW + dt.timedelta(minutes=1))
    assert len(mails) == 1 and len(posts) == 1  # a repeat is not sent again


def test_unreachable_webhook_is_recorded_not_raised(session, tmp_path, db_url):
    settings = load_settings(config_file=False, environ={}, database_url=db_url, var_dir=tmp_path / "var",
                             alerts_webhook_url="http://127.0.0.1:9/none")
    acme = _partner(session)
    _message(session, acme, state="dead")
    session.commit()
    (alert,) = alerts.evaluate(session, settings, now=NOW)
    assert alert.notified.startswith("webhook failed")


def test_worker_tick_evaluates_alerts_and_seals_secrets(hub_env, session):
    from hub.secrets import decrypt_settings, is_encrypted

    acme = session.scalar(select(Partner).where(Partner.code == "ACME"))
    _message(session, acme, state="dead", at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    session.add(Channel(partner=acme, name="their-sftp", kind="sftp", direction="out", active=False,
                        settings={"host": "h", "username": "u", "password": "from-the-file"}))
    session.commit()
    hub_env.worker().tick(force=True)
    session.expire_all()
    assert "failure:ACME" in _active(session)
    stored = session.scalar(select(Channel.settings).where(Channel.name == "their-sftp"))
    assert is_encrypted(stored["password"])
    assert decrypt_settings(hub_env.settings, stored)["password"] == "from-the-file"

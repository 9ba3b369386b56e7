"""AS2 both ways over real HTTP on loopback: the partner's ORDERS to our /as2, our ORDRSP
to the partner's endpoint; duplicates get the original MDN, redeliveries keep their Message-ID."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from adapters.as2 import As2Adapter, As2Partner, As2Settings, build_message, send
from extranet import as2 as as2_endpoint
from extranet import create_app
from hub import messages as store
from hub.as2 import ensure_identity
from hub.demo import load_demo
from hub.models import Channel, Message, Order
from hub.partners import load_profiles, sync_partners
from hub.states import State
from hub.worker import Worker
from tests.adapters.test_as2_endpoint import InMemoryAs2Hub


def key_pair(folder: Path, name: str, valid_days: tuple[int, int] = (-1, 365)) -> tuple[Path, Path]:
    """A key and self-signed certificate valid from/to these days relative to now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now + dt.timedelta(days=valid_days[0]))
            .not_valid_after(now + dt.timedelta(days=valid_days[1])).sign(key, hashes.SHA256()))
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


PARTNER_URLS: list[str] = []


class PartnerFaults:
    """WSGI middleware in front of the partner's /as2 that misbehaves on request, AFTER the
    partner stored the message: ``drop`` next messages get their connection dropped,
    ``stall`` next messages get their answer after ``stall_seconds``; with ``mdn_first``
    the asynchronous MDN a message asked for is posted (and answered) before the
    message's own HTTP answer. ``answers`` keeps every MDN body produced per Message-ID."""

    def __init__(self, app, hub):
        self.app, self.hub = app, hub
        self.drop = self.stall = 0
        self.stall_seconds = 2.5
        self.mdn_first = False
        self.answers: dict[str, list[bytes]] = {}
        self.mdn_posts: list[int] = []

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != "POST":
            return self.app(environ, start_response)
        message_id = environ.get("HTTP_MESSAGE_ID", "")
        queued = len(self.hub.async_mdns)
        answer: dict = {}
        body = b"".join(self.app(environ, lambda status, headers, exc_info=None: answer.update(s=status, h=headers)))
        self.answers.setdefault(message_id, []).append(body)
        if self.mdn_first and len(self.hub.async_mdns) > queued:
            url, headers, mdn = self.hub.async_mdns[-1]
            self.mdn_posts.append(send(url, headers, mdn, 30).status)
        if self.drop:
            self.drop -= 1
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            start_response("500 Dropped", [])
            return []
        if self.stall:
            self.stall -= 1
            time.sleep(self.stall_seconds)
        start_response(answer["s"], answer["h"])
        return [body]


class Server:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/as2"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def as2_world(settings, session_factory, tmp_path):
    partner_key, partner_cert = key_pair(tmp_path, "acme")
    _, our_cert = ensure_identity(settings)
    partner_local = As2Settings.from_dict({"as2_id": "ACME-AS2", "key": str(partner_key), "cert": str(partner_cert)})
    # the partner's own AS2 server, knowing us
    partner_hub = InMemoryAs2Hub([As2Partner(as2_id=settings.hub_as2_id, local=partner_local,
                                             certs=(x509.load_pem_x509_certificate(our_cert.read_bytes()),))])
    partner_app = Flask("partner")
    partner_app.register_blueprint(as2_endpoint.bp)
    partner_app.extensions["kontor_as2"] = partner_hub
    partner_hub.faults = PartnerFaults(partner_app.wsgi_app, partner_hub)
    partner_app.wsgi_app = partner_hub.faults
    partner_server = Server(partner_app)
    PARTNER_URLS.append(partner_server.url.rsplit("/as2", 1)[0])

    settings.partners_path.mkdir(parents=True)
    (settings.partners_path / "acme.toml").write_text(f"""
code = "ACME"
name = "Acme"
[[identifiers]]
scheme = "GLN"
value = "4012345000009"
[documents]
acknowledgements = []
[[channels]]
name = "as2"
kind = "as2"
as2_id = "ACME-AS2"
url = "{partner_server.url}"
cert = "{partner_cert}"
sign = "sha256"
encrypt = "aes256-cbc"
mdn = "sync"
""")
    with session_factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        load_demo(session, settings)
        session.commit()
    our_server = Server(create_app(settings, session_factory=session_factory))
    us = As2Partner(as2_id=settings.hub_as2_id, local=partner_local, url=our_server.url,
                    certs=(x509.load_pem_x509_certificate(our_cert.read_bytes()),))
    yield us, partner_hub
    our_server.stop()
    partner_server.stop()


def test_orders_by_as2_answered_by_as2(as2_world, settings, session_factory, orders_bytes):
    us, partner_hub = as2_world
    receipt = As2Adapter(us).deliver("PO-2026-0001.edi", orders_bytes)
    assert receipt.acknowledged, "our signed sync MDN verified at the partner, MIC matching"
    with session_factory() as session:
        inbound = session.scalar(select(Message))
        assert (inbound.filename, inbound.channel.kind) == ("PO-2026-0001.edi", "as2")
        assert inbound.receipt["message_id"] == receipt.data["message_id"]

    Worker(settings, session_factory, name="t").drain()
    with session_factory() as session:
        assert session.scalar(select(Order)).number == "PO-2026-0001"
        response = session.scalar(select(Message).where(Message.document_type == "ORDRSP"))
        assert response.state == State.ACKNOWLEDGED, response.error  # positive sync MDN from the partner
        first_id = response.receipt["message_id"]
    names = sorted(filename.split("_")[0] for _, filename, _, _ in partner_hub.stored)
    assert names == ["CONTRL", "ORDRSP"], "the ORDRSP, and the CONTRL the partner's UNB asked for"
    (sender, filename, payload, partner_receipt), = [s for s in partner_hub.stored if s[1].startswith("ORDRSP")]
    assert sender == settings.hub_as2_id
    assert b"ORDRSP:D:96A" in payload and partner_receipt["signed"]

    # the operator redelivers: same bytes, same Message-ID, the partner answers with its original MDN
    with session_factory() as session:
        store.redeliver(session, response.id, actor="ops", comment="partner asks again")
    Worker(settings, session_factory, name="t").drain()
    with session_factory() as session:
        again = session.get(Message, response.id)
        assert again.state == State.ACKNOWLEDGED
        assert again.receipt["message_id"] == first_id
    assert len(partner_hub.stored) == 2, "the partner recognised the resend"


def test_a_resent_message_gets_the_original_mdn_and_is_stored_once(as2_world, session_factory, orders_bytes):
    us, _ = as2_world
    out = build_message(orders_bytes, "po.edi", us)
    first = send(us.url, out.headers, out.body, 30)
    second = send(us.url, out.headers, out.body, 30)
    assert first.status == second.status == 200
    assert first.body == second.body, "the same MDN, byte for byte"
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_a_tampered_message_is_refused_and_not_stored(as2_world, session_factory, orders_bytes):
    us, _ = as2_world
    out = build_message(orders_bytes, "po.edi", us)
    body = bytearray(out.body)
    body[len(body) // 2] ^= 0x55
    answer = send(us.url, out.headers, bytes(body), 30)
    assert b"failed" in answer.body.lower() or b"error" in answer.body.lower()
    with session_factory() as session:
        (kept,) = session.scalars(select(Message))
        assert (kept.document_type, kept.state) == ("AS2", State.REJECTED), "kept for operations, not received"


def test_certificate_days_left_in_metrics(as2_world, settings, session_factory):
    from hub.certificates import certificate_days_left

    with session_factory() as session:
        ((partner, channel, key, days),) = list(certificate_days_left(session))
    assert (partner, channel, key) == ("ACME", "as2", "cert") and 363 < days <= 365
    text = create_app(settings, session_factory=session_factory).test_client().get("/metrics").get_data(as_text=True)
    assert re.search(r'kontor_certificate_days_left\{certificate="cert",channel="as2",fingerprint="[0-9a-f]{16}",'
                     r'partner="ACME"\}', text)


def test_asynchronous_mdns_both_ways(as2_world, settings, session_factory, orders_bytes):
    import dataclasses

    us, partner_hub = as2_world
    # 1. the partner asks us for an asynchronous MDN to its own endpoint
    partner_mdn_url = partner_hub_url(as2_world) + "/as2"
    asking = dataclasses.replace(us, mdn="async", local=dataclasses.replace(us.local, mdn_url=partner_mdn_url))
    receipt = As2Adapter(asking).deliver("po.edi", orders_bytes)
    partner_hub.expect_mdn(receipt.data["message_id"], asking, receipt.data["mic"])
    with session_factory() as session:
        mdn = session.scalar(select(Message).where(Message.document_type == "MDN"))
        assert mdn.state == State.QUEUED and mdn.receipt["mdn_url"] == partner_mdn_url
    worker = Worker(settings, session_factory, name="t")
    worker.drain()
    _, _, result = partner_hub.outbound[receipt.data["message_id"]]
    assert result is not None and result.ok and result.mic_ok, "the partner got a verified MDN, MIC matching"

    # 2. our ORDRSP asks the partner for an asynchronous MDN, which arrives later at /as2
    with session_factory() as session:
        channel = session.scalar(select(Message).where(Message.document_type == "ORDRSP")).channel
        channel.settings = {**channel.settings, "mdn": "async"}
        response = session.scalar(select(Message).where(Message.document_type == "ORDRSP"))
        response_id = response.id
        store.redeliver(session, response_id, actor="ops", comment="again, with an async MDN")
    settings_with_url = dataclasses.replace(settings, hub_as2_mdn_url=us.url)
    Worker(settings_with_url, session_factory, name="t").drain()
    with session_factory() as session:
        response = session.get(Message, response_id)
        assert response.state == State.DELIVERED
    url, headers, body = partner_hub.async_mdns[-1]
    assert url == us.url
    answer = send(url, headers, body, 30)
    assert answer.status == 200
    with session_factory() as session:
        assert session.get(Message, response_id).state == State.ACKNOWLEDGED


def partner_hub_url(world) -> str:
    return PARTNER_URLS[-1]


def _answered_orders(as2_world, settings, session_factory, orders_bytes, **channel_settings):
    """Acme's ORDERS in by AS2 and processed; our answers to Acme queued on its as2 channel."""
    us, _ = as2_world
    As2Adapter(us).deliver("PO-2026-0001.edi", orders_bytes)
    with session_factory() as session:
        inbound = session.scalar(select(Message))
        inbound.channel.settings = {**inbound.channel.settings, **channel_settings}
        session.commit()


def _due_now(session_factory, message_id: int) -> None:
    with session_factory() as session:
        session.get(Message, message_id).next_attempt_at = None
        session.commit()


@pytest.mark.parametrize("fault", ["connection dropped", "MDN timed out"])
def test_a_retry_after_the_partner_stored_the_message_keeps_its_message_id(
        as2_world, settings, session_factory, orders_bytes, fault):
    us, partner_hub = as2_world
    faults = partner_hub.faults
    _answered_orders(as2_world, settings, session_factory, orders_bytes, timeout=1)
    if fault == "connection dropped":
        faults.drop = 1
    else:
        faults.stall = 1
    Worker(settings, session_factory, name="t").drain()
    with session_factory() as session:
        failed = session.scalar(select(Message).where(Message.direction == "out", Message.state == State.FAILED))
        assert failed is not None, "the first delivery failed on our side"
        assert "AS2 endpoint" in failed.error
        failed_id = failed.id
    assert len(partner_hub.stored) == 2, "yet the partner had stored it (and the other answer)"
    first_id = next(r["message_id"] for _, name, _, r in partner_hub.stored if name == failed.filename)

    _due_now(session_factory, failed_id)
    Worker(settings, session_factory, name="t").drain()
    with session_factory() as session:
        again = session.get(Message, failed_id)
        assert again.state == State.ACKNOWLEDGED, again.error
        assert again.receipt["message_id"] == first_id, "the retry went under the first Message-ID"
    assert len(partner_hub.stored) == 2, "the partner stored the message once"
    assert [r["message_id"] for _, _, _, r in partner_hub.stored].count(first_id) == 1
    first_mdn, second_mdn = faults.answers[first_id]
    assert first_mdn == second_mdn, "the duplicate was answered with the original MDN"


def test_an_async_mdn_arriving_during_the_post_acknowledges_the_message(
        as2_world, settings, session_factory, orders_bytes):
    import dataclasses

    us, partner_hub = as2_world
    _answered_orders(as2_world, settings, session_factory, orders_bytes, mdn="async")
    partner_hub.faults.mdn_first = True  # the partner's MDN reaches /as2 before its HTTP 200
    Worker(dataclasses.replace(settings, hub_as2_mdn_url=us.url), session_factory, name="t").drain()
    assert partner_hub.faults.mdn_posts == [200, 200], "both MDNs found their message while it was being sent"
    with session_factory() as session:
        answers = list(session.scalars(select(Message).where(Message.direction == "out")))
        assert {m.document_type for m in answers} == {"ORDRSP", "CONTRL"}
        for message in answers:
            assert message.state == State.ACKNOWLEDGED, message.error
            assert "asynchronous MDN processed" in message.receipt["delivery"]


def _set_channel(session_factory, **changes):
    with session_factory() as session:
        channel = session.scalar(select(Channel).where(Channel.kind == "as2"))
        channel.settings = {**channel.settings, **changes}
        session.commit()


@pytest.mark.parametrize("fault", ["tampered payload", "wrong signing key", "encrypted for another key",
                                   "expired certificate", "unknown partner"])
def test_a_refused_message_is_kept_as_rejected_and_a_good_resend_is_taken_once(
        as2_world, settings, session_factory, orders_bytes, tmp_path, monkeypatch, fault):
    import dataclasses

    from adapters import as2 as as2_adapter

    us, _ = as2_world
    good = build_message(orders_bytes, "po.edi", us)
    sender, body = us, None
    if fault == "tampered payload":  # signed, not encrypted, and a quantity changed on the way
        _set_channel(session_factory, require_encrypted=False)
        out = build_message(orders_bytes, "po.edi", dataclasses.replace(us, encrypt=None), message_id=good.message_id)
        assert out.body.count(b"QTY+21:10:PCE") == 1
        body = out.body.replace(b"QTY+21:10:PCE", b"QTY+21:90:PCE")
        modifier = "integrity-check-failed"
    elif fault == "wrong signing key":
        key, cert = key_pair(tmp_path, "mallory")
        sender = dataclasses.replace(us, local=As2Settings.from_dict(
            {"as2_id": "ACME-AS2", "key": str(key), "cert": str(cert)}))
        modifier = "authentication-failed"
    elif fault == "encrypted for another key":
        _, cert = key_pair(tmp_path, "somebody-else")
        sender = dataclasses.replace(us, certs=(x509.load_pem_x509_certificate(cert.read_bytes()),))
        modifier = "decryption-failed"
    elif fault == "expired certificate":
        key, cert = key_pair(tmp_path, "acme-2024", valid_days=(-400, -10))
        sender = dataclasses.replace(us, local=As2Settings.from_dict(
            {"as2_id": "ACME-AS2", "key": str(key), "cert": str(cert)}))
        _set_channel(session_factory, cert=str(cert))  # we still have the partner's old certificate only
        # the partner's software signs with it regardless (ours refuses to)
        monkeypatch.setattr(as2_adapter, "_expired", lambda cert, now: False)
        modifier = "authentication-failed"
    else:
        sender = dataclasses.replace(us, local=dataclasses.replace(us.local, as2_id="STRANGER-AS2"))
        modifier = "authentication-failed"
    if body is None:
        out = build_message(orders_bytes, "po.edi", sender, message_id=good.message_id)
        body = out.body
        monkeypatch.undo()
    answer = send(us.url, out.headers, body, 30)
    assert answer.status == 200 and f"Error: {modifier}".encode() in answer.body, answer.body[:1000]

    Worker(settings, session_factory, name="t").drain()
    with session_factory() as session:
        (refused,) = session.scalars(select(Message))
        assert (refused.direction, refused.document_type, refused.state) == ("in", "AS2", State.REJECTED)
        assert modifier in refused.error and good.message_id in refused.error
        if fault == "expired certificate":
            assert "expired" in refused.error
        assert store.payload_bytes(refused).endswith(body), "the request is kept as it arrived"
        assert refused.receipt["body_bytes"] == refused.receipt["body_kept"] == len(body)
        assert f"message-id: {good.message_id}".lower().encode() in store.payload_bytes(refused).lower()
        assert refused.receipt["mdn"]["disposition"].endswith(f"processed/Error: {modifier}")
        assert refused.receipt["mdn_body"].encode() == answer.body, "the error MDN we answered"
        assert (refused.partner is None) == (fault == "unknown partner")
        assert session.scalar(select(func.count()).select_from(Order)) == 0, "nothing applied"
        with pytest.raises(store.RepairError, match="send it again"):
            store.reprocess(session, refused.id, actor="ops", comment="try")

    if fault == "expired certificate":
        _set_channel(session_factory, cert=str(tmp_path / "acme.crt"))  # the partner's new certificate
    first = send(us.url, good.headers, good.body, 30)
    second = send(us.url, good.headers, good.body, 30)
    assert b"processed" in first.body and b"Error" not in first.body
    assert first.body == second.body, "the resend after the good one gets the same MDN"
    Worker(settings, session_factory, name="t").drain()
    with session_factory() as session:
        received = list(session.scalars(select(Message).where(Message.direction == "in",
                                                              Message.document_type != "AS2")))
        assert len(received) == 1 and received[0].receipt["message_id"] == good.message_id
        assert session.scalar(select(func.count()).select_from(Order)) == 1


def test_a_post_cut_off_mid_body_stores_nothing_and_the_resend_is_taken_once(as2_world, session_factory,
                                                                              orders_bytes):
    from urllib.parse import urlsplit

    us, _ = as2_world
    out = build_message(orders_bytes, "po.edi", us)
    where = urlsplit(us.url)
    head = "".join(f"{k}: {v}\r\n" for k, v in out.headers.items())
    request = (f"POST {where.path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Length: {len(out.body)}\r\n"
               f"{head}\r\n").encode() + out.body[: len(out.body) // 2]
    with socket.create_connection((where.hostname, where.port), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)  # the sender's line drops half way through the body
        answer = conn.recv(65536)
    assert b"processed" not in answer, "no MDN for half a message"
    time.sleep(0.2)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0, "nothing stored, not even a refusal"

    first = send(us.url, out.headers, out.body, 30)
    again = send(us.url, out.headers, out.body, 30)
    assert b"processed" in first.body and b"Error" not in first.body and first.body == again.body
    with session_factory() as session:
        (received,) = session.scalars(select(Message))
        assert received.receipt["message_id"] == out.message_id and received.filename == "po.edi"


def test_a_message_id_is_a_duplicate_only_from_the_same_partner(as2_world, settings, session_factory, orders_bytes,
                                                                 tmp_path):
    """Another partner (or a stranger) using Acme's Message-ID does not get Acme's MDN: it is its own message."""
    import dataclasses

    us, _ = as2_world
    acme = build_message(orders_bytes, "po.edi", us)
    acme_mdn = send(us.url, acme.headers, acme.body, 30)
    assert b"processed" in acme_mdn.body and b"Error" not in acme_mdn.body

    # a stranger claims the same Message-ID: checked as what it is, an unknown partner
    stranger = dataclasses.replace(us, local=dataclasses.replace(us.local, as2_id="STRANGER-AS2"))
    forged = build_message(orders_bytes, "po.edi", stranger, message_id=acme.message_id)
    answer = send(us.url, forged.headers, forged.body, 30)
    assert answer.body != acme_mdn.body and b"Error: authentication-failed" in answer.body

    # a second real partner happens to use the same Message-ID: stored as its own message
    key, cert = key_pair(tmp_path, "globex")
    (settings.partners_path / "globex.toml").write_text(f"""
code = "GLOBEX"
name = "Globex"
[[identifiers]]
scheme = "GLN"
value = "4099999000005"
[[channels]]
name = "as2"
kind = "as2"
as2_id = "GLOBEX-AS2"
url = "http://127.0.0.1:9/as2"
cert = "{cert}"
""")
    with session_factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        session.commit()
    globex = dataclasses.replace(us, local=As2Settings.from_dict(
        {"as2_id": "GLOBEX-AS2", "key": str(key), "cert": str(cert)}))
    theirs = build_message(b"UNA:+.? 'UNB+UNOC:3+4099999000005:14+4000001000005:14+261125:0930+G1'UNZ+0+G1'",
                           "globex.edi", globex, message_id=acme.message_id)
    first = send(us.url, theirs.headers, theirs.body, 30)
    again = send(us.url, theirs.headers, theirs.body, 30)
    assert first.status == 200 and b"processed" in first.body and b"Error" not in first.body
    assert first.body != acme_mdn.body and again.body == first.body, "Globex's resend gets Globex's MDN"
    with session_factory() as session:
        received = session.scalars(select(Message).where(Message.document_type.is_(None) | (Message.document_type != "AS2"))).all()
        assert sorted(m.partner.code for m in received) == ["ACME", "GLOBEX"]
        assert all(m.receipt["message_id"] == acme.message_id for m in received)


def test_of_a_refused_request_from_an_unknown_sender_only_the_start_is_kept(as2_world, session_factory,
                                                                           orders_bytes, monkeypatch):
    import dataclasses

    from hub import as2 as hub_as2

    monkeypatch.setattr(hub_as2, "UNKNOWN_SENDER_KEEP_BYTES", 100)
    us, _ = as2_world
    stranger = dataclasses.replace(us, local=dataclasses.replace(us.local, as2_id="STRANGER-AS2"))
    out = build_message(orders_bytes, "po.edi", stranger)
    send(us.url, out.headers, out.body, 30)
    with session_factory() as session:
        (refused,) = session.scalars(select(Message))
        assert refused.state == State.REJECTED and refused.partner is None
        assert (refused.receipt["body_bytes"], refused.receipt["body_kept"]) == (len(out.body), 100)
        assert store.payload_bytes(refused).endswith(b"\r\n\r\n" + out.body[:100])


def test_an_unknown_sender_asking_for_an_async_mdn_gets_no_outbound_mdn(as2_world, settings, session_factory,
                                                                       orders_bytes):
    import dataclasses

    from hub.as2 import DbAs2Hub

    us, _ = as2_world
    stranger = dataclasses.replace(us, mdn="async", local=dataclasses.replace(
        us.local, as2_id="STRANGER-AS2", mdn_url="file:///etc/passwd"))
    out = build_message(orders_bytes, "po.edi", stranger)
    answer = send(us.url, out.headers, out.body, 30)
    assert answer.status == 200 and b"authentication-failed" in answer.body, "the error MDN answered synchronously"
    with session_factory() as session:
        (refused,) = session.scalars(select(Message))
        assert refused.state == State.REJECTED and refused.document_type == "AS2"
        assert refused.receipt["mdn"]["mode"] == "sync" and refused.receipt["mdn"]["url"] is None
        assert "the error MDN was answered" in refused.events[-1].detail
    # the hub itself refuses to queue one either way
    hub = DbAs2Hub(session_factory, settings)
    with pytest.raises(ValueError, match="not a known AS2 partner"):
        hub.send_async_mdn("http://127.0.0.1:9/x", {"AS2-To": "STRANGER-AS2"}, b"mdn")
    with pytest.raises(ValueError, match="not an http\\(s\\) URL"):
        hub.send_async_mdn("file:///etc/passwd", {"AS2-To": "ACME-AS2"}, b"mdn")
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Message).where(Message.document_type == "MDN")) == 0


def test_an_async_mdn_that_is_not_accepted_is_recorded_on_the_message(as2_world, settings, session_factory,
                                                                      orders_bytes):
    import dataclasses

    from adapters.as2 import peek_mdn
    from hub.as2_models import As2Transfer

    us, partner_hub = as2_world
    _answered_orders(as2_world, settings, session_factory, orders_bytes, mdn="async")
    Worker(dataclasses.replace(settings, hub_as2_mdn_url=us.url), session_factory, name="t").drain()
    url, headers, body = partner_hub.async_mdns[0]
    original = peek_mdn(headers, body)
    with session_factory() as session:
        transfer = session.scalar(select(As2Transfer).where(As2Transfer.message_id == original))
        message_id = transfer.message_fk
        assert session.get(Message, message_id).state == State.DELIVERED

    # a signed MDN whose text was changed: the signature does not verify
    tampered = body.replace(b"processed", b"processeD", 1)
    assert tampered != body
    with pytest.raises(Exception, match="HTTP 400"):
        send(url, headers, tampered, 30)
    with session_factory() as session:
        message = session.get(Message, message_id)
        assert message.state == State.ACK_OVERDUE
        assert message.error.startswith("asynchronous MDN not accepted") and original in message.error
        last = message.events[-1]
        assert (last.event, last.state, last.actor) == ("overdue", State.ACK_OVERDUE, "as2 endpoint")
        assert "not accepted" in last.detail
        transfer = session.scalar(select(As2Transfer).where(As2Transfer.message_id == original))
        assert transfer.mdn_body == tampered, "the refused MDN is kept as it arrived"

    # the same MDN without its signature (a signed one was asked for): the trace says so, the state stays
    content_type = next(v for k, v in headers.items() if k.lower() == "content-type")
    signed = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body,
                                      policy=email.policy.HTTP)
    report = signed.get_payload(0).as_bytes()
    report_head, _, report_body = report.partition(b"\r\n\r\n")
    unsigned_headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    unsigned_headers["Content-Type"] = email.message_from_bytes(report_head + b"\r\n\r\n")["Content-Type"]
    with pytest.raises(Exception, match="HTTP 400"):
        send(url, unsigned_headers, report_body, 30)
    with session_factory() as session:
        message = session.get(Message, message_id)
        assert message.state == State.ACK_OVERDUE and message.events[-1].event == "mdn_refused"
        assert "not signed" in message.events[-1].detail and "not signed" in message.error
        assert session.scalar(select(As2Transfer.mdn_body).where(As2Transfer.message_id == original)) == report_body

    # the genuine MDN still acknowledges it, and the error is cleared
    assert send(url, headers, body, 30).status == 200
    with session_factory() as session:
        message = session.get(Message, message_id)
        assert message.state == State.ACKNOWLEDGED and message.error is None


def test_an_untrusted_async_mdn_during_the_delivery_does_not_fail_it(as2_world, settings, session_factory,
                                                                     orders_bytes):
    """An MDN that does not verify (forged, garbled) arriving while the POST still runs is not taken as
    the delivery's receipt: the trace says it came, and the genuine one is still taken after it."""
    import dataclasses

    from adapters.as2 import peek_mdn
    from hub.as2 import early_mdn
    from hub.as2_models import As2Transfer

    us, partner_hub = as2_world
    _answered_orders(as2_world, settings, session_factory, orders_bytes, mdn="async")
    Worker(dataclasses.replace(settings, hub_as2_mdn_url=us.url), session_factory, name="t").drain()
    url, headers, body = partner_hub.async_mdns[0]
    original = peek_mdn(headers, body)
    with session_factory() as session:  # as if the POST of this message were still running
        transfer = session.scalar(select(As2Transfer).where(As2Transfer.message_id == original))
        message_id = transfer.message_fk
        transfer.mdn_headers, transfer.mdn_body = None, None
        session.get(Message, message_id).state = State.DELIVERING
        session.commit()

    tampered = body.replace(b"processed", b"processeD", 1)
    with pytest.raises(Exception, match="HTTP 400"):
        send(url, headers, tampered, 30)
    with session_factory() as session:
        message = session.get(Message, message_id)
        assert message.state == State.DELIVERING and message.error is None
        last = message.events[-1]
        assert (last.event, last.state) == ("mdn_refused", State.DELIVERING)
        assert "during the delivery: not taken as its receipt" in last.detail
        assert early_mdn(session, original) is None, "the delivering worker finds no receipt to fail on"

    assert send(url, headers, body, 30).status == 200
    with session_factory() as session:
        kept = early_mdn(session, original)
        assert kept is not None and kept[1] == body, "the genuine MDN is kept for the delivering worker"

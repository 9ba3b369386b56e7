"""POST /as2 end to end: the Flask test client, and a real HTTP server with As2Adapter."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from adapters.as2 import (As2Adapter, As2Partner, As2Settings, build_mdn, build_message, parse_mdn, parse_message, peek_mdn,
                          send)
from adapters.base import TransportError

PAYLOAD = b"UNB+UNOC:3+ACME:14+KONTOR:14+261125:1200+7'UNH+1+ORDERS:D:96A:UN'BGM+220+PO7'UNT+3+1'UNZ+1+7'"


class InMemoryAs2Hub:
    """The ``kontor_as2`` protocol of extranet/as2.py, in memory (the hub's is DB-backed)."""

    def __init__(self, partners: list[As2Partner]):
        self.partners = {(p.as2_id, p.local.as2_id): p for p in partners}
        self.stored: list[tuple[str, str | None, bytes, dict[str, Any]]] = []
        self.mdns: dict[tuple[str, str], tuple[dict[str, str], bytes]] = {}  # (AS2-From, Message-ID) -> MDN
        self.async_mdns: list[tuple[str, dict[str, str], bytes]] = []
        self.fail_store = False
        self.lock = threading.Lock()
        self.outbound: dict[str, tuple[As2Partner, str, Any]] = {}

    def lookup(self, as2_from: str, as2_to: str) -> As2Partner | None:
        return self.partners.get((as2_from, as2_to))

    def store(self, partner_as2_id: str, filename: str | None, payload: bytes, receipt: dict[str, Any]) -> None:
        if self.fail_store:
            raise RuntimeError("database is locked")
        with self.lock:
            if any(r["message_id"] == receipt["message_id"] and sender == partner_as2_id
                   for sender, _, _, r in self.stored):
                raise RuntimeError("duplicate Message-ID")
            self.stored.append((partner_as2_id, filename, payload, receipt))
            self.mdns[(partner_as2_id, receipt["message_id"])] = (receipt["mdn_headers"], receipt["mdn_body"])

    def seen(self, message_id: str, as2_from: str) -> tuple[dict[str, str], bytes] | None:
        return self.mdns.get((as2_from, message_id))

    def remember_mdn(self, message_id: str, headers: dict[str, str], body: bytes) -> None:
        return None  # store() kept it

    def send_async_mdn(self, url: str, headers: dict[str, str], body: bytes) -> None:
        self.async_mdns.append((url, headers, body))

    # outbound side: our messages awaiting an async MDN, by Message-ID -> (partner, MIC)
    def expect_mdn(self, message_id: str, partner: As2Partner, mic: str) -> None:
        self.outbound[message_id] = (partner, mic, None)

    def receive_mdn(self, headers: dict[str, str], body: bytes) -> None:
        message_id = peek_mdn(headers, body)
        if message_id not in self.outbound:
            raise LookupError(message_id)
        partner, mic, _ = self.outbound[message_id]
        self.outbound[message_id] = (partner, mic, parse_mdn(headers, body, message_id, mic, partner))


@pytest.fixture
def profiles(identities):
    hub_local = As2Settings("KONTOR", identities["hub"].key, identities["hub"].cert)
    acme_local = As2Settings("ACME", identities["partner"].key, identities["partner"].cert, mdn_url="https://acme.example/mdn")
    return (As2Partner("ACME", hub_local, (identities["partner"].cert,)),
            As2Partner("KONTOR", acme_local, (identities["hub"].cert,), url="http://127.0.0.1/as2"))


@pytest.fixture
def app(profiles) -> Flask:
    from extranet.as2 import bp

    app = Flask("as2-test")
    app.register_blueprint(bp)
    app.extensions["kontor_as2"] = InMemoryAs2Hub([profiles[0]])
    return app


def post(client, out):
    return client.post("/as2", data=out.body, headers=out.headers)


def test_message_stored_then_sync_mdn(app, profiles):
    hub = app.extensions["kontor_as2"]
    out = build_message(PAYLOAD, "ORDERS_7.edi", profiles[1])
    res = post(app.test_client(), out)
    assert res.status_code == 200
    assert hub.stored[0][:3] == ("ACME", "ORDERS_7.edi", PAYLOAD)
    receipt = hub.stored[0][3]
    assert receipt["message_id"] == out.message_id and receipt["mic"] == out.mic and receipt["encrypted"] == "aes256-cbc"
    mdn = parse_mdn(dict(res.headers), res.get_data(), out.message_id, out.mic, profiles[1])
    assert mdn.ok and mdn.signed


def test_duplicate_gets_original_mdn_and_is_not_stored_again(app, profiles):
    hub = app.extensions["kontor_as2"]
    client = app.test_client()
    out = build_message(PAYLOAD, "ORDERS_7.edi", profiles[1])
    first = post(client, out)
    again = build_message(PAYLOAD, "ORDERS_7.edi", profiles[1], message_id=out.message_id)  # a resend: same id
    second = post(client, again)
    assert second.status_code == 200 and second.get_data() == first.get_data()
    assert len(hub.stored) == 1


def test_store_failure_answers_503_without_mdn_and_resend_works(app, profiles):
    hub = app.extensions["kontor_as2"]
    client = app.test_client()
    out = build_message(PAYLOAD, "ORDERS_7.edi", profiles[1])
    hub.fail_store = True
    res = post(client, out)
    assert res.status_code == 503 and hub.seen(out.message_id, "KONTOR") is None
    hub.fail_store = False
    res = post(client, out)
    assert res.status_code == 200 and len(hub.stored) == 1


def test_refused_message_gets_error_mdn_and_nothing_stored(app, profiles):
    hub = app.extensions["kontor_as2"]
    out = build_message(PAYLOAD, "ORDERS_7.edi", dataclasses.replace(profiles[1], encrypt=None))
    tampered = out._replace(body=out.body.replace(b"PO7", b"PO8"))
    res = post(app.test_client(), tampered)
    assert res.status_code == 200 and hub.stored == []
    mdn = parse_mdn(dict(res.headers), res.get_data(), out.message_id, out.mic, profiles[1])
    assert not mdn.ok and mdn.modifier == "Error: integrity-check-failed"
    assert hub.seen(out.message_id, "KONTOR") is None  # a corrected resend with the same id is processed


def test_async_and_no_mdn(app, profiles):
    hub = app.extensions["kontor_as2"]
    client = app.test_client()
    out = build_message(PAYLOAD, "a.edi", dataclasses.replace(profiles[1], mdn="async"))
    res = post(client, out)
    assert res.status_code == 200 and res.get_data() == b""
    [(url, headers, body)] = hub.async_mdns
    assert url == "https://acme.example/mdn" and parse_mdn(headers, body, out.message_id, out.mic, profiles[1]).ok
    out = build_message(PAYLOAD, "b.edi", dataclasses.replace(profiles[1], mdn="none"))
    res = post(client, out)
    assert res.status_code == 200 and res.get_data() == b"" and len(hub.stored) == 2 and len(hub.async_mdns) == 1



def test_an_unknown_sender_asking_for_an_async_mdn_is_answered_synchronously(app, profiles):
    hub = app.extensions["kontor_as2"]
    stranger_local = dataclasses.replace(profiles[1].local, as2_id="STRANGER", mdn_url="http://127.0.0.1:9/collect")
    stranger = dataclasses.replace(profiles[1], local=stranger_local, mdn="async")
    out = build_message(PAYLOAD, "x.edi", stranger)
    assert out.headers["Receipt-Delivery-Option"] == "http://127.0.0.1:9/collect"
    res = post(app.test_client(), out)
    assert res.status_code == 200 and hub.stored == []
    assert hub.async_mdns == [], "the hub posts nothing for a sender it does not know"
    assert b"authentication-failed" in res.get_data(), "the error MDN is the HTTP answer"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/mdn", "gopher://127.0.0.1:70/x", "//acme.example/x",
                                 "https://evil.example/mdn"])
def test_an_async_mdn_only_goes_to_an_http_url_on_the_partners_mdn_hosts(app, profiles, url):
    hub = app.extensions["kontor_as2"]
    hub.partners[("ACME", "KONTOR")] = dataclasses.replace(profiles[0], mdn_hosts=("acme.example",))
    client = app.test_client()
    out = build_message(PAYLOAD, "a.edi", dataclasses.replace(profiles[1], mdn="async"))
    res = client.post("/as2", data=out.body, headers={**out.headers, "Receipt-Delivery-Option": url})
    assert res.status_code == 200 and len(hub.stored) == 1, "the message itself is taken"
    assert hub.async_mdns == []
    assert parse_mdn(dict(res.headers), res.get_data(), out.message_id, out.mic, profiles[1]).ok, "answered synchronously"
    # the partner's configured host is allowed
    out = build_message(PAYLOAD, "b.edi", dataclasses.replace(profiles[1], mdn="async"))
    res = client.post("/as2", data=out.body, headers=out.headers)
    assert res.status_code == 200 and res.get_data() == b""
    assert [u for u, _, _ in hub.async_mdns] == ["https://acme.example/mdn"]


def test_mdn_hosts_setting_and_send_refuses_other_schemes(profiles, identities):
    p = As2Partner.from_dict({"as2_id": "ACME", "cert": [str(identities["partner"].cert_path)], "mdn_hosts": ["as2.acme.example"]},
                             profiles[0].local)
    assert p.mdn_hosts == ("as2.acme.example",)
    with pytest.raises(ValueError, match="partner ACME: mdn_hosts must be a list of host names"):
        As2Partner.from_dict({"as2_id": "ACME", "cert": [str(identities["partner"].cert_path)], "mdn_hosts": "x"},
                             profiles[0].local, where="partner ACME")
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x"):
        with pytest.raises(TransportError, match="is not an http\\(s\\) URL") as exc:
            send(url, {}, b"x", 5)
        assert exc.value.retryable is False


@pytest.fixture
def live(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/as2"
    server.shutdown()
    thread.join(5)


@pytest.mark.parametrize("encrypt", ["aes256-cbc", "aes128-gcm"])
def test_as2_adapter_over_real_http(app, profiles, live, encrypt):
    hub = app.extensions["kontor_as2"]
    partner = dataclasses.replace(profiles[1], url=live, encrypt=encrypt, compress="after-sign")
    receipt = As2Adapter(partner).deliver("ORDERS_7.edi", PAYLOAD)
    assert receipt.acknowledged and hub.stored[0][2] == PAYLOAD
    assert "MDN processed" in receipt.detail


def test_as2_adapter_http_errors(profiles, live, app):
    bad_url = dataclasses.replace(profiles[1], url=live.replace("/as2", "/nope"))
    with pytest.raises(TransportError, match="HTTP 404") as exc:
        As2Adapter(bad_url).deliver("x.edi", PAYLOAD)
    assert exc.value.retryable is False
    app.extensions["kontor_as2"].fail_store = True
    with pytest.raises(TransportError, match="HTTP 503") as exc:
        As2Adapter(dataclasses.replace(profiles[1], url=live)).deliver("x.edi", PAYLOAD)
    assert exc.value.retryable is True
    with pytest.raises(TransportError, match="cannot reach") as exc:
        As2Adapter(dataclasses.replace(profiles[1], url="http://127.0.0.1:9/as2", timeout=5)).deliver("x.edi", PAYLOAD)
    assert exc.value.retryable is True


def test_async_mdn_for_our_message_is_matched_and_checked(app, profiles):
    """We sent a message with an async MDN; the partner posts the MDN to /as2."""
    hub = app.extensions["kontor_as2"]
    hub_local = profiles[0].local
    ours = dataclasses.replace(profiles[0], mdn="async", local=dataclasses.replace(hub_local, mdn_url="http://hub/as2"))
    out = build_message(PAYLOAD, "ORDRSP_1.edi", ours)
    hub.expect_mdn(out.message_id, ours, out.mic)
    received = parse_message(out.headers, out.body, lambda a, b: profiles[1])  # the partner's side
    assert received.mdn_request.url == "http://hub/as2"
    mdn_headers, mdn_body = build_mdn(received)
    client = app.test_client()
    res = client.post("/as2", data=mdn_body, headers=mdn_headers)
    assert res.status_code == 200 and hub.outbound[out.message_id][2].ok
    assert hub.stored == []  # an MDN is not a message
    res = client.post("/as2", data=mdn_body.replace(b"processed", b"processeD"), headers=mdn_headers)
    assert res.status_code == 400
    hub.outbound.clear()
    assert client.post("/as2", data=mdn_body, headers=mdn_headers).status_code == 404


def _cut_off_server(read_bytes: int) -> tuple[str, threading.Event, list[int]]:
    """A loopback endpoint that reads the request's head and ``read_bytes`` of its body, then
    resets the connection. Returns its URL, an event set once it cut, and the byte counts read."""
    import socket
    import struct

    listener = socket.create_server(("127.0.0.1", 0))
    cut, got = threading.Event(), []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            body = len(data.split(b"\r\n\r\n", 1)[1])
            while body < read_bytes:
                body += len(conn.recv(65536))
            got.append(body)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
        listener.close()
        cut.set()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/as2", cut, got


def test_a_post_cut_off_mid_body_is_a_retryable_transport_error(profiles):
    payload = PAYLOAD * 40000  # ~4 MB: still being sent when the peer resets
    url, cut, got = _cut_off_server(64 * 1024)
    partner = dataclasses.replace(profiles[1], url=url, timeout=10)
    with pytest.raises(TransportError, match=f"cannot reach AS2 endpoint {url}") as exc:
        As2Adapter(partner).deliver("ORDERS_7.edi", payload)
    assert exc.value.retryable is True, "the message is tried again, under the same Message-ID (hub.transport)"
    assert cut.wait(5) and 0 < got[0] < len(payload)


@pytest.mark.parametrize("options,failure", [
    ("signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=required, md5", "unsupported MIC-algorithms"),
    ("signed-receipt-protocol=required, pgp-signature; signed-receipt-micalg=optional, sha-256", "unsupported format"),
    ("signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, md5", None),
])
def test_a_required_mdn_option_we_cannot_honour_fails_the_message(app, profiles, options, failure):
    hub = app.extensions["kontor_as2"]
    out = build_message(PAYLOAD, "ORDERS_7.edi", profiles[1])
    headers = {**out.headers, "Disposition-Notification-Options": options}
    res = app.test_client().post("/as2", data=out.body, headers=headers)
    assert res.status_code == 200
    mdn = parse_mdn(dict(res.headers), res.get_data(), out.message_id, out.mic, profiles[1], require_signed=False)
    if failure is None:  # an optional algorithm we lack: the signature's digest instead, and processed
        assert mdn.status == "processed" and mdn.modifier is None and len(hub.stored) == 1
        return
    assert mdn.disposition == f"automatic-action/MDN-sent-automatically; failed/Failure: {failure}"
    assert (mdn.status, mdn.ok) == ("failed", False)
    assert hub.stored == [] and hub.seen(out.message_id, "KONTOR") is None, "not processed, so a resend is taken"


def test_large_message_is_spooled_to_disk_over_real_http(app, profiles, live, tmp_path, monkeypatch):
    """A body past the spool threshold (8 MiB) goes to a file under KONTOR_AS2_SPOOL_DIR, never kept."""
    from adapters import as2_spool

    hub = app.extensions["kontor_as2"]
    app.config["KONTOR_AS2_SPOOL_DIR"] = str(tmp_path / "spool")
    spilled: list[bool] = []
    close = as2_spool.Spool.close

    def spy(self):  # type: ignore[no-untyped-def]
        spilled.append(self.on_disk)
        close(self)

    monkeypatch.setattr(as2_spool.Spool, "close", spy)
    payload = bytes(range(256)) * (9 * 4096)  # 9 MiB of binary, every byte value
    sender = dataclasses.replace(profiles[1], url=live, encrypt="aes128-gcm")
    receipt = As2Adapter(sender).deliver("big.bin", payload)
    assert receipt.acknowledged  # the sync MDN is positive and its MIC matches ours
    assert hub.stored[0][2] == payload and hub.stored[0][1] == "big.bin"
    assert True in spilled  # the request body (and the decrypted entity) were spooled on disk
    assert (tmp_path / "spool").is_dir() and list((tmp_path / "spool").iterdir()) == []  # nothing left behind


def test_body_over_the_limit_is_refused_with_413(app, profiles):
    hub = app.extensions["kontor_as2"]
    app.config["KONTOR_AS2_MAX_BYTES"] = 1000
    out = build_message(PAYLOAD * 40, "x.edi", profiles[1])
    res = post(app.test_client(), out)
    assert res.status_code == 413 and hub.stored == []

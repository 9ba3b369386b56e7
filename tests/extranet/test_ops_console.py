"""The operations console's dashboard, alerts, bulk repairs, partner and channel management, and roles."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from hub.models import AuditEntry, Channel, Message, MessageEvent, Partner, PartnerIdentifier, User
from hub.ops_models import Alert
from hub.secrets import decrypt_settings, is_encrypted
from tests.extranet.conftest import login, password_hash, post, rows


@pytest.fixture
def admin_client(client, session, world):
    session.add(User(email="admin@kontor.example", name="Admin", role="ops_admin", password_hash=password_hash()))
    session.commit()
    assert login(client, "admin@kontor.example").status_code == 302
    return client


@pytest.fixture
def viewer_client(client):
    assert login(client, "viewer@kontor.example").status_code == 302
    return client


def _text(response) -> str:
    return response.get_data(as_text=True)


# --- dashboard -----------------------------------------------------------------------


def test_dashboard_charts_are_accessible_svg_with_tables(viewer_client, session, world):
    order_in = session.get(Message, world.acme_message)
    answer = Message(direction="out", partner_id=world.acme, document_type="ORDRSP", state="queued",
                     answers_id=order_in.id, issues=[], receipt={}, size=0)
    session.add(answer)
    session.flush()
    received = session.scalar(select(MessageEvent.at).where(MessageEvent.message_id == order_in.id,
                                                            MessageEvent.event == "store"))
    session.add(MessageEvent(message_id=answer.id, event="store", state="queued", actor="worker",
                             at=received + dt.timedelta(seconds=42)))
    session.add(Alert(key="dead:ACME", kind="failure", severity="critical", title="ACME: 1 message(s) dead",
                      state="open", count=1))
    session.commit()
    page = viewer_client.get("/ops/dashboard")
    assert page.status_code == 200
    html = _text(page)
    assert html.count("<svg") == 4 and 'role="img"' in html
    assert '<title id="chart-volume-title">' in html and '<desc id="chart-volume-desc">' in html
    assert "<script" not in html and "cdn" not in html.lower()
    assert "Messages per day</caption>" in html and "ACME: 1 message(s) dead" in html
    assert re.search(r"<td class=\"num\">1</td><td class=\"num\">42\.0</td><td class=\"num\">42\.0</td>", html)
    table = html[html.index("Messages per partner, busiest first"):]
    assert "ACME" in table and "BETA" in table
    only_beta = _text(viewer_client.get(f"/ops/dashboard?days=7&partner={world.beta}"))
    table = only_beta[only_beta.index("Messages per partner, busiest first"):]
    assert "BETA" in table and "ACME" not in table.split("</table>")[0]


# --- alerts -------------------------------------------------------------------------------


def test_alerts_list_and_acknowledge(ops_client, session, world):
    session.add(Alert(key="dead:ACME", kind="failure", severity="critical", title="ACME: 2 message(s) dead",
                      state="open", count=3, partner_id=world.acme))
    session.add(Alert(key="polling:BETA/x", kind="polling", severity="warning", title="BETA: polling fails",
                      state="closed", count=1))
    session.commit()
    alert_id = rows(session, select(Alert.id).where(Alert.key == "dead:ACME"))[0][0]
    listing = _text(ops_client.get("/ops/alerts"))
    assert "ACME: 2 message(s) dead" in listing and "BETA: polling fails" not in listing
    assert "BETA: polling fails" in _text(ops_client.get("/ops/alerts?state=closed"))

    refused = post(ops_client, f"/ops/alerts/{alert_id}/acknowledge", {"comment": " "}, token_from="/ops/alerts")
    assert refused.status_code == 302
    done = post(ops_client, f"/ops/alerts/{alert_id}/acknowledge", {"comment": "calling ACME"},
                token_from="/ops/alerts", follow_redirects=True)
    assert "Alert acknowledged" in _text(done) and "calling ACME" in _text(done)
    state, comment = rows(session, select(Alert.state, Alert.comment).where(Alert.id == alert_id))[0]
    assert (state, comment) == ("acknowledged", "calling ACME")


def test_viewer_cannot_acknowledge(viewer_client, session, world):
    session.add(Alert(key="k", kind="failure", severity="warning", title="t", state="open", count=1))
    session.commit()
    alert_id = rows(session, select(Alert.id))[0][0]
    assert "may look but not acknowledge" in _text(viewer_client.get(f"/ops/alerts/{alert_id}"))
    response = post(viewer_client, f"/ops/alerts/{alert_id}/acknowledge", {"comment": "x"}, token_from="/ops/alerts")
    assert response.status_code == 403


# --- bulk repairs -----------------------------------------------------------------------------


def test_bulk_resolve_counts_refusals_and_records_comment(ops_client, session, world):
    preview = _text(ops_client.get(f"/ops/messages/bulk?partner={world.acme}"))
    assert "selects <strong>3</strong>" in preview
    no_comment = post(ops_client, "/ops/messages/bulk", {"action": "resolve", "partner": str(world.acme)},
                      token_from="/ops/messages", follow_redirects=True)
    assert "a comment is required" in _text(no_comment)
    assert rows(session, select(Message.state).where(Message.id == world.error_message))[0][0] == "rejected"

    done = post(ops_client, "/ops/messages/bulk",
                {"action": "resolve", "partner": str(world.acme), "comment": "partner resent corrected files"},
                token_from="/ops/messages", follow_redirects=True)
    html = _text(done)
    # rejected -> resolved is allowed; processed (ORDERS) and delivered (ORDRSP) are not
    assert "Resolve: 1 message(s) done; refused 2: 1 not allowed from" in html
    assert rows(session, select(Message.state).where(Message.id == world.error_message))[0][0] == "resolved"
    detail = rows(session, select(MessageEvent.detail).where(MessageEvent.message_id == world.error_message,
                                                              MessageEvent.event == "resolve"))
    assert detail == [("partner resent corrected files",)]
    assert rows(session, select(AuditEntry.action).where(AuditEntry.action == "message.bulk_resolve"))


def test_bulk_reprocess_by_state_filter(ops_client, session, world):
    done = post(ops_client, "/ops/messages/bulk", {"action": "reprocess", "state": "rejected", "comment": "fixed"},
                token_from="/ops/messages", follow_redirects=True)
    assert "Reprocess: 1 message(s) done" in _text(done)
    assert rows(session, select(Message.state).where(Message.id == world.error_message))[0][0] == "received"


def test_bulk_forbidden_for_viewer(viewer_client, world):
    response = post(viewer_client, "/ops/messages/bulk", {"action": "resolve", "comment": "x"},
                    token_from="/ops/messages")
    assert response.status_code == 403


# --- message detail: chain, paging -------------------------------------------------------------


def test_message_detail_shows_document_chain(ops_client, world):
    html = _text(ops_client.get(f"/ops/messages/{world.acme_message}"))
    assert "Document chain: order PO-ACME-1" in html
    chain = html[html.index("chain-title"):html.index('id="trace"')]
    for text in ("order response", "OR-1", "despatch advice", "DN-1", "invoice", "INV-1"):
        assert text in chain


def test_message_list_pages_by_created_at_then_id(ops_client, session, world):
    from hub.monitor import MessageFilter, list_messages

    base = dt.datetime(2026, 11, 1, 12, 0)
    for i in range(5):  # same timestamp for some: the id breaks the tie
        session.add(Message(direction="in", partner_id=world.beta, state="processed", issues=[], receipt={},
                            size=0, created_at=base + dt.timedelta(minutes=i // 2), business_ref=f"PAGE-{i}"))
    session.commit()
    seen = []
    before = None
    while True:
        page = list_messages(session, MessageFilter(partner_id=world.beta), before=before, limit=2)
        seen += [m.id for m in page.items]
        if page.next_before is None:
            break
        before = page.next_before
    session.rollback()
    everything = [m.id for m in list_messages(session, MessageFilter(partner_id=world.beta), limit=100).items]
    session.rollback()
    assert seen == everything and len(seen) == len(set(seen)) == 6
    html = _text(ops_client.get(f"/ops/messages?partner={world.beta}&before={everything[1]}"))
    assert f">{everything[2]}</a>" in html and f">{everything[0]}</a>" not in html


# --- partners and channels ------------------------------------------------------------------------


def test_partner_management_is_for_admins(ops_client, world):
    assert ops_client.get("/ops/partners/new").status_code == 403
    response = post(ops_client, f"/ops/partners/{world.acme}", {"code": "ACME", "name": "X"}, token_from="/ops/partners")
    assert response.status_code == 403
    assert ops_client.get(f"/ops/partners/{world.acme}").status_code == 200  # reading is fine


def test_create_partner_identifiers_documents(admin_client, session, world):
    created = post(admin_client, "/ops/partners/new", {"code": "gamma", "name": "Gamma SA", "country": "fr",
                                                       "currency": "EUR"}, token_from="/ops/partners")
    assert created.status_code == 302
    partner_id = rows(session, select(Partner.id).where(Partner.code == "GAMMA"))[0][0]
    page = f"/ops/partners/{partner_id}"
    bad = post(admin_client, f"{page}/identifiers", {"scheme": "GLN", "value": "4012345000008"}, token_from=page,
               follow_redirects=True)
    assert "is not a GLN" in _text(bad)
    post(admin_client, f"{page}/identifiers", {"scheme": "GLN", "value": "4099999000005"}, token_from=page)
    taken = post(admin_client, f"{page}/identifiers", {"scheme": "GLN", "value": "4012345000009"}, token_from=page,
                 follow_redirects=True)
    assert "already belongs to partner ACME" in _text(taken)
    assert rows(session, select(PartnerIdentifier.value).where(PartnerIdentifier.partner_id == partner_id)) == [
        ("4099999000005",)]

    saved = post(admin_client, f"{page}/documents",
                 {"syntax": "edifact", "directory": "D01B", "subset": "UN", "charset": "UNOC",
                  "acknowledgements": "APERAK", "order_response": "on", "ack_expected_hours": "6",
                  "alert_silence_hours": "12", "leniencies": ""}, token_from=page, follow_redirects=True)
    assert "Document preferences saved" in _text(saved)
    profile = rows(session, select(Partner.profile).where(Partner.id == partner_id))[0][0]
    assert profile["directory"] == "D01B" and profile["acknowledgements"] == ["APERAK"]
    assert profile["alert_silence_hours"] == 12.0 and profile["ack_expected_hours"] == 6.0
    wrong = post(admin_client, f"{page}/documents", {"syntax": "edifact", "directory": "D01B", "subset": "UN",
                                                     "charset": "UNOC", "leniencies": "no-such-leniency"},
                 token_from=page, follow_redirects=True)
    assert "Not saved: documents.leniencies" in _text(wrong)
    actions = {a for (a,) in rows(session, select(AuditEntry.action))}
    assert {"partner.create", "partner.identifier.add", "partner.documents"} <= actions


def test_saving_documents_keeps_the_rest_of_the_profile(admin_client, session, world):
    acme = session.get(Partner, world.acme)
    oidc = {"issuer": "https://login.acme.example", "client_id": "kontor", "email_domains": ["acme.example"]}
    acme.profile = {"syntax_version": "4", "directory": "D01B", "alert_silence_hours": 8.0, "oidc": oidc}
    session.commit()
    page = f"/ops/partners/{world.acme}"
    shown = _text(admin_client.get(page))
    assert re.search(r'<select id="syntax_version" name="syntax_version"[^>]*>.*<option selected>4</option>', shown)
    # a form without the syntax version (an older page) keeps the stored one
    saved = post(admin_client, f"{page}/documents",
                 {"syntax": "edifact", "directory": "D96A", "subset": "EANCOM", "charset": "UNOC",
                  "acknowledgements": "CONTRL", "ack_expected_hours": "12", "alert_silence_hours": "8",
                  "leniencies": ""}, token_from=page, follow_redirects=True)
    assert "Document preferences saved" in _text(saved)
    profile = rows(session, select(Partner.profile).where(Partner.id == world.acme))[0][0]
    assert profile["oidc"] == oidc
    assert profile["syntax_version"] == "4" and profile["directory"] == "D96A"
    assert profile["ack_expected_hours"] == 12.0 and profile["alert_silence_hours"] == 8.0
    # the select changes it; an emptied silence field turns the silence alert off
    post(admin_client, f"{page}/documents",
         {"syntax": "edifact", "directory": "D96A", "subset": "EANCOM", "charset": "UNOC", "syntax_version": "2",
          "ack_expected_hours": "12", "alert_silence_hours": "", "leniencies": ""}, token_from=page)
    profile = rows(session, select(Partner.profile).where(Partner.id == world.acme))[0][0]
    assert profile["oidc"] == oidc and profile["syntax_version"] == "2"
    assert profile["alert_silence_hours"] is None
    refused = post(admin_client, f"{page}/documents", {"syntax": "edifact", "syntax_version": "5"},
                   token_from=page, follow_redirects=True)
    assert "Not saved: documents.syntax_version" in _text(refused)
    assert rows(session, select(Partner.profile).where(Partner.id == world.acme))[0][0]["syntax_version"] == "2"


def _pem(days: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_channel_secrets_are_encrypted_and_write_only(admin_client, session, settings, world, tmp_path):
    page = f"/ops/partners/{world.beta}"
    data = {"name": "beta-sftp", "kind": "sftp", "direction": "both", "active": "on",
            "settings": 'host = "127.0.0.1"\nport = 1\nusername = "beta"\nhost_keys = []\ninbound_dir = "in"\n',
            "password": "s3cret-pass"}
    response = post(admin_client, f"{page}/channels/new", data, token_from=page, follow_redirects=True)
    assert "Channel beta-sftp saved" in _text(response)
    assert "s3cret-pass" not in _text(response) and "set · enter to replace" in _text(response)
    stored = rows(session, select(Channel.id, Channel.settings).where(Channel.name == "beta-sftp"))[0]
    channel_id, channel_settings = stored
    assert is_encrypted(channel_settings["password"]) and "s3cret" not in str(channel_settings)
    assert decrypt_settings(settings, channel_settings)["password"] == "s3cret-pass"
    audit_text = str(rows(session, select(AuditEntry.detail).where(AuditEntry.action == "channel.create")))
    assert "password" in audit_text and "s3cret" not in audit_text

    # saving again without a password keeps it; secrets in the settings text are refused
    again = dict(data, password="", settings=data["settings"] + "port = 2\n")
    post(admin_client, f"{page}/channels/{channel_id}", dict(again, settings=data["settings"].replace("1", "2", 1)),
         token_from=page)
    kept = rows(session, select(Channel.settings).where(Channel.id == channel_id))[0][0]
    assert decrypt_settings(settings, kept)["password"] == "s3cret-pass"
    refused = post(admin_client, f"{page}/channels/{channel_id}",
                   dict(data, settings=data["settings"] + 'password = "plain"\n'), token_from=page,
                   follow_redirects=True)
    assert "password is a secret" in _text(refused)

    # the adapter gets the plaintext; the connection test fails cleanly (nothing listens on port 2)
    tested = post(admin_client, f"{page}/channels/{channel_id}/test", {}, token_from=page, follow_redirects=True)
    assert "Test connection failed" in _text(tested)


def test_certificate_upload_shows_expiry(admin_client, session, world):
    page = f"/ops/partners/{world.acme}"
    channel_id = rows(session, select(Channel.id).where(Channel.name == "acme-sftp"))[0][0]
    bad = post(admin_client, f"{page}/channels/{channel_id}/certificate",
               {"key": "cert", "pem_text": "junk"}, token_from=page, follow_redirects=True)
    assert "not a PEM certificate" in _text(bad)
    done = post(admin_client, f"{page}/channels/{channel_id}/certificate",
                {"key": "cert", "pem_text": _pem(20).decode()}, token_from=page, follow_redirects=True)
    html = _text(done)
    assert "Certificate stored; valid until" in html and ">cert<" in html
    assert re.search(r'class="num error">(19|20)\.\d', html)


def test_certificate_list_path_rollover_and_removal(admin_client, session, settings, world, tmp_path):
    old_pem, other_pem, new_pem = _pem(200).decode(), _pem(300).decode(), _pem(400).decode()
    path = tmp_path / "partner.crt"
    path.write_text(other_pem)
    acme = session.get(Partner, world.acme)
    channel = Channel(partner=acme, name="acme-as2", kind="as2", direction="both",
                      settings={"as2_id": "ACME", "certs": [old_pem, str(path)], "cert": "", "local_cert": 42})
    session.add(channel)
    session.commit()
    channel_id = channel.id
    page = f"/ops/partners/{world.acme}/channels/{channel_id}"
    shown = admin_client.get(page)
    assert shown.status_code == 200  # a list used to raise TypeError here
    html = _text(shown)
    assert str(path) in html and html.count("CN=partner") == 2
    assert html.count("unreadable") == 1 and "entry 1 is int" in html  # only the bad local_cert

    # a rollover keeps the old certificates; the same one twice is refused
    done = post(admin_client, f"{page}/certificate", {"key": "cert", "pem_text": new_pem}, token_from=page,
                follow_redirects=True)
    assert "Certificate stored" in _text(done)
    stored = rows(session, select(Channel.settings).where(Channel.id == channel_id))[0][0]
    assert stored["certs"] == [old_pem, str(path), new_pem.strip() + "\n"] and "cert" not in stored
    again = post(admin_client, f"{page}/certificate", {"key": "certs", "pem_text": old_pem}, token_from=page,
                 follow_redirects=True)
    assert "already stored" in _text(again)

    # remove the old one; the last partner certificate of an AS2 channel stays
    post(admin_client, f"{page}/certificate/remove", {"key": "certs", "index": "0"}, token_from=page)
    post(admin_client, f"{page}/certificate/remove", {"key": "certs", "index": "0"}, token_from=page)
    last = post(admin_client, f"{page}/certificate/remove", {"key": "certs", "index": "0"}, token_from=page,
                follow_redirects=True)
    assert "only partner certificate" in _text(last)
    stored = rows(session, select(Channel.settings).where(Channel.id == channel_id))[0][0]
    assert stored["certs"] == [new_pem.strip() + "\n"]
    details = [d for (d,) in rows(session, select(AuditEntry.detail)
                                  .where(AuditEntry.action == "channel.certificate_removed"))]
    assert len(details) == 2 and all("SHA-256" in d for d in details)
    assert post(admin_client, f"{page}/certificate/remove", {"key": "certs", "index": "5"},
                token_from=page).status_code == 404


def test_folder_channel_test_connection(admin_client, session, world, tmp_path):
    (tmp_path / "f-in").mkdir()
    page = f"/ops/partners/{world.beta}"
    data = {"name": "drop", "kind": "folder", "direction": "both", "active": "on",
            "settings": f'inbound = "{tmp_path / "f-in"}"\noutbound = "{tmp_path / "f-out"}"\n'}
    post(admin_client, f"{page}/channels/new", data, token_from=page)
    channel_id = rows(session, select(Channel.id).where(Channel.name == "drop"))[0][0]
    failed = post(admin_client, f"{page}/channels/{channel_id}/test", {}, token_from=page, follow_redirects=True)
    assert "Test connection failed" in _text(failed) and "f-out: missing" in _text(failed)
    (tmp_path / "f-out").mkdir()
    passed = post(admin_client, f"{page}/channels/{channel_id}/test", {}, token_from=page, follow_redirects=True)
    assert "Test connection succeeded" in _text(passed)
    assert rows(session, select(AuditEntry.action).where(AuditEntry.action == "channel.test"))


def test_as2_test_connection_against_loopback(admin_client, session, world):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Answer(BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802
            self.send_response(405)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        acme = session.get(Partner, world.acme)
        channel = Channel(partner=acme, name="as2", kind="as2",
                          settings={"as2_id": "ACME", "url": f"http://127.0.0.1:{server.server_port}/as2"})
        session.add(channel)
        session.commit()
        page = f"/ops/partners/{world.acme}"
        done = post(admin_client, f"{page}/channels/{channel.id}/test", {}, token_from=page, follow_redirects=True)
        assert "Test connection succeeded" in _text(done) and "answered 405" in _text(done)
    finally:
        server.shutdown()
        server.server_close()


def test_state_counts_are_capped_and_skip_final_states(session, world):
    from hub.monitor import state_counts

    counts = state_counts(session)
    assert counts == {"rejected": 1}  # processed (final) and delivered are not counted
    session.add_all([Message(direction="in", partner_id=world.beta, state="failed", issues=[], receipt={}, size=0)
                     for _ in range(3)])
    session.commit()
    assert state_counts(session, cap=2)["failed"] == 3  # cap + 1: "more than 2"
    assert state_counts(session, partner_id=world.acme) == {"rejected": 1}


@pytest.mark.parametrize("path", ["/ops/dashboard", "/ops/alerts", "/ops/messages/bulk", "/ops/partners/1"])
def test_partner_users_are_kept_out(acme_client, path):
    assert acme_client.get(path).status_code == 403


def test_anonymous_is_sent_to_sign_in(client, world):
    response = client.get("/ops/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the faulty element, marked --------------------------------------------------------


def test_message_page_marks_the_faulty_element_and_component(viewer_client, session, world):
    from tests.extranet.conftest import _message

    data = (b"UNA|*,# ~UNB*UNOC|3*SENDER|14*RECIPIENT|14*261125|1200*IC0100~UNH*1*ORDERS|D|96A|UN~"
            b"BGM*220*PO#~1*9~QTY*21|abc~UNT*4*1~UNZ*1*IC0100~")
    issues = [{"segment": 3, "tag": "BGM", "element": 2, "message": "document number too long", "code": "39"},
              {"segment": 4, "tag": "QTY", "element": 1, "component": 2, "message": "abc is not a number"},
              {"segment": 4, "tag": "QTY", "element": 3, "message": "mandatory element missing"}]
    acme = session.get(Partner, world.acme)
    message = _message(session, acme, data, state="rejected", issues=issues, ref="IC0100")
    session.commit()
    page = _text(viewer_client.get(f"/ops/messages/{message.id}"))
    # the whole element 2 of BGM, its release character kept; the separators stay outside the marks
    assert '<code>BGM*220*<mark class="fault" title="document number too long">PO#~1</mark>*9~</code>' in page
    # component 2 of QTY element 1, and a marker where the missing element 3 belongs
    assert ('<code>QTY*21|<mark class="fault" title="abc is not a number">abc</mark>'
            '*<mark class="missing" title="mandatory element missing">(element 3 missing)</mark>~</code>') in page
    assert page.count("<mark ") == 3
    assert re.search(r'id="segment-2"[^>]*>\s*<span class="segno"[^>]*>2</span><code>UNH\*1\*ORDERS\|D', page)


def test_segment_pieces_give_the_segment_back():
    from hub.monitor import segment_pieces

    text = "FTX+AAI+++Release ?' and ?+ kept:x'"
    pieces = segment_pieces(text, "'", None, [{"element": 4, "component": 1, "message": "too long"},
                                              {"element": 4, "component": 1, "message": "bad character"}])
    assert "".join(p.text for p in pieces) == text
    (marked,) = [p for p in pieces if p.note]
    assert marked.text == "Release ?' and ?+ kept" and marked.note == "too long; bad character"
    assert [p.text for p in segment_pieces("DTM+137'", "'", None, [{"element": 1, "component": 3, "message": "m"}])
            ] == ["DTM", "+", "137", ":", "(component 3 missing)", "'"]


def test_an_archived_payload_is_shown_and_downloaded_from_the_archive(viewer_client, session, settings, world):
    import dataclasses
    import hashlib

    from hub.models import Payload
    from hub.retention import archive_path, run_retention
    from tests.extranet.conftest import ORDERS_WITH_ERROR

    message = session.get(Message, world.error_message)
    message.payload.sha256 = hashlib.sha256(ORDERS_WITH_ERROR).hexdigest()
    message.payload.created_at = dt.datetime(2020, 1, 1)
    payload_id = message.payload_id
    session.commit()
    retention = dataclasses.replace(settings, retention_payload_days=30, retention_mode="archive")
    assert run_retention(session, retention, actor="test").archived >= 1
    assert rows(session, select(Payload.data).where(Payload.id == payload_id)) == [(None,)]

    page = _text(viewer_client.get(f"/ops/messages/{world.error_message}"))
    assert 'id="archived-note"' in page and "no longer stored" not in page
    assert '<mark class="fault" title="2026112X is not a date (CCYYMMDD)">2026112X</mark>' in page
    download = viewer_client.get(f"/ops/messages/{world.error_message}/payload")
    assert download.status_code == 200 and download.data == ORDERS_WITH_ERROR

    path = archive_path(settings, session.get(Payload, payload_id))
    path.unlink()
    session.rollback()
    assert "no longer stored" in _text(viewer_client.get(f"/ops/messages/{world.error_message}"))
    assert viewer_client.get(f"/ops/messages/{world.error_message}/payload").status_code == 404


# --- downloads -----------------------------------------------------------------------------


def test_parsed_document_downloads_as_json(viewer_client, session, world):
    import json

    from tests.extranet.conftest import _message

    orders = (b"UNA:+.? 'UNB+UNOC:3+4012345000009:14+4000001000005:14+261125:1200+IC0200'"
              b"UNH+1+ORDERS:D:96A:UN:EAN008'BGM+220+PO-JSON-1+9'DTM+137:20261125:102'"
              b"NAD+BY+4012345000009::9'LIN+1++4012345000016:SRV'QTY+21:5'UNS+S'UNT+8+1'UNZ+1+IC0200'")
    message = _message(session, session.get(Partner, world.acme), orders, ref="IC0200")
    session.commit()
    page = _text(viewer_client.get(f"/ops/messages/{message.id}"))
    assert f'href="/ops/messages/{message.id}/document.json"' in page
    response = viewer_client.get(f"/ops/messages/{message.id}/document.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert f'filename="message-{message.id}-document.json"' in response.headers["Content-Disposition"]
    document = json.loads(response.data)
    assert document["number"] == "PO-JSON-1" and document["lines"][0]["quantity"] == "5"
    # nothing sound to parse (the DTM error) or no EDI at all: 404, and no link
    assert viewer_client.get(f"/ops/messages/{world.error_message}/document.json").status_code == 404
    assert "document.json" not in _text(viewer_client.get(f"/ops/messages/{world.error_message}"))


def test_payloads_of_a_filter_download_as_a_zip(viewer_client, session, world, monkeypatch):
    import csv
    import io
    import zipfile

    from hub import monitor
    from tests.extranet.conftest import ORDERS_WITH_ERROR

    session.get(Message, world.acme_message).payload.data = None  # purged by retention
    session.commit()
    listing = _text(viewer_client.get("/ops/messages", query_string={"partner": world.acme}))
    assert f"/ops/messages/payloads.zip?partner={world.acme}" in listing
    response = viewer_client.get("/ops/messages/payloads.zip", query_string={"partner": world.acme})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert {int(r["message_id"]) for r in manifest} == {world.acme_message, world.error_message,
                                                        world.outbound_message}  # ACME only
    by_id = {int(r["message_id"]): r for r in manifest}
    assert archive.read(by_id[world.error_message]["file"]) == ORDERS_WITH_ERROR
    assert by_id[world.acme_message]["file"] == "" and "no longer stored" in by_id[world.acme_message]["note"]
    assert len(archive.namelist()) == 3  # two payloads and the manifest
    assert rows(session, select(AuditEntry.action).where(AuditEntry.action == "message.download_zip"))

    monkeypatch.setattr(monitor, "ZIP_LIMIT", 1)  # bounded: the newest ones only, and it says so
    bounded = viewer_client.get("/ops/messages/payloads.zip")
    assert bounded.headers["X-Kontor-Messages"] == "1" and bounded.headers["X-Kontor-More"] == "true"
    nothing = viewer_client.get("/ops/messages/payloads.zip", query_string={"reference": "NO-SUCH-REF"},
                                follow_redirects=True)
    assert "nothing to download" in _text(nothing)


def test_document_type_filter_offers_mixed_and_mdn(viewer_client, session, world):
    from tests.extranet.conftest import _message

    acme = session.get(Partner, world.acme)
    mixed = _message(session, acme, b"UNB+UNOC:3+A+B+261125:1200+IC0300'UNZ+2+IC0300'", document_type="MIXED",
                     ref="IC0300")
    mdn = _message(session, acme, b"Disposition: automatic-action/MDN-sent-automatically; processed",
                   document_type="MDN", ref="MDN-1")
    session.commit()
    page = _text(viewer_client.get("/ops/messages"))
    assert '<option value="MIXED">MIXED (an interchange of several types)</option>' in page
    assert '<option value="MDN">MDN (AS2 receipt)</option>' in page
    only_mixed = _text(viewer_client.get("/ops/messages", query_string={"document_type": "MIXED"}))
    assert f'href="/ops/messages/{mixed.id}"' in only_mixed and f'href="/ops/messages/{mdn.id}"' not in only_mixed
    only_mdn = _text(viewer_client.get("/ops/messages", query_string={"document_type": "MDN"}))
    assert f'href="/ops/messages/{mdn.id}"' in only_mdn and f'href="/ops/messages/{mixed.id}"' not in only_mdn


# --- free text of the message list ------------------------------------------------------------


def _text_messages(session, count, **columns_at):
    """A partner of its own with ``count`` messages a minute apart (oldest first); ``columns_at`` maps
    ``m<index>`` to the columns that message gets. Returns (partner id, messages)."""
    partner = Partner(code="ZQTX", name="Free text test", country="DE", currency="EUR", profile={})
    session.add(partner)
    session.flush()
    partner_id = partner.id
    base = dt.datetime(2026, 10, 1, 8, 0)
    made = []
    for i in range(count):
        values = {"interchange_ref": f"ICX{i:04d}", "message_ref": "1", "filename": f"plain_{i}.edi",
                  **columns_at.get(f"m{i}", {})}
        made.append(Message(direction="in", partner_id=partner_id, state="processed", issues=[], receipt={},
                            size=0, created_at=base + dt.timedelta(minutes=i), **values))
    session.add_all(made)
    session.commit()
    return partner_id, made


def test_free_text_matches_each_column_case_blind_and_literally(session, world):
    from hub.monitor import MessageFilter, list_messages

    partner_id, made = _text_messages(session, 9, m0={"interchange_ref": "ZQIC-7781"},
                          m1={"message_ref": "ZQMR-5512"}, m2={"business_ref": "PO-ZQ-4410"},
                          m3={"filename": "in/ZQfile_3309.xml"}, m4={"sender_id": "ZQS 99001"},
                          m5={"recipient_id": "zqr-88020"},
                          m6={"error": "segment 4 (QTY) element 1: ZQ value 'x' is not a number"},
                          m7={"filename": "100%_done.edi"}, m8={"filename": "100x_done.edi"})
    ids = [m.id for m in made]

    def found(term):
        items = list_messages(session, MessageFilter(partner_id=partner_id, text=term), limit=100).items
        session.rollback()
        return [m.id for m in items]

    assert found("zqic-7781") == [ids[0]]
    assert found("mr-551") == [ids[1]]
    assert found("PO-ZQ") == [ids[2]]
    assert found("FILE_33") == [ids[3]]
    assert found("s 990") == [ids[4]]
    assert found("ZQR-88") == [ids[5]]
    assert found("is NOT a number") == [ids[6]]
    assert found("zq") == [ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]]  # newest first
    assert found("100%_") == [ids[7]]  # % and _ are the characters themselves, not wildcards
    assert found("0%") == [ids[7]]
    # the indexed expression joins the columns with newlines: no match across two of them
    assert found("7781\n1") == [] and found("ZQIC-77811") == []
    assert found("nothing like this") == []


def test_free_text_without_an_index_searches_a_window_a_page_and_finds_every_match(ops_client, session, world,
                                                                                    monkeypatch):
    from hub import monitor
    from hub.monitor import MessageFilter, list_messages

    # "q7" has no run of three letters or digits: no trigram, so the bounded search on both databases
    hits = {3, 4, 5, 6, 13, 14}
    partner_id, made = _text_messages(session, 16, **{f"m{i}": {"business_ref": f"ORD-Q7-{i}"} for i in hits})
    expected = [made[i].id for i in sorted(hits, reverse=True)]
    filters = MessageFilter(partner_id=partner_id, text="q7")
    assert not monitor.text_indexed("q7", "postgresql") and monitor.text_indexed("ord-q7", "postgresql")
    seen, before, pages = [], None, []
    while True:
        page = list_messages(session, filters, before=before, limit=2, text_window=4)
        session.rollback()
        pages.append(page)
        seen += [m.id for m in page.items]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == expected
    assert [len(p.items) for p in pages] == [2, 0, 2, 2, 0]  # windows 15-12, 11-8, 7-4 (3 hits), 4-1, 0
    assert [p.searched_to is not None for p in pages] == [True, True, False, True, False]
    assert pages[-1].searched_to is None
    # every message of the filter was looked at once: the windows' floors step down 4 messages at a time
    floors = [p.searched_to for p in pages if p.searched_to is not None]
    assert floors == sorted(floors, reverse=True) and len(floors) == len(set(floors))

    monkeypatch.setattr(monitor, "TEXT_SCAN_WINDOW", 4)
    html = _text(ops_client.get("/ops/messages", query_string={"partner": partner_id, "text": "q7"}))
    assert 'id="text-hint"' in html and "a page searches 4 messages" in html
    assert "Free text: searched 4 messages" in html and "Search older messages" in html
    newest_match = f'href="/ops/messages/{expected[0]}"'
    assert newest_match in html  # message 14, inside the first window (15..12)
    assert "No messages match." not in html


@pytest.mark.skipif("config.getoption('--db-url', default='').startswith('sqlite') "
                    "or not config.getoption('--db-url', default='')")
def test_free_text_uses_the_trigram_index_on_postgresql(session, world):
    from sqlalchemy import text

    from hub.monitor import MessageFilter

    _text_messages(session, 3, m1={"error": "ZQ unknown buyer GLN"})
    stmt = MessageFilter(text="unknown buyer").apply(select(Message.id), "postgresql")
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
    session.rollback()
    assert "ix_message_search_trgm" in plan
    assert [m for m in session.scalars(stmt)] == [session.scalar(select(Message.id).where(
        Message.error == "ZQ unknown buyer GLN"))]

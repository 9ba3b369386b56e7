"""The operations console: message list and filters, detail with trace and segments, repairs, partners."""

from __future__ import annotations

import re

from sqlalchemy import select

from hub.models import AuditEntry, Message, MessageEvent
from hub.monitor import payload_view, split_segments
from tests.extranet.conftest import ORDERS_WITH_ERROR, login, post, rows


def test_message_list_and_filters(ops_client, world):
    page = ops_client.get("/ops/messages").get_data(as_text=True)
    for ref in ("IC0001", "IC0002", "IC0003"):
        assert ref in page
    page = ops_client.get("/ops/messages", query_string={"partner": world.beta}).get_data(as_text=True)
    assert "IC0003" in page and "IC0001" not in page
    page = ops_client.get("/ops/messages", query_string={"state": "rejected"}).get_data(as_text=True)
    assert "IC0001" in page and "IC0002" not in page
    page = ops_client.get("/ops/messages", query_string={"state": "problem"}).get_data(as_text=True)
    assert "IC0001" in page and "IC0003" not in page
    page = ops_client.get("/ops/messages", query_string={"direction": "out"}).get_data(as_text=True)
    assert ">9<" in page.replace(" ", "") or "ORDRSP" in page
    assert "IC0002" not in page
    page = ops_client.get("/ops/messages", query_string={"reference": "IC0002"}).get_data(as_text=True)
    assert "IC0002" in page and "IC0003" not in page
    page = ops_client.get("/ops/messages", query_string={"business_ref": "PO-BETA-1"}).get_data(as_text=True)
    assert "IC0003" in page and "IC0002" not in page
    page = ops_client.get("/ops/messages", query_string={"text": "not a date"}).get_data(as_text=True)
    assert "IC0001" in page and "IC0002" not in page
    page = ops_client.get("/ops/messages", query_string={"date_from": "2000-01-01", "date_to": "2000-01-02"})
    assert "No messages match" in page.get_data(as_text=True)
    assert ops_client.get("/ops/messages", query_string={"date_from": "junk"}).status_code == 200


def test_message_list_pages_by_keyset(app, session_factory, ops_client, world):
    from hub.monitor import MessageFilter, list_messages

    with session_factory() as s:
        first = list_messages(s, MessageFilter(), limit=2)
        assert len(first.items) == 2 and first.next_before == first.items[-1].id
        second = list_messages(s, MessageFilter(), before=first.next_before, limit=2)
        assert {m.id for m in first.items}.isdisjoint(m.id for m in second.items)
        assert len(second.items) == 2 and second.next_before is None  # four messages in all
    page = ops_client.get("/ops/messages", query_string={"before": world.beta_message}).get_data(as_text=True)
    assert "IC0003" not in page


def test_message_detail_shows_segments_and_highlights_the_error(ops_client, world):
    page = ops_client.get(f"/ops/messages/{world.error_message}").get_data(as_text=True)
    # Every segment on its own numbered line, UNB = 1.
    assert re.search(r'id="segment-1".*UNB\+UNOC:3', page, re.S)
    assert re.search(r'id="segment-4"[^>]*>\s*<span class="segno"[^>]*>4</span><code>DTM\+137:'
                     r'<mark class="fault" title="2026112X is not a date \(CCYYMMDD\)">2026112X</mark>:102&#39;</code>',
                     page)
    assert page.count("<mark ") == 1  # only the faulty component, separators left as written
    flagged = re.findall(r'<li class="segment flagged" id="segment-(\d+)"', page)
    assert flagged == ["4"]
    assert "2026112X is not a date" in page
    # The released apostrophe stays inside its segment.
    assert "FTX+AAI+++Release ?&#39; and ?+ kept&#39;" in page
    # The trace: every event with actor and detail.
    assert "worker-1" in page and "sftp:acme" in page and "file ORDERS_1.edi" in page
    assert "Reprocess" in page and "Resolve" in page and "Redeliver" not in page


def test_split_segments_honours_una_and_release():
    una, segments = split_segments("UNA:+.? 'UNB+X'FTX+A?'B'")
    assert una == "UNA:+.? '" and segments == ["UNB+X", "FTX+A?'B"]
    una, segments = split_segments("UNA|*,# ~UNB*X~FTX*A#~B~\r\n")
    assert segments == ["UNB*X", "FTX*A#~B"]
    assert payload_view(ORDERS_WITH_ERROR).segments[0].tag == "UNA"


def test_xml_payloads_are_pretty_printed():
    view = payload_view(b'<?xml version="1.0"?><Order><ID>1</ID><Line><Qty>2</Qty></Line></Order>', "ubl")
    assert view.kind == "xml" and "\n  <ID>1</ID>\n" in view.text and "\n    <Qty>2</Qty>" in view.text


def test_xml_entities_are_not_expanded():
    data = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    assert "root:" not in payload_view(data, "ubl").text


def test_reprocess_requires_a_comment(ops_client, session, world):
    page_path = f"/ops/messages/{world.error_message}"
    response = post(ops_client, f"{page_path}/reprocess", {"comment": "  "}, token_from=page_path)
    assert response.status_code == 302
    assert "a comment is required" in ops_client.get(page_path).get_data(as_text=True)
    [(state,)] = rows(session, select(Message.state).where(Message.id == world.error_message))
    assert state == "rejected"


def test_reprocess_with_a_comment(ops_client, session, world):
    page_path = f"/ops/messages/{world.error_message}"
    response = post(ops_client, f"{page_path}/reprocess", {"comment": "partner fixed the date"},
                    token_from=page_path)
    assert response.status_code == 302
    [(state,)] = rows(session, select(Message.state).where(Message.id == world.error_message))
    assert state == "received"
    events = rows(session, select(MessageEvent.actor, MessageEvent.detail)
                  .where(MessageEvent.message_id == world.error_message).order_by(MessageEvent.id))
    assert events[-1] == ("ops@kontor.example", "partner fixed the date")
    assert rows(session, select(AuditEntry.id).where(AuditEntry.action == "message.reprocess"))


def test_an_action_the_state_table_refuses_is_explained(ops_client, session, world):
    path = f"/ops/messages/{world.acme_message}"  # processed: resolve is not allowed
    post(ops_client, f"{path}/resolve", {"comment": "close it"}, token_from=path)
    assert "refused" in ops_client.get(path).get_data(as_text=True)
    assert not rows(session, select(AuditEntry.id).where(AuditEntry.action == "message.resolve"))


def test_viewers_look_but_do_not_repair(client, world):
    login(client, "viewer@kontor.example")
    path = f"/ops/messages/{world.error_message}"
    assert "may look but not repair" in client.get(path).get_data(as_text=True)
    assert post(client, f"{path}/reprocess", {"comment": "x"}, token_from=path).status_code == 403


def test_unknown_message_is_404(ops_client):
    assert ops_client.get("/ops/messages/999999").status_code == 404


def test_partners_with_channels(ops_client):
    page = ops_client.get("/ops/partners").get_data(as_text=True)
    assert "Acme Distribution" in page and "Beta Handel" in page
    assert "acme-sftp" in page and "4012345000009" in page


def test_raw_payload_download(ops_client, world):
    response = ops_client.get(f"/ops/messages/{world.error_message}/payload")
    assert response.status_code == 200 and response.data == ORDERS_WITH_ERROR
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_long_interchanges_show_the_start_and_the_flagged_segments(monkeypatch):
    from hub import monitor

    monkeypatch.setattr(monitor, "MAX_SEGMENTS", 10)
    data = b"UNB+UNOC:3+A+B+261125:1200+1'UNH+1+ORDERS:D:96A:UN'" + b"QTY+21:5'" * 100 + b"UNT+102+1'UNZ+1+1'"
    view = payload_view(data, "edifact", [{"segment": 50, "message": "bad quantity"}])
    assert view.truncated and [s.number for s in view.segments][-2:] == [10, 50]
    assert view.segments[-1].gap_before and view.segments[-1].issues
    whole = payload_view(data, "edifact", [{"segment": 104, "message": "count"}])
    assert whole.truncated and whole.total_segments == 104


def test_audit_log_shows_sign_ins_and_repairs(ops_client, world):
    path = f"/ops/messages/{world.error_message}"
    post(ops_client, f"{path}/resolve", {"comment": "handled by phone"}, token_from=path)
    page = ops_client.get("/ops/audit").get_data(as_text=True)
    assert "message.resolve" in page and "handled by phone" in page and "login" in page
    filtered = ops_client.get("/ops/audit", query_string={"q": "resolve"}).get_data(as_text=True)
    assert "message.resolve" in filtered and ">login<" not in filtered
